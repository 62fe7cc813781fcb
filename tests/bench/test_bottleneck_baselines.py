"""Once per run: the ceiling and the idle probe; the bounded arms' server options."""

import contextlib
import csv
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bench import bottleneck
from bench.analysis import Request, write_request_log
from bench.arms import ARMS, BOUND_PER_SLOT, PING, Cell, plan_cells
from bench.loadgen import LoadOptions, LocustRun, locust_command
from bench.runner import RunPlan, Target
from bench.servers import ServerError, ServerOptions, arm_options, server_env

STATS_HEADER = ["Type", "Name", "Request Count", "Failure Count", "Requests/s", "50%", "95%"]


def plan(tmp_path: Path, arms=("wsgi-sync", "asgi-process"), **values) -> RunPlan:
    options = {"ceiling_repeats": 3, "idle_probe_s": 4, **values}
    return RunPlan(
        cells=plan_cells(list(arms), ["bubble"], [1, 2]),
        server=ServerOptions(cpus=(0,)),
        load=LoadOptions(run_time_s=15, probe_rate=2.0),
        run_dir=tmp_path,
        **options,
    )


def write_probe_stats(prefix: Path, path: str, p95_ms: int) -> None:
    with open(f"{prefix}_stats.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(STATS_HEADER)
        writer.writerow(["GET", f"probe {path}", "8", "0", "2.0", "3", str(p95_ms)])


@pytest.fixture
def fakes(monkeypatch):
    """Record what the baselines start, and answer for Locust and the ceiling."""
    seen = {"served": [], "commands": [], "ceiling": []}

    @contextlib.contextmanager
    def serving(cell, plan, folder):
        seen["served"].append((cell.id, folder.name))
        yield Target(f"http://127.0.0.1:9/{cell.arm.name}")

    def run_locust(command, prefix, options):
        seen["commands"].append((command, options.run_time_s))
        ping_path = command[command.index("--probe-mode") + 1]
        write_probe_stats(prefix, ping_path, p95_ms=7)
        write_request_log(
            f"{prefix}_requests.csv",
            [
                Request(100.0 + i / 2, 30.0 if i == 0 else 2.0, f"probe {ping_path}", True, 1)
                for i in range(8)
            ],
        )
        return LocustRun(command, 0, 5.0, prefix, Path(f"{prefix}.log"), Path("requests.csv"))

    def measure_ceiling(jobs, cpus, repeats):
        seen["ceiling"].append((jobs, cpus, repeats))
        return {"status": "ok", "error": None, "cpus": list(cpus), "jobs": {}}

    monkeypatch.setattr(bottleneck, "run_locust", run_locust)
    monkeypatch.setattr(bottleneck, "measure_ceiling", measure_ceiling)
    seen["serving"] = serving
    return seen


def test_the_probe_alone_runs_one_probe_user_tagged_probe_against_the_arms_ping():
    cell = Cell(ARMS["asgi-thread"], PING, None)

    command = locust_command(
        cell, "http://127.0.0.1:9", Path("/run/x"), LoadOptions(), probe_only=True
    )

    assert command[command.index("--users") + 1] == "1"
    assert command[command.index("--tags") + 1 : command.index("--csv")] == ["probe"]
    assert command[command.index("--probe-mode") + 1] == "/async/ping/"
    assert command[-2:] == ["--", "ProbeClient"]


def test_baselines_time_the_plans_jobs_on_the_server_cpus_and_probe_each_arm_once(tmp_path, fakes):
    results = {}

    bottleneck.measure_baselines(plan(tmp_path), results, fakes["serving"])

    (jobs, cpus, repeats), *_ = fakes["ceiling"]
    assert set(jobs) == {"bubble/s1", "bubble/s2"}
    assert (cpus, repeats) == ((0,), 3)
    assert fakes["served"] == [
        ("wsgi-sync/ping", "wsgi-sync_idle-probe"),
        ("asgi-process/ping", "asgi-process_idle-probe"),
    ]
    assert [run_time for _, run_time in fakes["commands"]] == [4, 4]
    idle = results["idle_probe"]["asgi-process"]
    assert (idle["status"], idle["stats"]["p95_ms"], idle["stats"]["requests"]) == ("ok", 7, 8)
    assert idle["probe_latency"]["requests"] == 7
    assert idle["probe_latency"]["p95_ms"] == 2.0
    assert idle["server_cpu"] is None


def test_baselines_turned_off_measure_nothing(tmp_path, fakes):
    results = {}

    bottleneck.measure_baselines(
        plan(tmp_path, ceiling_repeats=0, idle_probe_s=0), results, fakes["serving"]
    )

    assert results == {}
    assert fakes["served"] == fakes["ceiling"] == []


def test_no_idle_probe_is_measured_when_the_run_sends_no_probe(tmp_path, fakes):
    no_probe = plan(tmp_path, ceiling_repeats=0)
    no_probe.load = LoadOptions(probe=False)

    bottleneck.measure_baselines(no_probe, {}, fakes["serving"])

    assert fakes["served"] == []


def test_a_server_that_will_not_start_gives_an_error_record_for_its_idle_probe(tmp_path, fakes):
    @contextlib.contextmanager
    def broken(cell, plan, folder):
        raise ServerError("asgi-process exited with code 3 before answering")
        yield

    results = {}
    bottleneck.measure_baselines(plan(tmp_path, ceiling_repeats=0), results, broken)

    record = results["idle_probe"]["asgi-process"]
    assert record["status"] == "error"
    assert record["error"] == "asgi-process exited with code 3 before answering"


def test_an_idle_run_without_probe_rows_is_an_error_naming_the_log(tmp_path, fakes, monkeypatch):
    def silent_locust(command, prefix, options):
        return LocustRun(command, 1, 1.0, prefix, Path(f"{prefix}.log"), Path("requests.csv"))

    monkeypatch.setattr(bottleneck, "run_locust", silent_locust)
    results = {}

    bottleneck.measure_baselines(plan(tmp_path, ceiling_repeats=0), results, fakes["serving"])

    record = results["idle_probe"]["wsgi-sync"]
    assert record["status"] == "error"
    assert record["error"].startswith("Locust recorded no probe requests; see ")


@pytest.mark.parametrize(
    ("arm", "bound"),
    [("asgi-thread-bounded", BOUND_PER_SLOT * 6), ("asgi-process-bounded", BOUND_PER_SLOT * 3)],
)
def test_a_bounded_arm_refuses_past_its_bound_per_pool_slot_whatever_the_run_says(arm, bound):
    options = ServerOptions(thread_pool=6, process_pool=3, max_in_flight=0)

    chosen = arm_options(ARMS[arm], options)

    assert chosen.max_in_flight == bound
    assert server_env(chosen)["ASYNCPROJ_MAX_IN_FLIGHT"] == str(bound)


@pytest.mark.parametrize("arm", ["asgi-thread", "asgi-process", "wsgi-sync"])
def test_an_unbounded_arm_keeps_the_runs_bound(arm):
    options = ServerOptions(thread_pool=6, process_pool=3, max_in_flight=5)

    assert arm_options(ARMS[arm], options) is options


@pytest.mark.parametrize(
    ("flag", "value"), [("--ceiling-repeats", "-1"), ("--idle-probe-time", "-5")]
)
def test_a_negative_baseline_option_is_refused_before_any_run_folder_is_made(tmp_path, flag, value):
    runs = tmp_path / "runs"

    with pytest.raises(CommandError, match=f"{flag} must be 0 or a positive integer"):
        call_command("bench", flag, value, "--runs-dir", str(runs), "--report", "/dev/null")

    assert not runs.exists()
