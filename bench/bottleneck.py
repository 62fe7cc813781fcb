"""Where a cell's bottleneck is: the server's CPU, the ceiling, the idle probe.

Measured during the run:

- `measure_server_cpu` samples the CPU time of the server's whole process
  tree (workers and pool children) while a block runs; `server_cpu_record`
  turns the samples into CPU per request and utilisation over the window
  in which the load ran. Any kind of run can use it around its own load.
- `measure_baselines` runs once per run: the in-process ceiling of every
  algorithm × scenario in the plan (see `bench.ceiling`) and, per arm, the
  probe alone on an idle server.

Derived when the report is rendered, from plain data: `efficiency` (a
cell's throughput against its ceiling), `saturation` (who ran out of CPU)
and `evaluate_targets` (the lab's targets, met or missed, and why).
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from bench import analysis
from bench.arms import ARMS, PING, Arm, Cell
from bench.ceiling import ceiling_rps, job_key, jobs_for, measure_ceiling, work_ms
from bench.loadgen import locust_command, read_stats, run_locust
from bench.servers import RunningServer, ServerError

if TYPE_CHECKING:
    from bench.runner import RunPlan, Target

logger = logging.getLogger(__name__)

CPU_SAMPLE_INTERVAL_S = 0.25
MS_PER_S = 1000.0
PROBE_PREFIX = "probe "  # how the locustfile names the probe's requests
IDLE_FOLDER_SUFFIX = "_idle-probe"

# Who ran out of CPU: a share of the cores at or above this counts as full.
SATURATED = 0.9
# Other processes using this share of the server's CPUs make a noisy cell.
OTHERS_NOTICEABLE = 0.1
# Fewer requests than this and a p95 is mostly one or two slow ones.
FEW_REQUESTS = 20
# CPU per request this much above the in-process time counts as overhead.
OVERHEAD_MARGIN = 1.1
# CPU per request below this share of the in-process time cannot be right:
# the CPU's speed changed between the ceiling and the cell.
SPEED_DRIFT = 0.9

# The lab's targets (issue 4, item 7).
CEILING_TARGET = 0.9  # share of the ceiling the best arm reaches
CPU_HEAVY_JOBS = (("bubble", 1), ("bubble", 2), ("priority_queue", 2))
PROBE_RATIO_TARGET = 3.0  # probe p95 under load / idle, under the process arm
PROCESS_PREFIX = "/async/process/"
PING_SHARE_TARGET = 0.5  # ASGI ping RPS / WSGI ping RPS

MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"


# Server CPU -------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    at: float  # epoch seconds, the clock of Locust's request log
    cpu_s: float  # CPU the tree used since the meter started
    busy_s: float = 0.0  # busy time of the server's CPUs, by anyone, since then


class CpuMeter:
    """Sample the CPU time of a process and all its descendants.

    Every process is known by (pid, start time) and counts from its first
    sample: from the meter's start for those already running, from birth
    for those born later. One that exits keeps what it had used at its
    last sample, so only the CPU it used after that (under one sampling
    interval) is missing; `exited` counts such processes.

    The busy time of the CPUs the server may run on is sampled too, by
    whoever used them: what the server did not use of it went to other
    processes on the same CPUs.
    """

    def __init__(self, pid: int, interval_s: float = CPU_SAMPLE_INTERVAL_S) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[CpuSample] = []
        self.cpus = _affinity(pid)
        self.cores = len(self.cpus) or None
        self._busy_start: float | None = None
        self._baseline: dict[tuple[int, float], float] = {}
        self._latest: dict[tuple[int, float], float] = {}
        self._exited: set[tuple[int, float]] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def processes(self) -> int:
        return len(self._latest)

    @property
    def exited(self) -> int:
        return len(self._exited)

    def start(self) -> None:
        self.sample()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def sample(self) -> None:
        now = time.time()
        seen = _tree_cpu(self.pid)
        first = not self.samples
        for key, cpu_s in seen.items():
            self._baseline.setdefault(key, cpu_s if first else 0.0)
            self._latest[key] = cpu_s
        # Gone now, as far as this sample saw; one missed by a failed read
        # and seen again later counts as alive again.
        self._exited = set(self._latest) - set(seen)
        used = sum(self._latest[key] - self._baseline[key] for key in self._latest)
        busy = _busy_seconds(self.cpus)
        if self._busy_start is None:
            self._busy_start = busy
        self.samples.append(CpuSample(now, used, busy - self._busy_start))

    def busiest_share(self) -> float | None:
        """The share of the tree's CPU that its busiest process used."""
        used = [self._latest[key] - self._baseline[key] for key in self._latest]
        total = sum(used)
        return max(used) / total if used and total > 0 else None

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the tree used from `start` to `end` (epoch s), interpolated."""
        return cpu_at(self.samples, end) - cpu_at(self.samples, start)

    def busy_between(self, start: float, end: float) -> float:
        """Busy seconds of the server's CPUs, by any process, from `start` to `end`."""
        return cpu_at(self.samples, end, "busy_s") - cpu_at(self.samples, start, "busy_s")

    def _sample_until_stopped(self) -> None:
        while not self._stopping.wait(self.interval_s):
            self.sample()


