"""Run every cell against a fresh server and collect plain data.

Measure first, render after: this module writes `results.json` in the run
folder after every cell, and `bench.report` turns it into Markdown.
"""

import contextlib
import datetime as dt
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import analysis, bottleneck, repeats
from bench.arms import PING, Cell
from bench.loadgen import (
    LoadOptions,
    failure_causes,
    locust_command,
    read_failures,
    read_stats,
    request_name,
    run_locust,
)
from bench.machine import describe_machine
from bench.servers import RunningServer, ServerError, ServerOptions, answers, start_server

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1
WARM_UP_N = 10  # list size of warm-up requests: enough to load every code path
WARM_UP_ROUNDS = 2
TARGET_CHECK_TIMEOUT_S = 10.0


@dataclass
class RunPlan:
    cells: list[Cell]
    server: ServerOptions
    load: LoadOptions
    run_dir: Path
    command_line: str = ""
    kind: str = "fixed"
    extra: dict = field(default_factory=dict)  # kind-specific settings, reported
    target_url: str | None = None  # load a server already running there instead
    detail: str = ""  # what each cell does, for the progress line
    repeats: int = 1  # runs of each cell, round-robin over the cells
    block: str = ""  # the report block this run writes; "" = the kind's own
    ceiling_repeats: int = 0  # timed runs of each job for the ceiling; 0: no ceiling
    idle_probe_s: int = 0  # seconds of the probe alone per arm; 0: no idle probe


@dataclass
class Target:
    """Where a cell sends its load, and the server behind it if we run it."""

    url: str
    server: RunningServer | None = None
    flags: dict[str, str] = field(default_factory=dict)  # filled on exit


CellRunner = Callable[[Cell, RunPlan], dict]


def new_run_dir(root: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = root / stamp
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = root / f"{stamp}-{suffix}"
    run_dir.mkdir(parents=True)
    return run_dir


def run_plan(plan: RunPlan, cell_runner: CellRunner | None = None) -> dict:
    """Run the cells one after another; results.json is kept current."""
    cell_runner = cell_runner or run_fixed_cell
    results = _new_results(plan)
    save_results(results, plan.run_dir)
    schedule = repeats.round_robin(plan.cells, plan.repeats)
    total = len(schedule)
    try:
        for index, cell in enumerate(schedule, start=1):
            logger.info("[%d/%d] %s: %s", index, total, cell.label, plan.detail or plan.kind)
            record = cell_runner(cell, plan)
            record["repeat"] = repeats.repeat_number(cell)
            results["cells"].append(record)
            if record["status"] != "ok":
                results["failures"].append({"cell": record["id"], "error": record["error"]})
                logger.warning("%s failed: %s", record["id"], record["error"])
            save_results(results, plan.run_dir)
        # After the cells, so that a run cut short still has them all.
        bottleneck.measure_baselines(plan, results, serving)
        results["status"] = "complete"
    except KeyboardInterrupt:
        results["status"] = "interrupted"
        raise
    finally:
        results["finished_at"] = _now()
        save_results(results, plan.run_dir)
    return results


def run_fixed_cell(cell: Cell, plan: RunPlan) -> dict:
    """Hold a fixed number of users on a fresh server; one record."""
    cell_dir = cell_folder(cell, plan)
    record = new_cell_record(cell, plan)
    try:
        with serving(cell, plan, cell_dir) as target:
            describe_target(record, target)
            with bottleneck.measure_server_cpu(target.server) as cpu:
                run = _load(cell, target.url, cell_dir / "locust", plan.load)
        record.update(_measurements(cell, run, plan))
        record.update(bottleneck.from_run(cpu, run.prefix))
        record["flags"].update(target.flags)
        record["flags"].update(bottleneck.cpu_flags(record["server_cpu"]))
    except ServerError as error:
        record.update(status="error", error=str(error))
    return record


def cell_folder(cell: Cell, plan: RunPlan) -> Path:
    cell_dir = plan.run_dir / repeats.folder_name(cell)
    cell_dir.mkdir(parents=True, exist_ok=True)
    return cell_dir


@contextlib.contextmanager
def serving(cell: Cell, plan: RunPlan, cell_dir: Path) -> Iterator[Target]:
    """A fresh, warmed-up server for the cell, stopped on exit.

    Each cell gets its own server so that work left running by the last
    cell (a sort whose client has gone) cannot slow the next one. With a
    target URL, the server there is loaded as it is: nothing is started.
    """
    if plan.target_url:
        check_target(plan.target_url, cell.arm.ping_path)
        warm_up(plan.target_url, cell, plan.server)
        yield Target(plan.target_url)
        return
    with start_server(cell.arm, plan.server, cell_dir / "server.log") as server:
        warm_up(server.url, cell, plan.server)
        target = Target(server.url, server)
        yield target
        target.flags.update(server_flags(server))


def warm_up(base_url: str, cell: Cell, options: ServerOptions) -> None:
    """Send a few tiny requests so imports and pools are ready before Locust.

    As many at once as the widest pool, so a process pool has started all
    its children before the first measured request.
    """
    url = base_url + cell.path
    if cell.algorithm != PING:
        url += "?" + urllib.parse.urlencode({"n": WARM_UP_N})
    width = max(options.thread_pool, options.process_pool, options.workers, 1)
    with ThreadPoolExecutor(max_workers=width) as senders:
        for _ in range(WARM_UP_ROUNDS):
            list(senders.map(lambda _: answers(url, timeout_s=30), range(width)))


def check_target(base_url: str, ping_path: str) -> None:
    """Make sure an external server answers before it is loaded."""
    url = base_url + ping_path
    if not answers(url, timeout_s=TARGET_CHECK_TIMEOUT_S):
        raise ServerError(
            f"the target did not answer {url} with 200 within {TARGET_CHECK_TIMEOUT_S:.0f} s; "
            "start this project's server there, check the URL, and that the server's "
            "ASYNCPROJ_ALLOWED_HOSTS accepts that host name"
        )


def server_flags(server: RunningServer) -> dict[str, str]:
    flags = {}
    code = server.process.poll()
    if code is not None:
        flags["server_died"] = f"the server exited with code {code} during the run"
    elif server.arm.server == "gunicorn" and server.worker_pids() != server.started_pids:
        flags["worker_restarted"] = "a gunicorn worker was replaced during the run"
    return flags


def save_results(results: dict, run_dir: Path) -> Path:
    path = run_dir / RESULTS_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(results, indent=1), encoding="utf-8")
    temporary.replace(path)
    return path


