"""End-to-end tests against real servers on free loopback ports.

Each test starts its server on 127.0.0.1, keeps the load to a few
requests, and stops everything it started, by pid.
"""

import contextlib
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from bench.arms import ARMS
from bench.servers import (
    HOST,
    PROJECT_ROOT,
    ServerOptions,
    find_free_port,
    port_is_free,
    start_server,
    stop_process_tree,
)
from sorts.algorithms import random_values
from sorts.middleware import HOST_HELP

pytestmark = pytest.mark.slow

OPTIONS = ServerOptions(workers=1, threads=2, thread_pool=2, process_pool=1)
SMALL_QUERY = "?n=50&max=900&seed=11"
SMALL_TOP = max(random_values(50, 900, 11))
# A bubble sort this long keeps a worker busy for a good part of a second
# on a fast core: long enough to be caught mid-way, short enough for a test.
HEAVY_N = 4000
HEAVY_QUERY = f"?n={HEAVY_N}&seed=1"
# The CPU a heavy job must have used before it counts as under way.
UNDER_WAY_CPU_S = 0.1
# Bounds on waiting, not measurements: a test fails only if they pass.
REQUEST_BOUND_S = 60.0
STARTUP_BOUND_S = 30.0
EXIT_BOUND_S = 30.0
ORPHAN_BOUND_S = 10.0
POLL_S = 0.02

# Loopback needs no proxy, whatever the environment says.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- helpers --------------------------------------------------------------


def get_json(url: str) -> tuple[int, dict]:
    """GET a URL; return the status and the JSON body, errors included."""
    try:
        with OPENER.open(url, timeout=REQUEST_BOUND_S) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def get_with_host(port: int, path: str, host: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_BOUND_S)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, json.load(response)
    finally:
        connection.close()