@contextlib.contextmanager
def measure_server_cpu(
    server: RunningServer | None, interval_s: float = CPU_SAMPLE_INTERVAL_S
) -> Iterator[CpuMeter | None]:
    """Sample the server's process tree while the block runs.

    Yields None when there is no server of ours to measure (a run against
    a server already running elsewhere).
    """
    if server is None:
        yield None
        return
    meter = CpuMeter(server.process.pid, interval_s)
    meter.start()
    try:
        yield meter
    finally:
        meter.stop()


def cpu_at(samples: Sequence[CpuSample], moment: float, field: str = "cpu_s") -> float:
    """A sampled total (`field`) at `moment`: linear between samples, flat outside."""
    if not samples:
        return 0.0
    times = [sample.at for sample in samples]
    index = bisect.bisect_right(times, moment)
    if index == 0:
        return getattr(samples[0], field)
    if index == len(samples):
        return getattr(samples[-1], field)
    before, after = getattr(samples[index - 1], field), getattr(samples[index], field)
    fraction = (moment - samples[index - 1].at) / (samples[index].at - samples[index - 1].at)
    return before + fraction * (after - before)


def load_window(requests: Sequence[analysis.Request]) -> tuple[float, float] | None:
    """From the first request sent to the last answer received, epoch s."""
    if not requests:
        return None
    start = min(request.start for request in requests)
    end = max(request.start + request.response_time_ms / MS_PER_S for request in requests)
    return (start, end) if end > start else None


def utilisation(cpu_s: float, wall_s: float, cores: int | None) -> float | None:
    """CPU seconds per wall second per core: 1.0 is every core busy throughout."""
    if not cores or wall_s <= 0:
        return None
    return cpu_s / wall_s / cores


def server_cpu_record(meter: CpuMeter | None, requests: Sequence[analysis.Request]) -> dict | None:
    """The server's CPU over the load window, for results.json.

    The window runs from the first request sent to the last answer, every
    request counted (probe and failures too). CPU per request is per
    *served* request: the successful ones of the cell's own load, so that
    the small cost of the probe and of refusals is charged to the work
    that got done; a run of nothing but probes counts its probes.
    """
    if meter is None or len(meter.samples) < 2:
        return None
    first, last = meter.samples[0], meter.samples[-1]
    window = load_window(requests) or (first.at, last.at)
    window_s = window[1] - window[0]
    window_cpu_s = meter.cpu_between(*window)
    share = meter.busiest_share()
    cpus_busy = utilisation(meter.busy_between(*window), window_s, meter.cores)
    served = served_requests(requests)
    return {
        "cpu_s": last.cpu_s - first.cpu_s,
        "wall_s": last.at - first.at,
        "window_s": window_s,
        "window_cpu_s": window_cpu_s,
        "cores": meter.cores,
        "utilisation": utilisation(window_cpu_s, window_s, meter.cores),
        "cpus": meter.cpus,
        "cpus_busy": cpus_busy,
        "busiest_process_cores": (
            None if share is None or window_s <= 0 else share * window_cpu_s / window_s
        ),
        "requests": len(requests),
        "served": len(served),
        "cpu_ms_per_request": window_cpu_s * MS_PER_S / len(served) if served else None,
        "processes": meter.processes,
        "exited": meter.exited,
        "sample_interval_s": meter.interval_s,
    }


