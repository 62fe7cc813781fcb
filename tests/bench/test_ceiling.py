"""The in-process ceiling: jobs of a plan, timing summaries, the pinned subprocess."""

import json
import sys

import pytest

from bench import ceiling
from bench.arms import ARMS, PING, Cell, plan_cells
from bench.ceiling import (
    ceiling_command,
    ceiling_rps,
    job_key,
    jobs_for,
    measure_ceiling,
    summarize_times,
    time_job,
    work_ms,
)
from bench.machine import available_cpus


def test_jobs_for_a_plan_are_its_distinct_algorithm_and_scenario_pairs_without_ping():
    cells = plan_cells(["wsgi-sync", "asgi-process"], ["bubble", "builtin"], [1, 2])

    jobs = jobs_for(cells)

    assert jobs == {
        "bubble/s1": ("bubble", 1_000, 5_000),
        "bubble/s2": ("bubble", 10_000, 50_000),
        "builtin/s1": ("builtin", 1_000, 5_000),
        "builtin/s2": ("builtin", 10_000, 50_000),
    }


def test_a_plan_of_ping_cells_only_has_no_job_to_time():
    assert jobs_for([Cell(ARMS["asgi-thread"], PING, None)]) == {}


def test_timings_are_summarized_in_milliseconds_with_the_cpu_median_apart():
    summary = summarize_times(wall_s=[0.030, 0.010, 0.020], cpu_s=[0.009, 0.011, 0.040])

    assert summary["median_ms"] == pytest.approx(20.0)
    assert summary["min_ms"] == pytest.approx(10.0)
    assert summary["max_ms"] == pytest.approx(30.0)
    assert summary["cpu_median_ms"] == pytest.approx(11.0)
    assert summary["count"] == 3


def test_the_work_of_one_request_is_its_cpu_median_not_its_wall_median():
    job = {"median_ms": 80.0, "cpu_median_ms": 40.0}

    assert work_ms(job) == 40.0
    assert work_ms(None) is None


@pytest.mark.parametrize(
    ("median_ms", "cores", "expected"),
    [(50.0, 1, 20.0), (50.0, 3, 60.0), (None, 1, None), (50.0, None, None), (0.0, 2, None)],
)
def test_the_ceiling_rps_is_the_cores_over_the_time_of_one_request(median_ms, cores, expected):
    assert ceiling_rps(median_ms, cores) == (None if expected is None else pytest.approx(expected))


def test_the_command_names_every_job_and_the_repetitions():
    command = ceiling_command({job_key("bubble", 1): ("bubble", 1_000, 5_000)}, 7, 2)

    assert command[:3] == [sys.executable, "-m", "bench.ceiling"]
    assert command[command.index("--repeats") + 1] == "7"
    assert command[command.index("--warm-ups") + 1] == "2"
    assert command[command.index("--job") + 1] == "bubble:1000:5000"


def test_a_job_runs_exactly_its_repeats_when_no_minimum_time_is_asked(monkeypatch):
    monkeypatch.setattr(ceiling, "MIN_TIMED_S", 0.0)

    summary = time_job("builtin", 20, 100, repeats=3, warm_ups=1)

    assert summary["count"] == 3
    assert summary["median_ms"] > 0


def test_a_quick_job_is_repeated_past_its_repeats_until_the_minimum_time(monkeypatch):
    monkeypatch.setattr(ceiling, "MIN_TIMED_S", 0.05)

    summary = time_job("builtin", 20, 100, repeats=2, warm_ups=0)

    assert summary["count"] > 2


def test_the_subprocess_entry_point_prints_its_cpus_and_one_timing_per_job(capsys, monkeypatch):
    monkeypatch.setattr(ceiling, "MIN_TIMED_S", 0.0)

    code = ceiling.main(["--job", "builtin:30:90", "--job", "bubble:30:90", "--repeats", "2"])

    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed["cpus"] == available_cpus()
    assert set(printed["jobs"]) == {"builtin:30:90", "bubble:30:90"}
    assert printed["jobs"]["bubble:30:90"]["count"] == 2


def test_no_jobs_need_no_subprocess(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no subprocess expected")

    monkeypatch.setattr(ceiling.subprocess, "run", refuse)

    record = measure_ceiling({}, (0,))

    assert (record["status"], record["jobs"]) == ("ok", {})


def test_a_failing_subprocess_gives_an_error_record_not_an_exception(monkeypatch):
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"]
    monkeypatch.setattr(ceiling, "ceiling_command", lambda *args: failing)

    record = measure_ceiling({"bubble/s1": ("bubble", 10, 10)}, ())

    assert record["status"] == "error"
    assert "exit code 3: boom" in record["error"]
    assert record["jobs"] == {}


@pytest.mark.slow
def test_the_ceiling_subprocess_pinned_to_one_cpu_times_a_tiny_job_there():
    cpu = available_cpus()[-1]

    record = measure_ceiling({"bubble/s1": ("bubble", 50, 500)}, (cpu,), repeats=3, warm_ups=1)

    assert record["status"] == "ok", record["error"]
    assert record["cpus"] == [cpu]
    job = record["jobs"]["bubble/s1"]
    assert job["count"] >= 3
    assert 0 < job["min_ms"] <= job["median_ms"] <= job["max_ms"]
    assert job["cpu_median_ms"] > 0
