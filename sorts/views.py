"""HTTP views: parse the query, run one job in the chosen place, answer.

Every view runs the same `run_job`; they differ only in where it runs:
the request thread (sync), a thread pool, a process pool, the event loop
itself, or sync_to_async's thread-sensitive mode.
"""

import time
from concurrent.futures.process import BrokenProcessPool

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse

from sorts import offload
from sorts.backpressure import in_flight_limit
from sorts.jobs import Job, Outcome, run_job
from sorts.params import BadParameter, UnknownAlgorithm, parse_job

RETRY_AFTER_S = 1


def sync_sort(request: HttpRequest, algorithm: str) -> JsonResponse:
    job_or_error = _job_from(request, algorithm)
    if isinstance(job_or_error, JsonResponse):
        return job_or_error
    return _answer(job_or_error, "sync", run_job(job_or_error))


def classroom_view(algorithm: str):
    """A sync view bound to one algorithm, for the classroom's /test/ paths."""

    def view(request: HttpRequest) -> JsonResponse:
        return sync_sort(request, algorithm)

    view.__name__ = f"classroom_{algorithm}"
    return view


async def thread_sort(request: HttpRequest, algorithm: str) -> JsonResponse:
    # thread_sensitive=False with an explicit executor: jobs run side by
    # side in a pool whose size the settings fix and the report shows.
    offloaded = sync_to_async(run_job, thread_sensitive=False, executor=offload.thread_pool())
    return await _offload(request, algorithm, "thread", offloaded)


async def sensitive_sort(request: HttpRequest, algorithm: str) -> JsonResponse:
    # thread_sensitive=True, sync_to_async's default, kept to be measured.
    # Django's ASGI handler gives every request its own thread-sensitive
    # context, so each job gets a fresh single-thread executor of its own:
    # no shared pool and no bound on how many run at once.
    offloaded = sync_to_async(run_job, thread_sensitive=True)
    return await _offload(request, algorithm, "sensitive", offloaded)


async def process_sort(request: HttpRequest, algorithm: str) -> JsonResponse:
    return await _offload(request, algorithm, "process", _in_process_pool)


async def loop_sort(request: HttpRequest, algorithm: str) -> JsonResponse:
    job_or_error = _job_from(request, algorithm)
    if isinstance(job_or_error, JsonResponse):
        return job_or_error
    # The anti-pattern on purpose: the event loop serves no one else until
    # this sort ends.
    return _answer(job_or_error, "loop", run_job(job_or_error))


def sync_ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pong": True, "mode": "sync"})


async def async_ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pong": True, "mode": "async"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(404, f"no such path: {request.path[:200]}")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(400, "bad request")


def server_error(request: HttpRequest) -> JsonResponse:
    return error_response(500, "internal error")


def error_response(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


async def _offload(request: HttpRequest, algorithm: str, mode: str, offloaded) -> JsonResponse:
    job_or_error = _job_from(request, algorithm)
    if isinstance(job_or_error, JsonResponse):
        return job_or_error

    limit = in_flight_limit()
    if not limit.try_acquire():
        return error_response(
            503,
            f"busy: the bound of {limit.limit} offloaded jobs in flight is reached; retry later",
            **{"Retry-After": str(RETRY_AFTER_S)},
        )
    try:
        outcome = await offloaded(job_or_error, time.monotonic())
    except BrokenProcessPool:
        offload.discard_process_pool()
        return error_response(
            503,
            "a worker process died; retry",
            **{"Retry-After": str(RETRY_AFTER_S)},
        )
    finally:
        limit.release()
    return _answer(job_or_error, mode, outcome)


async def _in_process_pool(job: Job, submitted_at: float) -> Outcome:
    return await offload.run_in_process_pool(job, submitted_at)


def _job_from(request: HttpRequest, algorithm: str) -> Job | JsonResponse:
    try:
        return parse_job(algorithm, request.GET.lists())
    except UnknownAlgorithm as error:
        return error_response(404, str(error))
    except BadParameter as error:
        return error_response(400, str(error))


def _answer(job: Job, mode: str, outcome: Outcome) -> JsonResponse:
    response = JsonResponse(
        {
            "top": outcome.top,
            "algorithm": job.algorithm,
            "mode": mode,
            "n": job.n,
            "max": job.max_value,
            "seed": job.seed,
            "wait_ms": round(outcome.wait_ms, 3),
            "generate_ms": round(outcome.generate_ms, 3),
            "sort_ms": round(outcome.sort_ms, 3),
        }
    )
    response["Server-Timing"] = (
        f"wait;dur={outcome.wait_ms:.3f}, "
        f"generate;dur={outcome.generate_ms:.3f}, "
        f"sort;dur={outcome.sort_ms:.3f}"
    )
    return response
