"""StepShape: the stress test's staircase, then a drop and a recovery window.

Pass it as a second -f entry, so that a plain run's -u/-r/-t stay as
given::

    locust -f locust/locustfile.py,locust/step_shape.py --headless \\
        --host http://127.0.0.1:8000 --step-duration 30 --step-max-users 64 \\
        --shape-log out/shape.json --request-log out/requests.csv \\
        --tags bubble_scenario1 probe -- SyncClient ProbeClient

Users grow in steps of ``--step-duration`` seconds, from
``--step-start-users``, doubling or adding ``--step-increment``, up to
``--step-max-users``. At each step's end the step's own requests decide:
a failure ratio above ``--step-max-failure-ratio``, a p95 above
``--step-p95-target-ms`` (when not 0), or the ceiling reached ends the
staircase; otherwise the next step starts. The load then drops at once to
``--recovery-users`` for ``--recovery-duration`` seconds, and the test
ends. Step boundaries fall on Locust's ticks, about one second apart; the
log holds the times actually followed. In a distributed run the master
sees requests only as workers report them (every 3 s), so keep steps
well above that.

Step stats come from Locust's running totals less the probe's requests
(named ``probe ...``: the rules judge the load's own requests), snapshotted
at each step start and diffed at its end; ``--reset-stats`` in between is
noticed and the window restarts from the reset.

``--shape-log PATH`` receives, when the test stops::

    {
      "shape": "StepShape",
      "t0": <epoch s at offset 0>,
      "fixed_users": <probe users on top of "users">,
      "plan": {<the StepPlan fields>},
      "steps": [{"index", "users", "start_s", "end_s", "requests",
                 "failures", "failure_ratio", "p95_ms", "stop_reason"}],
      "stop_reason": "failure_ratio" | "p95" | "ceiling" | "test_stopped",
      "drop_s": <offset of the drop> | null,
      "recovery": {"users", "start_s", "end_s"} | null,
      "end_s": <offset the shape ended or the test stopped>,
      "completed": <true when the recovery window ran fully>
    }

A step's ``stop_reason`` is ``grow`` when the next step followed. Phases
of zero length (a test stopped on a boundary) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import loadgen_options
from loadgen_options import option_value
from loadgen_shapes import LoggedShape, offset
from locust.stats import calculate_response_time_percentile, diff_response_time_dicts

GROW = "grow"
FAILURE_RATIO = "failure_ratio"
P95 = "p95"
CEILING = "ceiling"
TEST_STOPPED = "test_stopped"
PROBE_PREFIX = "probe "  # how the locustfile's ProbeClient names its requests

STEPPING = "stepping"
RECOVERING = "recovering"
DONE = "done"

loadgen_options.register(loadgen_options.add_step_options)
loadgen_options.register(loadgen_options.add_shape_log_option)


@dataclass(frozen=True)
class StepPlan:
    """The staircase to climb; field defaults are the option defaults."""

    start_users: int = loadgen_options.DEFAULT_STEP_START_USERS
    growth: str = loadgen_options.DEFAULT_STEP_GROWTH
    increment: int = loadgen_options.DEFAULT_STEP_INCREMENT_USERS
    duration_s: float = loadgen_options.DEFAULT_STEP_DURATION_S
    max_users: int = loadgen_options.DEFAULT_STEP_MAX_USERS
    spawn_rate: float = loadgen_options.DEFAULT_STEP_SPAWN_RATE
    max_failure_ratio: float = loadgen_options.DEFAULT_STEP_MAX_FAILURE_RATIO
    p95_target_ms: float = loadgen_options.DEFAULT_STEP_P95_TARGET_MS
    recovery_users: int = loadgen_options.DEFAULT_RECOVERY_USERS
    recovery_duration_s: float = loadgen_options.DEFAULT_RECOVERY_DURATION_S

    def __post_init__(self) -> None:
        # The web UI and direct callers bypass argparse's checks.
        checks = (
            ("--step-start-users", self.start_users, self.start_users >= 1, ">= 1"),
            (
                "--step-growth",
                self.growth,
                self.growth in loadgen_options.GROWTH_MODES,
                "double or add",
            ),
            ("--step-increment", self.increment, self.increment >= 1, ">= 1"),
            ("--step-duration", self.duration_s, self.duration_s > 0, "> 0"),
            (
                "--step-max-users",
                self.max_users,
                self.max_users >= self.start_users,
                f">= --step-start-users ({self.start_users})",
            ),
            ("--step-spawn-rate", self.spawn_rate, self.spawn_rate > 0, "> 0"),
            (
                "--step-max-failure-ratio",
                self.max_failure_ratio,
                0 <= self.max_failure_ratio <= 1,
                "from 0 to 1",
            ),
            ("--step-p95-target-ms", self.p95_target_ms, self.p95_target_ms >= 0, ">= 0"),
            ("--recovery-users", self.recovery_users, self.recovery_users >= 0, ">= 0"),
            ("--recovery-duration", self.recovery_duration_s, self.recovery_duration_s > 0, "> 0"),
        )
        for flag, value, ok, wanted in checks:
            if not ok:
                raise ValueError(f"{flag} must be {wanted}, got {value!r}")

    @classmethod
    def from_environment(cls, environment: Any) -> StepPlan:
        defaults = cls()

        def value(name: str, default: Any) -> Any:
            return option_value(environment, name, default)

        return cls(
            start_users=int(value("step_start_users", defaults.start_users)),
            growth=str(value("step_growth", defaults.growth)),
            increment=int(value("step_increment", defaults.increment)),
            duration_s=float(value("step_duration", defaults.duration_s)),
            max_users=int(value("step_max_users", defaults.max_users)),
            spawn_rate=float(value("step_spawn_rate", defaults.spawn_rate)),
            max_failure_ratio=float(value("step_max_failure_ratio", defaults.max_failure_ratio)),
            p95_target_ms=float(value("step_p95_target_ms", defaults.p95_target_ms)),
            recovery_users=int(value("recovery_users", defaults.recovery_users)),
            recovery_duration_s=float(value("recovery_duration", defaults.recovery_duration_s)),
        )

    def next_users(self, users: int) -> int:
        grown = users * 2 if self.growth == "double" else users + self.increment
        return min(grown, self.max_users)


@dataclass(frozen=True)
class StepStats:
    """What one step's own requests showed."""

    requests: int = 0
    failures: int = 0
    p95_ms: float = 0.0

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def step_verdict(plan: StepPlan, users: int, stats: StepStats) -> str:
    """Why the staircase ends after this step, or GROW to go on."""
    if stats.failure_ratio > plan.max_failure_ratio:
        return FAILURE_RATIO
    if plan.p95_target_ms > 0 and stats.p95_ms > plan.p95_target_ms:
        return P95
    if users >= plan.max_users:
        return CEILING
    return GROW


