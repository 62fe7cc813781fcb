"""StepShape.tick() under a hand-moved clock, and its schedule log."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

PROBE = SimpleNamespace(fixed_count=1)
WORKER_CLASS = SimpleNamespace(fixed_count=0)


def make_shape(step_shape: Any, runner: Any, clock: Any, **plan: Any) -> Any:
    settings = {"duration_s": 10.0, "spawn_rate": 5.0, "recovery_duration_s": 20.0, **plan}
    shape = step_shape.StepShape(step_shape.StepPlan(**settings))
    shape.runner = runner
    shape.get_run_time = clock
    return shape


def ticks(shape: Any, clock: Any, times: list[float]) -> list[Any]:
    results = []
    for now in times:
        clock.now = now
        results.append(shape.tick())
    return results


def test_doubling_steps_then_recovery_then_none(step_shape, make_runner, clock):
    shape = make_shape(step_shape, make_runner(), clock, start_users=1, max_users=8)

    results = ticks(shape, clock, [0, 9.9, 10, 20, 30, 39.9, 40, 59.9, 60])

    # The ceiling step (8) runs fully; the drop sheds 7 users at once.
    assert results == [
        (1, 5.0),
        (1, 5.0),
        (2, 5.0),
        (4, 5.0),
        (8, 5.0),
        (8, 5.0),
        (1, 7.0),
        (1, 7.0),
        None,
    ]
    assert [step.stop_reason for step in shape.schedule.steps] == ["grow"] * 3 + ["ceiling"]
    assert shape.schedule.completed


def test_additive_steps_stop_at_the_ceiling(step_shape, make_runner, clock):
    shape = make_shape(
        step_shape, make_runner(), clock, start_users=2, growth="add", increment=3, max_users=10
    )

    results = ticks(shape, clock, [0, 10, 20, 30, 40])

    assert [result[0] for result in results] == [2, 5, 8, 10, 1]
    assert shape.schedule.stop_reason == "ceiling"


def test_step_ends_on_its_own_failure_ratio_not_the_runs(step_shape, make_runner, clock):
    runner = make_runner()
    totals = runner.stats.total
    shape = make_shape(step_shape, runner, clock, start_users=1, max_users=64)
    clock.now = 0
    shape.tick()

    totals.add(50, 100)  # step 0: 100 requests, no failure
    clock.now = 10
    assert shape.tick() == (2, 5.0)
    totals.add(50, 100, failures=2)  # step 1: 2 % failed; the run only 1 %
    clock.now = 20

    assert shape.tick() == (1, 5.0)
    last = shape.schedule.steps[-1]
    assert (last.stats.requests, last.stats.failures) == (100, 2)
    assert last.stop_reason == "failure_ratio"
    assert shape.schedule.drop_s == 20


def test_failure_ratio_at_the_limit_does_not_stop(step_shape, make_runner, clock):
    runner = make_runner()
    shape = make_shape(step_shape, runner, clock, max_failure_ratio=0.01)
    clock.now = 0
    shape.tick()
    runner.stats.total.add(50, 100, failures=1)

    clock.now = 10

    assert shape.tick() == (2, 5.0)


def test_step_ends_when_its_p95_breaks_the_target(step_shape, make_runner, clock):
    runner = make_runner()
    totals = runner.stats.total
    shape = make_shape(step_shape, runner, clock, p95_target_ms=500)
    clock.now = 0
    shape.tick()
    totals.add(100, 100)
    clock.now = 10
    shape.tick()

    totals.add(100, 90)
    totals.add(900, 10)
    clock.now = 20
    shape.tick()

    step = shape.schedule.steps[1]
    assert step.stats.p95_ms == 900
    assert step.stop_reason == "p95"


def test_the_probes_quick_requests_do_not_hide_a_slow_step(step_shape, make_runner, clock):
    runner = make_runner()
    totals = runner.stats.total
    probe = type(totals)()  # the probe's own entry, also counted in the totals
    runner.stats.entries = {("probe /sync/ping/", "GET"): probe}
    shape = make_shape(step_shape, runner, clock, p95_target_ms=500)
    clock.now = 0
    shape.tick()
    totals.add(900, 10)
    totals.add(5, 190)
    probe.add(5, 190)

    clock.now = 10
    shape.tick()

    step = shape.schedule.steps[0]
    assert (step.stats.requests, step.stats.p95_ms) == (10, 900)
    assert step.stop_reason == "p95"


def test_p95_rule_is_off_at_zero(step_shape, make_runner, clock):
    runner = make_runner()
    shape = make_shape(step_shape, runner, clock, p95_target_ms=0)
    clock.now = 0
    shape.tick()
    runner.stats.total.add(60_000, 10)

    clock.now = 10

    assert shape.tick() == (2, 5.0)


def test_stats_reset_inside_a_step_counts_from_the_reset(step_shape, make_runner, clock):
    runner = make_runner()
    totals = runner.stats.total
    totals.add(50, 500, failures=500)  # an earlier run's stats, then Locust resets
    shape = make_shape(step_shape, runner, clock)
    clock.now = 0
    shape.tick()
    totals.reset()
    totals.add(50, 40)

    clock.now = 10
    shape.tick()

    step = shape.schedule.steps[0]
    assert (step.stats.requests, step.stats.failures) == (40, 0)


def test_fixed_count_users_come_on_top(step_shape, make_runner, clock):
    runner = make_runner([WORKER_CLASS, PROBE])
    shape = make_shape(step_shape, runner, clock, start_users=2, max_users=4, recovery_users=1)

    results = ticks(shape, clock, [0, 10, 20, 40])

    assert results == [(3, 5.0), (5, 5.0), (2, 5.0), None]


def test_shape_log_lists_steps_drop_and_recovery(step_shape, make_runner, clock, tmp_path):
    path = tmp_path / "logs" / "shape.json"
    runner = make_runner([PROBE], shape_log=str(path))
    shape = make_shape(step_shape, runner, clock, start_users=1, max_users=2)
    ticks(shape, clock, [0, 10, 20, 40])

    runner.environment.events.test_stop.fire(environment=runner.environment)

    log = json.loads(path.read_text())
    assert [(s["users"], s["start_s"], s["end_s"], s["stop_reason"]) for s in log["steps"]] == [
        (1, 0, 10, "grow"),
        (2, 10, 20, "ceiling"),
    ]
    assert log["recovery"] == {"users": 1, "start_s": 20, "end_s": 40}
    assert (log["stop_reason"], log["drop_s"], log["end_s"]) == ("ceiling", 20, 40)
    assert log["completed"] is True
    assert log["fixed_users"] == 1
    assert log["shape"] == "StepShape"
    assert isinstance(log["t0"], float)
    assert log["plan"]["max_users"] == 2


def test_a_test_stopped_mid_step_logs_the_cut_step(step_shape, make_runner, clock, tmp_path):
    path = tmp_path / "shape.json"
    runner = make_runner(shape_log=str(path))
    shape = make_shape(step_shape, runner, clock)
    ticks(shape, clock, [0, 10])
    runner.stats.total.add(80, 7)

    clock.now = 14.5
    runner.environment.events.test_stop.fire(environment=runner.environment)

    log = json.loads(path.read_text())
    assert log["steps"][-1]["end_s"] == 14.5
    assert log["steps"][-1]["requests"] == 7
    assert log["steps"][-1]["stop_reason"] == "test_stopped"
    assert (log["recovery"], log["completed"]) == (None, False)


def test_next_run_plans_afresh_after_a_stop(step_shape, make_runner, clock):
    runner = make_runner()
    shape = make_shape(step_shape, runner, clock, start_users=1, max_users=4)
    ticks(shape, clock, [0, 10, 20])
    runner.environment.events.test_stop.fire(environment=runner.environment)

    clock.now = 0

    assert shape.tick() == (1, 5.0)


def test_plan_comes_from_the_options_when_not_given(step_shape, make_runner, clock):
    runner = make_runner(
        step_start_users=3,
        step_growth="add",
        step_increment=2,
        step_duration=5.0,
        step_max_users=7,
        step_spawn_rate=3.0,
    )
    shape = step_shape.StepShape()
    shape.runner = runner
    shape.get_run_time = clock

    results = ticks(shape, clock, [0, 5, 10])

    assert results == [(3, 3.0), (5, 3.0), (7, 3.0)]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"start_users": 4, "max_users": 2},
            "--step-max-users must be >= --step-start-users (4), got 2",
        ),
        ({"duration_s": 0}, "--step-duration must be > 0, got 0"),
        ({"growth": "triple"}, "--step-growth must be double or add, got 'triple'"),
        ({"max_failure_ratio": 1.5}, "--step-max-failure-ratio must be from 0 to 1, got 1.5"),
    ],
)
def test_plan_rejects_bad_settings_naming_the_option(step_shape, settings, message):
    with pytest.raises(ValueError) as error:
        step_shape.StepPlan(**settings)

    assert str(error.value) == message


@given(
    start=st.integers(1, 20),
    growth=st.sampled_from(["double", "add"]),
    increment=st.integers(1, 10),
    ceiling_extra=st.integers(0, 200),
)
def test_staircase_grows_strictly_and_ends_at_the_ceiling(
    step_shape, start, growth, increment, ceiling_extra
):
    plan = step_shape.StepPlan(
        start_users=start,
        growth=growth,
        increment=increment,
        max_users=start + ceiling_extra,
        duration_s=1.0,
    )
    schedule = step_shape.StepSchedule(plan, 0.0)
    now = 0.0
    while schedule.phase == step_shape.STEPPING:
        now += 1.0
        schedule.end_step(now, step_shape.StepStats(requests=10))

    users = [step.users for step in schedule.steps]
    assert users == sorted(set(users))
    assert users[-1] == plan.max_users
    assert all(b.start_s == a.end_s for a, b in itertools.pairwise(schedule.steps))
