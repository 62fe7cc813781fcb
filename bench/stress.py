"""Stress tests and load tests, one cell at a time, judged from their logs.

A stress cell climbs Locust's StepShape (locust/step_shape.py) on a fresh
server until a step breaks a rule or reaches the user ceiling, drops the
load and watches the recovery. A load cell ramps HoldShape
(locust/hold_shape.py) to a fixed number of users, usually the threshold a
stress run found, and holds it. Both keep Locust's CSV and HTML, the
request log and the shape log in the cell's folder; `bench.analysis`
judges them afterwards, and the verdicts go into the cell's record.

Step lengths follow the cost of one request, measured on the warmed-up
server just before Locust starts, so that a slow cell still counts enough
requests per step and a fast cell does not waste minutes; the rule is in
`stress_timing` and is printed in the report.

Requests still in flight when users are stopped (at the drop and at the
end) are waited for. In Locust 2.47 a ramp-down and the end of a test both
go through `Runner.stop_users` (runners.py): with a stop timeout it calls
`User.stop(force=False)`, which lets a user finish its running task (here,
its one request) before it exits, and joins the stopping users for up to
the timeout; with Locust's default of 0 it kills them at once and their
requests are never logged. So every shaped run gets a stop timeout long
enough for a request queued behind every user.
"""

import json
import logging
import math
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from bench import analysis, bottleneck
from bench.analysis import Request, Rules
from bench.arms import Cell, plan_cells
from bench.bottleneck import CpuMeter
from bench.loadgen import (
    LoadOptions,
    LocustRun,
    locust_command,
    read_stats,
    request_name,
    run_locust,
)
from bench.runner import (
    RunPlan,
    cell_folder,
    describe_target,
    load_results,
    new_cell_record,
    request_logs,
    serving,
)
from bench.servers import ServerError

logger = logging.getLogger(__name__)

STEP_SHAPE = "locust/step_shape.py"
HOLD_SHAPE = "locust/hold_shape.py"
PROBE_PREFIX = "probe "  # how the locustfile names the probe's requests
GROWTH_MODES = ("double", "add")

DEFAULT_START_USERS = 1
DEFAULT_GROWTH = "double"
DEFAULT_INCREMENT = 4
DEFAULT_MAX_USERS = 64
DEFAULT_RECOVERY_USERS = 1
# The latency SLO of the breaking point: one second at the 95th
# percentile. Past it a person waiting on a page notices the wait, and
# every scenario-1 cell stays under it alone, so each can break it.
DEFAULT_P95_RULE_MS = 1000.0
DEFAULT_HOLD_DURATION_S = 60.0
DEFAULT_SPAWN_RATE = 8.0  # users per second, when the plan gives none

# The step-length rule: enough completed requests in a step's counted
# window at one user, within bounds that keep a run short.
STEP_REQUESTS = 20
MIN_STEP_S = 5.0
MAX_STEP_S = 30.0
COST_MARGIN = 1.5  # a request under load takes longer than one alone
MIN_RECOVERY_S = 10.0
MAX_RECOVERY_S = 60.0
RECOVERY_SPARE_BINS = 1  # beyond the bins that confirm a recovery
LOAD_BIN_REQUESTS = 10
MIN_HOLD_BINS = 3  # the drift compares thirds of the hold
MAX_SPAWN_RATE = 100.0  # users per second; Locust warns above this
MAX_STOP_TIMEOUT_S = 600
TICK_SLACK_S = 1.0  # a shape's phases end on Locust's ticks, ~1 s apart
RAMP_GRACE_S = 10.0  # HoldShape's wait for slow spawns (hold_shape.py)

COST_BUDGET_S = 1.0  # measure the cost with requests for about this long
COST_MAX_SAMPLES = 5
COST_TIMEOUT_S = 120.0
FEW_REQUESTS = 10  # a counted step with fewer requests has rough percentiles
# Recovery allows this much above 1.5 × the first step's p95: a cell whose
# requests take 2 ms is not held to 3 ms, which a busy scheduler misses.
RECOVERY_SLACK_MS = 10.0


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class StressSettings:
    """The options of a stress or load run, as given; stored in results.json."""

    start_users: int = DEFAULT_START_USERS
    growth: str = DEFAULT_GROWTH
    increment: int = DEFAULT_INCREMENT
    step_duration_s: float | None = None  # None: from the request's cost
    max_users: int = DEFAULT_MAX_USERS
    recovery_users: int = DEFAULT_RECOVERY_USERS
    recovery_duration_s: float | None = None  # None: from the request's cost
    max_failure_ratio: float = analysis.DEFAULT_MAX_FAILURE_RATIO
    p95_rule_ms: float = DEFAULT_P95_RULE_MS
    plateau_tolerance: float = analysis.DEFAULT_PLATEAU_TOLERANCE
    min_gain: float = analysis.DEFAULT_MIN_GAIN
    hold_users: int | None = None
    from_stress: str | None = None
    hold_duration_s: float = DEFAULT_HOLD_DURATION_S
    p95_target_ms: float | None = None  # the gate

    def __post_init__(self) -> None:
        if self.growth not in GROWTH_MODES:
            raise ValueError(f"--step-growth must be double or add, got {self.growth!r}")
        if self.max_users < self.start_users:
            raise ValueError(
                f"--step-max-users ({self.max_users}) must be at least "
                f"--step-start-users ({self.start_users})"
            )
        self.rules()  # Rules checks its own limits

    def rules(self, **overrides: Any) -> Rules:
        """The analysis rules these settings ask for, with per-cell overrides."""
        chosen = {
            "max_failure_ratio": self.max_failure_ratio,
            "p95_target_ms": self.p95_rule_ms,
            "plateau_tolerance": self.plateau_tolerance,
            "min_gain": self.min_gain,
            "recovery_slack_ms": RECOVERY_SLACK_MS,
        }
        return Rules(**{**chosen, **overrides})

    def ladder(self) -> list[int]:
        """The users of every step up to the ceiling, as StepShape climbs."""
        users = [self.start_users]
        while users[-1] < self.max_users:
            grown = users[-1] * 2 if self.growth == "double" else users[-1] + self.increment
            users.append(min(grown, self.max_users))
        return users


