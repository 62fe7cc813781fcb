"""The stress and load runners' glue on recorded data: no servers, no Locust.

A synthetic stress run (a StepShape log and a request log with known
answers) goes through the same functions that a real run's files do. The
builders here are imported by test_stress_report.py too.
"""

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bench.analysis import Request, write_request_log
from bench.arms import ARMS, PING, Cell
from bench.bottleneck import CpuMeter, CpuSample
from bench.loadgen import LoadOptions, LocustRun, locust_command
from bench.stress import (
    Cost,
    StressSettings,
    add_arguments,
    breaking_text,
    cells_from_options,
    gate_breaches,
    gate_summary,
    gate_verdict,
    hold_targets,
    hold_timing,
    hold_users_for,
    judge_load,
    judge_stress,
    load_extra,
    load_measurements,
    settings_from_options,
    shape_log_path,
    stress_measurements,
    stress_timing,
    time_series,
)

T0 = 1_000.0  # epoch seconds of the synthetic runs; small, so offsets are exact
CELL = Cell(ARMS["asgi-thread"], "bubble", 1)
HEAVY_NAME = "/async/thread/bubble/ [s1]"
PROBE_NAME = "probe /async/ping/"
STEP_S = 10.0
# (users, requests per second, latency in ms) of each step of the standard run.
STEPS = ((1, 10, 100.0), (2, 20, 100.0), (4, 21, 190.0), (8, 21, 380.0))
P95_RULE_MS = 300.0  # the 8-user step breaks it, the 4-user step does not
SLOW_AFTER_DROP_S = 2.0  # the backlog: requests sent this long after the drop are slow


# Builders -------------------------------------------------------------------------


def evenly(
    from_s: float, to_s: float, rps: float, latency_ms: float, name: str = HEAVY_NAME, ok=True
) -> list[Request]:
    """Requests sent at `rps` from `from_s` to `to_s` after T0, all taking `latency_ms`."""
    count = round((to_s - from_s) * rps)
    return [
        Request(
            start=T0 + from_s + index / rps, response_time_ms=latency_ms, name=name, ok=ok, users=1
        )
        for index in range(count)
    ]


def standard_requests(failing_step: int | None = None) -> list[Request]:
    """The standard stress run: the steps, then a slow start after the drop, then calm."""
    requests = []
    for index, (_, rps, latency_ms) in enumerate(STEPS):
        start = index * STEP_S
        requests += evenly(start, start + STEP_S, rps, latency_ms, ok=index != failing_step)
        requests += evenly(start, start + STEP_S, 1, 5.0, name=PROBE_NAME)
    drop = len(STEPS) * STEP_S
    requests += evenly(drop, drop + SLOW_AFTER_DROP_S, 2, 500.0)
    requests += evenly(drop + SLOW_AFTER_DROP_S, drop + STEP_S, 10, 100.0)
    return requests


def step_shape_log(
    users: tuple[int, ...] = tuple(step[0] for step in STEPS),
    recovery_users: int | None = 1,
    stop_reason: str = "p95",
    completed: bool = True,
) -> dict:
    """A StepShape log as locust/step_shape.py writes it."""
    steps = [
        {
            "index": index,
            "users": count,
            "start_s": index * STEP_S,
            "end_s": (index + 1) * STEP_S,
            "requests": 0,
            "failures": 0,
            "failure_ratio": 0.0,
            "p95_ms": 0.0,
            "stop_reason": "grow",
        }
        for index, count in enumerate(users)
    ]
    drop = len(users) * STEP_S
    recovery = None
    if recovery_users is not None:
        recovery = {"users": recovery_users, "start_s": drop, "end_s": drop + STEP_S}
    return {
        "shape": "StepShape",
        "t0": T0,
        "fixed_users": 1,
        "plan": {"max_users": 64},
        "steps": steps,
        "stop_reason": stop_reason,
        "drop_s": drop if recovery else None,
        "recovery": recovery,
        "end_s": drop + (STEP_S if recovery else 0.0),
        "completed": completed,
    }


