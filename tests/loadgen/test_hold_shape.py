"""HoldShape.tick() under a hand-moved clock, and its schedule log."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

PROBE = SimpleNamespace(fixed_count=1)


def make_shape(hold_shape: Any, runner: Any, clock: Any, **plan: Any) -> Any:
    settings = {"users": 4, "spawn_rate": 2.0, "duration_s": 10.0, **plan}
    shape = hold_shape.HoldShape(hold_shape.HoldPlan(**settings))
    shape.runner = runner
    shape.get_run_time = clock
    return shape


def tick_at(shape: Any, clock: Any, now: float, running: int) -> Any:
    clock.now = now
    shape.runner.user_count = running
    return shape.tick()


def test_ramp_then_hold_then_none(hold_shape, make_runner, clock):
    shape = make_shape(hold_shape, make_runner(), clock)

    assert tick_at(shape, clock, 0, running=0) == (4, 2.0)
    assert tick_at(shape, clock, 1, running=2) == (4, 2.0)
    assert tick_at(shape, clock, 2, running=4) == (4, 2.0)
    assert tick_at(shape, clock, 11.9, running=4) == (4, 2.0)
    assert tick_at(shape, clock, 12, running=4) is None
    assert (shape.schedule.ramp_end_s, shape.schedule.hold_end_s) == (2, 12)
    assert shape.schedule.ramp_end_reason == "spawned"


def test_ramp_time_does_not_count_toward_the_hold(hold_shape, make_runner, clock):
    shape = make_shape(hold_shape, make_runner(), clock, duration_s=10.0)
    tick_at(shape, clock, 0, running=0)
    tick_at(shape, clock, 5, running=4)  # a slow ramp: 5 s

    assert tick_at(shape, clock, 10, running=4) == (4, 2.0)
    assert tick_at(shape, clock, 15, running=4) is None


def test_hold_starts_at_the_deadline_if_users_never_all_run(hold_shape, make_runner, clock):
    shape = make_shape(hold_shape, make_runner(), clock, users=4, spawn_rate=2.0)
    deadline = 4 / 2.0 + hold_shape.RAMP_GRACE_S

    tick_at(shape, clock, 0, running=0)
    tick_at(shape, clock, deadline - 0.1, running=3)
    tick_at(shape, clock, deadline, running=3)

    assert shape.schedule.ramp_end_s == deadline
    assert shape.schedule.ramp_end_reason == "deadline"


def test_fixed_count_users_come_on_top_and_must_be_running(hold_shape, make_runner, clock):
    shape = make_shape(hold_shape, make_runner([PROBE]), clock, users=4)

    assert tick_at(shape, clock, 0, running=0) == (5, 2.0)
    tick_at(shape, clock, 1, running=4)
    assert shape.schedule.ramp_end_s is None
    tick_at(shape, clock, 2, running=5)
    assert shape.schedule.ramp_end_s == 2


def test_shape_log_gives_ramp_end_and_hold_end(hold_shape, make_runner, clock, tmp_path):
    path = tmp_path / "shape.json"
    runner = make_runner([PROBE], shape_log=str(path))
    shape = make_shape(hold_shape, runner, clock, users=2, duration_s=3.0)
    tick_at(shape, clock, 0, running=0)
    tick_at(shape, clock, 1, running=3)
    tick_at(shape, clock, 4, running=3)

    runner.environment.events.test_stop.fire(environment=runner.environment)

    log = json.loads(path.read_text())
    assert (log["ramp_end_s"], log["hold_end_s"], log["end_s"]) == (1, 4, 4)
    assert log["hold"] == {"users": 2, "start_s": 1, "end_s": 4}
    assert log["completed"] is True
    assert log["fixed_users"] == 1
    assert log["plan"] == {"users": 2, "spawn_rate": 2.0, "duration_s": 3.0}
    assert log["shape"] == "HoldShape"


def test_a_test_stopped_mid_hold_logs_where_it_stopped(hold_shape, make_runner, clock, tmp_path):
    path = tmp_path / "shape.json"
    runner = make_runner(shape_log=str(path))
    shape = make_shape(hold_shape, runner, clock)
    tick_at(shape, clock, 0, running=0)
    tick_at(shape, clock, 2, running=4)

    clock.now = 6.5
    runner.environment.events.test_stop.fire(environment=runner.environment)

    log = json.loads(path.read_text())
    assert (log["ramp_end_s"], log["hold_end_s"], log["completed"]) == (2, 6.5, False)


def test_a_test_stopped_during_the_ramp_has_no_hold(hold_shape, make_runner, clock, tmp_path):
    path = tmp_path / "shape.json"
    runner = make_runner(shape_log=str(path))
    shape = make_shape(hold_shape, runner, clock)
    tick_at(shape, clock, 0, running=0)

    clock.now = 1
    runner.environment.events.test_stop.fire(environment=runner.environment)

    log = json.loads(path.read_text())
    assert (log["ramp_end_s"], log["hold"], log["end_s"]) == (None, None, 1)


def test_plan_comes_from_the_options_when_not_given(hold_shape, make_runner, clock):
    runner = make_runner(hold_users=6, hold_spawn_rate=3.0, hold_duration=1.0)
    shape = hold_shape.HoldShape()
    shape.runner = runner
    shape.get_run_time = clock

    assert tick_at(shape, clock, 0, running=0) == (6, 3.0)
    assert tick_at(shape, clock, 2, running=6) == (6, 3.0)
    assert tick_at(shape, clock, 3, running=6) is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"users": 0}, "--hold-users must be >= 1, got 0"),
        ({"spawn_rate": -1.0}, "--hold-spawn-rate must be > 0, got -1.0"),
        ({"duration_s": 0.0}, "--hold-duration must be > 0, got 0.0"),
    ],
)
def test_plan_rejects_bad_settings_naming_the_option(hold_shape, settings, message):
    with pytest.raises(ValueError) as error:
        hold_shape.HoldPlan(**settings)

    assert str(error.value) == message
