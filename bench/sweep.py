"""The sweep kind: how each algorithm's cost grows with n.

For each algorithm a geometric series of list sizes is timed twice. In
process: a child Python pinned to the server's CPUs runs `run_job` and
keeps its sort time, so nothing but the algorithm is measured. Over HTTP:
one server model answers one request at a time, so no queue forms, and
both the server's sort time and the client's latency are kept. Each series
gets a growth exponent fitted in log-log space, to set beside the theory.

Every size is timed in rounds (all sizes once, then again), so slow drift
of the machine spreads over all sizes instead of bending the slope; each
round uses its own seed, the same in process and over HTTP.

Run as a module (`python -m bench.sweep --algorithm bubble --ns 250,500`)
it is the timing child: it needs the sort, not Django.
"""

import argparse
import contextlib
import http.client
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.analysis import DEFAULT_RULES, Rules, fit_exponent, spread
from bench.arms import ALGORITHMS, ARMS, Cell
from bench.runner import RunPlan, cell_folder, describe_target, serving
from bench.servers import ServerError, launch, stop_process_tree
from sorts.jobs import Job, run_job
from sorts.params import N_CAPS

logger = logging.getLogger(__name__)

# Smallest and largest n per algorithm. Bubble stops early so its sweep
# stays short; every top is also held under the app's cap in N_CAPS.
SWEEP_RANGES = {
    "builtin": (1_000, 200_000),
    "priority_queue": (1_000, 200_000),
    "bubble": (250, 4_000),
}
MAX_PER_N = 5  # max = 5 × n, as in both scenarios
DEFAULT_ARM = "wsgi-sync"
DEFAULT_POINTS = 8
DEFAULT_ROUNDS = 5  # timed rounds; each size's time is their median
WARM_UP_ROUNDS = 1  # untimed rounds first: imports, caches, the server's pools
MIN_POINTS = 2  # a slope needs two sizes
IN_PROCESS_TIMEOUT_S = 600.0
REQUEST_TIMEOUT_S = 120.0
MS_PER_S = 1000.0
THEORY = {
    "builtin": ("O(n log n)", 1.0),
    "priority_queue": ("O(n log n)", 1.0),
    "bubble": ("O(n²)", 2.0),
}
IN_PROCESS = "in_process"
HTTP = "http"
# Each fitted series: which points it comes from and which of their times.
SERIES = {
    "in_process": (IN_PROCESS, "sort_ms"),
    "http_sort": (HTTP, "sort_ms"),
    "http_client": (HTTP, "client_ms"),
}
# Reported per size but not fitted: the client's time outside the work.
SHOWN_SERIES = {"http_other": (HTTP, "other_ms")}
# Requests go one at a time, so one worker serves them all: every request
# meets the same warmed-up process, never a cold one (--workers overrides).
DEFAULTS = {"workers": 1}
SUMMARY = (
    "a sweep of n per algorithm, in-process and over HTTP one request at a time, "
    "with the fitted growth exponent beside the theory"
)


class SweepError(RuntimeError):
    """A sweep step that could not measure: an expected failure."""


@dataclass(frozen=True)
class SweepCell(Cell):
    """One algorithm's sweep: its sizes, and the arm that serves it over HTTP."""

    ns: tuple[int, ...] = ()
    rounds: int = DEFAULT_ROUNDS
    warm_up_rounds: int = WARM_UP_ROUNDS

    @property
    def id(self) -> str:
        return f"{self.arm.name}/{self.algorithm}/sweep"

    @property
    def label(self) -> str:
        return (
            f"{self.algorithm} sweep over {len(self.ns)} sizes, in process and on {self.arm.name}"
        )


# Planning ----------------------------------------------------------------------


def sizes(low: int, high: int, points: int) -> list[int]:
    """`points` sizes from `low` to `high`, evenly spaced on a log scale."""
    if points < MIN_POINTS:
        raise ValueError(f"a sweep needs at least {MIN_POINTS} sizes to fit a slope, got {points}")
    if not 1 <= low < high:
        raise ValueError(f"sizes need 1 <= low < high, got {low} and {high}")
    ratio = (high / low) ** (1 / (points - 1))
    return sorted({round(low * ratio**step) for step in range(points)})


