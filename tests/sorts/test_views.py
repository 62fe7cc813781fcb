"""Tests for the sorts views through Django's sync and async test clients.

No database is configured, so no test here asks for one.
"""

import asyncio
import re
import signal
import threading
import time

import psutil
import pytest
from django.test import Client
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sorts import offload, views
from sorts.algorithms import ALGORITHMS, random_values
from sorts.backpressure import in_flight_limit
from sorts.jobs import run_job
from sorts.middleware import HOST_HELP
from sorts.params import MAX_SEED, N_CAPS

ALGORITHM_NAMES = sorted(ALGORITHMS)
CLASSROOM_ROUTES = [
    ("/test/normal_sort/", "builtin", "sync"),
    ("/test/priority_queue/", "priority_queue", "sync"),
    ("/test/bubble_sort/", "bubble", "sync"),
]
PREFIXES = {
    "/sync/": "sync",
    "/async/thread/": "thread",
    "/async/process/": "process",
    "/async/loop/": "loop",
    "/async/sensitive/": "sensitive",
}
SORT_ROUTES = CLASSROOM_ROUTES + [
    (f"{prefix}{algorithm}/", algorithm, mode)
    for prefix, mode in PREFIXES.items()
    for algorithm in ALGORITHM_NAMES
]
ROUTE_IDS = [route[0] for route in SORT_ROUTES]
CLASSROOM_IDS = [route[0] for route in CLASSROOM_ROUTES]
OFFLOADING_PREFIXES = {"thread": "/async/thread/", "sensitive": "/async/sensitive/"}
SERVER_TIMING = re.compile(
    r"wait;dur=(\d+\.\d{3}), generate;dur=(\d+\.\d{3}), sort;dur=(\d+\.\d{3})"
)
SMALL_JOB = {"n": "60", "max": "900", "seed": "11"}
BUSY_MESSAGE = "busy: the bound of 1 offloaded jobs in flight is reached; retry later"
# A bound on waiting for another thread, not a measured duration.
WAIT_BOUND_S = 30.0


def bad_queries(algorithm: str) -> dict[str, tuple[str, str]]:
    """Bad query strings for one algorithm, each with the error it earns."""
    cap = N_CAPS[algorithm]
    n_range = f"an integer from 1 to {cap:,} for {algorithm}"
    return {
        "n not an integer": ("n=abc", f"parameter 'n' must be {n_range}, got 'abc'"),
        "n zero": ("n=0", f"parameter 'n' must be {n_range}, got 0"),
        "n above the cap": (f"n={cap + 1}", f"parameter 'n' must be {n_range}, got {cap + 1:,}"),
        "max zero": (
            "max=0",
            "parameter 'max' must be an integer from 1 to 1,000,000,000, got 0",
        ),
        "max a float": (
            "max=2.5",
            "parameter 'max' must be an integer from 1 to 1,000,000,000, got '2.5'",
        ),
        "negative seed": (
            "seed=-1",
            f"parameter 'seed' must be an integer from 0 to {MAX_SEED:,}, got '-1'",
        ),
        "unknown parameter": ("colour=red", "unknown parameter 'colour'; allowed: n, max, seed"),
        "repeated parameter": ("n=5&n=6", "parameter 'n' given 2 times; give it once"),
        "empty value": (
            "seed=",
            f"parameter 'seed' must be an integer from 0 to {MAX_SEED:,}, got ''",
        ),
    }


BAD_CASES = [
    pytest.param(path, query, message, id=f"{path} {label}")
    for path, algorithm, _ in SORT_ROUTES
    for label, (query, message) in bad_queries(algorithm).items()
]
SYNC_BAD_CASES = [case for case in BAD_CASES if not case.values[0].startswith("/async/")]
ASYNC_BAD_CASES = [case for case in BAD_CASES if case.values[0].startswith("/async/")]