def served_requests(requests: Sequence[analysis.Request]) -> list[analysis.Request]:
    """The successful requests of the load itself; the probe's when there is no other."""
    ok = [request for request in requests if request.ok]
    own = [request for request in ok if not request.name.startswith(PROBE_PREFIX)]
    return own or ok


def from_run(meter: CpuMeter | None, prefix: Path) -> dict:
    """A Locust run's server CPU and probe latency, from its request log."""
    paths = sorted(prefix.parent.glob(f"{prefix.name}_requests*.csv"))
    requests = analysis.read_request_log(paths) if paths else []
    return {
        "server_cpu": server_cpu_record(meter, requests),
        "probe_latency": probe_latency(requests),
    }


def probe_latency(requests: Sequence[analysis.Request]) -> dict | None:
    """The probe's latency from the request log, its first request left out.

    The first request also opens the probe's connection and meets a
    Locust that is still starting users: tens of milliseconds on an idle
    server, which would be the p95 of a short run. Percentiles here are
    exact (Locust's own round times into buckets).
    """
    probes = sorted(
        (request for request in requests if request.name.startswith(PROBE_PREFIX)),
        key=lambda request: request.start,
    )[1:]
    if not probes:
        return None
    times = sorted(request.response_time_ms for request in probes)
    return {
        "requests": len(probes),
        "failures": sum(1 for request in probes if not request.ok),
        "p50_ms": analysis.percentile(times, 50),
        "p95_ms": analysis.percentile(times, 95),
        "max_ms": times[-1],
    }


def cpu_flags(record: dict | None) -> dict[str, str]:
    """Reasons to distrust a cell's server CPU numbers."""
    if not record or not record.get("exited"):
        return {}
    return {
        "server_cpu_gap": (
            f"{record['exited']} server process(es) exited during the cell; the CPU each "
            f"used in its last {record['sample_interval_s']:g} s is missing from the "
            "server CPU figures"
        )
    }