def size_range(algorithm: str) -> tuple[int, int]:
    low, high = SWEEP_RANGES[algorithm]
    return low, min(high, N_CAPS[algorithm])


def sweep_cells(
    arm_name: str,
    algorithms: Sequence[str],
    points: int = DEFAULT_POINTS,
    rounds: int = DEFAULT_ROUNDS,
) -> list[SweepCell]:
    """One sweep cell per algorithm, in the classroom's algorithm order."""
    if arm_name not in ARMS:
        raise ValueError(f"unknown arm {arm_name!r}; expected one of: {', '.join(ARMS)}")
    if rounds < 1:
        raise ValueError(f"a sweep needs at least one timed round, got {rounds}")
    arm = ARMS[arm_name]
    return [
        SweepCell(
            arm, algorithm, None, ns=tuple(sizes(*size_range(algorithm), points)), rounds=rounds
        )
        for algorithm in ALGORITHMS
        if algorithm in algorithms
    ]


def cells_from_options(options: dict) -> list[Cell]:
    """The sweep's cells from the bench command's options."""
    return sweep_cells(
        options.get("sweep_arm") or DEFAULT_ARM,
        options.get("algorithms") or ALGORITHMS,
        options.get("sweep_points") or DEFAULT_POINTS,
        options.get("sweep_rounds") or DEFAULT_ROUNDS,
    )


def finish_plan(plan: RunPlan) -> RunPlan:
    """The command's plan, fitted to a sweep: its progress line, no Locust baselines.

    The ceiling and the idle probe describe Locust cells; a sweep has none.
    """
    first = next((cell for cell in plan.cells if isinstance(cell, SweepCell)), None)
    detail = "in process, then over HTTP one request at a time"
    if first is not None:
        detail = f"{first.rounds} timed rounds of each size, {detail}"
    return replace(plan, detail=detail, ceiling_repeats=0, idle_probe_s=0)


def schedule(ns: Sequence[int], rounds: int, warm_up_rounds: int) -> list[tuple[int, int]]:
    """(round, n) in the order they run; round 0 and below are warm-up."""
    first = 1 - warm_up_rounds
    return [(number, n) for number in range(first, rounds + 1) for n in ns]


def seed_of(round_number: int) -> int:
    # Seeds must be >= 0; warm-up rounds reuse the low ones.
    return abs(round_number)


# Running one cell --------------------------------------------------------------


def run_sweep_cell(cell: SweepCell, plan: RunPlan) -> dict:
    """Time the algorithm's sizes in process, then over HTTP; one record."""
    cell_dir = cell_folder(cell, plan)
    record = new_sweep_record(cell)
    errors = []

    try:
        record["points"] += measure_in_process(cell, plan, cell_dir, record)
    except SweepError as error:
        errors.append(f"in process: {error}")

    try:
        record["points"] += measure_over_http(cell, plan, cell_dir, record)
    except (SweepError, ServerError) as error:
        errors.append(f"over HTTP: {error}")

    if errors:
        record.update(status="error", error="; ".join(errors))
    record.update(summarize(record["points"], cell.ns))
    record["flags"].update(noisy_flag(record["medians"]))
    return record


def new_sweep_record(cell: SweepCell) -> dict:
    cost, exponent = THEORY.get(cell.algorithm, ("unknown", None))
    return {
        "id": cell.id,
        "arm": cell.arm.name,
        "server": cell.arm.server,
        "algorithm": cell.algorithm,
        "scenario": None,
        "path": cell.path,
        "ns": list(cell.ns),
        "max_per_n": MAX_PER_N,
        "rounds": cell.rounds,
        "warm_up_rounds": cell.warm_up_rounds,
        "theory": {
            "cost": cost,
            "exponent": exponent,
            "over_range": theory_over_range(cell.algorithm, cell.ns),
        },
        "status": "ok",
        "error": None,
        "flags": {},
        "points": [],
    }


