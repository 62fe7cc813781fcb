"""The runner's command lines, plans and Locust output parsing, without servers."""

from pathlib import Path

import pytest

from bench.arms import ALGORITHMS, ARMS, PING, Cell, plan_cells
from bench.loadgen import (
    LoadOptions,
    LocustRun,
    locust_command,
    locust_flags,
    read_stats,
    request_name,
)
from bench.machine import split_cpus
from bench.servers import ServerOptions, server_command, server_env


def test_plan_puts_each_arms_ping_cell_first_then_every_algorithm_and_scenario():
    cells = plan_cells(["wsgi-sync", "asgi-thread"], list(ALGORITHMS), [1, 2])

    ids = [cell.id for cell in cells]
    assert len(ids) == 2 * (1 + 3 * 2)
    assert ids[0] == "wsgi-sync/ping"
    assert ids[7] == "asgi-thread/ping"
    assert "asgi-thread/priority_queue/s2" in ids
    assert len(set(ids)) == len(ids)


def test_a_cells_tag_and_path_name_its_algorithm_and_scenario():
    cell = Cell(ARMS["asgi-process"], "bubble", 2)

    assert cell.tag == "bubble_scenario2"
    assert cell.path == "/async/process/bubble/"
    assert cell.params == {"n": 10_000, "max": 50_000}
    assert request_name(cell) == "/async/process/bubble/ [s2]"


def test_a_ping_cell_requests_its_arms_ping_path():
    cell = Cell(ARMS["wsgi-gthread"], PING, None)

    assert cell.tag == "ping"
    assert cell.path == "/sync/ping/"
    assert request_name(cell) == "/sync/ping/"
    assert cell.params == {}


def test_locust_command_selects_the_cell_and_the_probe_and_adds_the_probes_user():
    cell = Cell(ARMS["asgi-thread"], "builtin", 1)
    options = LoadOptions(users=8, spawn_rate=8, run_time_s=15, stop_timeout_s=60)

    command = locust_command(cell, "http://127.0.0.1:9", Path("/run/cell"), options)

    tags = command[command.index("--tags") + 1 : command.index("--csv")]
    assert tags == ["builtin_scenario1", "probe"]
    assert command[command.index("--users") + 1] == "9"
    assert command[command.index("--run-time") + 1] == "15s"
    assert command[command.index("--probe-mode") + 1] == "/async/ping/"
    assert command[-3:] == ["--", "ThreadOffloadClient", "ProbeClient"]


def test_locust_command_for_a_ping_cell_has_no_probe():
    cell = Cell(ARMS["wsgi-sync"], PING, None)

    command = locust_command(cell, "http://127.0.0.1:9", Path("/run/cell"), LoadOptions(users=4))

    assert "ProbeClient" not in command
    assert command[command.index("--users") + 1] == "4"
    assert command[-2:] == ["--", "SyncClient"]


def test_locust_command_without_the_probe_when_it_is_turned_off():
    cell = Cell(ARMS["wsgi-sync"], "bubble", 1)

    command = locust_command(cell, "http://x", Path("/p"), LoadOptions(users=3, probe=False))

    assert "probe" not in command
    assert command[command.index("--users") + 1] == "3"


def _option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


@pytest.mark.parametrize(
    ("arm", "worker_class", "threads"),
    [("wsgi-sync", "sync", None), ("wsgi-gthread", "gthread", "4")],
)
def test_gunicorn_command_binds_loopback_with_the_chosen_workers(arm, worker_class, threads):
    command = server_command(ARMS[arm], 8123, ServerOptions(workers=3, threads=4))

    assert command[1:4] == ["-m", "gunicorn", "asyncproj.wsgi"]
    assert _option(command, "--bind") == "127.0.0.1:8123"
    assert _option(command, "--worker-class") == worker_class
    assert _option(command, "--workers") == "3"
    assert _option(command, "--threads") == threads


