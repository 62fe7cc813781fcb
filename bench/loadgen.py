"""Run Locust headless as a subprocess for one cell, and read what it wrote."""

import contextlib
import csv
import json
import logging
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.arms import Cell
from bench.servers import HOST, find_free_port, launch, stop_process_tree

logger = logging.getLogger(__name__)

LOCUSTFILE = "locust/locustfile.py"
PROBE_USER_CLASS = "ProbeClient"
PROBE_TAG = "probe"
# Beyond the run and its stop timeout, how long Locust may take to start
# and write its files before it is stopped as hung.
LOCUST_OVERHEAD_S = 60.0
CUT_OFF_MESSAGE = "Not all users finished their tasks"
# The locustfile's count of them, one line per Locust process that cut any.
CUT_OFF_COUNT = re.compile(r"Cut off at the stop timeout: (\d+) requests")
CPU_WARNING_MESSAGE = "CPU usage above"
# What a master logs when a worker's heartbeat shows high CPU.
WORKER_CPU_WARNING_MESSAGE = "exceeded cpu threshold"

STATS_COLUMNS = {
    "requests": "Request Count",
    "failures": "Failure Count",
    "avg_ms": "Average Response Time",
    "min_ms": "Min Response Time",
    "max_ms": "Max Response Time",
    "avg_size_bytes": "Average Content Size",
    "rps": "Requests/s",
    "failures_per_s": "Failures/s",
}
PERCENTILES = ("50", "60", "70", "80", "90", "95", "99", "100")
# FastHttpUser names a failure by its exception's repr. A response with a
# bad status reads LocustBadStatusCode(code=503); errors without a response
# name the socket or client error (measured with Locust 2.47).
STATUS_ERROR = re.compile(r"BadStatusCode\(.*?code=(\d{3})")
CHECK_ERROR = "CatchResponseError"
HARNESS_ERRORS = (  # (kind, words that identify it); the first match wins
    ("client time-out", ("timed out", "Timeout", "timeout(")),
    ("connection refused", ("ConnectionRefusedError", "Connection refused")),
    ("connection reset", ("ConnectionResetError", "reset by peer")),
    ("connection closed", ("HTTPConnectionClosed", "EmptyResponse", "BrokenPipeError")),
    ("unreadable response", ("HTTPParseError",)),
)
HARNESS_RULE = (
    "**Harness failures**: a Locust failure is the server's when the server "
    "answered with an HTTP status (a 503 from the in-flight bound, a 500). Any "
    "failure without a status (connection refused, reset or closed, the client's "
    "own time limit) is counted as the harness's and marks the cell `harness_failures`, "
    "even when an overloaded server is behind it: on Linux a full accept queue shows "
    "on the client as a time-out, a killed worker as a reset or a closed connection. "
    "Such a cell's latency and throughput then describe how the client coped with "
    "connections nobody answered, not how the server answers, so the cell is not "
    "comparable as it is; the counts by kind say how much of it is affected."
)


@dataclass(frozen=True)
class LoadOptions:
    """Locust settings for a run; copied into the report."""

    users: int = 8
    spawn_rate: float | None = 8.0  # None: each cell brings its own (classroom rows)
    run_time_s: int = 15
    stop_timeout_s: int = 60
    probe: bool = True
    probe_rate: float = 2.0
    cpus: tuple[int, ...] = ()
    processes: int = 1  # above 1: Locust's --processes, a master and this many workers


@dataclass
class LocustRun:
    command: list[str]
    exit_code: int | None
    duration_s: float
    prefix: Path
    log_path: Path
    request_log: Path
    timed_out: bool = False
    flags: dict[str, str] = field(default_factory=dict)


def locust_command(
    cell: Cell,
    host: str,
    prefix: Path,
    options: LoadOptions,
    extra: list[str] = (),
    shape: str | None = None,
    probe_only: bool = False,
) -> list[str]:
    """The headless Locust command line for one cell.

    With `shape` (a shape file in locust/, as a second -f entry) the shape
    decides the users and when the run ends, so -u, -r and -t are left
    out: next to a shape Locust ignores them, with a warning.
    With `probe_only`, the probe user alone requests the cell's arm: its
    latency on a server with nothing else to do.
    """
    tags = [] if probe_only else [cell.tag]
    user_classes = [] if probe_only else [cell.user_class]
    if probe_only or (options.probe and cell.algorithm != "ping"):
        tags.append(PROBE_TAG)
        user_classes.append(PROBE_USER_CLASS)
    # The probe's fixed_count user is one of the -u users; keep the heavy
    # users at the number asked for.
    heavy_users = 0 if probe_only else options.users
    users = heavy_users + (1 if PROBE_USER_CLASS in user_classes else 0)
    counts = ["--users", str(users), "--spawn-rate", str(options.spawn_rate)]
    counts += ["--run-time", f"{options.run_time_s}s"]

    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        LOCUSTFILE if shape is None else f"{LOCUSTFILE},{shape}",
        "--headless",
        "--host",
        host,
        *([] if shape else counts),
        "--stop-timeout",
        str(options.stop_timeout_s),
        "--tags",
        *tags,
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--html",
        f"{prefix}.html",
        "--request-log",
        f"{prefix}_requests.csv",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "INFO",
    ]
    if PROBE_USER_CLASS in user_classes:
        command += ["--probe-mode", cell.arm.ping_path, "--probe-rate", str(options.probe_rate)]
    if options.processes > 1:
        command += distributed_options(options.processes)
    return command + list(extra) + ["--", *user_classes]