def theory_over_range(algorithm: str, ns: Sequence[int]) -> float | None:
    """The slope the theory's cost function itself has over these sizes.

    n log n is not a straight line on log-log axes: its local slope is
    1 + 1 / ln n, so over 1,000 to 200,000 a perfect n log n sort fits
    about 1.1, not 1.
    """
    costs = {
        "O(n log n)": lambda n: n * math.log(n),
        "O(n²)": lambda n: float(n) ** 2,
    }
    cost = costs.get(THEORY.get(algorithm, ("",))[0])
    if cost is None or len(set(ns)) < MIN_POINTS or min(ns) < 2:
        return None
    return fit_exponent(list(ns), [cost(n) for n in ns]).exponent


def measure_in_process(cell: SweepCell, plan: RunPlan, cell_dir: Path, record: dict) -> list[dict]:
    """Run the timing child pinned to the server's CPUs; its points."""
    output = cell_dir / "in_process.json"
    command = in_process_command(cell, output)
    record["in_process"] = {"command": " ".join(command), "cpus": None}
    logger.debug("in-process sweep: %s", " ".join(command))

    with open(cell_dir / "in_process.log", "wb") as log:
        process = launch(command, log, {}, plan.server.cpus)
        try:
            process.wait(timeout=IN_PROCESS_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SweepError(
                f"the timing child took over {IN_PROCESS_TIMEOUT_S:.0f} s; see {log.name}"
            ) from None
        finally:
            stop_process_tree(process)
    if process.returncode != 0:
        raise SweepError(f"the timing child exited with code {process.returncode}; see {log.name}")

    try:
        data = json.loads(output.read_text(encoding="utf-8"))
        points = data["points"]
    except (OSError, ValueError, KeyError) as error:
        raise SweepError(f"the timing child left no usable {output.name}: {error}") from None
    record["in_process"]["cpus"] = data.get("cpus")
    return points


def in_process_command(cell: SweepCell, output: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.sweep",
        "--algorithm",
        cell.algorithm,
        "--ns",
        ",".join(str(n) for n in cell.ns),
        "--rounds",
        str(cell.rounds),
        "--warm-up-rounds",
        str(cell.warm_up_rounds),
        "--output",
        str(output),
    ]


def measure_over_http(cell: SweepCell, plan: RunPlan, cell_dir: Path, record: dict) -> list[dict]:
    """One server for the whole series, one request at a time; its points."""
    with serving(cell, plan, cell_dir) as target:
        describe_target(record, target)
        record["client_cpus"] = list(plan.load.cpus)
        with pinned(plan.load.cpus):
            points = http_points(target.url, cell)
    record["flags"].update(target.flags)
    return points


def http_points(base_url: str, cell: SweepCell) -> list[dict]:
    """Every (round, n) of the schedule as one request, sent one after another."""
    points = []
    for round_number, n in schedule(cell.ns, cell.rounds, cell.warm_up_rounds):
        path = sweep_path(cell.path, n, seed_of(round_number))
        timing = timed_request(base_url, path)
        points.append(new_point(HTTP, round_number, n, **timing))
    return points


def sweep_path(path: str, n: int, seed: int) -> str:
    return f"{path}?{urllib.parse.urlencode({'n': n, 'max': MAX_PER_N * n, 'seed': seed})}"


def timed_request(base_url: str, path: str) -> dict:
    """GET one sort; the client's latency and the server's own timings, in ms.

    A new connection per request, as gunicorn's sync workers close each
    one: the connect is part of the fixed cost every request pays.
    """
    address = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, REQUEST_TIMEOUT_S)
    started = time.perf_counter()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    except OSError as error:
        raise SweepError(f"GET {path} failed: {error}") from None
    finally:
        connection.close()
    client_ms = (time.perf_counter() - started) * MS_PER_S

    if response.status != 200:
        raise SweepError(f"GET {path} answered {response.status}: {body[:200]!r}")
    answer = json.loads(body)
    timings = {key: float(answer[key]) for key in ("wait_ms", "generate_ms", "sort_ms")}
    other_ms = client_ms - sum(timings.values())
    return {"client_ms": client_ms, **timings, "other_ms": other_ms}