def settings_from_options(options: dict) -> StressSettings:
    """Read the command's options; with a p95 target, it is the latency rule too."""
    target = options.get("p95_target_ms")
    from_stress = options.get("from_stress")
    return StressSettings(
        start_users=options["step_start_users"],
        growth=options["step_growth"],
        increment=options["step_increment"],
        step_duration_s=options["step_duration"],
        max_users=options["step_max_users"],
        recovery_users=options["recovery_users"],
        recovery_duration_s=options["recovery_duration"],
        max_failure_ratio=options["max_failure_ratio"],
        p95_rule_ms=target if target is not None else options["p95_rule_ms"],
        plateau_tolerance=options["plateau_tolerance"],
        min_gain=options["min_gain"],
        hold_users=options.get("hold_users"),
        from_stress=None if from_stress is None else str(from_stress),
        hold_duration_s=options["hold_duration"],
        p95_target_ms=target,
    )


def settings_of(plan: RunPlan) -> StressSettings:
    return StressSettings(**plan.extra["settings"])


def cells_from_options(options: dict) -> list[Cell]:
    """Every arm × algorithm × scenario, without ping cells: a ping has no cost to scale."""
    return plan_cells(options["arms"], options["algorithms"], options["scenarios"], False)


def stress_extra(options: dict) -> dict:
    """The stress kind's settings for RunPlan.extra; ValueError on bad options."""
    return {"settings": asdict(settings_from_options(options))}


def load_extra(options: dict) -> dict:
    """The load kind's settings and, with --from-stress, the users to hold per cell."""
    settings = settings_from_options(options)
    if (settings.hold_users is None) == (settings.from_stress is None):
        raise ValueError(
            "--kind load needs exactly one of --hold-users N and --from-stress RUN "
            "(the folder of a stress run)"
        )
    extra: dict[str, Any] = {"settings": asdict(settings)}
    if settings.from_stress is not None:
        extra["hold_targets"] = hold_targets(Path(settings.from_stress))
    return extra


def finish_stress_plan(plan: RunPlan) -> RunPlan:
    """The progress line of a stress run; no fixed-load baselines (ceiling, idle probe)."""
    settings = settings_of(plan)
    growth = "doubling" if settings.growth == "double" else f"+{settings.increment} per step"
    detail = (
        f"stress {settings.start_users}→{settings.max_users} users ({growth}), "
        f"p95 rule {settings.p95_rule_ms:g} ms"
    )
    return replace(plan, detail=detail, ceiling_repeats=0, idle_probe_s=0)


def finish_load_plan(plan: RunPlan) -> RunPlan:
    """The progress line of a load run; no fixed-load baselines."""
    settings = settings_of(plan)
    users = users_text(settings.hold_users) if settings.hold_users else "the stress threshold"
    detail = f"load: hold {users} for {settings.hold_duration_s:g} s"
    return replace(plan, detail=detail, ceiling_repeats=0, idle_probe_s=0)


def hold_targets(stress_run: Path) -> dict[str, dict]:
    """Per cell id of a stress run: the threshold users to hold, or why not."""
    try:
        results = load_results(stress_run)
    except (OSError, ValueError) as error:
        raise ValueError(f"--from-stress: cannot read a run at {stress_run}: {error}") from None
    if results.get("kind") != "stress":
        raise ValueError(
            f"--from-stress: {stress_run} holds a {results.get('kind', 'fixed')!r} run, "
            "not a stress run"
        )
    return {cell["id"]: _hold_target(cell) for cell in results.get("cells") or []}


def _hold_target(cell: dict) -> dict:
    threshold = (cell.get("stress") or {}).get("threshold")
    if cell.get("status") != "ok":
        return {"users": None, "reason": "its stress cell did not run to the end"}
    if threshold is None:
        return {"users": None, "reason": "its stress cell measured no throughput"}
    if not threshold.get("reached"):
        return {
            "users": None,
            "reason": f"no threshold: throughput still grew at {users_text(threshold['users'])}, "
            "the stress run's last step",
        }
    return {"users": threshold["users"], "reason": None, "threshold": threshold}


# ---------------------------------------------------------------- timing


@dataclass(frozen=True)
class Cost:
    """One request of the cell alone on the warmed-up server."""

    seconds: float
    samples: int


