"""`manage.py bench --kind classroom` end to end: runserver, two Locust workers."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.servers import PROJECT_ROOT, port_is_free

COMMAND_TIMEOUT_S = 180
USERS = 10
PORT = re.compile(r"runserver 127\.0\.0\.1:(\d+)")


def logged_rows(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with open(path, newline="", encoding="utf-8") as log:
            total += sum(1 for _ in csv.DictReader(log))
    return total


@pytest.mark.slow
def test_a_short_classroom_replay_on_runserver_with_two_locust_workers(tmp_path):
    done = subprocess.run(
        [
            sys.executable, "manage.py", "bench",
            "--kind", "classroom",
            "--arms", "runserver",
            "--algorithms", "builtin",
            "--scenarios", "1",
            "--users", str(USERS),
            "--run-time", "3",
            "--locust-processes", "2",
            "--ceiling-repeats", "0",
            "--runs-dir", str(tmp_path / "runs"),
            "--report", str(tmp_path / "benchmarks.md"),
            "--charts-dir", str(tmp_path / "charts"),
        ],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "runs").iterdir()
    results = json.loads((run / "results.json").read_text())
    (record,) = results["cells"]
    assert (results["kind"], record["status"]) == ("classroom", "ok")
    assert record["id"] == "runserver/classroom/builtin/s1/r20"
    assert "ClassroomStudent" in record["locust_command"].split(" -- ")[-1]
    assert "--processes 2" in record["locust_command"]

    worker_logs = sorted((run / record["id"].replace("/", "_")).glob("locust_requests*.csv"))
    assert [path.name for path in worker_logs] == [
        "locust_requests.worker0.csv",
        "locust_requests.worker1.csv",
    ]
    assert record["stats"]["requests"] == logged_rows(worker_logs) > 0
    assert record["server_timing"]["count"] == record["stats"]["requests"]
    assert record["peak_users"] == USERS
    assert record["probe"] is None
    assert port_is_free(int(PORT.search(record["server_command"]).group(1)))

    report = (tmp_path / "benchmarks.md").read_text()
    assert "<!-- bench:start:classroom -->" in report
    assert "| classroom | runserver (Windows) | 500 | 79 | 16,739 |" in report
    assert "| this run | runserver | 10 |" in report
    assert "10 users instead of 500" in report