def assert_sorted_answer(response, algorithm: str, mode: str, n: int, max_value: int, seed):
    """Check a 200 answer: the right top value, the echo and the timings."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()

    if seed is not None:
        assert body["top"] == max(random_values(n, max_value, seed))
    assert 1 <= body["top"] <= max_value
    assert body["algorithm"] == algorithm
    assert body["mode"] == mode
    assert (body["n"], body["max"], body["seed"]) == (n, max_value, seed)

    timing = SERVER_TIMING.fullmatch(response["Server-Timing"])
    assert timing, response["Server-Timing"]
    header_ms = [float(value) for value in timing.groups()]
    assert header_ms == [body["wait_ms"], body["generate_ms"], body["sort_ms"]]


def assert_error(response, status: int, message: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": message}


# --- every route answers with the largest value ---------------------------


@pytest.mark.parametrize(("path", "algorithm", "mode"), SORT_ROUTES, ids=ROUTE_IDS)
def test_route_answers_the_largest_value_to_the_sync_client(
    client, offload_pools, path, algorithm, mode
):
    response = client.get(path, SMALL_JOB)
    assert_sorted_answer(response, algorithm, mode, n=60, max_value=900, seed=11)


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "algorithm", "mode"), SORT_ROUTES, ids=ROUTE_IDS)
async def test_route_answers_the_largest_value_to_the_async_client(
    async_client, offload_pools, path, algorithm, mode
):
    response = await async_client.get(path, SMALL_JOB)
    assert_sorted_answer(response, algorithm, mode, n=60, max_value=900, seed=11)


@pytest.mark.parametrize(("path", "algorithm", "mode"), CLASSROOM_ROUTES, ids=CLASSROOM_IDS)
def test_classroom_route_without_parameters_runs_scenario_one(client, path, algorithm, mode):
    response = client.get(path)
    assert_sorted_answer(response, algorithm, mode, n=1_000, max_value=5_000, seed=None)


def test_different_seeds_give_different_lists(client):
    first = client.get("/sync/builtin/", {"n": "50", "max": "10000000", "seed": "1"})
    second = client.get("/sync/builtin/", {"n": "50", "max": "10000000", "seed": "2"})
    assert first.json()["top"] != second.json()["top"]


def test_a_sync_request_waits_for_no_worker(client):
    assert client.get("/sync/builtin/", SMALL_JOB).json()["wait_ms"] == 0.0


@pytest.mark.parametrize(("path", "mode"), [("/sync/ping/", "sync"), ("/async/ping/", "async")])
def test_ping_answers_without_work_to_the_sync_client(client, path, mode):
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {"pong": True, "mode": mode}


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "mode"), [("/sync/ping/", "sync"), ("/async/ping/", "async")])
async def test_ping_answers_without_work_to_the_async_client(async_client, path, mode):
    response = await async_client.get(path)
    assert response.status_code == 200
    assert response.json() == {"pong": True, "mode": mode}


# --- where each mode runs the job ----------------------------------------


class ThreadRecorder:
    """Stand in for run_job in the views, noting the thread it ran in."""

    def __init__(self):
        self.threads: list[threading.Thread] = []

    def __call__(self, job, submitted_at=None):
        self.threads.append(threading.current_thread())
        return run_job(job, submitted_at)


@pytest.fixture
def recorder(monkeypatch):
    recorder = ThreadRecorder()
    monkeypatch.setattr(views, "run_job", recorder)
    return recorder


@pytest.mark.asyncio
async def test_loop_mode_runs_the_job_on_the_event_loops_thread(async_client, recorder):
    await async_client.get("/async/loop/builtin/", SMALL_JOB)
    assert recorder.threads == [threading.current_thread()]


@pytest.mark.asyncio
async def test_thread_mode_runs_the_job_in_the_sort_pool(async_client, recorder, offload_pools):
    await async_client.get("/async/thread/builtin/", SMALL_JOB)
    [thread] = recorder.threads
    assert thread is not threading.current_thread()
    assert thread.name.startswith("sort")


# --- bad input -------------------------------------------------------------


@pytest.mark.parametrize(("path", "query", "message"), SYNC_BAD_CASES)
def test_sync_route_answers_bad_input_with_400_naming_the_parameter(client, path, query, message):
    assert_error(client.get(f"{path}?{query}"), 400, message)


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "query", "message"), ASYNC_BAD_CASES)
async def test_async_route_answers_bad_input_with_400_naming_the_parameter(
    async_client, offload_pools, path, query, message
):
    assert_error(await async_client.get(f"{path}?{query}"), 400, message)


def assert_answer_or_refusal(response, name: str):
    assert response.status_code in (200, 400), response.content
    assert response["Content-Type"] == "application/json"
    if response.status_code == 400:
        prefix = f"parameter {name!r} must be an integer from "
        assert response.json()["error"].startswith(prefix)


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["max", "seed"]),
    value=st.one_of(st.text(max_size=8), st.integers().map(str)),
)
def test_any_max_or_seed_gets_an_answer_or_a_400_never_a_500(name, value):
    response = Client().get("/sync/builtin/", {"n": "5", name: value})
    assert_answer_or_refusal(response, name)


# At most four characters: a valid n stays small enough to sort at once.
@hypothesis_settings(max_examples=60, deadline=None)
@given(value=st.text(max_size=4))
def test_any_short_n_gets_an_answer_or_a_400_never_a_500(value):
    response = Client().get("/sync/priority_queue/", {"n": value})
    assert_answer_or_refusal(response, "n")


UNKNOWN_ALGORITHM = (
    "unknown algorithm 'quicksort'; expected one of: builtin, bubble, priority_queue"
)


def test_sync_route_answers_an_unknown_algorithm_with_404(client):
    assert_error(client.get("/sync/quicksort/"), 404, UNKNOWN_ALGORITHM)


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["thread", "process", "loop", "sensitive"])
async def test_async_route_answers_an_unknown_algorithm_with_404(async_client, offload_pools, mode):
    response = await async_client.get(f"/async/{mode}/quicksort/", {"n": "5"})
    assert_error(response, 404, UNKNOWN_ALGORITHM)


def test_unknown_algorithm_wins_over_bad_parameters(client):
    assert_error(client.get("/sync/quicksort/?n=abc"), 404, UNKNOWN_ALGORITHM)


@pytest.mark.parametrize(
    "path",
    ["/", "/nowhere/", "/sync/builtin", "/async/", "/async/thread/", "/test/normal_sort/x/"],
)
def test_unknown_path_answers_404_in_json(client, path):
    assert_error(client.get(path), 404, f"no such path: {path}")


@pytest.mark.asyncio
async def test_unknown_path_answers_404_in_json_to_the_async_client(async_client):
    assert_error(await async_client.get("/async/nowhere/"), 404, "no such path: /async/nowhere/")


def test_a_very_long_path_is_shortened_in_the_error(client):
    path = "/" + "a" * 1000 + "/"
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == f"no such path: {path[:200]}"


def test_too_many_query_fields_answer_400_in_json(client):
    query = "&".join(f"f{index}=1" for index in range(1_500))
    assert_error(client.get(f"/sync/builtin/?{query}"), 400, "bad request")


def test_undecodable_query_value_answers_400(client):
    response = client.get("/sync/builtin/?n=%ff")
    assert response.status_code == 400
    assert response.json()["error"].startswith("parameter 'n' must be an integer from 1 to ")


# --- Host header -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/sync/builtin/", "/test/normal_sort/", "/async/ping/", "/x/"])
def test_disallowed_host_answers_400_in_json(client, path):
    response = client.get(path, HTTP_HOST="attacker.example")
    assert_error(response, 400, HOST_HELP)


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/async/thread/builtin/", "/async/ping/", "/sync/ping/"])
async def test_disallowed_host_answers_400_in_json_to_the_async_client(async_client, path):
    response = await async_client.get(path, headers={"host": "attacker.example"})
    assert_error(response, 400, HOST_HELP)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8000", "localhost", "localhost:8000", "[::1]"]
)
def test_loopback_hosts_are_served(client, host):
    assert client.get("/sync/ping/", HTTP_HOST=host).status_code == 200


# --- the in-flight bound ---------------------------------------------------


class JobGate:
    """Stand in for run_job in the views: say when a job starts, then hold it."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, job, submitted_at=None):
        self.entered.set()
        self.release.wait(WAIT_BOUND_S)
        return run_job(job, submitted_at)