def settings(**changes) -> StressSettings:
    return StressSettings(**{"p95_rule_ms": P95_RULE_MS, **changes})


def recorded_run(folder: Path, shape_log: dict | None, requests: list[Request]) -> LocustRun:
    """Locust's files for one cell as a real run leaves them, and the run's record."""
    prefix = folder / "asgi-thread_bubble_s1" / "locust"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    if shape_log is not None:
        shape_log_path(prefix).write_text(json.dumps(shape_log), encoding="utf-8")
    write_request_log(Path(f"{prefix}_requests.csv"), requests)
    return LocustRun(
        command=["locust", "-f", "locust/locustfile.py,locust/step_shape.py"],
        exit_code=0,
        duration_s=50.0,
        prefix=prefix,
        log_path=Path(f"{prefix}.log"),
        request_log=Path(f"{prefix}_requests.csv"),
    )


def fake_meter(utilisation: float, cpus_busy: float, seconds: float = 100.0) -> CpuMeter:
    """A server CPU meter that saw one CPU used evenly from T0 on, never started."""
    meter = CpuMeter(os.getpid())
    meter.cores = 1
    meter.samples = [
        CpuSample(at=T0, cpu_s=0.0, busy_s=0.0),
        CpuSample(at=T0 + seconds, cpu_s=utilisation * seconds, busy_s=cpus_busy * seconds),
    ]
    return meter


def stress_record(
    folder: Path,
    shape_log: dict | None = None,
    requests: list[Request] | None = None,
    cell: Cell = CELL,
    meter: CpuMeter | None = None,
    **setting_changes,
) -> dict:
    """A cell record as run_stress_cell builds it, from synthetic files."""
    chosen = settings(**setting_changes)
    run = recorded_run(
        folder,
        step_shape_log() if shape_log is None else shape_log,
        standard_requests() if requests is None else requests,
    )
    timing = stress_timing(chosen, Cost(seconds=0.1, samples=5), 60)
    record = {"id": cell.id, "arm": cell.arm.name, "algorithm": cell.algorithm}
    record.update(scenario=cell.scenario, status="ok", error=None, flags={})
    record.update(stress_measurements(cell, run, chosen, timing, folder, meter))
    return record


def hold_shape_log(ramp_s: float = 5.0, hold_s: float = 30.0, completed: bool = True) -> dict:
    """A HoldShape log as locust/hold_shape.py writes it."""
    return {
        "shape": "HoldShape",
        "t0": T0,
        "fixed_users": 1,
        "plan": {"users": 4, "spawn_rate": 8.0, "duration_s": hold_s},
        "ramp_end_s": ramp_s,
        "ramp_end_reason": "spawned",
        "hold_end_s": ramp_s + hold_s,
        "hold": {"users": 4, "start_s": ramp_s, "end_s": ramp_s + hold_s},
        "end_s": ramp_s + hold_s,
        "completed": completed,
    }


def hold_requests() -> list[Request]:
    """A slow ramp, then 20 requests/s whose latency doubles in the last third."""
    return (
        evenly(0.0, 5.0, 4, 500.0)
        + evenly(5.0, 25.0, 20, 100.0)
        + evenly(25.0, 35.0, 20, 200.0)
        + evenly(5.0, 35.0, 1, 5.0, name=PROBE_NAME)
    )


def load_record(
    folder: Path, shape_log: dict | None = None, cell: Cell = CELL, meter: CpuMeter | None = None
) -> dict:
    chosen = settings(hold_users=4)
    run = recorded_run(folder, shape_log or hold_shape_log(), hold_requests())
    timing = hold_timing(chosen, 4, Cost(seconds=0.1, samples=5), LoadOptions())
    record = {"id": cell.id, "arm": cell.arm.name, "algorithm": cell.algorithm}
    record.update(scenario=cell.scenario, status="ok", error=None, flags={})
    record.update(load_measurements(cell, run, chosen, timing, folder, meter))
    return record