def wait_for_answer(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_BOUND_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with code {process.returncode}"
        with contextlib.suppress(OSError):
            if get_json(url)[0] == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"no answer from {url} within {STARTUP_BOUND_S:.0f} s")


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def is_pool_child(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "spawn_main" in " ".join(process.cmdline())
    return False


def is_alive(process: psutil.Process) -> bool:
    # A zombie has finished; it only waits for a parent to reap it.
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_alive(processes: list[psutil.Process], bound_s: float = 0.0) -> list[int]:
    """Pids among `processes` still alive once they are gone or `bound_s` passed."""
    deadline = time.monotonic() + bound_s
    while True:
        alive = [process.pid for process in processes if is_alive(process)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def kill_leftovers(processes: list[psutil.Process]) -> None:
    for process in processes:
        if is_alive(process):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def wait_until_under_way(processes: list[psutil.Process], cpu_before: float) -> None:
    """Wait until the processes used enough CPU to be mid-way through a sort."""
    deadline = time.monotonic() + REQUEST_BOUND_S
    while cpu_seconds(processes) - cpu_before < UNDER_WAY_CPU_S:
        assert time.monotonic() < deadline, "the heavy request never got under way"
        time.sleep(POLL_S)


@contextlib.contextmanager
def launched(command: list[str], log_path: Path, env: dict[str, str] | None = None):
    """Run a command from the project root; stop its whole tree on exit."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        stop_process_tree(process)


def uvicorn_command(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "asyncproj.asgi:app", "--port", str(port)]


# --- each arm under bench.servers ------------------------------------------


@pytest.mark.parametrize("arm_name", ["wsgi-sync", "asgi-thread", "asgi-process"])
def test_arm_answers_refuses_bad_input_and_leaves_nothing_behind(log_path, arm_name):
    arm = ARMS[arm_name]
    path = f"{arm.prefix}builtin/"

    with start_server(arm, OPTIONS, log_path) as server:
        status, body = get_json(server.url + path + SMALL_QUERY)
        assert status == 200
        assert body["top"] == SMALL_TOP

        status, body = get_json(server.url + path + "?n=abc")
        assert status == 400
        assert body["error"].startswith("parameter 'n' must be an integer from 1 to ")

        status, body = get_with_host(server.port, path, "attacker.example")
        assert (status, body) == (400, {"error": HOST_HELP})

        # Still serving after the refusals.
        status, body = get_json(server.url + path + SMALL_QUERY)
        assert (status, body["top"]) == (200, SMALL_TOP)
        tree = process_tree(server.process.pid)
        pool_workers = [process for process in tree if is_pool_child(process)]
        port = server.port

    assert len(pool_workers) == (1 if arm_name == "asgi-process" else 0)
    assert port_is_free(port)
    assert still_alive(tree) == []


# --- stopping uvicorn while a process-pool job is in flight ----------------


@pytest.fixture
def uvicorn_with_busy_pool(log_path):
    """A plain uvicorn whose one pool worker is mid-way through a bubble sort.

    Yields the server process, its port, its process tree (pool worker
    included) and the future of the heavy request.
    """
    port = find_free_port()
    env = {"ASYNCPROJ_PROCESS_POOL_SIZE": "1", "ASYNCPROJ_MAX_IN_FLIGHT": "0"}
    with (
        launched(uvicorn_command(port), log_path, env) as process,
        ThreadPoolExecutor(1) as client,
    ):
        url = f"http://{HOST}:{port}/async/process/bubble/"
        # A first small job starts the pool, so the heavy one sorts at once.
        wait_for_answer(url + SMALL_QUERY, process)
        tree = process_tree(process.pid)
        assert any(is_pool_child(child) for child in tree)

        cpu_before = cpu_seconds(tree)
        heavy = client.submit(get_json, url + HEAVY_QUERY)
        wait_until_under_way(tree, cpu_before)
        try:
            yield process, port, tree, heavy
        finally:
            # Orphans are out of stop_process_tree's reach once uvicorn is
            # gone; end any that a failing test left behind.
            stop_process_tree(process)
            kill_leftovers(tree)


def test_sigterm_mid_job_lets_uvicorn_finish_it_and_stop_its_pool(uvicorn_with_busy_pool):
    process, port, tree, heavy = uvicorn_with_busy_pool

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=EXIT_BOUND_S)

    # Graceful: the job under way was answered before the server left.
    status, body = heavy.result(timeout=REQUEST_BOUND_S)
    assert status == 200
    assert body["top"] == max(random_values(HEAVY_N, 5000, 1))
    assert still_alive(tree, ORPHAN_BOUND_S) == []
    assert port_is_free(port)


def test_sigkill_of_uvicorn_leaves_no_pool_worker_alive(uvicorn_with_busy_pool):
    process, port, tree, heavy = uvicorn_with_busy_pool
    pool_workers = [child for child in tree if is_pool_child(child)]

    process.send_signal(signal.SIGKILL)
    process.wait(timeout=EXIT_BOUND_S)

    with pytest.raises(OSError):
        heavy.result(timeout=REQUEST_BOUND_S)
    # The orphaned worker notices its parent is gone and leaves by itself.
    assert still_alive(pool_workers, ORPHAN_BOUND_S) == []
    assert still_alive(tree, ORPHAN_BOUND_S) == []
    assert port_is_free(port)


# --- the documented commands -----------------------------------------------


@pytest.mark.slow
def test_sensitive_arm_under_uvicorn_runs_concurrent_jobs_side_by_side(log_path):
    # Django's ASGI handler opens a thread-sensitive context per request, so
    # thread_sensitive=True gives each job a thread of its own. Had the jobs
    # shared one thread, one would have waited for the other's whole sort.
    with start_server(ARMS["asgi-sensitive"], OPTIONS, log_path) as server:
        url = f"{server.url}/async/sensitive/bubble/{HEAVY_QUERY}"
        with ThreadPoolExecutor(max_workers=2) as senders:
            answers = list(senders.map(lambda _: get_json(url), range(2)))

    assert [status for status, _ in answers] == [200, 200]
    waits = [body["wait_ms"] for _, body in answers]
    sorts = [body["sort_ms"] for _, body in answers]
    assert max(waits) < min(sorts)


def script(name: str) -> str:
    """A console script installed next to this interpreter."""
    return str(Path(sys.executable).parent / name)


DOCUMENTED_COMMANDS = {
    "runserver": (
        lambda port: [sys.executable, "manage.py", "runserver", f"{HOST}:{port}", "--noreload"],
        "/test/normal_sort/",
        "builtin",
    ),
    "gunicorn": (
        lambda port: [script("gunicorn"), "asyncproj.wsgi", "--bind", f"{HOST}:{port}"],
        "/test/bubble_sort/",
        "bubble",
    ),
    "uvicorn": (
        lambda port: [script("uvicorn"), "asyncproj.asgi:app", "--port", str(port)],
        "/async/thread/priority_queue/",
        "priority_queue",
    ),
}


@pytest.mark.parametrize("name", DOCUMENTED_COMMANDS)
def test_documented_command_serves_the_project(log_path, name):
    command, path, algorithm = DOCUMENTED_COMMANDS[name]
    port = find_free_port()

    with launched(command(port), log_path) as process:
        url = f"http://{HOST}:{port}{path}{SMALL_QUERY}"
        wait_for_answer(url, process)
        status, body = get_json(url)

    assert status == 200
    assert (body["algorithm"], body["top"]) == (algorithm, SMALL_TOP)
    assert process.returncode is not None
    assert port_is_free(port)


# --- which arm lets a light request through during a heavy one -----------


@pytest.fixture(scope="module")
def asgi_server(tmp_path_factory):
    """One uvicorn serving both the loop and the process paths."""
    log_path = tmp_path_factory.mktemp("asgi") / "server.log"
    with start_server(ARMS["asgi-process"], OPTIONS, log_path) as server:
        # Start the pool now, so that no spawn happens mid-test.
        status, _ = get_json(server.url + "/async/process/builtin/" + SMALL_QUERY)
        assert status == 200
        yield server


def send_get(port: int, path: str) -> socket.socket:
    connection = socket.create_connection((HOST, port), timeout=REQUEST_BOUND_S)
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    connection.sendall(request.encode("ascii"))
    return connection


def has_answer(connection: socket.socket, wait_s: float) -> bool:
    readable, _, _ = select.select([connection], [], [], wait_s)
    return bool(readable)


def read_status(connection: socket.socket) -> int:
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("path", "blocks_the_loop"),
    [("/async/loop/bubble/", True), ("/async/process/bubble/", False)],
    ids=["loop", "process"],
)
def test_only_the_loop_arm_makes_a_ping_wait_for_a_heavy_sort(asgi_server, path, blocks_the_loop):
    tree = process_tree(asgi_server.process.pid)
    cpu_before = cpu_seconds(tree)

    with send_get(asgi_server.port, path + HEAVY_QUERY) as heavy:
        wait_until_under_way(tree, cpu_before)
        with send_get(asgi_server.port, "/async/ping/") as ping:
            assert has_answer(ping, REQUEST_BOUND_S)
            # Loopback delivers an answer as it is written, so whether the
            # heavy answer is already here tells which one the server sent first.
            assert has_answer(heavy, 0) is blocks_the_loop

            assert read_status(ping) == 200
        assert read_status(heavy) == 200