def _tree_cpu(pid: int) -> dict[tuple[int, float], float]:
    """CPU seconds (user + system) of a process and its descendants now."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    used = {}
    for process in tree:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            used[(process.pid, process.create_time())] = times.user + times.system
    return used


def _affinity(pid: int) -> list[int]:
    try:
        return sorted(psutil.Process(pid).cpu_affinity())
    except (psutil.Error, AttributeError):
        # AttributeError: platforms where psutil cannot read affinity.
        return []


def _busy_seconds(cpus: Sequence[int]) -> float:
    """Seconds the given CPUs spent busy since boot, whoever ran on them."""
    per_cpu = psutil.cpu_times(percpu=True)
    return sum(_busy(per_cpu[cpu]) for cpu in cpus if cpu < len(per_cpu))


def _busy(times) -> float:
    # Guest time is already inside user time; idle and iowait are not busy.
    spent = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return spent - times.idle - getattr(times, "iowait", 0.0)


# Once per run: the ceiling and the idle probe ------------------------------------


Serving = Callable[[Cell, "RunPlan", Path], contextlib.AbstractContextManager["Target"]]


def measure_baselines(plan: RunPlan, results: dict, serving: Serving) -> None:
    """The ceiling, then each arm's idle probe, into `results`.

    Each is skipped when the plan turns it off (0 repetitions, 0 seconds,
    or no probe at all).
    """
    if plan.ceiling_repeats:
        jobs = jobs_for(plan.cells)
        logger.info("ceiling: timing %d job(s) in a process on the server's CPUs", len(jobs))
        results["ceiling"] = measure_ceiling(jobs, plan.server.cpus, plan.ceiling_repeats)
        if results["ceiling"]["status"] != "ok":
            logger.warning("ceiling not measured: %s", results["ceiling"]["error"])

    if plan.idle_probe_s and plan.load.probe:
        arms = list({cell.arm.name: cell.arm for cell in plan.cells}.values())
        results["idle_probe"] = {}
        for index, arm in enumerate(arms, start=1):
            logger.info(
                "[idle %d/%d] %s: the probe alone, %d s",
                index,
                len(arms),
                arm.name,
                plan.idle_probe_s,
            )
            results["idle_probe"][arm.name] = idle_probe(arm, plan, serving)


def idle_probe(arm: Arm, plan: RunPlan, serving: Serving) -> dict:
    """The probe alone against a fresh, warmed-up server of the arm."""
    cell = Cell(arm, PING, None)
    folder = plan.run_dir / f"{arm.name}{IDLE_FOLDER_SUFFIX}"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / "locust"
    try:
        with serving(cell, plan, folder) as target:
            with measure_server_cpu(target.server) as meter:
                run = run_probe_alone(cell, target.url, prefix, plan)
    except ServerError as error:
        return {"status": "error", "error": str(error), "stats": None, "flags": {}}
    return idle_probe_record(run, prefix, from_run(meter, prefix), target.flags)


def run_probe_alone(cell: Cell, url: str, prefix: Path, plan: RunPlan):
    # One user: the spawn rate only has to be a number (a kind may leave it unset).
    options = dataclasses.replace(
        plan.load, run_time_s=plan.idle_probe_s, spawn_rate=plan.load.spawn_rate or 1.0
    )
    command = locust_command(cell, url, prefix, options, probe_only=True)
    return run_locust(command, prefix, options)


def idle_probe_record(run, prefix: Path, measured: dict, flags: dict) -> dict:
    probe = _probe_row(read_stats(prefix))
    return {
        "status": "ok" if probe else "error",
        "error": None if probe else f"Locust recorded no probe requests; see {run.log_path}",
        "stats": probe,
        **measured,
        "flags": {**run.flags, **flags, **cpu_flags(measured["server_cpu"])},
        "locust_command": " ".join(run.command),
        "run_time_s": run.duration_s,
    }


def _probe_row(stats: dict[str, dict]) -> dict | None:
    return next((row for name, row in stats.items() if name.startswith(PROBE_PREFIX)), None)


# Derived at render time -------------------------------------------------------------


def successful_rps(stats: dict | None) -> float | None:
    """Locust's RPS counts failures too; this is the share that succeeded."""
    if not stats or stats.get("rps") is None or not stats.get("requests"):
        return None
    failures = stats.get("failures") or 0
    return stats["rps"] * (stats["requests"] - failures) / stats["requests"]


def server_cores(cell: dict, results: dict) -> int | None:
    """The cores the cell's server could use: measured, else the ceiling's set."""
    measured = (cell.get("server_cpu") or {}).get("cores")
    if measured:
        return measured
    cpus = (results.get("ceiling") or {}).get("cpus")
    return len(cpus) if cpus else None


def ceiling_job(results: dict, algorithm: str, scenario: int | None) -> dict | None:
    ceiling = results.get("ceiling") or {}
    if ceiling.get("status") != "ok" or scenario is None:
        return None
    return (ceiling.get("jobs") or {}).get(job_key(algorithm, scenario))


