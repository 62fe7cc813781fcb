"""Harness failures: Locust's failures table split into the server's and the client's."""

from pathlib import Path

import pytest

from bench.loadgen import (
    HARNESS_RULE,
    LocustRun,
    classify_failure,
    failure_causes,
    harness_flag,
    locust_flags,
    read_failures,
)
from bench.report import render_report

# Rows as Locust 2.47's FastHttpUser wrote them against a stand-in server that
# answered 500 and 503, reset or closed connections, answered too slowly for
# a 1 s network timeout, and a port nobody listened on; then a client whose
# connect timed out against a full accept queue.
FAILURES_CSV = """\
Method,Name,Error,Occurrences,First Seen,Last Seen
GET,/close,HTTPConnectionClosed('connection closed.'),4,2026-12-03T16:18:55Z,2026-12-03T16:19:00Z
GET,/500,LocustBadStatusCode(code=500),3,2026-12-03T16:18:56Z,2026-12-03T16:18:59Z
GET,/slow,"RetriesExceeded('http://127.0.0.1:18765/slow', 0, original=timed out)",3,\
2026-12-03T16:18:56Z,2026-12-03T16:18:59Z
GET,refused,"ConnectionRefusedError(111, 'Connection refused')",3,\
2026-12-03T16:18:56Z,2026-12-03T16:18:59Z
GET,/503,LocustBadStatusCode(code=503),3,2026-12-03T16:18:56Z,2026-12-03T16:18:59Z
GET,midreset,"ConnectionResetError(104, 'Connection reset by peer')",12,\
2026-12-03T16:19:09Z,2026-12-03T16:19:11Z
"""
ONLY_SERVER_CSV = """\
Method,Name,Error,Occurrences,First Seen,Last Seen
GET,/async/thread/bubble/ [s1],LocustBadStatusCode(code=503),41,2026-12-03T16:18:56Z,\
2026-12-03T16:18:59Z
"""


def write_run(tmp_path: Path, failures: str | None, log: str = "") -> LocustRun:
    prefix = tmp_path / "locust"
    if failures is not None:
        Path(f"{prefix}_failures.csv").write_text(failures, encoding="utf-8")
    log_path = Path(f"{prefix}.log")
    log_path.write_text(log, encoding="utf-8")
    return LocustRun(
        command=["locust"],
        exit_code=0,
        duration_s=1.0,
        prefix=prefix,
        log_path=log_path,
        request_log=Path(f"{prefix}_requests.csv"),
    )


@pytest.mark.parametrize(
    ("error", "side", "kind"),
    [
        ("LocustBadStatusCode(code=503)", "server", "HTTP 503"),
        ("LocustBadStatusCode(code=500)", "server", "HTTP 500"),
        ("CatchResponseError('top missing')", "server", "response rejected by a check"),
        (
            "RetriesExceeded('http://127.0.0.1:1/slow', 0, original=timed out)",
            "harness",
            "client time-out",
        ),
        ("ConnectionRefusedError(111, 'Connection refused')", "harness", "connection refused"),
        ("ConnectionResetError(104, 'Connection reset by peer')", "harness", "connection reset"),
        ("HTTPConnectionClosed('connection closed.')", "harness", "connection closed"),
    ],
)
def test_a_failure_is_the_servers_only_when_it_carries_an_answer(error, side, kind):
    assert classify_failure(error) == (side, kind)


def test_an_unknown_error_counts_against_the_harness_and_is_named():
    assert classify_failure("ZeroDivisionError('division by zero')") == (
        "harness",
        "other: ZeroDivisionError('division by zero')",
    )


def test_failures_are_counted_by_side_and_kind(tmp_path):
    rows = read_failures(write_run(tmp_path, FAILURES_CSV).prefix)

    assert failure_causes(rows) == {
        "server": {"HTTP 500": 3, "HTTP 503": 3},
        "harness": {
            "connection closed": 4,
            "client time-out": 3,
            "connection refused": 3,
            "connection reset": 12,
        },
    }


def test_a_run_without_a_failures_file_has_no_failures(tmp_path):
    assert read_failures(tmp_path / "locust") == []


def test_the_harness_flag_gives_the_share_and_the_counts_by_kind():
    causes = {"server": {"HTTP 503": 6}, "harness": {"client time-out": 3, "connection reset": 1}}

    assert harness_flag(causes) == {
        "harness_failures": "4 of 10 failures came from the client side, not from a server "
        "answer (3 client time-out, 1 connection reset)"
    }


def test_server_answers_alone_raise_no_harness_flag():
    assert harness_flag({"server": {"HTTP 503": 41}, "harness": {}}) == {}


def test_locust_flags_mark_a_cell_with_client_side_failures(tmp_path):
    flags = locust_flags(write_run(tmp_path, FAILURES_CSV))

    assert flags["harness_failures"].startswith("22 of 28 failures came from the client side")


def test_locust_flags_leave_a_cell_whose_failures_are_all_503s(tmp_path):
    assert "harness_failures" not in locust_flags(write_run(tmp_path, ONLY_SERVER_CSV))


def test_locust_flags_still_catch_the_cpu_warning_beside_harness_failures(tmp_path):
    run = write_run(tmp_path, FAILURES_CSV, log="WARNING/root: CPU usage above 90%!")

    assert {"cpu_warning", "harness_failures"} <= set(locust_flags(run))


def validity_of(cells: list[dict]) -> str:
    markdown = render_report({"status": "complete", "cells": cells}, None)
    return markdown.split("## Validity")[1]


def harness_cell(**values) -> dict:
    cell = {
        "id": "asgi-thread/bubble/s2",
        "arm": "asgi-thread",
        "algorithm": "bubble",
        "scenario": 2,
        "status": "ok",
        "flags": {},
        "stats": {"requests": 50, "failures": 10, "rps": 1.0},
        "failure_causes": {"server": {}, "harness": {}},
    }
    cell.update(values)
    return cell


def test_validity_states_the_rule_used_to_blame_the_harness():
    validity = validity_of([harness_cell()])

    assert HARNESS_RULE in validity
    assert "a full accept queue shows on the client as a time-out" in validity


def test_validity_lists_a_cell_with_harness_failures_and_its_reason():
    reason = "10 of 10 failures came from the client side, not from a server answer (10 x)"

    validity = validity_of([harness_cell(flags={"harness_failures": reason})])

    assert "- ⚠1 `asgi-thread/bubble/s2` is flagged:" in validity
    assert f"  - `harness_failures`: {reason}" in validity


def test_the_rule_is_left_out_for_records_that_were_never_classified():
    cell = harness_cell()
    del cell["failure_causes"]

    assert "Harness failures" not in validity_of([cell])
