"""The classroom kind's report, rendered from hand-built results."""

import pytest

from bench import classroom_report
from bench.classroom_report import format_ratio, span_s
from bench.reference import load_classroom
from bench.report import render_report

ROWS = {(row["algorithm"], row["spawn_rate"], row["scenario"]): row for row in load_classroom()}
BUILTIN = ROWS[("builtin", 20, 1)]
BUBBLE_5 = ROWS[("bubble", 5, 1)]


def stats(**values) -> dict:
    row = {
        "requests": 6000,
        "failures": 30,
        "avg_ms": 40.0,
        "min_ms": 2.0,
        "max_ms": 1340.0,
        "rps": 100.0,
        "failures_per_s": 0.5,
        "p50_ms": 26.0,
        "p95_ms": 100.0,
        "p99_ms": 240.0,
        "p100_ms": 1340.0,
    }
    row.update(values)
    return row


def cell(arm: str, reference: dict, **values) -> dict:
    rate = reference["spawn_rate"]
    record = {
        "id": f"{arm}/classroom/{reference['algorithm']}/s{reference['scenario']}/r{rate:g}",
        "arm": arm,
        "server": "runserver" if arm == "runserver" else "gunicorn",
        "algorithm": reference["algorithm"],
        "scenario": reference["scenario"],
        "path": reference["path"],
        "users": 500,
        "spawn_rate": rate,
        "run_time_s": 60,
        "peak_users": 500,
        "cut_off_requests": 0,
        "status": "ok",
        "error": None,
        "flags": {},
        "stats": stats(),
        "classroom": reference,
    }
    record.update(values)
    return record


def results(*cells, **values) -> dict:
    data = {
        "kind": "classroom",
        "status": "complete",
        "started_at": "2026-01-05T10:00:00+00:00",
        "finished_at": "2026-01-05T10:20:00+00:00",
        "machine": {
            "cpu_model": "Test CPU 9000",
            "cpu_count": 2,
            "cpus_available": [0, 1],
            "platform": "Linux-test",
            "python": "3.11.7",
            "packages": {"django": "5.2.19", "locust": "2.47.0"},
        },
        "server_options": {"workers": 3, "threads": 4, "cpus": [0]},
        "load_options": {
            "users": 500,
            "spawn_rate": None,
            "run_time_s": 60,
            "stop_timeout_s": 10,
            "probe": False,
            "cpus": [1],
            "processes": 1,
        },
        "cells": list(cells),
        "failures": [],
    }
    data.update(values)
    return data


def render(data: dict) -> str:
    return render_report(data, None, sections=classroom_report.SECTIONS)


def table_row(markdown: str, *starts: str) -> list[str]:
    """The cells of the first table row whose leading cells are `starts`."""
    prefix = "| " + " | ".join(starts) + " |"
    line = next(line for line in markdown.splitlines() if line.startswith(prefix))
    return [part.strip() for part in line.strip("|").split("|")]


def test_each_row_shows_the_classroom_figures_above_this_runs_on_each_server():
    markdown = render(results(cell("runserver", BUILTIN), cell("wsgi-sync", BUILTIN)))
    block = markdown.split("builtin at 20 users/s")[1]

    lines = [line for line in block.splitlines() if line.startswith("| ")][2:5]
    assert [line.split("|")[1:3] for line in lines] == [
        [" classroom ", " runserver (Windows) "],
        [" this run ", " runserver "],
        [" this run ", " wsgi-sync "],
    ]
    assert table_row(block, "classroom")[3:9] == ["79", "16,739", "0", "0.0 %", "—", "212.0"]
    assert table_row(block, "this run", "wsgi-sync")[3:9] == [
        "60",
        "6,000",
        "30",
        "0.5 %",
        "0",
        "100.0",
    ]


def test_ratios_divide_this_runs_rates_and_latencies_by_the_classrooms():
    markdown = render(results(cell("runserver", BUILTIN)))

    row = table_row(markdown, "builtin", "1", "20", "runserver")

    # RPS 100 / 212, average 40 / 20, p50 26 / 13, p95 100 / 50, p99 240 / 120, max 1340 / 667
    assert row[4:10] == ["0.47×", "2.00×", "2.00×", "2.00×", "2.00×", "2.01×"]
    assert row[10] == "0.0 % → 0.5 %"


