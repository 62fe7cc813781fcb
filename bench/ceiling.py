"""The ceiling: what one request's work costs with no server around it.

`sorts.jobs.run_job` is timed on the scenario's list in a fresh Python
process pinned to the server's CPUs, so the number is measured on the same
cores, in the same run, as the cells it is compared with. A server that did
nothing but this work on every core it has would serve
`cores / median CPU time` requests per second: a cell's efficiency is its
throughput over that.

Run as a module (`python -m bench.ceiling --job bubble:1000:5000`) it is
the measuring subprocess; it imports no Django, only the sort.
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.arms import PING, Cell
from bench.machine import available_cpus

logger = logging.getLogger(__name__)

DEFAULT_REPEATS = 5
DEFAULT_WARM_UPS = 1
# A job this quick is repeated past `repeats` until this much time is timed
# (or MAX_REPEATS runs), so its median is not a handful of timer ticks.
MIN_TIMED_S = 0.5
MAX_REPEATS = 1000
# A bubble sort of 10,000 values takes seconds; six of them and a slow
# machine still fit well inside this.
CEILING_TIMEOUT_S = 600.0
MS_PER_S = 1000.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def job_key(algorithm: str, scenario: int) -> str:
    """How results.json names one algorithm × scenario of the ceiling."""
    return f"{algorithm}/s{scenario}"


def jobs_for(cells: Iterable[Cell]) -> dict[str, tuple[str, int, int]]:
    """The distinct algorithm × scenario jobs of a plan's heavy cells."""
    jobs = {}
    for cell in cells:
        if cell.algorithm != PING:
            params = cell.params
            jobs[job_key(cell.algorithm, cell.scenario)] = (
                cell.algorithm,
                params["n"],
                params["max"],
            )
    return jobs


def measure_ceiling(
    jobs: dict[str, tuple[str, int, int]],
    cpus: Sequence[int],
    repeats: int = DEFAULT_REPEATS,
    warm_ups: int = DEFAULT_WARM_UPS,
    timeout_s: float = CEILING_TIMEOUT_S,
) -> dict:
    """Time each job in a subprocess pinned to `cpus`; plain data for results.json.

    `jobs` maps a key (see `job_key`) to (algorithm, n, max). With no
    `cpus` the subprocess may run on any CPU this process may use. A
    subprocess that fails or hangs gives a record with `status` "error".
    """
    record = {
        "status": "ok",
        "error": None,
        "cpus": list(cpus) or available_cpus(),
        "repeats": repeats,
        "warm_ups": warm_ups,
        "jobs": {},
    }
    if not jobs:
        return record

    command = ceiling_command(jobs, repeats, warm_ups)
    logger.debug("ceiling: %s", " ".join(command))
    try:
        measured = _run_pinned(command, tuple(cpus), timeout_s)
        record["jobs"] = {key: measured["jobs"][_job_spec(*job)] for key, job in jobs.items()}
    except (subprocess.SubprocessError, OSError, ValueError, KeyError) as error:
        record.update(status="error", error=f"the ceiling subprocess failed: {error!r}")
        return record
    # The CPUs the subprocess really had, as it saw them.
    record["cpus"] = measured["cpus"]
    return record


def ceiling_command(
    jobs: dict[str, tuple[str, int, int]], repeats: int, warm_ups: int
) -> list[str]:
    command = [sys.executable, "-m", "bench.ceiling", "--repeats", str(repeats)]
    command += ["--warm-ups", str(warm_ups)]
    for job in jobs.values():
        command += ["--job", _job_spec(*job)]
    return command


def summarize_times(wall_s: Sequence[float], cpu_s: Sequence[float]) -> dict:
    """Median, min and max of repeated timings, in milliseconds."""
    return {
        "median_ms": statistics.median(wall_s) * MS_PER_S,
        "min_ms": min(wall_s) * MS_PER_S,
        "max_ms": max(wall_s) * MS_PER_S,
        "cpu_median_ms": statistics.median(cpu_s) * MS_PER_S,
        "count": len(wall_s),
    }


def work_ms(job: dict | None) -> float | None:
    """The time one request's work costs: the median CPU time of the runs.

    CPU time, not wall time: on a quiet machine they agree, and on a busy
    one the wall time also counts the other processes that had the core,
    which would lower the ceiling the cells are held to.
    """
    return (job or {}).get("cpu_median_ms")


def ceiling_rps(median_ms: float | None, cores: int | None) -> float | None:
    """Requests per second of a server doing only this work on every core."""
    if not median_ms or not cores:
        return None
    return cores * MS_PER_S / median_ms


def _job_spec(algorithm: str, n: int, max_value: int) -> str:
    return f"{algorithm}:{n}:{max_value}"


def _run_pinned(command: list[str], cpus: tuple[int, ...], timeout_s: float) -> dict:
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    completed = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        preexec_fn=preexec,
        check=False,
    )
    if completed.returncode != 0:
        last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ValueError(f"exit code {completed.returncode}: {last_line}")
    return json.loads(completed.stdout)


# The measuring subprocess -----------------------------------------------------


def time_job(algorithm: str, n: int, max_value: int, repeats: int, warm_ups: int) -> dict:
    """Run one job `warm_ups` times untimed, then at least `repeats` times timed.

    Quick jobs run on until MIN_TIMED_S is timed. Each run draws a fresh
    list, as each request does. Wall time is what a request's work takes;
    CPU time shows whether the process got the core to itself meanwhile.
    """
    from sorts.jobs import Job, run_job

    job = Job(algorithm, n, max_value)
    for _ in range(warm_ups):
        run_job(job)

    wall_s: list[float] = []
    cpu_s: list[float] = []
    while len(wall_s) < repeats or (sum(wall_s) < MIN_TIMED_S and len(wall_s) < MAX_REPEATS):
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        run_job(job)
        wall_s.append(time.perf_counter() - wall_started)
        cpu_s.append(time.process_time() - cpu_started)
    return summarize_times(wall_s, cpu_s)


def _parse_job(text: str) -> tuple[str, int, int]:
    algorithm, n, max_value = text.split(":")
    return algorithm, int(n), int(max_value)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time sorts.jobs.run_job in this process.")
    parser.add_argument("--job", action="append", type=_parse_job, required=True)
    parser.add_argument("--repeats", type=_positive, default=DEFAULT_REPEATS)
    parser.add_argument("--warm-ups", type=int, default=DEFAULT_WARM_UPS)
    args = parser.parse_args(None if argv is None else list(argv))

    timings = {
        _job_spec(*job): time_job(*job, repeats=args.repeats, warm_ups=args.warm_ups)
        for job in args.job
    }
    json.dump({"cpus": available_cpus(), "jobs": timings}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
