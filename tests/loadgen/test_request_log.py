"""The request log and its CPU-warning sidecar, driven through Locust's events."""

from __future__ import annotations

import csv
import json
from argparse import Namespace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from locust.event import Events
from locust.runners import MasterRunner, WorkerRunner

TIMING = "wait;dur=0.5, generate;dur=0.25, sort;dur=30"


def make_environment(request_log: Path | None, runner: Any = None) -> SimpleNamespace:
    return SimpleNamespace(
        events=Events(),
        parsed_options=Namespace(request_log=None if request_log is None else str(request_log)),
        runner=runner if runner is not None else SimpleNamespace(user_count=3),
    )


def fire_request(environment: SimpleNamespace, name: str, **overrides: Any) -> None:
    response = SimpleNamespace(headers={"server-timing": TIMING}, status_code=200)
    meta = {
        "request_type": "GET",
        "name": name,
        "response_time": 12.3456,
        "response_length": 10,
        "response": response,
        "context": {},
        "exception": None,
        "start_time": 1_700_000_000.25,
        "url": "http://127.0.0.1/x",
    }
    meta.update(overrides)
    environment.events.request.fire(**meta)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def installed(recorder_module: Any, environment: SimpleNamespace) -> Any:
    recorder = recorder_module.install(environment)
    environment.events.test_start.fire(environment=environment)
    return recorder


def test_log_has_one_row_per_request_with_parsed_timings(recorder, tmp_path):
    path = tmp_path / "out" / "requests.csv"
    environment = make_environment(path)
    installed(recorder, environment)

    fire_request(environment, "/sync/bubble/ [s1]")
    fire_request(environment, "/sync/bubble/ [s1]", exception=RuntimeError("503"))
    environment.events.test_stop.fire(environment=environment)

    rows = read_rows(path)
    assert list(rows[0]) == list(recorder.REQUEST_LOG_COLUMNS)
    assert [row["ok"] for row in rows] == ["1", "0"]
    first = rows[0]
    assert first["start"] == "1700000000.250000"
    assert first["response_time_ms"] == "12.346"
    assert first["name"] == "/sync/bubble/ [s1]"
    assert first["users"] == "3"
    assert (first["wait_ms"], first["generate_ms"], first["sort_ms"]) == ("0.5", "0.25", "30")
    assert first["status"] == "200"


def test_log_leaves_timings_empty_without_a_header_or_response(recorder, tmp_path):
    path = tmp_path / "requests.csv"
    environment = make_environment(path)
    installed(recorder, environment)

    fire_request(environment, "/sync/ping/", response=SimpleNamespace(headers={}, status_code=200))
    fire_request(environment, "/sync/ping/", response=None, exception=ConnectionError())
    environment.events.test_stop.fire(environment=environment)

    rows = read_rows(path)
    timings = [(row["wait_ms"], row["generate_ms"], row["sort_ms"]) for row in rows]
    assert timings == [("", "", "")] * 2
    assert [row["status"] for row in rows] == ["200", "0"]


def test_meta_records_a_cpu_warning_and_the_highest_cpu_sample(recorder, tmp_path):
    path = tmp_path / "requests.csv"
    environment = make_environment(path)
    installed(recorder, environment)

    environment.events.usage_monitor.fire(environment=environment, cpu_usage=42.0, memory_usage=1)
    environment.events.usage_monitor.fire(environment=environment, cpu_usage=97.5, memory_usage=1)
    environment.events.cpu_warning.fire(environment=environment, cpu_usage=97.5)
    environment.events.test_stop.fire(environment=environment)

    meta = json.loads((tmp_path / "requests.csv.meta.json").read_text())
    assert meta == {"cpu_warning": True, "max_cpu_percent": 97.5, "cpu_samples": 2}


def test_meta_says_no_warning_when_none_fired(recorder, tmp_path):
    path = tmp_path / "requests.csv"
    environment = make_environment(path)
    installed(recorder, environment)

    environment.events.test_stop.fire(environment=environment)

    meta = json.loads((tmp_path / "requests.csv.meta.json").read_text())
    assert meta == {"cpu_warning": False, "max_cpu_percent": 0.0, "cpu_samples": 0}


def test_nothing_is_recorded_or_written_without_the_option(recorder, tmp_path):
    environment = make_environment(None)
    recorder_object = installed(recorder, environment)

    fire_request(environment, "/sync/ping/")
    environment.events.test_stop.fire(environment=environment)

    assert recorder_object.requests == []
    assert list(tmp_path.iterdir()) == []


