"""Every arm of bench.arms, started by bench.servers, answering over real HTTP.

Each test starts its server on a free loopback port, sends a handful of
requests, and checks that nothing it started is left running.
"""

import contextlib
import json
import select
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from bench.arms import ALGORITHMS, ARMS, BOUND_PER_SLOT, PING, plan_cells
from bench.servers import HOST, ServerOptions, port_is_free, start_server
from sorts.algorithms import random_values

pytestmark = pytest.mark.slow

OPTIONS = ServerOptions(workers=1, threads=2, thread_pool=2, process_pool=1)
SEED = 5
MODES = {
    "/sync/": "sync",
    "/async/thread/": "thread",
    "/async/process/": "process",
    "/async/loop/": "loop",
    "/async/sensitive/": "sensitive",
}
# What each server writes in its Server header: proof of who answered.
SERVER_HEADERS = {"gunicorn": "gunicorn", "uvicorn": "uvicorn", "runserver": "WSGIServer"}
# A bubble sort this long keeps a worker busy for a good part of a second.
HEAVY_QUERY = "?n=4000&seed=1"
LIGHT_QUERY = "?n=10&seed=1"
UNDER_WAY_CPU_S = 0.1
# Bounds on waiting, not measurements: a test fails only if they pass.
REQUEST_BOUND_S = 60.0
EXIT_BOUND_S = 15.0
POLL_S = 0.02

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str) -> tuple[int, dict, dict]:
    """GET a URL; the status, the headers (lower-case names) and the JSON body."""
    try:
        with OPENER.open(url, timeout=REQUEST_BOUND_S) as response:
            return response.status, _headers(response), json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, _headers(error), json.load(error)


def _headers(response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def still_alive(processes: list[psutil.Process], bound_s: float) -> list[int]:
    deadline = time.monotonic() + bound_s
    while True:
        alive = [p.pid for p in processes if _alive(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def wait_until_under_way(server, cpu_before: float) -> None:
    """Wait until the server's processes have spent CPU on the heavy request."""
    deadline = time.monotonic() + REQUEST_BOUND_S
    while cpu_seconds(process_tree(server.process.pid)) - cpu_before < UNDER_WAY_CPU_S:
        assert time.monotonic() < deadline, "the heavy request never got under way"
        time.sleep(POLL_S)


def expected_top(params: dict) -> int:
    return max(random_values(params["n"], params["max"], SEED))


@pytest.mark.parametrize("arm_name", list(ARMS))
def test_every_arm_answers_its_cells_and_its_ping_and_leaves_no_process(tmp_path, arm_name):
    arm = ARMS[arm_name]
    cells = plan_cells([arm_name], list(ALGORITHMS), [1])

    with start_server(arm, OPTIONS, tmp_path / "server.log") as server:
        for cell in cells:
            query = {} if cell.algorithm == PING else {**cell.params, "seed": SEED}
            url = server.url + cell.path + "?" + urllib.parse.urlencode(query)
            status, headers, body = get(url)

            assert status == 200, body
            assert SERVER_HEADERS[arm.server] in headers["server"]
            if cell.algorithm == PING:
                assert body["pong"] is True
            else:
                assert body["top"] == expected_top(cell.params)
                assert (body["algorithm"], body["n"]) == (cell.algorithm, cell.params["n"])
                assert body["mode"] == MODES[arm.prefix]
        tree = process_tree(server.process.pid)
        port = server.port

    assert still_alive(tree, EXIT_BOUND_S) == []
    assert port_is_free(port)


def send_get(port: int, path: str) -> socket.socket:
    connection = socket.create_connection((HOST, port), timeout=REQUEST_BOUND_S)
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    connection.sendall(request.encode("ascii"))
    return connection


def has_answer(connection: socket.socket, wait_s: float) -> bool:
    readable, _, _ = select.select([connection], [], [], wait_s)
    return bool(readable)


@pytest.mark.parametrize(("arm_name", "ping_waits"), [("wsgi-sync", True), ("wsgi-gthread", False)])
def test_one_gthread_worker_answers_a_ping_during_a_sort_and_one_sync_worker_does_not(
    tmp_path, arm_name, ping_waits
):
    with start_server(ARMS[arm_name], OPTIONS, tmp_path / "server.log") as server:
        cpu_before = cpu_seconds(process_tree(server.process.pid))
        with send_get(server.port, "/sync/bubble/" + HEAVY_QUERY) as heavy:
            wait_until_under_way(server, cpu_before)
            with send_get(server.port, "/sync/ping/") as ping:
                assert has_answer(ping, REQUEST_BOUND_S)
                # Loopback delivers an answer as it is written, so whether the
                # heavy answer is already here tells which one came first.
                assert has_answer(heavy, 0) is ping_waits


def test_the_bounded_process_arm_refuses_at_once_past_its_bound_and_serves_the_rest(tmp_path):
    arm = ARMS["asgi-process-bounded"]
    bound = BOUND_PER_SLOT * OPTIONS.process_pool
    path = "/async/process/bubble/"

    with (
        start_server(arm, OPTIONS, tmp_path / "server.log") as server,
        ThreadPoolExecutor(bound) as clients,
    ):
        # Start the pool first, so that the heavy jobs sort at once.
        assert get(server.url + path + LIGHT_QUERY)[0] == 200
        cpu_before = cpu_seconds(process_tree(server.process.pid))
        heavy = [clients.submit(get, server.url + path + HEAVY_QUERY) for _ in range(bound)]
        wait_until_under_way(server, cpu_before)

        refusal = None
        while refusal is None and not all(future.done() for future in heavy):
            answer = get(server.url + path + LIGHT_QUERY)
            refusal = answer if answer[0] == 503 else None
        answers = [future.result(timeout=REQUEST_BOUND_S) for future in heavy]

    assert refusal is not None, "no request was refused while the bound was reached"
    status, headers, body = refusal
    assert headers["retry-after"] == "1"
    assert body["error"].startswith(f"busy: the bound of {bound} offloaded jobs in flight")
    assert [answer[0] for answer in answers] == [200] * bound