@dataclass(frozen=True)
class TotalsSnapshot:
    """Locust's aggregated totals at one moment."""

    reset_at: float  # StatsEntry.start_time, which a stats reset moves
    requests: int
    failures: int
    response_times: dict[int, int]


EMPTY_TOTALS = TotalsSnapshot(0.0, 0, 0, {})


def snapshot(total: Any, left_out: Iterable[Any] = ()) -> TotalsSnapshot:
    """Copy what a step window needs from a StatsEntry (runner.stats.total),
    less the StatsEntries in ``left_out``."""
    requests, failures = total.num_requests, total.num_failures
    response_times = dict(total.response_times)
    for entry in left_out:
        requests -= entry.num_requests
        failures -= entry.num_failures
        response_times = diff_response_time_dicts(response_times, entry.response_times)
    return TotalsSnapshot(
        reset_at=total.start_time,
        requests=requests,
        failures=failures,
        response_times=response_times,
    )


def stats_between(before: TotalsSnapshot, after: TotalsSnapshot) -> StepStats:
    """The requests counted between two snapshots of the same totals."""
    if after.reset_at != before.reset_at or after.requests < before.requests:
        # Stats were reset inside the window: all that is counted is ours.
        before = EMPTY_TOTALS
    times = diff_response_time_dicts(after.response_times, before.response_times)
    timed = sum(times.values())
    p95 = calculate_response_time_percentile(times, timed, 0.95) if timed else 0
    return StepStats(
        requests=after.requests - before.requests,
        failures=after.failures - before.failures,
        p95_ms=float(p95),
    )


@dataclass
class StepRecord:
    index: int
    users: int
    start_s: float
    end_s: float | None = None
    stats: StepStats = field(default_factory=StepStats)
    stop_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "users": self.users,
            "start_s": offset(self.start_s),
            "end_s": offset(self.end_s),
            "requests": self.stats.requests,
            "failures": self.stats.failures,
            "failure_ratio": round(self.stats.failure_ratio, 6),
            "p95_ms": self.stats.p95_ms,
            "stop_reason": self.stop_reason,
        }


