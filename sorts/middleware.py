"""Refuse what no view should see, without a thread hop under ASGI."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import DisallowedHost

from sorts.views import error_response

HOST_HELP = "the Host header is not allowed here; widen ASYNCPROJ_ALLOWED_HOSTS to serve it"
ALLOWED_METHODS = ("GET",)


def refuse_bad_requests(get_response):
    """Answer in JSON a request with a Host or a method the lab does not serve.

    Django checks the host only when something calls `get_host()`, and this
    lean stack has no other middleware that would. Only GET is served, so
    that no other method starts a sort. Written to be sync and async
    capable, so ASGI requests stay on the event loop.
    """
    if iscoroutinefunction(get_response):

        async def middleware(request):
            return _refusal(request) or await get_response(request)

        markcoroutinefunction(middleware)
    else:

        def middleware(request):
            return _refusal(request) or get_response(request)

    return middleware


refuse_bad_requests.sync_capable = True
refuse_bad_requests.async_capable = True


def _refusal(request):
    try:
        request.get_host()
    except DisallowedHost:
        return error_response(400, HOST_HELP)
    if request.method not in ALLOWED_METHODS:
        allowed = ", ".join(ALLOWED_METHODS)
        return error_response(
            405, f"method {request.method} is not allowed; use {allowed}", Allow=allowed
        )
    return None