@contextlib.contextmanager
def pinned(cpus: Sequence[int]) -> Iterator[None]:
    """Run this thread on `cpus` (the load generator's) for the block."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# The timing child ---------------------------------------------------------------


def time_sorts(
    algorithm: str, ns: Sequence[int], rounds: int, warm_up_rounds: int = WARM_UP_ROUNDS
) -> list[dict]:
    """Run `run_job` for every (round, n) of the schedule; its timings as points."""
    points = []
    for round_number, n in schedule(ns, rounds, warm_up_rounds):
        outcome = run_job(Job(algorithm, n, MAX_PER_N * n, seed_of(round_number)))
        points.append(
            new_point(
                IN_PROCESS,
                round_number,
                n,
                sort_ms=outcome.sort_ms,
                generate_ms=outcome.generate_ms,
            )
        )
    return points


def new_point(mode: str, round_number: int, n: int, **timings: float) -> dict:
    return {
        "mode": mode,
        "round": round_number,
        "warm_up": round_number < 1,
        "n": n,
        "max": MAX_PER_N * n,
        "seed": seed_of(round_number),
        **timings,
    }


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _child_parser().parse_args(argv)
    ns = [int(item) for item in arguments.ns.split(",") if item.strip()]
    points = time_sorts(arguments.algorithm, ns, arguments.rounds, arguments.warm_up_rounds)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    result = {"algorithm": arguments.algorithm, "cpus": cpus, "points": points}
    Path(arguments.output).write_text(json.dumps(result), encoding="utf-8")
    return 0


def _child_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sweep",
        description="Time one algorithm's sort at each n, in this process.",
    )
    parser.add_argument("--algorithm", required=True, choices=ALGORITHMS)
    parser.add_argument("--ns", required=True, help="comma-separated list sizes")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--warm-up-rounds", type=int, default=WARM_UP_ROUNDS)
    parser.add_argument("--output", required=True, help="JSON file to write")
    return parser


# Summaries ---------------------------------------------------------------------


def summarize(points: Sequence[dict], ns: Sequence[int]) -> dict:
    """Medians per size of each series, and the fitted exponents."""
    sources = {**SERIES, **SHOWN_SERIES}
    medians = {name: series_medians(points, mode, key, ns) for name, (mode, key) in sources.items()}
    fits = {name: fit_series(medians[name]) for name in SERIES}
    return {"medians": medians, "fits": fits}


def series_medians(points: Sequence[dict], mode: str, key: str, ns: Sequence[int]) -> list[dict]:
    """Per size, the median over the timed rounds; sizes with no times are left out."""
    medians = []
    for n in ns:
        times = [
            point[key]
            for point in points
            if point["mode"] == mode
            and point["n"] == n
            and not point["warm_up"]
            and point.get(key) is not None
        ]
        if times:
            medians.append(
                {
                    "n": n,
                    "ms": statistics.median(times),
                    "count": len(times),
                    # One round has nothing to disagree with.
                    "spread": spread(times).relative if len(times) > 1 else None,
                }
            )
    return medians


def noisy_flag(medians: dict[str, list[dict]], rules: Rules = DEFAULT_RULES) -> dict[str, str]:
    """`noisy_rounds` when most sizes of a fitted series had rounds that disagree.

    A median shrugs off one slow round, so a few wide sizes are no reason to
    doubt a fit; most sizes wide means the machine was busy throughout.
    """
    noisy = []
    for name in SERIES:
        judged = [item for item in medians.get(name) or [] if item.get("count", 0) > 1]
        wide = [item for item in judged if _too_wide(item.get("spread"), rules)]
        if judged and len(wide) * 2 > len(judged):
            noisy.append(f"{name}: {len(wide)} of {len(judged)}")
    if not noisy:
        return {}
    return {
        "noisy_rounds": f"the timed rounds disagreed by more than {rules.max_spread:.0%} "
        f"((max − min) / median) at most sizes ({'; '.join(noisy)}): the machine was "
        "likely busy, and the fitted exponents may move on a re-run"
    }


def _too_wide(relative: float | None, rules: Rules) -> bool:
    # As analysis.is_too_wide: values that differ around a zero median count as wide.
    return relative is None or relative > rules.max_spread


def fit_series(medians: Sequence[dict]) -> dict | None:
    """The growth fit of one series; None when it has too few usable sizes."""
    usable = [item for item in medians if item["ms"] > 0]
    if len({item["n"] for item in usable}) < MIN_POINTS:
        return None
    return fit_exponent([item["n"] for item in usable], [item["ms"] for item in usable]).as_dict()


if __name__ == "__main__":
    sys.exit(main())
