"""HoldShape: the load test's ramp to a fixed load, then a timed hold.

Pass it as a second -f entry, so that a plain run's -u/-r/-t stay as
given::

    locust -f locust/locustfile.py,locust/hold_shape.py --headless \\
        --host http://127.0.0.1:8000 --hold-users 8 --hold-spawn-rate 8 \\
        --hold-duration 120 --shape-log out/shape.json \\
        --tags bubble_scenario1 probe -- SyncClient ProbeClient

The users ramp to ``--hold-users`` (plus fixed-count users such as the
probe) at ``--hold-spawn-rate``. The ramp ends at the first tick that
sees every user running, or, if some never start, once the ramp has
taken its expected time plus RAMP_GRACE_S. The hold then lasts
``--hold-duration`` seconds, not counting the ramp, and the test ends.

``--shape-log PATH`` receives, when the test stops::

    {
      "shape": "HoldShape",
      "t0": <epoch s at offset 0>,
      "fixed_users": <probe users on top of "users">,
      "plan": {"users", "spawn_rate", "duration_s"},
      "ramp_end_s": <offset the hold started> | null,
      "ramp_end_reason": "spawned" | "deadline" | null,
      "hold_end_s": <offset the hold ended> | null,
      "hold": {"users", "start_s", "end_s"} | null,
      "end_s": <offset the shape ended or the test stopped>,
      "completed": <true when the hold ran fully>
    }
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import loadgen_options
from loadgen_options import option_value
from loadgen_shapes import LoggedShape, offset

RAMP_GRACE_S = 10.0  # beyond the expected ramp time, before holding anyway
SPAWNED = "spawned"
DEADLINE = "deadline"

loadgen_options.register(loadgen_options.add_hold_options)
loadgen_options.register(loadgen_options.add_shape_log_option)


@dataclass(frozen=True)
class HoldPlan:
    """The load to hold; field defaults are the option defaults."""

    users: int = loadgen_options.DEFAULT_HOLD_USERS
    spawn_rate: float = loadgen_options.DEFAULT_HOLD_SPAWN_RATE
    duration_s: float = loadgen_options.DEFAULT_HOLD_DURATION_S

    def __post_init__(self) -> None:
        # The web UI and direct callers bypass argparse's checks.
        checks = (
            ("--hold-users", self.users, self.users >= 1, ">= 1"),
            ("--hold-spawn-rate", self.spawn_rate, self.spawn_rate > 0, "> 0"),
            ("--hold-duration", self.duration_s, self.duration_s > 0, "> 0"),
        )
        for flag, value, ok, wanted in checks:
            if not ok:
                raise ValueError(f"{flag} must be {wanted}, got {value!r}")

    @classmethod
    def from_environment(cls, environment: Any) -> HoldPlan:
        defaults = cls()
        return cls(
            users=int(option_value(environment, "hold_users", defaults.users)),
            spawn_rate=float(option_value(environment, "hold_spawn_rate", defaults.spawn_rate)),
            duration_s=float(option_value(environment, "hold_duration", defaults.duration_s)),
        )

    def ramp_deadline_s(self) -> float:
        """Longest ramp, from its start, before the hold starts regardless."""
        return self.users / self.spawn_rate + RAMP_GRACE_S


class HoldSchedule:
    """Ramp, hold, done, as a state machine over elapsed seconds; no Locust inside."""

    def __init__(self, plan: HoldPlan, start_s: float) -> None:
        self.plan = plan
        self.start_s = start_s
        self.ramp_end_s: float | None = None
        self.ramp_end_reason: str | None = None
        self.hold_end_s: float | None = None
        self.end_s: float | None = None
        self.completed = False

    def target(self, elapsed_s: float, all_running: bool) -> tuple[int, float] | None:
        """The users and spawn rate wanted now, or None once the hold is over.

        ``all_running`` says whether every user of the target is running.
        """
        if self.end_s is not None:
            return None
        if self.ramp_end_s is None:
            self._maybe_end_ramp(elapsed_s, all_running)
        if self.ramp_end_s is not None and elapsed_s >= self.ramp_end_s + self.plan.duration_s:
            self.hold_end_s = self.end_s = elapsed_s
            self.completed = True
            return None
        return self.plan.users, self.plan.spawn_rate

    def _maybe_end_ramp(self, elapsed_s: float, all_running: bool) -> None:
        if all_running:
            self.ramp_end_s, self.ramp_end_reason = elapsed_s, SPAWNED
        elif elapsed_s >= self.start_s + self.plan.ramp_deadline_s():
            self.ramp_end_s, self.ramp_end_reason = elapsed_s, DEADLINE

    def stop_at(self, elapsed_s: float) -> None:
        """Close the open phase early: the test was stopped from outside."""
        if self.end_s is not None:
            return
        self.end_s = elapsed_s
        if self.ramp_end_s is not None:
            self.hold_end_s = elapsed_s

    def as_log(self) -> dict[str, Any]:
        return {
            "plan": asdict(self.plan),
            "ramp_end_s": offset(self.ramp_end_s),
            "ramp_end_reason": self.ramp_end_reason,
            "hold_end_s": offset(self.hold_end_s),
            "hold": self._hold_log(),
            "end_s": offset(self.end_s),
            "completed": self.completed,
        }

    def _hold_log(self) -> dict[str, Any] | None:
        if self.ramp_end_s is None or self.hold_end_s is None:
            return None
        if self.hold_end_s <= self.ramp_end_s:
            return None
        return {
            "users": self.plan.users,
            "start_s": offset(self.ramp_end_s),
            "end_s": offset(self.hold_end_s),
        }


class HoldShape(LoggedShape):
    """Ramp to a fixed number of users, hold them for a set time, end.

    tick() returns ``(users, spawn_rate)``: ``--hold-users`` plus any
    fixed-count users (the probe), during both the ramp and the hold. It
    returns None, which ends the test (headless) or stops it (web UI),
    once the hold has lasted ``--hold-duration`` seconds.
    """

    def __init__(self, plan: HoldPlan | None = None) -> None:
        super().__init__()
        self.fixed_plan = plan  # None: read the options at each run's start
        self.schedule: HoldSchedule | None = None
        self.extra_users = 0

    def tick(self) -> tuple[int, float] | None:
        elapsed_s = self.get_run_time()
        schedule = self.schedule or self._plan_run(elapsed_s)
        wanted_users = schedule.plan.users + self.extra_users
        target = schedule.target(elapsed_s, self._running_users() >= wanted_users)
        if target is None:
            return None
        users, spawn_rate = target
        return users + self.extra_users, spawn_rate

    def _plan_run(self, elapsed_s: float) -> HoldSchedule:
        plan = self.fixed_plan or HoldPlan.from_environment(self.environment())
        self.schedule = HoldSchedule(plan, elapsed_s)
        self.extra_users = self.fixed_users()
        self.begin_log(elapsed_s)
        return self.schedule

    def _running_users(self) -> int:
        return 0 if self.runner is None else self.get_current_user_count()

    # LoggedShape

    def started(self) -> bool:
        return self.schedule is not None

    def stop_at(self, elapsed_s: float) -> None:
        if self.schedule is not None:
            self.schedule.stop_at(elapsed_s)

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