@pytest.fixture
def gate(monkeypatch):
    gate = JobGate()
    monkeypatch.setattr(views, "run_job", gate)
    yield gate
    gate.release.set()


@pytest.fixture
def bound_of_one(settings):
    settings.ASYNCPROJ_MAX_IN_FLIGHT = 1
    return in_flight_limit()


async def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_BOUND_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        await asyncio.sleep(0.01)


async def hold_one_job(async_client, gate: JobGate, path: str) -> asyncio.Task:
    """Start a request whose job stays in flight until the gate opens."""
    held = asyncio.create_task(async_client.get(path, {"n": "10", "seed": "3"}))
    await wait_until(gate.entered.is_set, "the held job started")
    return held


def assert_busy(response):
    assert_error(response, 503, BUSY_MESSAGE)
    assert response["Retry-After"] == "1"


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", sorted(OFFLOADING_PREFIXES))
async def test_request_over_the_bound_is_refused_with_503_and_retry_after(
    async_client, gate, bound_of_one, offload_pools, mode
):
    path = f"{OFFLOADING_PREFIXES[mode]}builtin/"
    held = await hold_one_job(async_client, gate, path)

    assert_busy(await async_client.get(path, SMALL_JOB))

    gate.release.set()
    assert_sorted_answer(await held, "builtin", mode, n=10, max_value=5_000, seed=3)
    assert bound_of_one.in_flight == 0
    assert_sorted_answer(
        await async_client.get(path, SMALL_JOB), "builtin", mode, n=60, max_value=900, seed=11
    )