@dataclass(frozen=True)
class StressTiming:
    """How long each phase of one stress cell lasts; from the request's cost."""

    cost_ms: float
    cost_samples: int
    step_s: float
    steps: int  # to the ceiling
    spawn_rate: float
    recovery_s: float
    recovery_bin_s: float
    series_bin_s: float  # the charts' time bins
    stop_timeout_s: int
    longest_s: float  # every step to the ceiling, then the recovery

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class HoldTiming:
    """How one load cell ramps and holds, and how its hold is binned."""

    cost_ms: float
    cost_samples: int
    users: int
    spawn_rate: float
    hold_s: float
    bin_s: float
    series_bin_s: float
    stop_timeout_s: int
    longest_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def stress_timing(settings: StressSettings, cost: Cost, min_stop_timeout_s: int) -> StressTiming:
    """Phase lengths for a cell whose request costs `cost` alone.

    A step lasts long enough for STEP_REQUESTS requests of one user in its
    counted window (the part after the settle time), between MIN_STEP_S
    and MAX_STEP_S. A recovery bin holds the analysis's minimum of requests
    at the recovery users, with COST_MARGIN for a server still busy, and
    the recovery lasts the confirming bins plus RECOVERY_SPARE_BINS, from
    MIN_RECOVERY_S to MAX_RECOVERY_S; only MIN_RECOVERY_S when one request
    alone is slower than the p95 rule, so that the first step breaks it and
    the load has nowhere to drop. Users start fast enough to be running
    before a step's settle time is over.
    """
    rules = settings.rules()
    settle = rules.settle_fraction
    step_s = settings.step_duration_s or _clamp(
        math.ceil(STEP_REQUESTS * cost.seconds / (1 - settle)), MIN_STEP_S, MAX_STEP_S
    )
    ladder = settings.ladder()
    jumps = [ladder[0]] + [high - low for low, high in zip(ladder, ladder[1:])]
    spawn_rate = _clamp(max(jumps) / max(settle * step_s, TICK_SLACK_S), 1.0, MAX_SPAWN_RATE)

    bin_s = request_bin_s(rules, cost, settings.recovery_users)
    recovery_s = settings.recovery_duration_s or _recovery_s(settings, rules, cost, bin_s)
    return StressTiming(
        cost_ms=round(cost.seconds * 1000, 3),
        cost_samples=cost.samples,
        step_s=float(step_s),
        steps=len(ladder),
        spawn_rate=round(spawn_rate, 2),
        recovery_s=float(recovery_s),
        recovery_bin_s=bin_s,
        series_bin_s=chart_bin_s(cost, settings.start_users),
        stop_timeout_s=_stop_timeout(settings.max_users, cost, min_stop_timeout_s),
        longest_s=len(ladder) * (step_s + TICK_SLACK_S) + recovery_s + TICK_SLACK_S,
    )


def hold_timing(settings: StressSettings, users: int, cost: Cost, load: LoadOptions) -> HoldTiming:
    """The ramp and hold of a load cell, and the bins its steadiness is judged by.

    A bin holds LOAD_BIN_REQUESTS requests of one user, is at least the
    analysis's default long, and the hold has at least MIN_HOLD_BINS bins.
    """
    hold_s = settings.hold_duration_s
    wanted_bin_s = max(analysis.DEFAULT_LOAD_BIN_S, math.ceil(LOAD_BIN_REQUESTS * cost.seconds))
    spawn_rate = min(load.spawn_rate or DEFAULT_SPAWN_RATE, MAX_SPAWN_RATE)
    return HoldTiming(
        cost_ms=round(cost.seconds * 1000, 3),
        cost_samples=cost.samples,
        users=users,
        spawn_rate=spawn_rate,
        hold_s=hold_s,
        bin_s=float(min(wanted_bin_s, hold_s / MIN_HOLD_BINS)),
        series_bin_s=chart_bin_s(cost, users),
        stop_timeout_s=_stop_timeout(users, cost, load.stop_timeout_s),
        longest_s=users / spawn_rate + RAMP_GRACE_S + hold_s + TICK_SLACK_S,
    )


def _recovery_s(settings: StressSettings, rules: Rules, cost: Cost, bin_s: float) -> float:
    alone_breaks = cost.seconds * 1000 > settings.p95_rule_ms
    if alone_breaks and settings.start_users <= settings.recovery_users:
        return MIN_RECOVERY_S
    wanted = (rules.recovery_confirm_bins + RECOVERY_SPARE_BINS) * bin_s
    return _clamp(wanted, MIN_RECOVERY_S, MAX_RECOVERY_S)


def request_bin_s(rules: Rules, cost: Cost, users: int) -> float:
    """A bin that holds the analysis's minimum of requests at `users` users."""
    wanted = math.ceil(rules.min_bin_requests * cost.seconds * COST_MARGIN / users)
    return float(max(rules.recovery_bin_s, wanted))


def chart_bin_s(cost: Cost, users: int) -> float:
    """Time bins for the charts: about one request of each user per bin, 1 s at least."""
    return float(max(1, math.ceil(cost.seconds * COST_MARGIN / users)))


def _stop_timeout(users: int, cost: Cost, floor_s: int) -> int:
    """Long enough for a request queued behind every other user's."""
    return int(_clamp(math.ceil(2 * users * cost.seconds), floor_s, MAX_STOP_TIMEOUT_S))


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def measure_cost(base_url: str, cell: Cell) -> Cost:
    """Time the cell's own request alone: the median of a few, one at least."""
    url = base_url + cell.path + "?" + urllib.parse.urlencode(cell.params)
    times: list[float] = []
    started = time.monotonic()
    while not times or (
        len(times) < COST_MAX_SAMPLES and time.monotonic() - started < COST_BUDGET_S
    ):
        times.append(_timed_get(url))
    return Cost(seconds=statistics.median(times), samples=len(times))