# The stress record ------------------------------------------------------------------


def test_a_synthetic_stress_run_yields_its_known_threshold_breaking_point_and_recovery(tmp_path):
    stress = stress_record(tmp_path)["stress"]

    assert [step["users"] for step in stress["steps"]] == [1, 2, 4, 8]
    assert [round(step["throughput_rps"], 6) for step in stress["steps"]] == [10, 20, 21, 21]
    assert stress["threshold"]["users"] == 2
    assert stress["threshold"]["reached"] is True
    assert stress["breaking_point"]["users"] == 8
    assert stress["breaking_point"]["rule"] == "latency"
    assert stress["recovery"]["recovered"] is True
    assert stress["recovery"]["seconds"] == SLOW_AFTER_DROP_S
    assert stress["recovery_note"] is None


def test_the_stress_record_is_json_and_keeps_the_rules_schedule_and_timing(tmp_path):
    record = stress_record(tmp_path)

    stored = json.loads(json.dumps(record))
    assert stored["status"] == "ok"
    assert stored["stress"]["rules"]["p95_target_ms"] == P95_RULE_MS
    assert stored["stress"]["schedule"]["recovery"]["users"] == 1
    assert stored["stress"]["stop_reason"] == "p95"
    assert stored["stress"]["timing"]["step_s"] >= 5
    assert stored["files"]["shape_log"] == "asgi-thread_bubble_s1/locust_shape.json"


def test_the_probe_is_judged_apart_from_the_cells_own_requests(tmp_path):
    stress = stress_record(tmp_path)["stress"]

    # 8 counted seconds per step: only the cell's own requests count.
    assert stress["steps"][0]["count"] == 80
    assert [step["count"] for step in stress["probe_steps"]] == [8, 8, 8, 8]
    assert stress["probe_steps"][0]["p95_ms"] == 5.0


def test_a_step_with_failures_is_the_breaking_point_by_the_failure_rule(tmp_path):
    stress = stress_record(tmp_path, requests=standard_requests(failing_step=1))["stress"]

    assert stress["breaking_point"]["users"] == 2
    assert stress["breaking_point"]["rule"] == "failures"


def test_a_staircase_that_never_breaks_reports_no_breaking_point(tmp_path):
    record = stress_record(tmp_path, p95_rule_ms=10_000.0)

    assert record["stress"]["breaking_point"] is None
    assert breaking_text(record["stress"]) == "breaking point not reached up to 8 users"
    assert record["stress"]["threshold"]["users"] == 2


def test_recovery_allows_a_few_milliseconds_above_one_and_a_half_times_the_baseline():
    drop = len(STEPS) * STEP_S
    calm = [r for r in standard_requests() if r.start < T0 + drop]
    calm += evenly(drop, drop + STEP_S, 10, 158.0)  # 1.5 × 100 ms + 8 ms

    with_slack = judge_stress(step_shape_log(), calm, settings().rules())
    without = judge_stress(step_shape_log(), calm, settings().rules(recovery_slack_ms=0.0))

    assert with_slack["recovery"]["limit_ms"] == 160.0
    assert with_slack["recovery"]["seconds"] == 0.0
    assert without["recovery"]["recovered"] is False


def test_a_staircase_that_broke_at_the_recovery_load_notes_that_nothing_dropped(tmp_path):
    requests = evenly(0, STEP_S, 10, 100.0) + evenly(STEP_S, 2 * STEP_S, 10, 100.0)
    shape_log = step_shape_log(users=(1,), recovery_users=1)

    stress = stress_record(tmp_path, shape_log=shape_log, requests=requests)["stress"]

    assert stress["recovery_note"].startswith("no drop")


def test_a_run_that_ended_before_the_drop_has_no_recovery(tmp_path):
    shape_log = step_shape_log(recovery_users=None, stop_reason="test_stopped", completed=False)

    record = stress_record(tmp_path, shape_log=shape_log)

    assert record["stress"]["recovery"] is None
    assert record["stress"]["recovery_note"].startswith("no recovery phase")
    assert "test_stopped" in record["flags"]["shape_incomplete"]


