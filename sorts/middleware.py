"""Refuse unknown Host headers without costing a thread hop under ASGI."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import DisallowedHost

from sorts.views import error_response

HOST_HELP = "the Host header is not allowed here; widen ASYNCPROJ_ALLOWED_HOSTS to serve it"


def allowed_hosts_only(get_response):
    """Answer 400 in JSON to a Host header that ALLOWED_HOSTS does not list.

    Django checks the host only when something calls `get_host()`, and this
    lean stack has no other middleware that would. Written to be sync and
    async capable, so ASGI requests stay on the event loop.
    """
    if iscoroutinefunction(get_response):

        async def middleware(request):
            return _refusal(request) or await get_response(request)

        markcoroutinefunction(middleware)
    else:

        def middleware(request):
            return _refusal(request) or get_response(request)

    return middleware


allowed_hosts_only.sync_capable = True
allowed_hosts_only.async_capable = True


def _refusal(request):
    try:
        request.get_host()
    except DisallowedHost:
        return error_response(400, HOST_HELP)
    return None