def _timed_get(url: str) -> float:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=COST_TIMEOUT_S) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise ServerError(f"measuring the request's cost: {url} answered {error.code}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise ServerError(f"measuring the request's cost: {url} failed: {error}") from None
    return time.perf_counter() - started


# ---------------------------------------------------------------- cells


def run_stress_cell(cell: Cell, plan: RunPlan) -> dict:
    """Climb the steps on a fresh server, then judge the logs; one record."""
    settings = settings_of(plan)
    record = new_cell_record(cell, plan)
    record.update(users=settings.max_users, run_time_s=None)
    prefix = cell_folder(cell, plan) / "locust"
    try:
        with serving(cell, plan, prefix.parent) as target:
            describe_target(record, target)
            timing = stress_timing(
                settings, measure_cost(target.url, cell), plan.load.stop_timeout_s
            )
            logger.info(_stress_plan_line(cell, timing))
            with bottleneck.measure_server_cpu(target.server) as meter:
                run = _run_shape(
                    cell,
                    target.url,
                    prefix,
                    replace(plan.load, stop_timeout_s=timing.stop_timeout_s),
                    STEP_SHAPE,
                    step_arguments(settings, timing),
                    timing.longest_s,
                )
        record.update(stress_measurements(cell, run, settings, timing, plan.run_dir, meter))
        record["flags"].update(target.flags)
    except ServerError as error:
        record.update(status="error", error=str(error))
    _log_stress_verdict(cell, record)
    return record


def run_load_cell(cell: Cell, plan: RunPlan) -> dict:
    """Ramp to the cell's users and hold them on a fresh server; one record."""
    settings = settings_of(plan)
    record = new_cell_record(cell, plan)
    users, source = hold_users_for(cell, plan.extra, settings)
    record.update(users=users, run_time_s=settings.hold_duration_s)
    if users is None:
        record.update(status="skipped", error=source)
        return record

    prefix = cell_folder(cell, plan) / "locust"
    try:
        with serving(cell, plan, prefix.parent) as target:
            describe_target(record, target)
            timing = hold_timing(settings, users, measure_cost(target.url, cell), plan.load)
            with bottleneck.measure_server_cpu(target.server) as meter:
                run = _run_shape(
                    cell,
                    target.url,
                    prefix,
                    replace(plan.load, stop_timeout_s=timing.stop_timeout_s),
                    HOLD_SHAPE,
                    hold_arguments(timing),
                    timing.longest_s,
                )
        record.update(load_measurements(cell, run, settings, timing, plan.run_dir, meter))
        if record.get("load"):
            record["load"]["source"] = source
        record["flags"].update(target.flags)
    except ServerError as error:
        record.update(status="error", error=str(error))
    _log_load_verdict(cell, record)
    return record


def hold_users_for(cell: Cell, extra: dict, settings: StressSettings) -> tuple[int | None, str]:
    """The users to hold and where the number came from, or None and why not."""
    if settings.hold_users is not None:
        return settings.hold_users, "--hold-users"
    target = (extra.get("hold_targets") or {}).get(cell.id)
    if target is None:
        return None, f"skipped: the stress run {settings.from_stress} has no cell {cell.id}"
    if target["users"] is None:
        return None, f"skipped: {target['reason']} in {settings.from_stress}"
    return target["users"], f"threshold of {settings.from_stress}"


def step_arguments(settings: StressSettings, timing: StressTiming) -> list[str]:
    """StepShape's options: the staircase, its stop rules and the recovery."""
    return [
        "--step-start-users", str(settings.start_users),
        "--step-growth", settings.growth,
        "--step-increment", str(settings.increment),
        "--step-duration", f"{timing.step_s:g}",
        "--step-max-users", str(settings.max_users),
        "--step-spawn-rate", f"{timing.spawn_rate:g}",
        "--step-max-failure-ratio", f"{settings.max_failure_ratio:g}",
        "--step-p95-target-ms", f"{settings.p95_rule_ms:g}",
        "--recovery-users", str(settings.recovery_users),
        "--recovery-duration", f"{timing.recovery_s:g}",
    ]  # fmt: skip


def hold_arguments(timing: HoldTiming) -> list[str]:
    return [
        "--hold-users", str(timing.users),
        "--hold-spawn-rate", f"{timing.spawn_rate:g}",
        "--hold-duration", f"{timing.hold_s:g}",
    ]  # fmt: skip


def shape_log_path(prefix: Path) -> Path:
    return Path(f"{prefix}_shape.json")


def _run_shape(
    cell: Cell,
    url: str,
    prefix: Path,
    options: LoadOptions,
    shape: str,
    arguments: list[str],
    longest_s: float,
) -> LocustRun:
    arguments = ["--shape-log", str(shape_log_path(prefix)), *arguments]
    command = locust_command(cell, url, prefix, options, arguments, shape=shape)
    # run_locust bounds the run by run_time_s; a shape's run is as long
    # as its longest schedule.
    bounded = replace(options, run_time_s=math.ceil(longest_s))
    return run_locust(command, prefix, bounded)


# ---------------------------------------------------------------- records


def stress_measurements(
    cell: Cell,
    run: LocustRun,
    settings: StressSettings,
    timing: StressTiming,
    run_dir: Path,
    meter: CpuMeter | None = None,
) -> dict:
    """What one stress run showed, judged; the fields a cell record gains.

    `meter` has sampled the server's CPU during the run, if we ran it.
    """
    facts = _run_facts(cell, run, run_dir)
    rules = settings.rules(recovery_bin_s=timing.recovery_bin_s)
    try:
        shape_log, requests = read_logs(run)
        stress = judge_stress(shape_log, requests, rules, timing.series_bin_s)
    except (OSError, ValueError) as error:
        return {**facts, "status": "error", "error": _log_error(run, error)}

    stress["timing"] = timing.as_dict()
    stress["server_cpu_steps"] = step_cpu(meter, stress["schedule"]["t0"], stress["steps"])
    facts["server_cpu"] = bottleneck.server_cpu_record(meter, requests)
    facts["flags"].update(stress_flags(stress, shape_log))
    return {**facts, **_status(stress["steps"] and stress["requests"], run), "stress": stress}


def load_measurements(
    cell: Cell,
    run: LocustRun,
    settings: StressSettings,
    timing: HoldTiming,
    run_dir: Path,
    meter: CpuMeter | None = None,
) -> dict:
    """What one load run showed, judged; the fields a cell record gains."""
    facts = _run_facts(cell, run, run_dir)
    rules = settings.rules(load_bin_s=timing.bin_s)
    try:
        shape_log, requests = read_logs(run)
        load = judge_load(shape_log, requests, rules, timing.series_bin_s)
    except (OSError, ValueError) as error:
        return {**facts, "status": "error", "error": _log_error(run, error)}

    load["timing"] = timing.as_dict()
    hold = load["schedule"]["hold"]
    t0 = load["schedule"]["t0"]
    load["server_cpu"] = window_cpu(meter, t0 + hold["start_s"], t0 + hold["end_s"])
    facts["server_cpu"] = bottleneck.server_cpu_record(meter, requests)
    facts["flags"].update(load_flags(load))
    return {**facts, **_status(load["summary"]["hold"]["count"], run), "load": load}


def read_logs(run: LocustRun) -> tuple[dict, list[Request]]:
    """The shape log and every request log Locust wrote for this run."""
    path = shape_log_path(run.prefix)
    shape_log = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(shape_log, dict) or not shape_log:
        raise ValueError(f"{path} holds no schedule: the shape never started")
    logs = request_logs(run.prefix)
    if not logs:
        raise ValueError(f"no request log next to {run.prefix}")
    return shape_log, analysis.read_request_log(logs)


def judge_stress(
    shape_log: dict, requests: Sequence[Request], rules: Rules, series_bin_s: float = 1.0
) -> dict:
    """Steps, threshold, breaking point and recovery of one stress run.

    Only the cell's own requests are judged; the probe's are summarized
    per step beside them. Every value is JSON-ready.
    """
    schedule = analysis.schedule_from_json(shape_log)
    heavy, probe = split_probe(requests)
    steps = analysis.step_stats(heavy, schedule, rules)
    threshold = analysis.find_saturation(steps, rules)
    breaking = analysis.find_breaking_point(steps, rules)
    recovery, recovery_note = _recovery(heavy, schedule, steps, rules)
    return {
        "rules": rules.as_dict(),
        "schedule": schedule.as_dict(),
        "stop_reason": schedule.stop_reason,
        "completed": bool(shape_log.get("completed")),
        "ceiling": (shape_log.get("plan") or {}).get("max_users"),
        "requests": len(heavy),
        "steps": [step.as_dict() for step in steps],
        "probe_steps": [_probe_step(step) for step in analysis.step_stats(probe, schedule, rules)],
        "threshold": _as_dict(threshold),
        "breaking_point": _as_dict(breaking),
        "recovery": _as_dict(recovery),
        "recovery_note": recovery_note,
        "series": time_series(heavy, schedule.t0, _end_s(shape_log, schedule), series_bin_s),
    }


def judge_load(
    shape_log: dict, requests: Sequence[Request], rules: Rules, series_bin_s: float = 1.0
) -> dict:
    """The hold's steadiness and drift, with the ramp apart, of one load run."""
    hold = shape_log.get("hold")
    if not hold:
        raise ValueError("the shape log has no hold: the run stopped during the ramp")
    t0 = _t0(shape_log)
    start, end = t0 + float(hold["start_s"]), t0 + float(hold["end_s"])
    heavy, probe = split_probe(requests)
    summary = analysis.load_test_summary(heavy, start, end, rules, run_start=t0)
    probe_held = [r for r in probe if start <= r.start < end]
    return {
        "rules": rules.as_dict(),
        "schedule": {key: shape_log.get(key) for key in HOLD_LOG_KEYS},
        "users": hold.get("users"),
        "summary": summary.as_dict(),
        "probe": analysis.summarize(probe_held, end - start).as_dict(),
        "series": time_series(
            heavy, t0, float(shape_log.get("end_s") or hold["end_s"]), series_bin_s
        ),
    }


HOLD_LOG_KEYS = ("t0", "ramp_end_s", "ramp_end_reason", "hold", "end_s", "completed")


def split_probe(requests: Iterable[Request]) -> tuple[list[Request], list[Request]]:
    """The cell's own requests, and the probe's."""
    heavy, probe = [], []
    for request in requests:
        (probe if request.name.startswith(PROBE_PREFIX) else heavy).append(request)
    return heavy, probe


def time_series(requests: Sequence[Request], t0: float, end_s: float, bin_s: float) -> dict:
    """Per bin from t0: requests sent, completed per second, failures, p50/p95.

    Latency is by send time, as the analysis assigns requests to steps;
    throughput is by completion, so a backlog draining after the drop shows.
    The bins reach the last completion, which may be after the schedule.
    """
    span_s = max(end_s, max((_done_s(r, t0) for r in requests), default=0.0))
    count = max(1, math.ceil(span_s / bin_s))
    sent: list[list[float]] = [[] for _ in range(count)]
    done, failures = [0] * count, [0] * count
    for request in requests:
        index = math.floor((request.start - t0) / bin_s)
        if 0 <= index < count:
            sent[index].append(request.response_time_ms)
            failures[index] += 0 if request.ok else 1
        finished = min(math.floor(_done_s(request, t0) / bin_s), count - 1)
        if finished >= 0:
            done[finished] += 1
    return {
        "bin_s": bin_s,
        "t_s": [round(index * bin_s, 3) for index in range(count)],
        "sent": [len(times) for times in sent],
        "done_rps": [
            round(value / _width(index, bin_s, span_s), 3) for index, value in enumerate(done)
        ],
        "failures": failures,
        "p50_ms": [_rounded_percentile(times, 50) for times in sent],
        "p95_ms": [_rounded_percentile(times, 95) for times in sent],
    }


def step_cpu(meter: CpuMeter | None, t0: float, steps: Sequence[dict]) -> list[dict]:
    """The server's CPU in each step's counted window; none without a meter."""
    rows = []
    for step in steps:
        window = window_cpu(meter, t0 + step["window_start_s"], t0 + step["end_s"])
        if window is not None:
            rows.append({"index": step["index"], **window})
    return rows


def window_cpu(meter: CpuMeter | None, start: float, end: float) -> dict | None:
    """The server's share of its CPUs from `start` to `end` (epoch s), and theirs by anyone.

    ``utilisation`` 1.0 is every one of the server's CPUs busy with the
    server throughout; ``cpus_busy`` counts any process on those CPUs.
    """
    if meter is None or len(meter.samples) < 2 or end <= start:
        return None
    wall_s = end - start
    return {
        "cores": meter.cores,
        "utilisation": bottleneck.utilisation(meter.cpu_between(start, end), wall_s, meter.cores),
        "cpus_busy": bottleneck.utilisation(meter.busy_between(start, end), wall_s, meter.cores),
    }


def stress_flags(stress: dict, shape_log: dict) -> dict[str, str]:
    """Reasons to read a stress cell with care."""
    flags = cpu_flags(stress)
    thin = [users_text(step["users"]) for step in stress["steps"] if step["count"] < FEW_REQUESTS]
    if thin:
        flags["few_requests"] = (
            f"fewer than {FEW_REQUESTS} requests counted in the step(s) at {', '.join(thin)}: "
            "their percentiles are rough"
        )
    if not shape_log.get("completed"):
        flags["shape_incomplete"] = (
            f"the staircase did not run to its end (stop reason: {stress['stop_reason']})"
        )
    return flags


def cpu_flags(stress: dict) -> dict[str, str]:
    """Whether the server's CPU was the limit at the threshold, and who else ran."""
    flags = {}
    by_index = {row["index"]: row for row in stress.get("server_cpu_steps") or []}
    threshold = stress.get("threshold") or {}
    at_threshold = by_index.get(threshold.get("step_index")) if threshold.get("reached") else None
    used = (at_threshold or {}).get("utilisation")
    if used is not None and used < bottleneck.SATURATED:
        flags["cpu_not_full"] = (
            f"at the threshold the server used {used:.0%} of its {at_threshold['cores']} "
            "CPU(s): its CPU was not the limit; Locust, a lock or the network may be"
        )
    others = [
        row["cpus_busy"] - row["utilisation"]
        for row in by_index.values()
        if row.get("cpus_busy") is not None and row.get("utilisation") is not None
    ]
    if others and max(others) > bottleneck.OTHERS_NOTICEABLE:
        flags["cpu_shared"] = (
            f"other processes used up to {max(others):.0%} of the server's CPUs during a step"
        )
    return flags


def load_flags(load: dict) -> dict[str, str]:
    flags = {}
    held = load["summary"]["hold"]["count"]
    if held < FEW_REQUESTS * MIN_HOLD_BINS:
        flags["few_requests"] = f"the hold counted only {held} requests: its spread is rough"
    if not (load["schedule"] or {}).get("completed"):
        flags["shape_incomplete"] = "the hold did not run for its full duration"
    return flags


def _recovery(
    heavy: Sequence[Request], schedule: analysis.Schedule, steps: list, rules: Rules
) -> tuple[analysis.Recovery | None, str | None]:
    if schedule.recovery is None:
        return None, "no recovery phase: the run ended before the drop"
    baseline = analysis.baseline_p95(steps)
    if baseline is None or baseline <= 0:
        return None, "no baseline: the first steps completed no request"
    recovery = analysis.find_recovery(heavy, schedule, baseline, rules)
    if schedule.steps and schedule.steps[-1].users <= schedule.recovery.users:
        return recovery, "no drop: the last step already ran at the recovery load"
    needed_s = rules.recovery_confirm_bins * rules.recovery_bin_s
    if not recovery.recovered and schedule.recovery.duration_s < needed_s:
        return recovery, (
            f"window too short: confirming takes {needed_s:g} s of good bins, "
            f"the window lasted {schedule.recovery.duration_s:.0f} s"
        )
    return recovery, None


def _run_facts(cell: Cell, run: LocustRun, run_dir: Path) -> dict:
    """What every shaped run records, judged or not."""
    stats = read_stats(run.prefix)
    prefix = run.prefix.relative_to(run_dir)
    return {
        "locust_command": " ".join(run.command),
        "locust_exit_code": run.exit_code,
        "locust_duration_s": round(run.duration_s, 1),
        "stats": stats.get(request_name(cell)),
        "probe": next((row for name, row in stats.items() if name.startswith(PROBE_PREFIX)), None),
        "flags": dict(run.flags),
        "files": {
            "csv_prefix": str(prefix),
            "html": f"{prefix}.html",
            "request_log": f"{prefix}_requests.csv",
            "shape_log": str(shape_log_path(prefix)),
        },
    }


def _status(measured: Any, run: LocustRun) -> dict:
    if measured:
        return {"status": "ok", "error": None}
    return {"status": "error", "error": f"Locust logged no request of the cell; see {run.log_path}"}


def _log_error(run: LocustRun, error: Exception) -> str:
    return f"could not read Locust's logs: {error}; see {run.log_path}"


def _probe_step(step: analysis.StepStats) -> dict:
    return {"index": step.index, "count": step.count, "p50_ms": step.p50_ms, "p95_ms": step.p95_ms}


def _end_s(shape_log: dict, schedule: analysis.Schedule) -> float:
    phases = list(schedule.steps) + ([schedule.recovery] if schedule.recovery else [])
    last = max((phase.end_s for phase in phases), default=0.0)
    return max(float(shape_log.get("end_s") or 0.0), last)


def _t0(shape_log: dict) -> float:
    t0 = shape_log.get("t0")
    if isinstance(t0, bool) or not isinstance(t0, (int, float)):
        raise ValueError(f"the shape log's t0 must be a number, got {t0!r}")
    return float(t0)


def _width(index: int, bin_s: float, span_s: float) -> float:
    """A bin's length: the last ends with the span (but a sliver counts as a
    quarter bin, so that one late completion does not read as a burst)."""
    return max(min(bin_s, span_s - index * bin_s), bin_s / 4)


def _done_s(request: Request, t0: float) -> float:
    return request.start + request.response_time_ms / 1000 - t0


def _rounded_percentile(times: list[float], q: float) -> float | None:
    return round(analysis.percentile(times, q), 3) if times else None


def _as_dict(result: Any) -> dict | None:
    return None if result is None else result.as_dict()


def users_text(count: int | None) -> str:
    """'1 user', '8 users'."""
    return f"{count} user" + ("" if count == 1 else "s")


def _stress_plan_line(cell: Cell, timing: StressTiming) -> str:
    return (
        f"{cell.label}: one request takes {timing.cost_ms:.0f} ms alone; "
        f"steps of {timing.step_s:g} s, recovery {timing.recovery_s:g} s"
    )


def _log_stress_verdict(cell: Cell, record: dict) -> None:
    stress = record.get("stress")
    if record.get("status") != "ok" or not stress:
        return
    logger.info("%s: %s", cell.label, verdict_line(stress))


def _log_load_verdict(cell: Cell, record: dict) -> None:
    summary = (record.get("load") or {}).get("summary")
    if record.get("status") != "ok" or not summary:
        return
    logger.info(
        "%s: held %s, %s rps, p95 %s ms, drift %s",
        cell.label,
        users_text(record["users"]),
        _number_or_dash(summary["mean_rps"], ".1f"),
        _number_or_dash(summary["hold"]["p95_ms"], ".0f"),
        _number_or_dash(summary["p95_drift_ratio"], ".2f"),
    )


def _number_or_dash(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def verdict_line(stress: dict) -> str:
    """Threshold, breaking point and recovery of one stress cell, in words."""
    return "; ".join([threshold_text(stress), breaking_text(stress), recovery_text(stress)])


def threshold_text(stress: dict) -> str:
    threshold = stress.get("threshold")
    if threshold is None:
        return "no threshold (no throughput)"
    where = f"{users_text(threshold['users'])}, {threshold['throughput_rps']:.1f} rps"
    if threshold["reached"]:
        return f"threshold at {where}"
    if len(stress.get("steps") or []) == 1:
        return f"threshold not found: only one step ran ({where})"
    return f"threshold not reached (still growing at {where})"


def breaking_text(stress: dict) -> str:
    breaking = stress.get("breaking_point")
    if breaking is not None:
        return f"breaking point at {users_text(breaking['users'])} ({breaking['rule']})"
    steps = stress.get("steps") or []
    top = steps[-1]["users"] if steps else 0
    return f"breaking point not reached up to {users_text(top)}"


def recovery_text(stress: dict) -> str:
    recovery, note = stress.get("recovery"), stress.get("recovery_note")
    if recovery is None or note:
        return note or "recovery not measured"
    if not recovery["recovered"]:
        return f"did not recover within {recovery['phase_s']:.0f} s"
    return f"recovered after {recovery['seconds']:g} s"


# ---------------------------------------------------------------- gate


def gate_breaches(results: dict, target_ms: float) -> list[str]:
    """The cells of a run that break the p95 target, each as 'id (why)'.

    fixed: the cell's p95 is above the target. load: the hold's p95 is
    above it. stress: the breaking point was reached by the latency rule
    (the target, judged on the stored steps) at or below the ceiling. A
    cell that failed to run breaks it too: nothing shows it meets the
    target. A skipped cell does not.
    """
    kind = results.get("kind", "fixed")
    breaches = []
    for cell in results.get("cells") or []:
        why = gate_verdict(kind, cell, target_ms)
        if why:
            breaches.append(f"{cell.get('id')} ({why})")
    return breaches


def gate_verdict(kind: str, cell: dict, target_ms: float) -> str | None:
    """Why one cell breaks the p95 target, or None when it does not."""
    if cell.get("status") == "skipped":
        return None
    if cell.get("status") != "ok":
        return "not measured: " + str(cell.get("error") or "the cell failed")
    if kind == "stress":
        return _stress_breach(cell.get("stress") or {}, target_ms)
    if kind == "load":
        p95 = (((cell.get("load") or {}).get("summary") or {}).get("hold") or {}).get("p95_ms")
    else:
        p95 = (cell.get("stats") or {}).get("p95_ms")
    if p95 is None:
        return "no p95 measured"
    return f"p95 {p95:,.0f} ms" if p95 > target_ms else None


def _stress_breach(stress: dict, target_ms: float) -> str | None:
    steps = [_step_stats(step) for step in stress.get("steps") or []]
    rules = Rules(**(stress.get("rules") or {})) if stress.get("rules") else Rules()
    breaking = analysis.find_breaking_point(steps, replace(rules, p95_target_ms=target_ms))
    if breaking is None or analysis.RULE_LATENCY not in breaking.rule.split("+"):
        return None
    return f"p95 {breaking.p95_ms:,.0f} ms at {users_text(breaking.users)}"


def _step_stats(step: dict) -> analysis.StepStats:
    names = {field.name for field in fields(analysis.StepStats)}
    return analysis.StepStats(**{key: value for key, value in step.items() if key in names})


def gate_summary(breaches: Sequence[str], total: int, target_ms: float) -> str:
    """The one line the command ends with when the gate fails."""
    return f"p95 target {target_ms:g} ms broken by {len(breaches)} of {total} cells: " + "; ".join(
        breaches
    )


# ---------------------------------------------------------------- options


def add_arguments(add: Callable[..., Any], env_default: Callable[[str, Any], Any]) -> None:
    """Add the stress and load options to `manage.py bench`.

    `add` is the parser's add_argument; `env_default(name, default)` reads
    the ASYNCPROJ_BENCH_<NAME> fallback.
    """
    for flag, parse, default, metavar, text in _OPTIONS:
        name = flag.lstrip("-").replace("-", "_")
        add(flag, type=parse, default=env_default(name, default), metavar=metavar, help=text)


def _number(kind: type, check: Callable[[Any], bool], wanted: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if not check(value):
            raise ValueError(text)
        return value

    parse.__name__ = wanted  # argparse names it in "invalid <name> value"
    return parse


def _auto_seconds(text: str) -> float | None:
    if str(text).strip().lower() == "auto":
        return None
    return _positive_float(text)


_auto_seconds.__name__ = "'auto' or seconds > 0"
_positive_int = _number(int, lambda value: value >= 1, "whole number >= 1")
_positive_float = _number(float, lambda value: 0 < value < math.inf, "number > 0")
_non_negative_float = _number(float, lambda value: 0 <= value < math.inf, "number >= 0")
_ratio = _number(float, lambda value: 0 <= value < 1, "ratio from 0 up to 1")
_growth = _number(str, lambda value: value in GROWTH_MODES, "'double' or 'add'")

_OPTIONS = (
    (
        "--step-start-users",
        _positive_int,
        DEFAULT_START_USERS,
        "N",
        "stress: users in the first step (default: %(default)s)",
    ),
    (
        "--step-growth",
        _growth,
        DEFAULT_GROWTH,
        "MODE",
        "stress: double the users each step, or add --step-increment (default: %(default)s)",
    ),
    (
        "--step-increment",
        _positive_int,
        DEFAULT_INCREMENT,
        "N",
        "stress: users added per step with --step-growth add (default: %(default)s)",
    ),
    (
        "--step-duration",
        _auto_seconds,
        "auto",
        "SECONDS",
        f"stress: seconds per step; auto: time for {STEP_REQUESTS} requests of one user "
        f"after the settle time, from one request's measured cost, within "
        f"{MIN_STEP_S:g}-{MAX_STEP_S:g} s (default: %(default)s)",
    ),
    (
        "--step-max-users",
        _positive_int,
        DEFAULT_MAX_USERS,
        "N",
        "stress: the user ceiling; the staircase stops there if no rule broke first "
        "(default: %(default)s)",
    ),
    (
        "--recovery-users",
        _positive_int,
        DEFAULT_RECOVERY_USERS,
        "N",
        "stress: users after the drop, while recovery is watched (default: %(default)s)",
    ),
    (
        "--recovery-duration",
        _auto_seconds,
        "auto",
        "SECONDS",
        "stress: seconds watched after the drop; auto: enough bins, sized from the "
        "request's cost, to confirm a recovery (default: %(default)s)",
    ),
    (
        "--max-failure-ratio",
        _ratio,
        analysis.DEFAULT_MAX_FAILURE_RATIO,
        "RATIO",
        "stress: a step with more failed/all requests is past the breaking point "
        "(default: %(default)s)",
    ),
    (
        "--p95-rule-ms",
        _positive_float,
        DEFAULT_P95_RULE_MS,
        "MS",
        "stress: the latency SLO; a step whose p95 is above this many ms is past the "
        "breaking point; --p95-target-ms replaces it (default: %(default)s)",
    ),
    (
        "--plateau-tolerance",
        _ratio,
        analysis.DEFAULT_PLATEAU_TOLERANCE,
        "RATIO",
        "stress: the threshold is a step within this share of the peak throughput "
        "(default: %(default)s)",
    ),
    (
        "--min-gain",
        _non_negative_float,
        analysis.DEFAULT_MIN_GAIN,
        "RATIO",
        "stress: ... and whose next step adds less than this share of its throughput "
        "(default: %(default)s)",
    ),
    (
        "--hold-users",
        _positive_int,
        None,
        "N",
        "load: users to hold in every cell (default: none; give this or --from-stress)",
    ),
    (
        "--from-stress",
        Path,
        None,
        "RUN",
        "load: hold each cell at the threshold users a stress run found; RUN is its "
        "folder or results.json. Cells without a threshold there are skipped "
        "(default: none)",
    ),
    (
        "--hold-duration",
        _positive_float,
        DEFAULT_HOLD_DURATION_S,
        "SECONDS",
        "load: seconds to hold, not counting the ramp (default: %(default)s)",
    ),
    (
        "--p95-target-ms",
        _positive_float,
        None,
        "MS",
        "the gate: exit non-zero, after writing the report, if a cell breaks this p95 "
        "(ms). fixed: the cell's p95 is above it; load: the hold's p95 is above it; "
        "stress: it is also the latency rule, and a cell breaks it when its breaking "
        "point is reached by latency at or below the ceiling. A cell that failed to run "
        "breaks it too (default: none, no gate)",
    ),
)
