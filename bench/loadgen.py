"""Run Locust headless as a subprocess for one cell, and read what it wrote."""

import contextlib
import csv
import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.arms import Cell
from bench.servers import launch, stop_process_tree

logger = logging.getLogger(__name__)

LOCUSTFILE = "locust/locustfile.py"
PROBE_USER_CLASS = "ProbeClient"
PROBE_TAG = "probe"
# Beyond the run and its stop timeout, how long Locust may take to start
# and write its files before it is stopped as hung.
LOCUST_OVERHEAD_S = 60.0
CUT_OFF_MESSAGE = "Not all users finished their tasks"
CPU_WARNING_MESSAGE = "CPU usage above"

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


@dataclass(frozen=True)
class LoadOptions:
    """Locust settings for a run; copied into the report."""

    users: int = 8
    spawn_rate: float = 8.0
    run_time_s: int = 15
    stop_timeout_s: int = 60
    probe: bool = True
    probe_rate: float = 2.0
    cpus: tuple[int, ...] = ()


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
    cell: Cell, host: str, prefix: Path, options: LoadOptions, extra: list[str] = ()
) -> list[str]:
    """The headless Locust command line for one cell."""
    tags = [cell.tag]
    user_classes = [cell.arm.user_class]
    if options.probe and cell.algorithm != "ping":
        tags.append(PROBE_TAG)
        user_classes.append(PROBE_USER_CLASS)
    # The probe's fixed_count user is one of the -u users; keep the heavy
    # users at the number asked for.
    users = options.users + (1 if PROBE_USER_CLASS in user_classes else 0)

    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        LOCUSTFILE,
        "--headless",
        "--host",
        host,
        "--users",
        str(users),
        "--spawn-rate",
        str(options.spawn_rate),
        "--run-time",
        f"{options.run_time_s}s",
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
    return command + list(extra) + ["--", *user_classes]


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
    if CPU_WARNING_MESSAGE in log_text or _meta(run).get("cpu_warning"):
        flags["cpu_warning"] = "Locust's CPU went above 90 %: the load generator may be the limit"
    if CUT_OFF_MESSAGE in log_text:
        flags["cut_off"] = "requests still running at the end were cut off, not counted"
    return flags


def read_stats(prefix: Path) -> dict[str, dict]:
    """Locust's final stats per request name, in the classroom's columns."""
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as stats_file:
        return {row["Name"]: stats_row(row) for row in csv.DictReader(stats_file)}


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
