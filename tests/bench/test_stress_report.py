"""Report sections and charts of stress and load runs, from recorded data."""

import json
from dataclasses import asdict

import pytest

from bench.arms import ARMS, Cell
from bench.report import render_report
from bench.stress_charts import (
    cell_chart_path,
    comparison_chart_path,
    make_load_charts,
    make_stress_charts,
)
from bench.stress_report import (
    LOAD_SECTIONS,
    STRESS_SECTIONS,
    stress_comparison,
)
from tests.bench.test_stress import (
    P95_RULE_MS,
    evenly,
    fake_meter,
    load_record,
    settings,
    step_shape_log,
    stress_record,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WSGI_CELL = Cell(ARMS["wsgi-sync"], "bubble", 1)


def run_results(kind: str, cells: list[dict], **setting_changes) -> dict:
    return {
        "kind": kind,
        "status": "complete",
        "extra": {"settings": asdict(settings(**setting_changes))},
        "load_options": {"probe": True, "spawn_rate": 8.0},
        "cells": cells,
        "failures": [],
    }


@pytest.fixture
def stress_results(tmp_path) -> dict:
    """Two arms of one algorithm and scenario: one breaks, one never does."""
    breaking = stress_record(tmp_path / "a", meter=fake_meter(utilisation=0.98, cpus_busy=1.0))
    standing = stress_record(tmp_path / "b", cell=WSGI_CELL, p95_rule_ms=10_000.0)
    failed = {
        "id": "asgi-thread/bubble/s2",
        "arm": "asgi-thread",
        "algorithm": "bubble",
        "scenario": 2,
        "status": "error",
        "error": "asgi-thread did not answer within 30 s",
        "flags": {},
    }
    return json.loads(json.dumps(run_results("stress", [breaking, standing, failed])))


def table_row(text: str, *labels: str) -> str:
    """The Markdown table row that starts with these label cells."""
    start = "| " + " | ".join(labels) + " |"
    return next(line for line in text.splitlines() if line.startswith(start))


# Stress report ---------------------------------------------------------------------


def test_the_summary_table_shows_threshold_breaking_point_and_recovery(stress_results):
    text = render_report(stress_results, None, sections=STRESS_SECTIONS)

    row = table_row(text, "1", "bubble", "asgi-thread")
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # cost, step, threshold users / RPS / p95 / CPU, breaking users / rule, recovery
    assert cells[3:] == ["100", "5", "2", "20.0", "100", "98.0%", "8", "latency", "2 s"]


def test_a_breaking_point_not_reached_shows_the_last_step_as_its_bound(stress_results):
    text = render_report(stress_results, None, sections=STRESS_SECTIONS)

    row = table_row(text, "1", "bubble", "wsgi-sync")
    assert "| ≤ 8: not reached | — |" in row


def test_a_failed_cell_keeps_its_row_and_is_explained_under_validity(stress_results):
    text = render_report(stress_results, None, sections=STRESS_SECTIONS)

    row = table_row(text, "2", "bubble", "asgi-thread ⚠1")
    assert "| failed |" in row
    validity = text.split("## Validity")[1]
    assert "did not answer within 30 s" in validity


def test_the_rules_are_printed_with_their_values_and_options(stress_results):
    text = render_report(stress_results, None, sections=STRESS_SECTIONS)

    assert f"a step's p95 above {P95_RULE_MS:.0f} ms | `--p95-rule-ms`" in text
    assert "failed / all requests of a step above 0.01" in text
    assert "throughput at least 90% of the best step's" in text
    assert "no `--p95-target-ms` was given" in text


def test_a_p95_target_is_named_as_the_latency_rule_and_the_gate(tmp_path):
    results = run_results("stress", [stress_record(tmp_path)], p95_target_ms=P95_RULE_MS)

    text = render_report(results, None, sections=STRESS_SECTIONS)

    assert "`--p95-target-ms` |" in text
    assert "**Gate**: p95 target 300 ms" in text


def test_the_steps_table_lists_every_step_with_the_probe_beside_it(stress_results):
    text = render_report(stress_results, None, sections=STRESS_SECTIONS)

    cell_part = text.split("### asgi-thread, bubble, scenario 1")[1]
    expected = "| 3 | 8 | 8 | 168 | 0 | 21.0 | 380 | 380 | 380 | 5.0 | 98.0% |"
    assert table_row(cell_part, "3") == expected
    assert "threshold at 2 users, 20.0 rps; breaking point at 8 users (latency)" in cell_part


def test_the_comparison_puts_the_arms_in_order_in_plain_sentences(stress_results):
    cells = [cell for cell in stress_results["cells"] if cell["scenario"] == 1]

    sentences = stress_comparison(cells)

    assert sentences[1] == (
        "Breaking point, earliest first: asgi-thread at 8 users (latency); "
        "wsgi-sync not up to 8 users."
    )
    assert sentences[2] == "Recovery after the drop: asgi-thread 2 s; wsgi-sync 2 s."


def test_a_cell_whose_load_never_dropped_reads_no_drop(tmp_path):
    requests = evenly(0, 10, 10, 100.0) + evenly(10, 20, 10, 100.0)
    shape_log = {
        "t0": 1_000.0,
        "plan": {"max_users": 1},
        "steps": [{"start_s": 0.0, "end_s": 10.0, "users": 1}],
        "recovery": {"users": 1, "start_s": 10.0, "end_s": 20.0},
        "stop_reason": "p95",
        "end_s": 20.0,
        "completed": True,
    }
    record = stress_record(tmp_path, shape_log=shape_log, requests=requests)

    text = render_report(run_results("stress", [record]), None, sections=STRESS_SECTIONS)

    assert table_row(text, "1", "bubble", "asgi-thread").endswith("| no drop |")


def test_a_recovery_window_too_short_to_confirm_reads_not_measurable(tmp_path):
    record = stress_record(tmp_path)
    record["stress"]["recovery"]["recovered"] = False
    record["stress"]["recovery_note"] = "window too short: confirming takes 63 s of good bins"

    text = render_report(run_results("stress", [record]), None, sections=STRESS_SECTIONS)

    row = table_row(text, "1", "bubble", "asgi-thread")
    assert row.endswith("| not measurable: window too short |")


def test_a_stress_report_without_settings_or_cells_still_renders():
    text = render_report({"kind": "stress", "status": "complete"}, None, sections=STRESS_SECTIONS)

    assert "## Threshold, breaking point and recovery" not in text
    assert "## Stress test: how it was run" not in text


def test_charts_that_exist_are_linked_from_the_reports_folder(stress_results, tmp_path):
    charts_dir = tmp_path / "report" / "charts"
    make_stress_charts(stress_results, charts_dir)

    text = render_report(
        stress_results, charts_dir, report_dir=tmp_path / "report", sections=STRESS_SECTIONS
    )

    assert "![bubble scenario 1: arms compared](charts/stress-bubble-s1-arms.png)" in text
    assert "![asgi-thread/bubble/s1](charts/stress-asgi-thread-bubble-s1.png)" in text


# Load report ---------------------------------------------------------------------------


def test_the_load_table_shows_throughput_spread_drift_and_the_ramp_apart(tmp_path):
    skipped = {
        "id": "wsgi-sync/bubble/s1",
        "arm": "wsgi-sync",
        "algorithm": "bubble",
        "scenario": 1,
        "status": "skipped",
        "error": "skipped: no threshold in runs/s",
        "flags": {},
    }
    measured = load_record(tmp_path, meter=fake_meter(utilisation=0.9, cpus_busy=0.9))
    results = run_results("load", [measured, skipped], hold_users=4)

    text = render_report(results, None, sections=LOAD_SECTIONS)

    row = table_row(text, "1", "bubble", "asgi-thread")
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[3:14] == [
        "4", "5", "20.0", "0.0", "0.0%", "200", "100", "200", "2.00×", "0 (0.0%)", "90.0%"
    ]  # fmt: skip
    assert cells[14] == "5 s, 20 requests, p95 500 ms"
    assert "| skipped |" in table_row(text, "1", "bubble", "wsgi-sync ⚠1")
    assert "4 users in every cell (`--hold-users`)" in text


def test_a_load_report_names_the_stress_run_its_users_came_from(tmp_path):
    results = run_results("load", [load_record(tmp_path)], from_stress="bench-runs/x")

    text = render_report(results, None, sections=LOAD_SECTIONS)

    assert "the stress run `bench-runs/x` found for it" in text


# Charts -----------------------------------------------------------------------------------


def test_every_stress_cell_and_comparison_gets_a_png_with_a_fixed_name(stress_results, tmp_path):
    written = make_stress_charts(stress_results, tmp_path)

    assert sorted(path.name for path in written) == [
        "stress-asgi-thread-bubble-s1.png",
        "stress-bubble-s1-arms.png",
        "stress-wsgi-sync-bubble-s1.png",
    ]
    for path in written:
        assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_drawing_the_stress_charts_again_overwrites_the_same_files(stress_results, tmp_path):
    first = make_stress_charts(stress_results, tmp_path / "charts")
    second = make_stress_charts(stress_results, tmp_path / "charts")

    assert first == second
    assert len(list((tmp_path / "charts").iterdir())) == len(first)


def test_a_run_without_measured_cells_draws_no_chart(tmp_path):
    results = {"cells": [{"id": "x", "status": "error", "scenario": 1}]}

    assert make_stress_charts(results, tmp_path / "charts") == []
    assert not (tmp_path / "charts").exists()


def test_every_load_cell_and_comparison_gets_a_png(tmp_path):
    results = json.loads(json.dumps(run_results("load", [load_record(tmp_path / "run")])))

    written = make_load_charts(results, tmp_path / "charts")

    cell = results["cells"][0]
    assert written == [
        cell_chart_path(tmp_path / "charts", "load", cell),
        comparison_chart_path(tmp_path / "charts", "load", "bubble", 1),
    ]
    assert all(path.read_bytes().startswith(PNG_SIGNATURE) for path in written)


def test_a_stress_cell_that_ended_before_the_drop_is_still_drawn(tmp_path):
    shape_log = step_shape_log(recovery_users=None, stop_reason="test_stopped", completed=False)
    record = stress_record(tmp_path, shape_log=shape_log)

    written = make_stress_charts(run_results("stress", [record]), tmp_path / "charts")

    chart = cell_chart_path(tmp_path / "charts", "stress", record)
    assert chart in written
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
