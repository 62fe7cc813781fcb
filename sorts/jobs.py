"""One request's work: what to run, and running it with its timings.

`run_job` is the single function that every view calls, directly or in a
thread or process pool, so the sort logic and its timing exist once.
"""

import time
from dataclasses import dataclass

from sorts.algorithms import ALGORITHMS, random_values

MS_PER_S = 1000.0


@dataclass(frozen=True)
class Job:
    algorithm: str
    n: int
    max_value: int
    seed: int | None = None


@dataclass(frozen=True)
class Outcome:
    top: int
    wait_ms: float
    generate_ms: float
    sort_ms: float


def run_job(job: Job, submitted_at: float | None = None) -> Outcome:
    """Generate the list, find its largest value, and time both steps.

    `submitted_at` is the `time.monotonic()` reading taken when the job was
    handed to a pool; the gap until this function starts is the time spent
    waiting for a worker. The monotonic clock is shared by every process on
    the machine, so the gap is also right across a process pool.
    """
    started = time.monotonic()
    wait_s = 0.0 if submitted_at is None else max(0.0, started - submitted_at)

    values = random_values(job.n, job.max_value, job.seed)
    generated = time.monotonic()

    top = ALGORITHMS[job.algorithm](values)
    finished = time.monotonic()

    return Outcome(
        top=top,
        wait_ms=wait_s * MS_PER_S,
        generate_ms=(generated - started) * MS_PER_S,
        sort_ms=(finished - generated) * MS_PER_S,
    )
