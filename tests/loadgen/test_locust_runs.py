"""Real, short Locust runs against a stub server on a free loopback port."""

from __future__ import annotations

import csv
import json
import signal
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

INTERRUPT_AFTER_S = 2.0
INTERRUPTED_RUN_LIMIT_S = 30.0  # far below the run's -t 60s
CELL_NAME = "/sync/builtin/ [s1]"
PROBE_NAME = "probe /sync/ping/"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def aggregated_request_count(stats_csv: Path) -> int:
    rows = [row for row in read_csv(stats_csv) if row["Name"] == "Aggregated"]
    return int(rows[0]["Request Count"])


def test_fixed_load_run_logs_every_request_with_server_timings(run_locust, stub_server, tmp_path):
    request_log = tmp_path / "cell" / "requests.csv"
    prefix = tmp_path / "cell" / "locust"

    result = run_locust(
        [
            "-f",
            "locust/locustfile.py",
            "--headless",
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "3s",
            "--host",
            stub_server,
            "--request-log",
            str(request_log),
            "--csv",
            str(prefix),
            "--probe-rate",
            "4",
            # Class names right after --tags, as people tend to type them.
            "--tags",
            "builtin_scenario1",
            "probe",
            "SyncClient",
            "ProbeClient",
        ]
    )

    assert result.returncode == 0, result.stderr
    rows = read_csv(request_log)
    assert {row["name"] for row in rows} == {CELL_NAME, PROBE_NAME}
    assert all(row["ok"] == "1" and row["status"] == "200" for row in rows)
    cell_rows = [row for row in rows if row["name"] == CELL_NAME]
    assert {(r["wait_ms"], r["generate_ms"], r["sort_ms"]) for r in cell_rows} == {
        ("0.125", "0.05", "31.2")
    }
    probe_rows = [row for row in rows if row["name"] == PROBE_NAME]
    assert {(r["wait_ms"], r["sort_ms"]) for r in probe_rows} == {("", "")}
    assert len(rows) == aggregated_request_count(Path(f"{prefix}_stats.csv"))

    meta = json.loads(Path(f"{request_log}.meta.json").read_text())
    assert set(meta) == {"cpu_warning", "max_cpu_percent", "cpu_samples"}


def test_ctrl_c_still_writes_a_log_that_matches_the_csv(start_locust, stub_server, tmp_path):
    request_log = tmp_path / "requests.csv"
    prefix = tmp_path / "locust"
    args = [
        "-f",
        "locust/locustfile.py",
        "--headless",
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "60s",
        "--host",
        stub_server,
        "--request-log",
        str(request_log),
        "--csv",
        str(prefix),
        "--tags",
        "ping",
        "--",
        "SyncClient",
    ]

    started = time.monotonic()
    process = start_locust(args)
    time.sleep(INTERRUPT_AFTER_S)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=INTERRUPTED_RUN_LIMIT_S)

    assert process.returncode == 0, stderr
    assert time.monotonic() - started < INTERRUPTED_RUN_LIMIT_S
    rows = read_csv(request_log)
    assert rows
    assert len(rows) == aggregated_request_count(Path(f"{prefix}_stats.csv"))


def test_step_shape_run_ends_by_itself_and_logs_its_steps(run_locust, stub_server, tmp_path):
    shape_log = tmp_path / "shape.json"
    request_log = tmp_path / "requests.csv"

    result = run_locust(
        [
            "-f",
            "locust/locustfile.py,locust/step_shape.py",
            "--headless",
            "--host",
            stub_server,
            "--step-duration",
            "1",
            "--step-max-users",
            "2",
            "--recovery-duration",
            "1",
            "--shape-log",
            str(shape_log),
            "--request-log",
            str(request_log),
            "--tags",
            "ping",
            "--",
            "SyncClient",
        ]
    )

    assert result.returncode == 0, result.stderr
    assert "Shape test completed" in result.stderr
    log = json.loads(shape_log.read_text())
    assert [(step["users"], step["stop_reason"]) for step in log["steps"]] == [
        (1, "grow"),
        (2, "ceiling"),
    ]
    assert log["steps"][1]["start_s"] == log["steps"][0]["end_s"]
    assert log["recovery"]["start_s"] == log["drop_s"] == log["steps"][1]["end_s"]
    assert log["completed"] is True
    assert all(step["requests"] > 0 for step in log["steps"])

    starts = [float(row["start"]) for row in read_csv(request_log)]
    assert min(starts) >= log["t0"]
    assert max(starts) <= log["t0"] + log["end_s"]


def test_hold_shape_run_ends_by_itself_after_ramp_and_hold(run_locust, stub_server, tmp_path):
    shape_log = tmp_path / "shape.json"

    result = run_locust(
        [
            "-f",
            "locust/locustfile.py,locust/hold_shape.py",
            "--headless",
            "--host",
            stub_server,
            "--hold-users",
            "2",
            "--hold-spawn-rate",
            "2",
            "--hold-duration",
            "1",
            "--shape-log",
            str(shape_log),
            "--tags",
            "ping",
            "--",
            "SyncClient",
        ]
    )

    assert result.returncode == 0, result.stderr
    log = json.loads(shape_log.read_text())
    assert log["completed"] is True
    assert log["ramp_end_reason"] == "spawned"
    assert round(log["hold_end_s"] - log["ramp_end_s"], 3) >= 1  # offsets are rounded to ms


def test_locustfile_and_both_shapes_load_together_with_their_options(run_locust):
    # --list makes Locust import the files and parse every option, then stop.
    result = run_locust(
        [
            "-f",
            "locust/locustfile.py,locust/step_shape.py,locust/hold_shape.py",
            "--request-log",
            "unused.csv",
            "--shape-log",
            "unused.json",
            "--step-duration",
            "2",
            "--hold-users",
            "3",
            "--probe-mode",
            "async",
            "--list",
        ]
    )

    assert result.returncode == 0, result.stderr
    listed = result.stdout.split()
    for user_class in ("SyncClient", "LoopClient", "ClassroomStudent", "ProbeClient"):
        assert user_class in listed
