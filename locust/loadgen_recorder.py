"""The request log and the CPU-warning marker that the bench runner reads.

With ``--request-log PATH`` every completed request becomes one row in a
CSV file, written once when the test stops (and again on quit if rows
came in after that, as after Ctrl-C). Rows are kept in memory until then
so that a request costs one tuple append; the Server-Timing header is
parsed only when the file is written.

Columns (REQUEST_LOG_COLUMNS):

- ``start``: epoch seconds the request was sent (Locust's start_time)
- ``response_time_ms``: Locust's response time
- ``name``: Locust's request name, as in its stats
- ``ok``: ``1`` or ``0``, Locust's success (a 503 is ``0``)
- ``users``: users running in this process when the request ended
- ``wait_ms``, ``generate_ms``, ``sort_ms``: the server's Server-Timing
  durations; empty when the response did not carry them
- ``status``: HTTP status code, ``0`` when no response came back

Files written:

- standalone run: ``PATH`` and ``PATH.meta.json``
- distributed run: each worker writes ``PATH`` with ``.worker<index>``
  inserted before the suffix (``run/requests.csv`` becomes
  ``run/requests.worker0.csv``; ``.pid<pid>`` if the master gave no
  index); the master writes no rows, only ``PATH.meta.json``

``PATH.meta.json`` holds ``{"cpu_warning": bool, "max_cpu_percent":
float, "cpu_samples": int}``: whether Locust's cpu_warning event fired in
any Locust process of the test, the highest CPU use it sampled, and how
many samples that is based on. Locust samples every 10 s, so a shorter
test has no sample and reads 0.0.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import loadgen_options
from locust.runners import MasterRunner, WorkerRunner

logger = logging.getLogger(__name__)

REQUEST_LOG_COLUMNS = (
    "start",
    "response_time_ms",
    "name",
    "ok",
    "users",
    "wait_ms",
    "generate_ms",
    "sort_ms",
    "status",
)
SERVER_TIMING_METRICS = ("wait", "generate", "sort")
META_SUFFIX = ".meta.json"
REPORT_KEY = "asyncproj_cpu"  # our entry in a worker's report to the master

# A metric name is an HTTP token (RFC 9110).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_server_timing(header: str | Iterable[str] | None) -> dict[str, float]:
    """Read each metric's ``dur`` (ms) from a Server-Timing header.

    Entries without a valid name or a finite, non-negative dur are
    skipped, and the first of two same-named entries wins. A bad header
    never raises: the server answered, so the request must still count.
    """
    if not header:
        return {}
    if not isinstance(header, str):
        header = ",".join(header)

    timings: dict[str, float] = {}
    for entry in header.split(","):
        name, _, params = entry.partition(";")
        name = name.strip()
        if name in timings or not _TOKEN.fullmatch(name):
            continue
        duration = _duration(params)
        if duration is not None:
            timings[name] = duration
    return timings


def _duration(params: str) -> float | None:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() != "dur":
            continue
        try:
            duration = float(value.strip().strip('"'))
        except ValueError:
            return None
        return duration if math.isfinite(duration) and duration >= 0 else None
    return None


def worker_log_path(path: str, worker_index: int, pid: int) -> str:
    """Insert the worker's index (or pid, without one) before the suffix."""
    marker = f"worker{worker_index}" if worker_index >= 0 else f"pid{pid}"
    stem, suffix = os.path.splitext(path)
    return f"{stem}.{marker}{suffix}"


def meta_path(path: str) -> str:
    return path + META_SUFFIX


class LoggedRequest(NamedTuple):
    start: float
    response_time_ms: float
    name: str
    ok: bool
    users: int
    server_timing: Any  # the raw header, parsed when the file is written
    status: int


def csv_row(request: LoggedRequest) -> list[Any]:
    timings = parse_server_timing(request.server_timing)
    return [
        f"{request.start:.6f}",
        f"{request.response_time_ms:.3f}",
        request.name,
        1 if request.ok else 0,
        request.users,
        *(_optional_ms(timings.get(metric)) for metric in SERVER_TIMING_METRICS),
        request.status,
    ]