def efficiency(cell: dict, results: dict) -> dict | None:
    """The cell's successful throughput against `cores / in-process time`."""
    if cell.get("status") != "ok" or cell.get("algorithm") == PING:
        return None
    job = ceiling_job(results, cell.get("algorithm"), cell.get("scenario"))
    rps = successful_rps(cell.get("stats"))
    cores = server_cores(cell, results)
    ideal = ceiling_rps(work_ms(job), cores)
    if ideal is None or rps is None:
        return None
    return {
        "work_ms": work_ms(job),
        "cores": cores,
        "ceiling_rps": ideal,
        "rps": rps,
        "efficiency": rps / ideal,
    }


def others_share(cpu: dict | None) -> float | None:
    """The share of the server's CPUs that other processes used meanwhile."""
    cpu = cpu or {}
    if cpu.get("cpus_busy") is None or cpu.get("utilisation") is None:
        return None
    return max(0.0, cpu["cpus_busy"] - cpu["utilisation"])


def saturation(cell: dict) -> str:
    """Who ran out of CPU in this cell: the server, one of its processes, Locust."""
    cpu = cell.get("server_cpu") or {}
    harness = "cpu_warning" in (cell.get("flags") or {})
    if cpu.get("utilisation") is None:
        return "Locust CPU" if harness else "not measured"
    if cpu["utilisation"] >= SATURATED:
        server = "server CPU"
    elif (cpu.get("cpus_busy") or 0) >= SATURATED:
        server = "server's CPUs, shared with others"
    elif (cpu.get("busiest_process_cores") or 0) >= SATURATED:
        server = "one server process"
    else:
        server = ""
    if server and harness:
        return f"{server} and Locust CPU"
    return server or ("Locust CPU" if harness else "neither")


def probe_ratio(cell: dict, results: dict, key: str = "p95_ms") -> float | None:
    """The probe's latency under the cell's load over the arm's idle probe."""
    loaded = (loaded_probe(cell) or {}).get(key)
    idle = (idle_stats(results, cell.get("arm")) or {}).get(key)
    if loaded is None or not idle:
        return None
    return loaded / idle


def loaded_probe(cell: dict) -> dict | None:
    """The probe's figures during a cell: from the request log, else Locust's."""
    return cell.get("probe_latency") or cell.get("probe")


def idle_stats(results: dict, arm: str | None) -> dict | None:
    """The arm's idle probe figures, from the request log, else Locust's."""
    record = (results.get("idle_probe") or {}).get(arm) or {}
    if record.get("status") != "ok":
        return None
    return record.get("probe_latency") or record.get("stats")


# Targets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetCheck:
    """One target on one workload: its status, the numbers, and why if missed."""

    target: str
    scope: str
    status: str
    measured: str
    reasons: tuple[str, ...] = ()


def evaluate_targets(results: dict) -> list[TargetCheck]:
    """Check the lab's three targets against a run's data."""
    return ceiling_checks(results) + probe_checks(results) + [ping_check(results)]


def ceiling_checks(results: dict) -> list[TargetCheck]:
    """The best arm reaches CEILING_TARGET of the ceiling on each CPU-heavy job."""
    target = f"best arm ≥ {CEILING_TARGET:.0%} of the ceiling"
    return [
        _ceiling_check(target, results, algorithm, scenario)
        for algorithm, scenario in CPU_HEAVY_JOBS
    ]


def _ceiling_check(target: str, results: dict, algorithm: str, scenario: int) -> TargetCheck:
    scope = f"{algorithm} scenario {scenario}"
    cells = _heavy_cells(results, algorithm, scenario)
    if not cells:
        return TargetCheck(target, scope, NOT_MEASURED, "no cell in this run")
    rated = [(efficiency(cell, results), cell) for cell in cells]
    rated = [(rating, cell) for rating, cell in rated if rating]
    if not rated:
        why = "no ceiling" if not ceiling_job(results, algorithm, scenario) else "no throughput"
        return TargetCheck(target, scope, NOT_MEASURED, f"{why} for these cells")

    rating, best = max(rated, key=lambda pair: pair[0]["efficiency"])
    measured = (
        f"{best['arm']}: {_percent(rating['efficiency'])} of the ceiling "
        f"({rating['rps']:.1f} of {rating['ceiling_rps']:.1f} requests/s)"
    )
    drift = speed_drift(best, results)
    if drift is not None:
        return TargetCheck(target, scope, NOT_MEASURED, measured, (drift_reason(best, drift),))
    if rating["efficiency"] >= CEILING_TARGET:
        return TargetCheck(target, scope, MET, measured)
    return TargetCheck(target, scope, MISSED, measured, tuple(throughput_reasons(best, rating)))