def test_uvicorn_command_serves_the_app_with_the_fast_loop_and_parser():
    command = server_command(ARMS["asgi-thread"], 8124, ServerOptions(uvicorn_workers=2))

    assert command[1:4] == ["-m", "uvicorn", "asyncproj.asgi:app"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "8124"
    assert command[command.index("--workers") + 1] == "2"
    assert command[command.index("--loop") + 1] == "uvloop"
    assert command[command.index("--http") + 1] == "httptools"


def test_server_env_carries_the_pool_sizes_and_the_bound():
    env = server_env(ServerOptions(thread_pool=6, process_pool=2, max_in_flight=5))

    assert env["ASYNCPROJ_THREAD_POOL_SIZE"] == "6"
    assert env["ASYNCPROJ_PROCESS_POOL_SIZE"] == "2"
    assert env["ASYNCPROJ_MAX_IN_FLIGHT"] == "5"
    assert env["ASYNCPROJ_DEBUG"] == "0"


@pytest.mark.parametrize(
    ("cpus", "server", "locust"),
    [
        ([0], (), ()),
        ([0, 1], (0,), (1,)),
        ([0, 1, 2, 3], (0, 1, 2), (3,)),
        ([2, 5], (2,), (5,)),
    ],
)
def test_cpus_are_split_between_server_and_locust_only_when_there_are_two(cpus, server, locust):
    assert split_cpus(cpus) == (server, locust)


STATS_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
50%,60%,66%,70%,75%,80%,90%,95%,98%,99%,99.9%,100%
GET,/sync/bubble/ [s1],131,2,310,292.4,157.1,371.0,148.0,26.03,0.4,\
310,320,320,320,330,330,340,350,360,360,370,370
GET,probe /sync/ping/,10,0,200,199.0,120.0,230.0,31.0,2.0,0.0,\
200,200,200,210,210,220,230,230,230,230,230,230
,Aggregated,141,2,300,290.0,120.0,371.0,140.0,28.0,0.4,\
300,310,320,320,330,330,340,350,360,360,370,370
"""


def test_read_stats_gives_each_request_name_the_classroom_columns(tmp_path):
    (tmp_path / "cell_stats.csv").write_text(STATS_CSV)

    stats = read_stats(tmp_path / "cell")

    heavy = stats["/sync/bubble/ [s1]"]
    assert heavy["requests"] == 131
    assert heavy["failures"] == 2
    assert heavy["avg_ms"] == 292.4
    assert heavy["rps"] == 26.03
    assert heavy["p60_ms"] == 320
    assert heavy["p100_ms"] == 370
    assert stats["probe /sync/ping/"]["p95_ms"] == 230
    assert set(stats) == {"/sync/bubble/ [s1]", "probe /sync/ping/", "Aggregated"}


def test_read_stats_of_a_run_that_wrote_nothing_is_empty(tmp_path):
    assert read_stats(tmp_path / "missing") == {}


def _run(tmp_path, log_text, exit_code=0, timed_out=False):
    log = tmp_path / "cell.log"
    log.write_text(log_text)
    return LocustRun(
        command=[],
        exit_code=exit_code,
        duration_s=1.0,
        prefix=tmp_path / "cell",
        log_path=log,
        request_log=tmp_path / "cell_requests.csv",
        timed_out=timed_out,
    )


def test_locusts_cpu_warning_and_cut_off_requests_flag_the_cell(tmp_path):
    log = (
        "WARNING/root: CPU usage above 90%! This may constrain your throughput\n"
        "INFO/locust.runners: Not all users finished their tasks & terminated in 60 seconds.\n"
    )

    flags = locust_flags(_run(tmp_path, log))

    assert set(flags) == {"cpu_warning", "cut_off"}
    assert "90 %" in flags["cpu_warning"]


def test_the_meta_file_flags_a_cpu_warning_that_the_log_does_not_show(tmp_path):
    (tmp_path / "cell_requests.csv.meta.json").write_text('{"cpu_warning": true}')

    assert "cpu_warning" in locust_flags(_run(tmp_path, "all quiet\n"))


def test_a_clean_run_has_no_flags(tmp_path):
    assert locust_flags(_run(tmp_path, "INFO: Shutting down (exit code 0)\n")) == {}


def test_a_failed_or_hung_locust_is_flagged_with_its_log(tmp_path):
    failed = locust_flags(_run(tmp_path, "", exit_code=2))
    hung = locust_flags(_run(tmp_path, "", exit_code=-15, timed_out=True))

    assert "exited with code 2" in failed["locust_failed"]
    assert "did not finish" in hung["locust_hung"]
    assert "locust_failed" not in hung