def test_steps_with_few_requests_flag_the_cell(tmp_path):
    requests = [r for r in standard_requests() if r.name == PROBE_NAME or r.start < T0 + 10]
    requests += evenly(10, 40, 0.2, 4_000.0)

    record = stress_record(tmp_path, requests=requests)

    assert "few_requests" in record["flags"]
    assert "at 2 users, 4 users, 8 users:" in record["flags"]["few_requests"]


def test_a_run_without_a_shape_log_is_an_error_that_points_to_locusts_log(tmp_path):
    run = recorded_run(tmp_path, None, standard_requests())
    timing = stress_timing(settings(), Cost(0.1, 5), 60)

    record = stress_measurements(CELL, run, settings(), timing, tmp_path)

    assert record["status"] == "error"
    assert "locust_shape.json" in record["error"]
    assert str(run.log_path) in record["error"]


def test_a_run_without_the_cells_requests_is_an_error(tmp_path):
    probe_only = [r for r in standard_requests() if r.name == PROBE_NAME]

    record = stress_record(tmp_path, requests=probe_only)

    assert record["status"] == "error"
    assert "no request of the cell" in record["error"]


def test_each_step_gets_the_servers_cpu_share_in_its_counted_window(tmp_path):
    record = stress_record(tmp_path, meter=fake_meter(utilisation=0.95, cpus_busy=0.97))

    rows = record["stress"]["server_cpu_steps"]
    assert [row["index"] for row in rows] == [0, 1, 2, 3]
    assert rows[0]["utilisation"] == pytest.approx(0.95)
    assert record["server_cpu"]["cores"] == 1
    assert "cpu_not_full" not in record["flags"]
    assert "cpu_shared" not in record["flags"]


def test_a_threshold_below_full_cpu_and_a_crowded_machine_are_flagged(tmp_path):
    record = stress_record(tmp_path, meter=fake_meter(utilisation=0.5, cpus_busy=0.9))

    assert "used 50% of its 1 CPU(s)" in record["flags"]["cpu_not_full"]
    assert "other processes used up to 40%" in record["flags"]["cpu_shared"]


def test_without_a_server_of_ours_there_is_no_cpu_to_report(tmp_path):
    record = stress_record(tmp_path)

    assert record["stress"]["server_cpu_steps"] == []
    assert record["server_cpu"] is None


def test_time_series_counts_completions_by_end_and_latency_by_send_time():
    requests = [
        Request(start=T0 + 0.2, response_time_ms=1_500.0, name=HEAVY_NAME, ok=True, users=1),
        Request(start=T0 + 0.5, response_time_ms=100.0, name=HEAVY_NAME, ok=False, users=1),
        Request(start=T0 + 1.1, response_time_ms=100.0, name=HEAVY_NAME, ok=True, users=1),
    ]

    series = time_series(requests, T0, 2.0, 1.0)

    assert series["t_s"] == [0.0, 1.0]
    assert series["sent"] == [2, 1]
    assert series["failures"] == [1, 0]
    assert series["done_rps"] == [1.0, 2.0]
    assert series["p95_ms"][1] == 100.0


# Timing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cost_s", "step_s"),
    [(0.05, 5.0), (1.0, 25.0), (4.6, 30.0)],
)
def test_a_step_lasts_long_enough_for_twenty_requests_within_its_bounds(cost_s, step_s):
    timing = stress_timing(StressSettings(), Cost(cost_s, 1), 60)

    assert timing.step_s == step_s
    assert timing.steps == 7  # 1, 2, 4, ... 64


def test_a_slow_request_gets_recovery_bins_that_can_hold_three_requests():
    timing = stress_timing(StressSettings(p95_rule_ms=10_000.0), Cost(4.6, 1), 60)

    assert timing.recovery_bin_s == 21.0  # 3 × 4.6 s × 1.5, rounded up
    assert timing.recovery_s == 60.0  # four bins would take 84 s; capped
    assert timing.stop_timeout_s == 589  # 2 × 64 users × 4.6 s