@pytest.mark.asyncio
async def test_bound_counts_every_offloading_mode_together(
    async_client, gate, bound_of_one, offload_pools
):
    held = await hold_one_job(async_client, gate, "/async/thread/builtin/")

    assert_busy(await async_client.get("/async/sensitive/builtin/", SMALL_JOB))
    assert_busy(await async_client.get("/async/process/builtin/", SMALL_JOB))

    gate.release.set()
    assert (await held).status_code == 200


@pytest.mark.asyncio
async def test_bad_input_at_the_bound_still_answers_400(
    async_client, gate, bound_of_one, offload_pools
):
    held = await hold_one_job(async_client, gate, "/async/thread/builtin/")

    response = await async_client.get("/async/thread/builtin/?n=abc")
    assert response.status_code == 400
    assert "parameter 'n'" in response.json()["error"]

    gate.release.set()
    assert (await held).status_code == 200
    assert bound_of_one.in_flight == 0


@pytest.mark.asyncio
async def test_bound_is_released_when_a_request_is_cancelled(
    async_client, gate, bound_of_one, offload_pools
):
    held = await hold_one_job(async_client, gate, "/async/thread/builtin/")
    assert bound_of_one.in_flight == 1

    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held

    assert bound_of_one.in_flight == 0
    gate.release.set()
    response = await async_client.get("/async/thread/builtin/", SMALL_JOB)
    assert response.status_code == 200


@pytest.mark.asyncio
async def test_process_route_is_bounded_too(async_client, bound_of_one, monkeypatch):
    release = asyncio.Event()

    async def held_in_pool(job, submitted_at):
        await release.wait()
        return run_job(job, submitted_at)

    monkeypatch.setattr(views, "_in_process_pool", held_in_pool)
    held = asyncio.create_task(async_client.get("/async/process/builtin/", SMALL_JOB))
    await wait_until(lambda: bound_of_one.in_flight == 1, "the held job started")

    assert_busy(await async_client.get("/async/process/bubble/", SMALL_JOB))

    release.set()
    assert_sorted_answer(await held, "builtin", "process", n=60, max_value=900, seed=11)
    assert bound_of_one.in_flight == 0


# --- the process pool -----------------------------------------------------


def pool_children() -> list[psutil.Process]:
    """This process's process-pool children (not the resource tracker)."""
    return [
        child for child in psutil.Process().children() if "spawn_main" in " ".join(child.cmdline())
    ]


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


@pytest.mark.asyncio
async def test_process_route_answers_503_when_its_worker_dies_and_recovers(
    async_client, settings, bound_of_one, offload_pools
):
    offload.shutdown_pools()
    settings.ASYNCPROJ_PROCESS_POOL_SIZE = 1
    known = {child.pid for child in pool_children()}
    assert (await async_client.get("/async/process/builtin/", SMALL_JOB)).status_code == 200
    [worker] = [child for child in pool_children() if child.pid not in known]

    # A bubble sort long enough to be caught mid-way, then its worker dies.
    started_cpu = cpu_seconds(worker)
    heavy = asyncio.create_task(
        async_client.get("/async/process/bubble/", {"n": "5000", "seed": "1"})
    )
    await wait_until(lambda: cpu_seconds(worker) - started_cpu > 0.05, "the worker is sorting")
    worker.send_signal(signal.SIGKILL)

    response = await heavy
    assert_error(response, 503, "a worker process died; retry")
    assert response["Retry-After"] == "1"
    assert bound_of_one.in_flight == 0

    retry = await async_client.get("/async/process/builtin/", SMALL_JOB)
    assert_sorted_answer(retry, "builtin", "process", n=60, max_value=900, seed=11)


# --- methods ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "head", "options"])
@pytest.mark.parametrize("path", ["/sync/bubble/", "/test/bubble_sort/", "/sync/ping/"])
def test_sync_routes_refuse_every_method_but_get_without_running_a_job(
    client, recorder, method, path
):
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    if method != "head":
        assert response.json() == {"error": f"method {method.upper()} is not allowed; use GET"}
    assert recorder.threads == []


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["post", "put", "delete", "options"])
@pytest.mark.parametrize("path", ["/async/thread/bubble/", "/async/process/bubble/"])
async def test_async_routes_refuse_every_method_but_get_without_running_a_job(
    async_client, recorder, method, path
):
    response = await getattr(async_client, method)(path)

    assert response.status_code == 405
    assert response.json()["error"] == f"method {method.upper()} is not allowed; use GET"
    assert recorder.threads == []