def _optional_ms(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def write_request_log(path: str, requests: Iterable[LoggedRequest]) -> None:
    _make_parent(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REQUEST_LOG_COLUMNS)
        writer.writerows(csv_row(request) for request in requests)


def _make_parent(path: str) -> None:
    if parent := os.path.dirname(path):
        os.makedirs(parent, exist_ok=True)


@dataclass
class CpuUsage:
    """What Locust's CPU monitor reported in one process, or in all."""

    cpu_warning: bool = False
    max_cpu_percent: float = 0.0
    cpu_samples: int = 0

    def sample(self, cpu_percent: float) -> None:
        self.max_cpu_percent = max(self.max_cpu_percent, float(cpu_percent))
        self.cpu_samples += 1

    def merge(self, other: CpuUsage) -> CpuUsage:
        return CpuUsage(
            cpu_warning=self.cpu_warning or other.cpu_warning,
            max_cpu_percent=max(self.max_cpu_percent, other.max_cpu_percent),
            cpu_samples=self.cpu_samples + other.cpu_samples,
        )

    @classmethod
    def from_report(cls, data: Any) -> CpuUsage:
        """Read a worker's report entry; anything malformed counts as empty."""
        if not isinstance(data, dict):
            return cls()
        try:
            return cls(
                cpu_warning=bool(data.get("cpu_warning", False)),
                max_cpu_percent=float(data.get("max_cpu_percent", 0.0)),
                cpu_samples=int(data.get("cpu_samples", 0)),
            )
        except (TypeError, ValueError):
            return cls()


class Recorder:
    """Collect requests and CPU reports of one Locust process, write them on stop."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.requests: list[LoggedRequest] = []
        self.cpu = CpuUsage()
        self.worker_cpu: dict[str, CpuUsage] = {}
        self._recording = False
        self._unsaved = False

    def attach(self) -> None:
        events = self.environment.events
        events.test_start.add_listener(self.on_test_start)
        events.test_stop.add_listener(self.on_test_stop)
        events.quitting.add_listener(self.on_quitting)
        events.cpu_warning.add_listener(self.on_cpu_warning)
        events.usage_monitor.add_listener(self.on_usage_monitor)
        events.report_to_master.add_listener(self.on_report_to_master)
        events.worker_report.add_listener(self.on_worker_report)

    def log_path(self) -> str | None:
        return loadgen_options.option_value(self.environment, "request_log", None)

    def is_master(self) -> bool:
        return isinstance(self.environment.runner, MasterRunner)

    # Listeners. The request listener is attached at test start, not
    # earlier: a worker learns the master's --request-log only then.

    def on_test_start(self, **_kwargs: Any) -> None:
        self.requests = []
        self.cpu = CpuUsage()
        self.worker_cpu = {}
        self._unsaved = False
        wanted = self.log_path() is not None and not self.is_master()
        if wanted != self._recording:
            request_event = self.environment.events.request
            if wanted:
                request_event.add_listener(self.on_request)
            else:
                request_event.remove_listener(self.on_request)
            self._recording = wanted

    def on_request(
        self,
        name: str,
        response_time: float,
        start_time: float | None = None,
        response: Any = None,
        exception: BaseException | None = None,
        **_kwargs: Any,
    ) -> None:
        # Runs for every request of every user: keep it to one append.
        headers = getattr(response, "headers", None)
        self.requests.append(
            LoggedRequest(
                start_time if start_time is not None else time.time() - response_time / 1000,
                response_time,
                name,
                exception is None,
                self.environment.runner.user_count,
                headers.get("server-timing") if headers else None,
                getattr(response, "status_code", 0) or 0,
            )
        )
        self._unsaved = True

    def on_cpu_warning(self, cpu_usage: float = 0.0, **_kwargs: Any) -> None:
        self.cpu.cpu_warning = True

    def on_usage_monitor(self, cpu_usage: float = 0.0, **_kwargs: Any) -> None:
        self.cpu.sample(cpu_usage)

    def on_report_to_master(self, data: dict[str, Any], **_kwargs: Any) -> None:
        data[REPORT_KEY] = asdict(self.cpu)

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        # Each report carries the worker's totals since its test start.
        if REPORT_KEY in data:
            self.worker_cpu[client_id] = CpuUsage.from_report(data[REPORT_KEY])
            self._unsaved = True

    def on_test_stop(self, **_kwargs: Any) -> None:
        self.save()

    def on_quitting(self, **_kwargs: Any) -> None:
        if self._unsaved:
            self.save()

    # Output.

    def total_cpu(self) -> CpuUsage:
        total = replace(self.cpu)
        for usage in self.worker_cpu.values():
            total = total.merge(usage)
        # The master also flags a worker whose heartbeat showed high CPU.
        if getattr(self.environment.runner, "worker_cpu_warning_emitted", False):
            total.cpu_warning = True
        return total

    def save(self) -> None:
        path = self.log_path()
        if path is None:
            return
        runner = self.environment.runner
        try:
            if isinstance(runner, WorkerRunner):
                self._write_rows(worker_log_path(path, runner.worker_index, os.getpid()))
            else:
                if not self.is_master():
                    self._write_rows(path)
                self._write_meta(meta_path(path))
        except OSError as error:
            logger.error("Could not write the request log %s: %s", path, error)
            return
        self._unsaved = False

    def _write_rows(self, path: str) -> None:
        write_request_log(path, self.requests)
        logger.info("Request log: %d rows written to %s", len(self.requests), path)

    def _write_meta(self, path: str) -> None:
        _make_parent(path)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(asdict(self.total_cpu()), handle)
            handle.write("\n")


def install(environment: Any) -> Recorder:
    """Wire a Recorder to this Locust process's events."""
    recorder = Recorder(environment)
    recorder.attach()
    return recorder
