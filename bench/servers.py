"""Start a server for one arm on a free loopback port, and always stop it."""

import contextlib
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from bench.arms import Arm

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.1
# gunicorn kills a sync worker silent for this long; a queued bubble sort
# of 10,000 values can take tens of seconds, and a killed worker is not
# what the lab measures.
GUNICORN_WORKER_TIMEOUT_S = 300
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ServerError(RuntimeError):
    """A server that would not start or answer: an expected failure."""


@dataclass(frozen=True)
class ServerOptions:
    """How each server is set up; copied into the report."""

    workers: int = 1  # gunicorn worker processes
    threads: int = 4  # threads per gthread worker
    uvicorn_workers: int = 1
    thread_pool: int = 4  # ASGI thread-pool size per worker
    process_pool: int = 1  # ASGI process-pool size per worker
    max_in_flight: int = 0  # offloaded jobs per worker before 503; 0: off
    cpus: tuple[int, ...] = ()  # CPUs the server may use; () = no pinning


@dataclass
class RunningServer:
    arm: Arm
    port: int
    process: subprocess.Popen
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    started_pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def worker_pids(self) -> set[int]:
        """Server processes now alive, pool children excluded."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=False)
        except psutil.NoSuchProcess:
            return set()
        return {child.pid for child in children} | {self.process.pid}


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True when a server could listen on the port now.

    SO_REUSEADDR, as gunicorn and uvicorn set it, so that connections of a
    stopped server lingering in TIME_WAIT do not count as a listener.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def server_command(arm: Arm, port: int, options: ServerOptions) -> list[str]:
    bind = f"{HOST}:{port}"
    if arm.server == "runserver":
        # Threaded by default; without the autoreloader it is one process,
        # so stopping it needs no reloader child to be found.
        return [sys.executable, "manage.py", "runserver", bind, "--noreload"]
    if arm.server == "gunicorn":
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "asyncproj.wsgi",
            "--bind",
            bind,
            "--worker-class",
            arm.worker_class,
            "--workers",
            str(options.workers),
            "--timeout",
            str(GUNICORN_WORKER_TIMEOUT_S),
            "--graceful-timeout",
            str(int(STOP_TIMEOUT_S)),
            "--log-level",
            "warning",
        ]
        if arm.worker_class == "gthread":
            command += ["--threads", str(options.threads)]
        return command
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "asyncproj.asgi:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(options.uvicorn_workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        str(int(STOP_TIMEOUT_S)),
    ]


def server_env(options: ServerOptions) -> dict[str, str]:
    """The settings a server reads; also shown in the report."""
    return {
        "ASYNCPROJ_THREAD_POOL_SIZE": str(options.thread_pool),
        "ASYNCPROJ_PROCESS_POOL_SIZE": str(options.process_pool),
        "ASYNCPROJ_MAX_IN_FLIGHT": str(options.max_in_flight),
        "ASYNCPROJ_DEBUG": "0",
    }


def arm_options(arm: Arm, options: ServerOptions) -> ServerOptions:
    """The run's server options with the arm's own in-flight bound, if it has one."""
    if not arm.bound_per_slot:
        return options
    size = options.process_pool if arm.pool == "process" else options.thread_pool
    return replace(options, max_in_flight=arm.bound_per_slot * size)


@contextlib.contextmanager
def start_server(
    arm: Arm, options: ServerOptions, log_path: Path, port: int | None = None
) -> Iterator[RunningServer]:
    """Start the arm's server, wait until it answers, stop it on exit."""
    options = arm_options(arm, options)
    port = port or find_free_port()
    if not port_is_free(port):
        raise ServerError(f"port {port} on {HOST} is in use; pick another or omit the port")

    command = server_command(arm, port, options)
    env = server_env(options)
    logger.debug("starting %s: %s", arm.name, " ".join(command))
    with open(log_path, "ab") as log:
        process = launch(command, log, env, options.cpus)
    server = RunningServer(arm, port, process, command, env)
    try:
        wait_until_ready(server, log_path)
        server.started_pids = server.worker_pids()
        logger.info("%s up on port %d (pid %d)", arm.name, port, process.pid)
        yield server
    finally:
        stop_process_tree(process)
        logger.debug("%s on port %d stopped", arm.name, port)


def launch(command: list[str], log, env: dict[str, str], cpus: tuple[int, ...]) -> subprocess.Popen:
    """Start a command in its own session, pinned to `cpus` if given.

    Its own session keeps a terminal's Ctrl-C away from it: the runner
    decides the order in which things stop.
    """
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=preexec,
    )


def wait_until_ready(server: RunningServer, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    url = server.url + server.arm.ping_path
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise ServerError(
                f"{server.arm.name} exited with code {code} before answering; see {log_path}"
            )
        if answers(url):
            return
        time.sleep(POLL_INTERVAL_S)
    raise ServerError(
        f"{server.arm.name} did not answer {url} within {STARTUP_TIMEOUT_S:.0f} s; see {log_path}"
    )


def answers(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):
        # Refused, reset, timed out, or not HTTP at all: not (yet) a server.
        return False


def stop_process_tree(process: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Ask a process and all its descendants to stop; kill what remains."""
    try:
        tree = [psutil.Process(process.pid)]
        tree += tree[0].children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []

    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=timeout_s)

    for leftover in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            logger.warning("pid %d did not stop in %.0f s; killing it", leftover.pid, timeout_s)
            leftover.kill()
    psutil.wait_procs(alive, timeout=timeout_s)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout_s)