class StepSchedule:
    """The staircase as a state machine over elapsed seconds; no Locust inside.

    ``step_due`` says when the open step is over, ``end_step`` closes it
    with its stats, and ``target`` gives the users and spawn rate wanted
    now, or None once the recovery window is over.
    """

    def __init__(self, plan: StepPlan, start_s: float) -> None:
        self.plan = plan
        self.phase = STEPPING
        self.steps = [StepRecord(index=0, users=plan.start_users, start_s=start_s)]
        self.stop_reason: str | None = None
        self.drop_s: float | None = None
        self.drop_rate = plan.spawn_rate
        self.end_s: float | None = None

    @property
    def current(self) -> StepRecord:
        return self.steps[-1]

    def step_due(self, elapsed_s: float) -> bool:
        return self.phase == STEPPING and elapsed_s >= self.current.start_s + self.plan.duration_s

    def end_step(self, elapsed_s: float, stats: StepStats) -> None:
        step = self.current
        step.end_s, step.stats = elapsed_s, stats
        step.stop_reason = step_verdict(self.plan, step.users, stats)
        if step.stop_reason == GROW:
            users = self.plan.next_users(step.users)
            self.steps.append(StepRecord(index=step.index + 1, users=users, start_s=elapsed_s))
            return

        self.stop_reason = step.stop_reason
        self.phase = RECOVERING
        self.drop_s = elapsed_s
        # Drop in one go: at the step spawn rate, shedding many users
        # would smear the drop over seconds of the recovery window.
        self.drop_rate = max(self.plan.spawn_rate, float(step.users - self.plan.recovery_users))

    def target(self, elapsed_s: float) -> tuple[int, float] | None:
        if self.phase == STEPPING:
            return self.current.users, self.plan.spawn_rate
        if self.phase == RECOVERING and self.drop_s is not None:
            if elapsed_s < self.drop_s + self.plan.recovery_duration_s:
                return self.plan.recovery_users, self.drop_rate
            self.phase = DONE
            self.end_s = elapsed_s
        return None

    @property
    def completed(self) -> bool:
        return self.phase == DONE and self.stop_reason != TEST_STOPPED

    def stop_at(self, elapsed_s: float, stats: StepStats) -> None:
        """Close the open phase early: the test was stopped from outside."""
        if self.phase == STEPPING:
            step = self.current
            step.end_s, step.stats, step.stop_reason = elapsed_s, stats, TEST_STOPPED
            self.stop_reason = TEST_STOPPED
        if self.phase != DONE:
            self.phase = DONE
            self.end_s = elapsed_s

    def as_log(self) -> dict[str, Any]:
        steps = [
            step.as_dict()
            for step in self.steps
            if step.end_s is not None and step.end_s > step.start_s
        ]
        return {
            "plan": asdict(self.plan),
            "steps": steps,
            "stop_reason": self.stop_reason,
            "drop_s": offset(self.drop_s),
            "recovery": self._recovery_log(),
            "end_s": offset(self.end_s),
            "completed": self.completed,
        }

    def _recovery_log(self) -> dict[str, Any] | None:
        if self.drop_s is None or self.end_s is None or self.end_s <= self.drop_s:
            return None
        return {
            "users": self.plan.recovery_users,
            "start_s": offset(self.drop_s),
            "end_s": offset(self.end_s),
        }


class StepShape(LoggedShape):
    """Step the users up until a stop rule fires, drop them, watch recovery.

    tick() returns ``(users, spawn_rate)``: the current step's users, or
    the recovery users after the drop, plus any fixed-count users (the
    probe). It returns None, which ends the test (headless) or stops it
    (web UI), once the recovery window is over.
    """

    def __init__(self, plan: StepPlan | None = None) -> None:
        super().__init__()
        self.fixed_plan = plan  # None: read the options at each run's start
        self.schedule: StepSchedule | None = None
        self.opened: TotalsSnapshot = EMPTY_TOTALS
        self.extra_users = 0

    def tick(self) -> tuple[int, float] | None:
        elapsed_s = self.get_run_time()
        schedule = self.schedule or self._plan_run(elapsed_s)
        if schedule.step_due(elapsed_s):
            schedule.end_step(elapsed_s, self._close_window())
        target = schedule.target(elapsed_s)
        if target is None:
            return None
        users, spawn_rate = target
        return users + self.extra_users, spawn_rate

    def _plan_run(self, elapsed_s: float) -> StepSchedule:
        plan = self.fixed_plan or StepPlan.from_environment(self.environment())
        self.schedule = StepSchedule(plan, elapsed_s)
        self.extra_users = self.fixed_users()
        self.opened = self._totals()
        self.begin_log(elapsed_s)
        return self.schedule

    def _totals(self) -> TotalsSnapshot:
        if self.runner is None:
            return EMPTY_TOTALS
        stats = self.runner.stats
        entries = getattr(stats, "entries", {})  # per request name: (name, method) keys
        probe = [entry for key, entry in entries.items() if key[0].startswith(PROBE_PREFIX)]
        return snapshot(stats.total, probe)

    def _close_window(self) -> StepStats:
        """The open step's stats; the next step's window opens now."""
        now = self._totals()
        stats = stats_between(self.opened, now)
        self.opened = now
        return stats

    # LoggedShape

    def started(self) -> bool:
        return self.schedule is not None

    def stop_at(self, elapsed_s: float) -> None:
        if self.schedule is not None:
            stepping = self.schedule.phase == STEPPING
            self.schedule.stop_at(elapsed_s, self._close_window() if stepping else StepStats())

    def schedule_log(self) -> dict[str, Any]:
        if self.schedule is None:
            return {}
        return {
            "shape": type(self).__name__,
            "t0": self.t0,
            "fixed_users": self.extra_users,
            **self.schedule.as_log(),
        }

    def forget(self) -> None:
        self.schedule = None
        self.opened = EMPTY_TOTALS
