"""One short, real stress run: a real server, real Locust, the whole record."""

from dataclasses import asdict

import psutil
import pytest

from bench.arms import ARMS, Cell
from bench.loadgen import LoadOptions
from bench.runner import RunPlan, run_plan
from bench.servers import ServerOptions
from bench.stress import StressSettings, finish_stress_plan, run_stress_cell

# A cheap cell, so that the server saturates within a few users: steps of
# 1, 2 and 4 users, then a short recovery; about 15-20 s in all.
CELL = Cell(ARMS["asgi-thread"], "builtin", 1)
SETTINGS = StressSettings(
    max_users=4,
    step_duration_s=2.5,
    recovery_duration_s=3.0,
    p95_rule_ms=2_000.0,
)


def running_children() -> set[int]:
    children = psutil.Process().children(recursive=True)
    return {child.pid for child in children if child.is_running()}


@pytest.mark.slow
def test_a_short_stress_run_on_a_real_server_finds_a_threshold_and_stops_everything(tmp_path):
    before = running_children()
    plan = RunPlan(
        cells=[CELL],
        server=ServerOptions(),
        load=LoadOptions(stop_timeout_s=10),
        run_dir=tmp_path,
        kind="stress",
        extra={"settings": asdict(SETTINGS)},
    )

    results = run_plan(finish_stress_plan(plan), run_stress_cell)

    (record,) = results["cells"]
    assert record["status"] == "ok", record["error"]
    stress = record["stress"]
    assert [step["users"] for step in stress["steps"]] == [1, 2, 4]
    assert all(step["count"] > 0 for step in stress["steps"])
    assert stress["threshold"] is not None
    assert stress["threshold"]["users"] in (1, 2, 4)
    assert stress["completed"] is True
    assert stress["schedule"]["recovery"]["users"] == 1
    assert stress["recovery"] is not None
    assert stress["timing"]["cost_samples"] >= 1
    assert "--step-max-users" in record["locust_command"]
    assert "--users" not in record["locust_command"].split()
    assert "cut_off" not in record["flags"]
    assert running_children() <= before