def test_a_request_slower_than_the_p95_rule_alone_gets_the_shortest_recovery():
    # The first step breaks the rule, and one user has nowhere to drop to.
    timing = stress_timing(StressSettings(p95_rule_ms=1_000.0), Cost(4.6, 1), 60)

    assert timing.recovery_s == 10.0


def test_a_recovery_window_too_short_to_confirm_is_not_called_a_failure_to_recover():
    rules = settings().rules(recovery_bin_s=5.0)  # three good bins need 15 s

    stress = judge_stress(step_shape_log(), standard_requests(), rules)

    assert stress["recovery"]["recovered"] is False
    assert stress["recovery_note"].startswith("window too short")


def test_a_fast_request_keeps_the_shortest_recovery_and_stop_timeout():
    timing = stress_timing(StressSettings(), Cost(0.002, 5), 60)

    assert (timing.recovery_bin_s, timing.recovery_s, timing.stop_timeout_s) == (1.0, 10.0, 60)


def test_given_step_and_recovery_durations_replace_the_cost_rule():
    chosen = StressSettings(step_duration_s=3.0, recovery_duration_s=4.0)

    timing = stress_timing(chosen, Cost(4.6, 1), 60)

    assert (timing.step_s, timing.recovery_s) == (3.0, 4.0)


def test_users_start_fast_enough_to_run_before_a_steps_settle_time_ends():
    timing = stress_timing(StressSettings(), Cost(0.05, 5), 60)

    # The largest jump is 32 → 64 users; 20 % of a 5 s step is 1 s.
    assert timing.spawn_rate == 32.0


def test_the_ladder_doubles_or_adds_up_to_the_ceiling():
    assert StressSettings(max_users=64).ladder() == [1, 2, 4, 8, 16, 32, 64]
    adding = StressSettings(start_users=2, growth="add", increment=4, max_users=13)
    assert adding.ladder() == [2, 6, 10, 13]


def test_a_hold_is_binned_for_ten_requests_of_one_user_and_three_bins_at_least():
    fast = hold_timing(StressSettings(hold_duration_s=60), 4, Cost(0.05, 5), LoadOptions())
    slow = hold_timing(StressSettings(hold_duration_s=60), 1, Cost(4.6, 1), LoadOptions())

    assert fast.bin_s == 5.0
    assert slow.bin_s == 20.0


# Load ---------------------------------------------------------------------------------


def test_a_load_record_keeps_the_ramp_apart_and_measures_the_drift(tmp_path):
    load = load_record(tmp_path)["load"]
    summary = load["summary"]

    assert summary["ramp"]["count"] == 20
    assert summary["ramp"]["p95_ms"] == 500.0
    assert summary["hold"]["count"] == 600
    assert summary["mean_rps"] == pytest.approx(20.0)
    assert summary["p95_first_third_ms"] == 100.0
    assert summary["p95_last_third_ms"] == 200.0
    assert summary["p95_drift_ratio"] == pytest.approx(2.0)
    assert load["probe"]["count"] == 30


def test_a_load_run_that_never_held_is_an_error(tmp_path):
    shape_log = {**hold_shape_log(), "hold": None, "completed": False}

    with pytest.raises(ValueError, match="stopped during the ramp"):
        judge_load(shape_log, hold_requests(), settings().rules())

    assert load_record(tmp_path, shape_log=shape_log)["status"] == "error"


def stress_results(tmp_path: Path, cells: list[dict], kind: str = "stress") -> Path:
    folder = tmp_path / "stress-run"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"kind": kind, "cells": cells}))
    return folder