def speed_drift(cell: dict, results: dict) -> float | None:
    """CPU per request over the in-process work, when it is too low to be true.

    The server does the in-process work and more for every request, so it
    cannot need clearly less CPU than the ceiling's run did; when it does,
    the CPU ran at another speed then (a shared or throttled host), and
    the cell's efficiency is not comparable with the ceiling.
    """
    rating = efficiency(cell, results)
    per_request = (cell.get("server_cpu") or {}).get("cpu_ms_per_request")
    if not rating or not per_request:
        return None
    ratio = per_request / rating["work_ms"]
    return ratio if ratio < SPEED_DRIFT else None


def drift_reason(cell: dict, ratio: float) -> str:
    per_request = cell["server_cpu"]["cpu_ms_per_request"]
    return (
        f"the server needed {per_request:.1f} ms of CPU per request, {_percent(1 - ratio)} "
        "less than the ceiling's in-process run of the same work: the CPU's speed changed "
        "between the two (a shared or throttled host), so the efficiency is overstated; "
        "rerun on a quiet machine"
    )


def throughput_reasons(cell: dict, rating: dict) -> list[str]:
    """Why a cell's throughput stays under its ceiling, read from its data."""
    cpu = cell.get("server_cpu") or {}
    reasons = _harness_reasons(cell) + _others_reasons(cpu)
    if cpu.get("utilisation") is None:
        reasons.append("the server's CPU was not measured")
    else:
        reasons += _unused_cpu_reasons(cpu)
        reasons += _cost_reasons(cpu, rating["work_ms"])
    return reasons + _volume_reasons(cell)


def _unused_cpu_reasons(cpu: dict) -> list[str]:
    """Why the server left part of its cores unused, when it did."""
    used = cpu["utilisation"]
    if used >= SATURATED or (cpu.get("cpus_busy") or 0) >= SATURATED:
        return []  # the cores were full; other processes, if any, are named apart
    if (cpu.get("busiest_process_cores") or 0) >= SATURATED:
        return [
            f"one server process used a whole core while the server's {cpu.get('cores')} "
            f"cores were {_percent(used)} busy: this arm cannot spread the work over them"
        ]
    return [
        f"the server's CPUs were only {_percent(used)} busy: not saturated; more users "
        "(or more workers) would load it further"
    ]


def _cost_reasons(cpu: dict, work_ms: float) -> list[str]:
    """Throughput as used cores × in-process time / CPU per request."""
    per_request = cpu.get("cpu_ms_per_request")
    if not per_request:
        return []
    used = cpu["utilisation"]
    overhead = per_request - work_ms
    share = used * work_ms / per_request
    text = (
        f"the server used {_percent(used)} of its {cpu.get('cores')} core(s) and "
        f"{per_request:.1f} ms of CPU per request against {work_ms:.1f} ms of in-process "
        f"work, which allows about {_percent(share)} of the ceiling"
    )
    if per_request > OVERHEAD_MARGIN * work_ms:
        text += (
            f"; {overhead:.1f} ms per request went to the server itself (framework, "
            "offloading, HTTP)"
        )
    return [text]