def test_a_new_test_starts_a_fresh_log(recorder, tmp_path):
    path = tmp_path / "requests.csv"
    environment = make_environment(path)
    installed(recorder, environment)
    fire_request(environment, "/sync/ping/ first")
    environment.events.test_stop.fire(environment=environment)

    environment.events.test_start.fire(environment=environment)
    fire_request(environment, "/sync/ping/ second")
    environment.events.test_stop.fire(environment=environment)

    assert [row["name"] for row in read_rows(path)] == ["/sync/ping/ second"]


def test_quitting_writes_rows_that_came_after_the_stop(recorder, tmp_path):
    path = tmp_path / "requests.csv"
    environment = make_environment(path)
    installed(recorder, environment)
    environment.events.test_stop.fire(environment=environment)

    fire_request(environment, "/sync/ping/")
    environment.events.quitting.fire(environment=environment)

    assert len(read_rows(path)) == 1


def bare_runner(runner_class: type, **attributes: Any) -> Any:
    """A runner object of the right class, without starting any networking."""
    runner = runner_class.__new__(runner_class)
    runner.greenlet = None  # what Runner.__del__ looks at
    for name, value in attributes.items():
        setattr(runner, name, value)
    return runner


def test_a_worker_writes_its_rows_under_its_index_and_no_meta(recorder, tmp_path):
    path = tmp_path / "requests.csv"
    runner = bare_runner(WorkerRunner, worker_index=2, user_greenlets=[object()] * 5)
    environment = make_environment(path, runner)
    installed(recorder, environment)

    fire_request(environment, "/sync/ping/")
    environment.events.test_stop.fire(environment=environment)

    assert sorted(item.name for item in tmp_path.iterdir()) == ["requests.worker2.csv"]
    assert read_rows(tmp_path / "requests.worker2.csv")[0]["users"] == "5"


def test_the_master_writes_only_the_meta_with_its_workers_cpu(recorder, tmp_path):
    path = tmp_path / "requests.csv"
    runner = bare_runner(MasterRunner, worker_cpu_warning_emitted=False)
    environment = make_environment(path, runner)
    installed(recorder, environment)

    usage = {"cpu_warning": True, "max_cpu_percent": 93.0, "cpu_samples": 4}
    report = {recorder.REPORT_KEY: usage}
    environment.events.worker_report.fire(client_id="worker-a", data=report)
    environment.events.worker_report.fire(client_id="worker-b", data={"stats": []})
    environment.events.test_stop.fire(environment=environment)

    assert sorted(item.name for item in tmp_path.iterdir()) == ["requests.csv.meta.json"]
    meta = json.loads((tmp_path / "requests.csv.meta.json").read_text())
    assert meta == {"cpu_warning": True, "max_cpu_percent": 93.0, "cpu_samples": 4}


def test_a_worker_reports_its_cpu_to_the_master(recorder, tmp_path):
    runner = bare_runner(WorkerRunner, worker_index=0, user_greenlets=[])
    environment = make_environment(tmp_path / "requests.csv", runner)
    installed(recorder, environment)
    environment.events.cpu_warning.fire(environment=environment, cpu_usage=99.0)

    data: dict[str, Any] = {}
    environment.events.report_to_master.fire(client_id="me", data=data)

    assert data[recorder.REPORT_KEY]["cpu_warning"] is True


@pytest.mark.parametrize(
    ("path", "index", "expected"),
    [
        ("run/requests.csv", 0, "run/requests.worker0.csv"),
        ("run/requests.csv", 11, "run/requests.worker11.csv"),
        ("run/requests.csv", -1, "run/requests.pid4242.csv"),
        ("requests", 3, "requests.worker3"),
    ],
)
def test_worker_log_path_inserts_the_worker_before_the_suffix(recorder, path, index, expected):
    assert recorder.worker_log_path(path, index, 4242) == expected


def test_the_log_the_recorder_writes_is_the_log_the_analysis_reads(recorder, tmp_path):
    from bench.analysis import REQUEST_LOG_FIELDS, read_request_log

    path = tmp_path / "requests.csv"
    environment = make_environment(path)
    installed(recorder, environment)
    fire_request(environment, "/sync/bubble/ [s1]")
    environment.events.test_stop.fire(environment=environment)

    assert recorder.REQUEST_LOG_COLUMNS[: len(REQUEST_LOG_FIELDS)] == tuple(REQUEST_LOG_FIELDS)
    [request] = read_request_log([path])
    assert (request.name, request.ok, request.users) == ("/sync/bubble/ [s1]", True, 3)
    assert (request.wait_ms, request.generate_ms, request.sort_ms) == (0.5, 0.25, 30.0)
