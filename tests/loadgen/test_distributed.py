"""Locust spread over processes: a master, its workers, and counts that add up."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.arms import ARMS, Cell
from bench.loadgen import LoadOptions, locust_command
from bench.management.commands.bench import split_for_locust
from bench.servers import HOST, find_free_port, stop_process_tree

from .conftest import REPO_ROOT, StubHandler

# Longer than the half second a master used to wait for its workers' last
# counts, so requests still running at --run-time are only counted when
# the master waits for its workers to stop.
SLOW_STUB_DELAY_S = 0.8
RUN_TIME_S = 3
STOP_TIMEOUT_S = 3  # well above the stub's delay: nothing is cut off
USERS = 4
PROCESS_BOUND_S = 60


class SlowHandler(StubHandler):
    def do_GET(self) -> None:
        time.sleep(SLOW_STUB_DELAY_S)
        super().do_GET()


@pytest.fixture
def slow_server(http_stub) -> str:
    return http_stub(SlowHandler)


def locust(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", "locust/locustfile.py", *args],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def aggregated_requests(stats_csv: Path) -> int:
    with open(stats_csv, newline="", encoding="utf-8") as stats:
        (total,) = [row for row in csv.DictReader(stats) if row["Name"] == "Aggregated"]
    return int(total["Request Count"])


def logged_rows(request_log: Path) -> int:
    with open(request_log, newline="", encoding="utf-8") as log:
        return sum(1 for _ in csv.DictReader(log))


@pytest.mark.slow
def test_a_master_and_two_workers_count_every_request_the_workers_logged(slow_server, tmp_path):
    port = str(find_free_port())
    prefix = tmp_path / "locust"
    master = locust(
        [
            "--master", "--expect-workers", "2",
            "--master-bind-host", HOST, "--master-bind-port", port,
            "--headless", "--host", slow_server,
            "-u", str(USERS), "-r", str(USERS), "-t", f"{RUN_TIME_S}s",
            "--stop-timeout", str(STOP_TIMEOUT_S),
            "--csv", str(prefix), "--only-summary",
            "--request-log", f"{prefix}_requests.csv",
            "--tags", "builtin_scenario1", "--", "SyncClient",
        ],
        tmp_path / "master.log",
    )  # fmt: skip
    workers = [
        locust(["--worker", "--master-host", HOST, "--master-port", port], tmp_path / f"w{i}.log")
        for i in range(2)
    ]
    try:
        master_code = master.wait(timeout=PROCESS_BOUND_S)
    finally:
        # Workers outlive their master until its heartbeat has been missing
        # for a minute; their logs are written when the test stops.
        for process in [master, *workers]:
            stop_process_tree(process)

    assert master_code == 0, (tmp_path / "master.log").read_text()
    worker_logs = sorted(tmp_path.glob("locust_requests.worker*.csv"))
    assert [path.name for path in worker_logs] == [
        "locust_requests.worker0.csv",
        "locust_requests.worker1.csv",
    ]
    rows = [logged_rows(path) for path in worker_logs]
    assert all(count > 0 for count in rows)
    assert sum(rows) == aggregated_requests(Path(f"{prefix}_stats.csv"))
    assert not Path(f"{prefix}_requests.csv").exists()  # the master logs no rows
    assert Path(f"{prefix}_requests.csv.meta.json").exists()


def test_locust_processes_add_a_master_on_a_free_loopback_port(tmp_path):
    cell = Cell(ARMS["wsgi-sync"], "builtin", 1)

    command = locust_command(cell, "http://x", tmp_path / "locust", LoadOptions(processes=3))

    assert command[command.index("--processes") + 1] == "3"
    assert command[command.index("--master-bind-host") + 1] == HOST
    bind_port = command[command.index("--master-bind-port") + 1]
    assert command[command.index("--master-port") + 1] == bind_port
    assert bind_port != "5557"
    assert command.index("--processes") < command.index("--")


def test_one_locust_process_runs_without_a_master(tmp_path):
    cell = Cell(ARMS["wsgi-sync"], "builtin", 1)

    command = locust_command(cell, "http://x", tmp_path / "locust", LoadOptions())

    assert "--processes" not in command
    assert "--master-bind-port" not in command


@pytest.mark.parametrize(
    ("cpus", "processes", "server", "load"),
    [
        ([0, 1], 1, (0,), (1,)),
        ([0, 1], 2, (0,), (1,)),
        ([0, 1, 2, 3], 2, (0, 1), (2, 3)),
        ([0, 1, 2, 3], 8, (0,), (1, 2, 3)),
        ([0], 2, (), ()),
    ],
)
def test_each_locust_process_gets_a_cpu_while_the_server_keeps_one(cpus, processes, server, load):
    assert split_for_locust(cpus, processes) == (server, load)
