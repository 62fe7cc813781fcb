"""`manage.py bench --target URL`: load a server that is already running."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bench.arms import ARMS
from bench.management.commands.bench import _target_url
from bench.report import render_report
from bench.runner import Target, check_target, describe_target
from bench.servers import PROJECT_ROOT, ServerError, ServerOptions, answers, find_free_port
from bench.servers import start_server as start_our_server

COMMAND_TIMEOUT_S = 180


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("http://192.0.2.10:8000", "http://192.0.2.10:8000"),
        ("http://192.0.2.10:8000/", "http://192.0.2.10:8000"),
        ("https://lab.example", "https://lab.example"),
        (" http://[::1]:8080/ ", "http://[::1]:8080"),
    ],
)
def test_a_target_is_a_server_address_without_the_trailing_slash(text, url):
    assert _target_url(text) == url


@pytest.mark.parametrize(
    "text",
    [
        "192.0.2.10:8000",
        "ftp://192.0.2.10",
        "http://",
        "http://192.0.2.10:8000/sync/ping/",
        "http://192.0.2.10:8000/?n=5",
        "http://192.0.2.10:99999",
        "http://user:secret@192.0.2.10",
    ],
)
def test_anything_but_a_server_address_is_refused_with_an_example(text):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        _target_url(text)

    assert str(refused.value).startswith("expected an http:// or https:// URL with a host")
    assert "such as http://192.0.2.10:8000" in str(refused.value)
    assert repr(text) in str(refused.value)


def test_a_target_that_does_not_answer_stops_the_command_before_any_run(tmp_path):
    url = f"http://127.0.0.1:{find_free_port()}"

    with pytest.raises(CommandError) as refused:
        call_command("bench", "--target", url, "--runs-dir", str(tmp_path / "runs"))

    assert str(refused.value).startswith(f"--target: the target did not answer {url}/sync/ping/")
    assert "ASYNCPROJ_ALLOWED_HOSTS" in str(refused.value)
    assert not (tmp_path / "runs").exists()


def test_a_cell_against_a_target_is_recorded_as_external_and_unmanaged():
    record = {"server": "gunicorn"}

    describe_target(record, Target("http://192.0.2.10:8000"))

    assert record == {"server": "external", "target_url": "http://192.0.2.10:8000"}


def test_the_report_of_a_target_run_says_its_server_and_settings_are_unknown():
    results = {
        "status": "complete",
        "target_url": "http://192.0.2.10:8000",
        "server_options": {"workers": 3, "threads": 4, "cpus": []},
        "load_options": {"users": 2, "cpus": [1]},
        "cells": [
            {"id": "wsgi-sync/ping", "arm": "wsgi-sync", "path": "/sync/ping/", "status": "ok"},
            {"id": "a", "arm": "asgi-thread", "path": "/async/thread/bubble/", "status": "ok"},
        ],
    }

    markdown = render_report(results, None)

    assert "**External server** at `http://192.0.2.10:8000`: already running" in markdown
    assert "settings and CPU pinning are unknown here" in markdown
    assert "Locust pinned to CPU 1; the external server's CPUs unknown" in markdown
    assert "wsgi-sync: `/sync/ping/`; asgi-thread: `/async/thread/bubble/`" in markdown
    assert "gunicorn: 3 worker processes" not in markdown


@pytest.mark.slow
def test_check_target_accepts_a_server_that_answers_its_ping_path(log_path):
    arm = ARMS["wsgi-sync"]
    with start_our_server(arm, ServerOptions(workers=1), log_path) as server:
        check_target(server.url, arm.ping_path)
        with pytest.raises(ServerError, match="did not answer .*/nowhere/ with 200"):
            check_target(server.url, "/nowhere/")


@pytest.mark.slow
def test_a_run_against_a_target_loads_it_and_leaves_it_running(tmp_path, log_path):
    arm = ARMS["wsgi-sync"]
    with start_our_server(arm, ServerOptions(workers=1), log_path) as server:
        done = subprocess.run(
            [
                sys.executable, "manage.py", "bench",
                "--target", server.url + "/",
                "--arms", "wsgi-sync",
                "--algorithms", "builtin",
                "--scenarios", "1",
                "--users", "2",
                "--run-time", "2",
                "--no-ping",
                "--ceiling-repeats", "0",
                "--idle-probe-time", "0",
                "--runs-dir", str(tmp_path / "runs"),
                "--report", str(tmp_path / "benchmarks.md"),
                "--charts-dir", str(tmp_path / "charts"),
            ],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
        )  # fmt: skip
        still_serving = answers(server.url + arm.ping_path) and server.process.poll() is None

    assert done.returncode == 0, done.stderr
    assert still_serving
    (run,) = (tmp_path / "runs").iterdir()
    results = json.loads(Path(run, "results.json").read_text())
    (record,) = results["cells"]
    assert results["target_url"] == server.url
    assert (record["status"], record["server"]) == ("ok", "external")
    assert "server_command" not in record
    assert record["stats"]["requests"] > 0
    assert "**External server**" in (tmp_path / "benchmarks.md").read_text()