def test_hold_targets_take_each_cells_threshold_or_say_why_not(tmp_path):
    reached = {"users": 4, "reached": True, "throughput_rps": 9.0, "p95_ms": 80.0}
    growing = {**reached, "users": 64, "reached": False}
    run = stress_results(
        tmp_path,
        [
            {"id": "wsgi-sync/bubble/s1", "status": "ok", "stress": {"threshold": reached}},
            {"id": "wsgi-sync/bubble/s2", "status": "ok", "stress": {"threshold": growing}},
            {"id": "asgi-thread/bubble/s1", "status": "error", "error": "port in use"},
        ],
    )

    targets = hold_targets(run)

    assert targets["wsgi-sync/bubble/s1"]["users"] == 4
    assert targets["wsgi-sync/bubble/s2"]["users"] is None
    assert "still grew at 64 users" in targets["wsgi-sync/bubble/s2"]["reason"]
    assert targets["asgi-thread/bubble/s1"]["users"] is None


def test_hold_targets_refuse_a_run_of_another_kind_or_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="not a stress run"):
        hold_targets(stress_results(tmp_path, [], kind="fixed"))
    with pytest.raises(ValueError, match="cannot read a run"):
        hold_targets(tmp_path / "nowhere")


def test_a_load_cell_holds_the_given_users_or_the_stress_threshold_or_is_skipped():
    given = settings(hold_users=6)
    from_run = settings(from_stress="runs/s")
    extra = {
        "hold_targets": {
            CELL.id: {"users": 3, "reason": None},
            "wsgi-sync/bubble/s1": {"users": None, "reason": "no threshold: ..."},
        }
    }

    assert hold_users_for(CELL, {}, given) == (6, "--hold-users")
    assert hold_users_for(CELL, extra, from_run) == (3, "threshold of runs/s")
    users, why = hold_users_for(Cell(ARMS["wsgi-sync"], "bubble", 1), extra, from_run)
    assert users is None and why.startswith("skipped: no threshold")
    users, why = hold_users_for(Cell(ARMS["wsgi-sync"], "bubble", 2), extra, from_run)
    assert users is None and "has no cell wsgi-sync/bubble/s2" in why


# Options ---------------------------------------------------------------------------------


def parsed(*args: str, environment: dict | None = None) -> dict:
    """The stress and load options parsed as the bench command parses them."""
    parser = argparse.ArgumentParser()
    environment = environment or {}
    add_arguments(parser.add_argument, lambda name, default: environment.get(name, default))
    options = vars(parser.parse_args(list(args)))
    options.update(arms=["wsgi-sync", "asgi-thread"], algorithms=["bubble"], scenarios=[1, 2])
    return options


def test_the_options_default_to_automatic_step_and_recovery_lengths():
    options = parsed()

    assert options["step_duration"] is None
    assert options["recovery_duration"] is None
    assert options["step_max_users"] == 64
    assert options["p95_target_ms"] is None


def test_the_options_read_their_environment_fallbacks_and_the_word_auto():
    options = parsed("--step-duration", "auto", environment={"step_max_users": "16"})

    assert options["step_max_users"] == 16
    assert options["step_duration"] is None


def test_a_bad_option_value_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        parsed("--step-growth", "triple")

    assert "--step-growth" in capsys.readouterr().err


def test_a_p95_target_becomes_the_stress_runs_latency_rule():
    chosen = settings_from_options(parsed("--p95-rule-ms", "2000", "--p95-target-ms", "800"))

    assert chosen.p95_rule_ms == 800.0
    assert chosen.rules().p95_target_ms == 800.0


def test_a_ceiling_below_the_first_step_is_refused_by_name():
    with pytest.raises(ValueError, match="--step-max-users"):
        settings_from_options(parsed("--step-start-users", "8", "--step-max-users", "4"))


def test_a_load_run_needs_exactly_one_source_of_users():
    with pytest.raises(ValueError, match="exactly one of --hold-users N and --from-stress"):
        load_extra(parsed())

    assert load_extra(parsed("--hold-users", "3"))["settings"]["hold_users"] == 3