def distributed_options(processes: int) -> list[str]:
    """Locust's --processes: a master and forked workers on a port of their own.

    Each worker writes its own request log next to PATH. The default port
    (5557) on every interface would let workers of another run on this
    machine join this master; a free loopback port keeps runs apart.
    """
    port = str(find_free_port())
    return [
        "--processes",
        str(processes),
        "--master-bind-host",
        HOST,
        "--master-bind-port",
        port,
        "--master-port",
        port,
    ]


def request_name(cell: Cell) -> str:
    """The name under which the locustfile reports the cell's requests."""
    if cell.algorithm == "ping":
        return cell.path
    return f"{cell.path} [s{cell.scenario}]"


def run_locust(command: list[str], prefix: Path, options: LoadOptions) -> LocustRun:
    """Run Locust to its end, or stop it if it hangs; never leave it running."""
    log_path = Path(f"{prefix}.log")
    timeout_s = options.run_time_s + options.stop_timeout_s + LOCUST_OVERHEAD_S
    logger.debug("locust: %s", " ".join(command))

    started = time.monotonic()
    timed_out = False
    with open(log_path, "wb") as log:
        process = launch(command, log, {}, options.cpus)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            stop_process_tree(process)
    run = LocustRun(
        command=command,
        exit_code=process.returncode,
        duration_s=time.monotonic() - started,
        prefix=prefix,
        log_path=log_path,
        request_log=Path(f"{prefix}_requests.csv"),
        timed_out=timed_out,
    )
    run.flags = locust_flags(run)
    return run


def locust_flags(run: LocustRun) -> dict[str, str]:
    """Reasons, read from Locust's own output, to distrust this cell."""
    flags = {}
    log_text = _read_text(run.log_path)
    if run.timed_out:
        flags["locust_hung"] = f"Locust did not finish within its time limit; see {run.log_path}"
    elif run.exit_code != 0:
        flags["locust_failed"] = f"Locust exited with code {run.exit_code}; see {run.log_path}"
    logged_warning = CPU_WARNING_MESSAGE in log_text or WORKER_CPU_WARNING_MESSAGE in log_text
    if logged_warning or _meta(run).get("cpu_warning"):
        flags["cpu_warning"] = "Locust's CPU went above 90 %: the load generator may be the limit"
    if CUT_OFF_MESSAGE in log_text:
        flags["cut_off"] = _cut_off_text(log_text)
    flags.update(harness_flag(failure_causes(read_failures(run.prefix))))
    return flags


def cut_off_count(log_text: str) -> int | None:
    """Requests the stop timeout cut off, summed over Locust's processes.

    None when no process logged a count (none cut any, or an older locustfile).
    """
    counts = [int(count) for count in CUT_OFF_COUNT.findall(log_text)]
    return sum(counts) if counts else None


def _cut_off_text(log_text: str) -> str:
    count = cut_off_count(log_text)
    if count is None:
        return "requests still running at the end were cut off, not counted"
    return f"{count:,} requests still waiting at the end were cut off, not counted"


def read_stats(prefix: Path) -> dict[str, dict]:
    """Locust's final stats per request name, in the classroom's columns."""
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as stats_file:
        return {row["Name"]: stats_row(row) for row in csv.DictReader(stats_file)}


def read_failures(prefix: Path) -> list[dict]:
    """Locust's failures table: one row per request name and distinct error."""
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as failures_file:
        return [
            {
                "name": row.get("Name") or "",
                "error": row.get("Error") or "",
                "occurrences": int(_number(row.get("Occurrences")) or 0),
            }
            for row in csv.DictReader(failures_file)
        ]


def classify_failure(error: str) -> tuple[str, str]:
    """("server", kind) for an answer the server gave, else ("harness", kind)."""
    status = STATUS_ERROR.search(error)
    if status:
        return "server", f"HTTP {status.group(1)}"
    if CHECK_ERROR in error:
        return "server", "response rejected by a check"
    for kind, words in HARNESS_ERRORS:
        if any(word in error for word in words):
            return "harness", kind
    return "harness", f"other: {error[:120]}"


def failure_causes(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Failure counts by side ("server", "harness") and kind."""
    causes: dict[str, dict[str, int]] = {"server": {}, "harness": {}}
    for row in rows:
        side, kind = classify_failure(row["error"])
        causes[side][kind] = causes[side].get(kind, 0) + row["occurrences"]
    return causes


def harness_flag(causes: dict[str, dict[str, int]]) -> dict[str, str]:
    """The `harness_failures` flag, with counts by kind, when there were any."""
    harness = causes.get("harness") or {}
    count = sum(harness.values())
    if not count:
        return {}
    server = sum((causes.get("server") or {}).values())
    kinds = ", ".join(f"{number:,} {kind}" for kind, number in harness.items())
    return {
        "harness_failures": f"{count:,} of {count + server:,} failures came from the "
        f"client side, not from a server answer ({kinds})"
    }


def stats_row(row: dict[str, str]) -> dict:
    stats = {key: _number(row.get(column)) for key, column in STATS_COLUMNS.items()}
    for percentile in PERCENTILES:
        stats[f"p{percentile}_ms"] = _number(row.get(f"{percentile}%"))
    return stats


def _number(text: str | None) -> float | int | None:
    if text is None or text in ("", "N/A"):
        return None
    value = float(text)
    return int(value) if value.is_integer() else round(value, 3)


def _meta(run: LocustRun) -> dict:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(Path(f"{run.request_log}.meta.json").read_text(encoding="utf-8"))
    return {}


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