def probe_checks(results: dict) -> list[TargetCheck]:
    """Under the process arms, the probe's loaded p95 ≤ PROBE_RATIO_TARGET × idle."""
    target = f"probe p95 under load ≤ {PROBE_RATIO_TARGET:g}× idle (process arm)"
    cells = [
        cell
        for cell in results.get("cells") or []
        if cell.get("algorithm") != PING and _arm_prefix(cell) == PROCESS_PREFIX
    ]
    if not cells:
        return [TargetCheck(target, "process arm", NOT_MEASURED, "no process-arm cell")]
    return [_probe_check(target, cell, results) for cell in cells]


def _probe_check(target: str, cell: dict, results: dict) -> TargetCheck:
    scope = f"{cell.get('arm')} {cell.get('algorithm')} scenario {cell.get('scenario')}"
    loaded = (loaded_probe(cell) or {}).get("p95_ms")
    idle = (idle_stats(results, cell.get("arm")) or {}).get("p95_ms")
    if loaded is None or not idle:
        missing = "under load" if loaded is None else "on the idle server"
        return TargetCheck(target, scope, NOT_MEASURED, f"no probe p95 {missing}")
    ratio = loaded / idle
    measured = f"{loaded:.1f} ms under load, {idle:.1f} ms idle: {ratio:.1f}×"
    counts = [
        (loaded_probe(cell) or {}).get("requests") or 0,
        (idle_stats(results, cell.get("arm")) or {}).get("requests") or 0,
    ]
    if min(counts) < FEW_REQUESTS:
        measured += f" (from only {counts[0]} and {counts[1]} probe requests)"
    if ratio <= PROBE_RATIO_TARGET:
        return TargetCheck(target, scope, MET, measured)
    return TargetCheck(target, scope, MISSED, measured, tuple(probe_reasons(cell, results)))


def probe_reasons(cell: dict, results: dict) -> list[str]:
    """Why the probe slowed down under a process arm's load."""
    cpu = cell.get("server_cpu") or {}
    reasons = _harness_reasons(cell) + _others_reasons(cpu)
    options = results.get("server_options") or {}
    pool, cores = options.get("process_pool"), cpu.get("cores")
    if pool and cores and pool >= cores:
        reasons.append(
            f"the process pool had {pool} worker(s) on {cores} server core(s): every core "
            "was taken by a sort, so the event loop waited for the scheduler to give it "
            "time to answer the probe"
        )
    if (cpu.get("utilisation") or 0) >= SATURATED:
        reasons.append(f"the server's CPUs were {_percent(cpu['utilisation'])} busy")
    probe_count = (loaded_probe(cell) or {}).get("requests") or 0
    if probe_count < FEW_REQUESTS:
        reasons.append(
            f"only {probe_count} probe requests: the p95 is nearly the slowest one; "
            "a longer --run-time gives a steadier figure"
        )
    return reasons or ["the data shows no cause: no CPU saturation and no harness warning"]


def ping_check(results: dict) -> TargetCheck:
    """The ASGI ping reaches PING_SHARE_TARGET of the WSGI ping's throughput."""
    target = f"ASGI ping ≥ {PING_SHARE_TARGET:.0%} of the WSGI ping's RPS"
    asgi = _best_ping(results, "uvicorn")
    wsgi = _best_ping(results, "gunicorn")
    if asgi is None or wsgi is None:
        missing = "ASGI" if asgi is None else "WSGI"
        return TargetCheck(target, "ping", NOT_MEASURED, f"no successful {missing} ping cell")
    asgi_rps, wsgi_rps = successful_rps(asgi["stats"]), successful_rps(wsgi["stats"])
    share = asgi_rps / wsgi_rps
    measured = (
        f"{asgi['arm']} {asgi_rps:,.0f} requests/s against {wsgi['arm']} "
        f"{wsgi_rps:,.0f}: {_percent(share)}"
    ) + _cost_share_text(asgi, wsgi)
    if share >= PING_SHARE_TARGET:
        return TargetCheck(target, "ping", MET, measured)
    return TargetCheck(target, "ping", MISSED, measured, tuple(ping_reasons(asgi, wsgi)))