def load_results(path: Path) -> dict:
    if path.is_dir():
        path = path / RESULTS_FILE
    return json.loads(path.read_text(encoding="utf-8"))


def _load(cell: Cell, url: str, prefix: Path, options: LoadOptions):
    command = locust_command(cell, url, prefix, options)
    return run_locust(command, prefix, options)


def describe_target(record: dict, target: Target) -> None:
    if target.server is not None:
        record["server_command"] = " ".join(target.server.command)
        record["server_env"] = target.server.env
    else:
        # Someone else's server: its model and settings are not ours to state.
        record["server"] = "external"
        record["target_url"] = target.url


def _measurements(cell: Cell, run, plan: RunPlan) -> dict:
    stats = read_stats(run.prefix)
    heavy = stats.get(request_name(cell))
    probe = next((row for name, row in stats.items() if name.startswith("probe ")), None)
    logs = request_logs(run.prefix)
    requests = analysis.read_request_log(logs)
    heavy_requests = [r for r in requests if not r.name.startswith("probe ")]
    flags = {**run.flags, **_missing_worker_logs(logs, plan.load)}
    return {
        "status": "ok" if heavy else "error",
        "error": None if heavy else f"Locust recorded no requests; see {run.log_path}",
        "locust_command": " ".join(run.command),
        "locust_exit_code": run.exit_code,
        "stats": heavy,
        "probe": probe,
        "server_timing": _server_timing(heavy_requests),
        "flags": flags,
        "request_logs": len(logs),
        "failure_causes": failure_causes(read_failures(run.prefix)),
        "files": {
            "csv_prefix": str(run.prefix.relative_to(plan.run_dir)),
            "html": f"{run.prefix.relative_to(plan.run_dir)}.html",
        },
    }


def request_logs(prefix: Path) -> list[Path]:
    """A Locust run's request logs: PATH alone, or PATH.worker<i>.csv per worker."""
    return sorted(prefix.parent.glob(f"{prefix.name}_requests*.csv"))


def _missing_worker_logs(logs: list[Path], load: LoadOptions) -> dict[str, str]:
    if load.processes <= 1 or len(logs) >= load.processes:
        return {}
    return {
        "request_log_incomplete": f"{len(logs)} of {load.processes} Locust workers wrote a "
        "request log; the server timings miss the others' requests"
    }


def _server_timing(requests) -> dict:
    timed = [r for r in requests if r.ok and r.sort_ms is not None]
    if not timed:
        return {}
    count = len(timed)
    return {
        "count": count,
        "wait_ms": sum(r.wait_ms or 0.0 for r in timed) / count,
        "generate_ms": sum(r.generate_ms or 0.0 for r in timed) / count,
        "sort_ms": sum(r.sort_ms for r in timed) / count,
        "client_ms": sum(r.response_time_ms for r in timed) / count,
    }


def _new_results(plan: RunPlan) -> dict:
    return {
        "schema": SCHEMA_VERSION,
        "kind": plan.kind,
        "block": plan.block or plan.kind,
        "status": "running",
        "started_at": _now(),
        "finished_at": None,
        "command": plan.command_line,
        "machine": describe_machine(),
        "server_options": asdict(plan.server),
        "load_options": asdict(plan.load),
        "extra": plan.extra,
        "target_url": plan.target_url,
        "planned_cells": [cell.id for cell in plan.cells],
        "repeats": plan.repeats,
        "cells": [],
        "failures": [],
    }


def new_cell_record(cell: Cell, plan: RunPlan) -> dict:
    return {
        "id": cell.id,
        "arm": cell.arm.name,
        "server": cell.arm.server,
        "algorithm": cell.algorithm,
        "scenario": cell.scenario,
        **cell.params,
        "path": cell.path,
        "users": plan.load.users,
        "run_time_s": plan.load.run_time_s,
        "status": "ok",
        "error": None,
        "flags": {},
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