def test_a_failed_cell_says_so_in_both_tables():
    failed = cell("asgi-sync", BUILTIN, status="error", error="asgi-sync did not answer")

    markdown = render(results(failed))

    assert table_row(markdown, "this run", "asgi-sync ⚠1")[3] == "failed"
    assert table_row(markdown, "builtin", "1", "20", "asgi-sync ⚠1")[4] == "failed"
    assert "**failed**: asgi-sync did not answer" in markdown


def test_users_say_how_many_started_when_the_ramp_outlasted_the_run():
    markdown = render(results(cell("runserver", BUBBLE_5, peak_users=300)))

    assert table_row(markdown, "this run", "runserver")[2] == "300 of 500"
    assert "100 s of ramp-up, longer than its 60 s of load" in markdown


def test_a_load_other_than_the_classrooms_is_called_out():
    markdown = render(results(cell("runserver", BUBBLE_5, users=50, spawn_rate=20.0)))

    assert "50 users instead of 500 and 20 users/s instead of 5" in markdown
    assert "the ratios do not compare like with like" in markdown


def test_the_classrooms_own_load_is_not_called_out():
    assert "Not the classroom's load" not in render(results(cell("runserver", BUILTIN)))


def test_cut_off_requests_get_their_own_column_and_the_flag_explains_them():
    flagged = cell(
        "runserver",
        BUBBLE_5,
        cut_off_requests=312,
        flags={"cut_off": "312 requests still waiting at the end were cut off, not counted"},
    )

    markdown = render(results(flagged))

    assert table_row(markdown, "this run", "runserver ⚠1")[7] == "312"
    assert "`cut_off`: 312 requests still waiting" in markdown


def test_the_differences_name_hardware_server_locust_run_length_and_pinning():
    markdown = render(results(cell("runserver", BUILTIN), cell("runserver", BUBBLE_5)))

    assert "this run on Test CPU 9000, 2 logical CPUs, Linux-test" in markdown
    assert "2.14 in the classroom, 2.47.0 here" in markdown
    assert "lasted 79–215 s per row" in markdown
    assert "held each cell for 60 s" in markdown
    assert "the server CPUs 0 and Locust CPUs 1" in markdown
    assert "for up to 10 s, then cuts off the rest" in markdown
    assert "`runserver`, Django's development server" in markdown


def test_an_external_target_is_reported_as_unmanaged_with_unknown_settings():
    external = cell("runserver", BUILTIN, server="external")
    data = results(external, target_url="http://192.0.2.10:8000")
    data["server_options"]["cpus"] = []

    markdown = render(data)

    assert "**External server** at `http://192.0.2.10:8000`" in markdown
    assert "settings and CPU pinning are unknown" in markdown
    assert table_row(markdown, "this run", "external")
    assert "gunicorn: 3 worker processes" not in markdown


def test_the_load_section_states_the_students_wait_and_the_locust_processes():
    data = results(cell("runserver", BUILTIN))
    data["load_options"]["processes"] = 2

    markdown = render(data)

    assert "each a `ClassroomStudent` waiting 1–3 s" in markdown
    assert "spawn rate: each row's own" in markdown
    assert "a master and 2 workers" in markdown
    assert "offer about 250 requests/s" in markdown


def test_results_without_classroom_cells_render_no_side_by_side():
    plain = {"id": "wsgi-sync/builtin/s1", "arm": "wsgi-sync", "status": "ok", "flags": {}}

    markdown = render(results(plain))

    assert "## The classroom, side by side" not in markdown
    assert "This run ÷ the classroom" not in markdown


@pytest.mark.parametrize(
    ("value", "text"), [(None, "—"), (0.4712, "0.47×"), (9.994, "9.99×"), (12.4, "12×")]
)
def test_ratios_keep_two_decimals_below_ten(value, text):
    assert format_ratio(value) == text


def test_span_is_requests_over_rps_and_unknown_without_either():
    assert span_s({"requests": 3988, "rps": 59.3}) == pytest.approx(67.25, abs=0.01)
    assert span_s({"requests": 0, "rps": 0.0}) is None
    assert span_s({}) is None
