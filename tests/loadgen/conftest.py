"""Fixtures for the load generation tests: the locust/ modules, fakes, a stub server."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from argparse import Namespace
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCUST_DIR = REPO_ROOT / "locust"
SKIP_PATCH_ENV = "LOCUST_SKIP_MONKEY_PATCH"
LOCUST_RUN_TIMEOUT_S = 60
STUB_DELAY_S = 0.01  # keeps the stub's request rate, and its CPU use, low
STUB_SERVER_TIMING = "wait;dur=0.125, generate;dur=0.050, sort;dur=31.200"
# Locust with Python's usual Ctrl-C handling, even when this test process
# was started with SIGINT ignored (as a shell's background job is).
LOCUST_WITH_CTRL_C = (
    "import runpy, signal, sys; "
    "signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'locust'; "
    "runpy.run_module('locust', run_name='__main__', alter_sys=True)"
)


def import_unpatched(name: str) -> ModuleType:
    """Import a module without letting Locust monkey-patch this process.

    Locust patches the standard library with gevent when first imported;
    here that would put every other test of the session on a patched
    socket and threading. The variable is set for the import only, so
    that child processes (a real Locust run) still patch.
    """
    saved = os.environ.get(SKIP_PATCH_ENV)
    os.environ[SKIP_PATCH_ENV] = "1"
    try:
        return importlib.import_module(name)
    finally:
        if saved is None:
            del os.environ[SKIP_PATCH_ENV]
        else:
            os.environ[SKIP_PATCH_ENV] = saved


def import_loadgen(name: str) -> ModuleType:
    """Import a module of locust/ as Locust does: by name, from its directory."""
    saved_path = list(sys.path)
    sys.path.insert(0, str(LOCUST_DIR))
    try:
        return import_unpatched(name)
    finally:
        sys.path[:] = saved_path


# Before anything in this directory can import Locust the patching way.
import_unpatched("locust")


@pytest.fixture(scope="session")
def locustfile() -> ModuleType:
    return import_loadgen("locustfile")


@pytest.fixture(scope="session")
def step_shape() -> ModuleType:
    return import_loadgen("step_shape")


@pytest.fixture(scope="session")
def hold_shape() -> ModuleType:
    return import_loadgen("hold_shape")


@pytest.fixture(scope="session")
def recorder() -> ModuleType:
    return import_loadgen("loadgen_recorder")


@pytest.fixture(scope="session")
def selection() -> ModuleType:
    return import_loadgen("loadgen_selection")


@pytest.fixture(scope="session")
def loadgen_options() -> ModuleType:
    return import_loadgen("loadgen_options")


class Clock:
    """A run-time clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Totals:
    """Stands in for runner.stats.total (a StatsEntry)."""

    def __init__(self) -> None:
        self.start_time = 1000.0
        self.num_requests = 0
        self.num_failures = 0
        self.response_times: dict[int, int] = {}

    def add(self, response_time_ms: int, count: int, failures: int = 0) -> None:
        self.num_requests += count
        self.num_failures += failures
        times = self.response_times
        times[response_time_ms] = times.get(response_time_ms, 0) + count

    def reset(self) -> None:
        self.start_time += 1
        self.num_requests = self.num_failures = 0
        self.response_times = {}


class FakeRunner:
    """What a shape reads from its runner: classes, totals, user count, events."""

    def __init__(self, events: Any, options: Namespace, user_classes: list[Any]) -> None:
        self.user_classes = user_classes
        self.user_count = 0
        self.stats = SimpleNamespace(total=Totals())
        self.environment = SimpleNamespace(events=events, parsed_options=options, runner=self)


@pytest.fixture
def make_runner() -> Callable[..., FakeRunner]:
    from locust.event import Events

    def make(user_classes: list[Any] | None = None, **options: Any) -> FakeRunner:
        return FakeRunner(Events(), Namespace(**options), user_classes or [])

    return make


@pytest.fixture
def clock() -> Clock:
    return Clock()


class StubHandler(BaseHTTPRequestHandler):
    """Answers like the lab's views: 200 JSON, Server-Timing except on ping."""

    protocol_version = "HTTP/1.1"  # keep-alive, as Locust's client expects

    def do_GET(self) -> None:
        time.sleep(STUB_DELAY_S)
        body = json.dumps({"top": 42, "algorithm": "builtin"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if "/ping/" not in self.path:
            self.send_header("Server-Timing", STUB_SERVER_TIMING)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; pytest shows failures, not access logs."""


@pytest.fixture
def stub_server(http_stub) -> str:
    return http_stub(StubHandler)


@pytest.fixture
def run_locust() -> Callable[[list[str]], subprocess.CompletedProcess[str]]:
    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "locust", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=LOCUST_RUN_TIMEOUT_S,
            check=False,
        )

    return run


@pytest.fixture
def start_locust() -> Iterator[Callable[[list[str]], subprocess.Popen[str]]]:
    """Start Locust in the background; whatever is left running gets killed."""
    started: list[subprocess.Popen[str]] = []

    def start(args: list[str]) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", LOCUST_WITH_CTRL_C, *args],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()