def _cost_share_text(asgi: dict, wsgi: dict) -> str:
    """What the CPU per ping alone predicts: robust to an unsaturated or shared server."""
    asgi_ms = (asgi.get("server_cpu") or {}).get("cpu_ms_per_request")
    wsgi_ms = (wsgi.get("server_cpu") or {}).get("cpu_ms_per_request")
    if not asgi_ms or not wsgi_ms:
        return ""
    return (
        f"; by CPU per ping ({asgi_ms:.2f} ms against {wsgi_ms:.2f} ms) a saturated ASGI "
        f"server would reach {_percent(wsgi_ms / asgi_ms)} of the WSGI one"
    )


def ping_reasons(asgi: dict, wsgi: dict) -> list[str]:
    """Why the ASGI ping trails the WSGI ping, read from their CPU figures."""
    reasons = [
        f"{cell['arm']}: {reason}" for cell in (asgi, wsgi) for reason in _harness_reasons(cell)
    ]
    asgi_cpu, wsgi_cpu = asgi.get("server_cpu") or {}, wsgi.get("server_cpu") or {}
    asgi_ms, wsgi_ms = asgi_cpu.get("cpu_ms_per_request"), wsgi_cpu.get("cpu_ms_per_request")
    if asgi_ms and wsgi_ms:
        reasons.append(
            f"uvicorn spent {asgi_ms:.2f} ms of CPU per ping, gunicorn {wsgi_ms:.2f} ms: "
            "Django's ASGI handler costs more per request than its WSGI handler"
        )
    if (asgi_cpu.get("utilisation") or 1) < SATURATED:
        reasons.append(
            f"the ASGI server's CPUs were only {_percent(asgi_cpu['utilisation'])} busy: "
            "it was not saturated"
        )
    return reasons or ["the server CPU was not measured, so the data shows no cause"]


def _best_ping(results: dict, server: str) -> dict | None:
    cells = [
        cell
        for cell in results.get("cells") or []
        if cell.get("algorithm") == PING
        and cell.get("server") == server
        and cell.get("status") == "ok"
        and successful_rps(cell.get("stats"))
    ]
    return max(cells, key=lambda cell: successful_rps(cell["stats"]), default=None)


def _heavy_cells(results: dict, algorithm: str, scenario: int) -> list[dict]:
    return [
        cell
        for cell in results.get("cells") or []
        if cell.get("algorithm") == algorithm and cell.get("scenario") == scenario
    ]


def _harness_reasons(cell: dict) -> list[str]:
    flags = cell.get("flags") or {}
    reasons = []
    if "cpu_warning" in flags:
        reasons.append(
            "Locust's CPU went above 90 %: the load generator, not the server, may have "
            "been the limit"
        )
    if "cut_off" in flags:
        reasons.append("requests still running at the end were cut off and not counted")
    return reasons


def _others_reasons(cpu: dict) -> list[str]:
    others = others_share(cpu)
    if others is None or others < OTHERS_NOTICEABLE:
        return []
    return [
        f"other processes used {_percent(others)} of the server's CPUs during the cell: "
        "the machine was not quiet, so the server got less than its cores"
    ]


def _volume_reasons(cell: dict) -> list[str]:
    stats = cell.get("stats") or {}
    reasons = []
    if stats.get("failures"):
        reasons.append(
            f"{stats['failures']:,} of {stats.get('requests', 0):,} requests failed and do "
            "not count as throughput"
        )
    if (stats.get("requests") or 0) < FEW_REQUESTS:
        reasons.append(
            f"only {stats.get('requests') or 0} requests completed: too few for a steady "
            "rate; a longer --run-time helps"
        )
    return reasons


def _arm_prefix(cell: dict) -> str | None:
    arm = ARMS.get(cell.get("arm"))
    return arm.prefix if arm else None


def _percent(share: float) -> str:
    return f"{share:.0%}"