def test_stress_and_load_cells_leave_out_the_ping_cells():
    cells = cells_from_options(parsed())

    assert [cell.id for cell in cells] == [
        "wsgi-sync/bubble/s1",
        "wsgi-sync/bubble/s2",
        "asgi-thread/bubble/s1",
        "asgi-thread/bubble/s2",
    ]
    assert all(cell.algorithm != PING for cell in cells)


def test_a_shaped_locust_command_leaves_users_and_run_time_to_the_shape():
    command = locust_command(CELL, "http://x", Path("/p"), LoadOptions(), shape="locust/s.py")

    assert command[command.index("-f") + 1] == "locust/locustfile.py,locust/s.py"
    for flag in ("--users", "--spawn-rate", "--run-time"):
        assert flag not in command
    assert command[command.index("--stop-timeout") + 1] == "60"


def test_the_settings_survive_the_round_trip_through_results_json():
    chosen = settings(hold_users=2, step_duration_s=7.0)

    assert StressSettings(**json.loads(json.dumps(asdict(chosen)))) == chosen


# Gate -----------------------------------------------------------------------------------


def test_a_fixed_cell_breaks_the_gate_when_its_p95_is_above_the_target():
    cell = {"id": "a", "status": "ok", "stats": {"p95_ms": 900}}

    assert gate_verdict("fixed", cell, 800) == "p95 900 ms"
    assert gate_verdict("fixed", cell, 900) is None


def test_a_load_cell_breaks_the_gate_by_the_p95_of_its_hold(tmp_path):
    cell = load_record(tmp_path)

    assert gate_verdict("load", cell, 150.0) == "p95 200 ms"
    assert gate_verdict("load", cell, 250.0) is None


def test_a_stress_cell_breaks_the_gate_only_by_the_latency_rule(tmp_path):
    by_latency = stress_record(tmp_path / "a")
    by_failures = stress_record(tmp_path / "b", requests=standard_requests(failing_step=0))

    assert gate_verdict("stress", by_latency, P95_RULE_MS) == "p95 380 ms at 8 users"
    assert gate_verdict("stress", by_latency, 1_000.0) is None
    assert gate_verdict("stress", by_failures, P95_RULE_MS) is None


def test_a_failed_cell_breaks_the_gate_and_a_skipped_one_does_not():
    failed = {"id": "f", "status": "error", "error": "port in use"}
    skipped = {"id": "s", "status": "skipped", "error": "skipped: no threshold"}

    assert gate_verdict("load", failed, 800) == "not measured: port in use"
    assert gate_verdict("load", skipped, 800) is None


def test_the_gate_summary_names_every_breaking_cell_on_one_line():
    results = {
        "kind": "fixed",
        "cells": [
            {"id": "a", "status": "ok", "stats": {"p95_ms": 1200}},
            {"id": "b", "status": "ok", "stats": {"p95_ms": 100}},
            {"id": "c", "status": "ok", "stats": {"p95_ms": 801}},
        ],
    }

    breaches = gate_breaches(results, 800)
    line = gate_summary(breaches, 3, 800)

    assert breaches == ["a (p95 1,200 ms)", "c (p95 801 ms)"]
    assert line == "p95 target 800 ms broken by 2 of 3 cells: a (p95 1,200 ms); c (p95 801 ms)"
    assert "\n" not in line


def test_the_command_writes_the_report_then_fails_when_a_cell_breaks_the_target(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cell = stress_record(run)
    results = {"kind": "stress", "status": "complete", "cells": [cell], "failures": []}
    (run / "results.json").write_text(json.dumps(results))
    report = tmp_path / "benchmarks.md"
    common = ["--render", str(run), "--report", str(report), "--charts-dir", str(tmp_path / "c")]

    with pytest.raises(CommandError, match="broken by 1 of 1 cells: asgi-thread/bubble/s1"):
        call_command("bench", *common, "--p95-target-ms", "300")

    assert "<!-- bench:start:stress -->" in report.read_text()
    call_command("bench", *common, "--p95-target-ms", "500")
