"""Repeated cells: round-robin order, their folders, and their merge in the report."""

import copy
import json
from pathlib import Path

import pytest

from bench import repeats, report, runner
from bench.analysis import Rules
from bench.arms import ARMS, Cell
from bench.loadgen import LoadOptions
from bench.report import render_report
from bench.servers import ServerOptions
from bench.sweep import SweepCell

WSGI = ARMS["wsgi-sync"]


def stats(rps: float, **values) -> dict:
    row = {
        "requests": 1000,
        "failures": 0,
        "avg_ms": 50.0,
        "min_ms": 2.0,
        "max_ms": 400.0,
        "avg_size_bytes": 96,
        "rps": rps,
        "failures_per_s": 0.0,
        "p50_ms": 40,
        "p60_ms": 45,
        "p70_ms": 50,
        "p80_ms": 60,
        "p90_ms": 80,
        "p95_ms": 100,
        "p99_ms": 200,
        "p100_ms": 400,
    }
    row.update(values)
    return row


def record(cell: Cell, repeat: int, rps: float, **values) -> dict:
    result = {
        "id": cell.id,
        "arm": cell.arm.name,
        "server": cell.arm.server,
        "algorithm": cell.algorithm,
        "scenario": cell.scenario,
        **cell.params,
        "path": cell.path,
        "status": "ok",
        "error": None,
        "flags": {},
        "stats": stats(rps),
        "probe": stats(2.0, p50_ms=3.0),
        "server_timing": {"count": 100, "wait_ms": 1.0, "sort_ms": 30.0, "client_ms": 40.0},
        "repeat": repeat,
    }
    result.update(values)
    return result


def results_of(cells: list[dict], count: int) -> dict:
    return {"kind": "fixed", "status": "complete", "repeats": count, "cells": cells}


BUILTIN = Cell(WSGI, "builtin", 1)
BUBBLE = Cell(WSGI, "bubble", 1)


# Running ----------------------------------------------------------------------------


def test_repeats_run_round_robin_every_cell_once_per_round():
    schedule = repeats.round_robin([BUILTIN, BUBBLE], 3)

    assert [(cell.id, repeats.repeat_number(cell)) for cell in schedule] == [
        ("wsgi-sync/builtin/s1", 1),
        ("wsgi-sync/bubble/s1", 1),
        ("wsgi-sync/builtin/s1", 2),
        ("wsgi-sync/bubble/s1", 2),
        ("wsgi-sync/builtin/s1", 3),
        ("wsgi-sync/bubble/s1", 3),
    ]


def test_one_repeat_leaves_the_cells_as_they_are():
    cells = [BUILTIN, BUBBLE]

    schedule = repeats.round_robin(cells, 1)

    assert schedule == cells and all(type(cell) is Cell for cell in schedule)
    assert [repeats.folder_name(cell) for cell in schedule] == [
        "wsgi-sync_builtin_s1",
        "wsgi-sync_bubble_s1",
    ]


def test_a_repeated_cell_keeps_what_its_own_kind_of_cell_says():
    sweep_cell = SweepCell(WSGI, "bubble", None, ns=(10, 20), rounds=2)

    second = repeats.repeated(sweep_cell, 2, 3)

    assert isinstance(second, SweepCell)
    assert (second.id, second.path, second.ns) == (sweep_cell.id, sweep_cell.path, (10, 20))
    assert second.label == f"{sweep_cell.label} (repeat 2/3)"
    assert repeats.folder_name(second) == "wsgi-sync_bubble_sweep/repeat2"


def test_zero_repeats_are_refused():
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        repeats.round_robin([BUILTIN], 0)


def test_run_plan_numbers_each_record_and_gives_each_repeat_its_own_folder(tmp_path):
    folders = []

    def fake_runner(cell: Cell, plan: runner.RunPlan) -> dict:
        folder = runner.cell_folder(cell, plan)
        folders.append(folder.relative_to(tmp_path).as_posix())
        return record(cell, 0, 10.0)

    plan = runner.RunPlan(
        cells=[BUILTIN, BUBBLE],
        server=ServerOptions(),
        load=LoadOptions(),
        run_dir=tmp_path,
        repeats=2,
    )

    results = runner.run_plan(plan, fake_runner)

    assert [(c["id"], c["repeat"]) for c in results["cells"]] == [
        ("wsgi-sync/builtin/s1", 1),
        ("wsgi-sync/bubble/s1", 1),
        ("wsgi-sync/builtin/s1", 2),
        ("wsgi-sync/bubble/s1", 2),
    ]
    assert results["repeats"] == 2
    assert len(set(folders)) == 4
    assert folders[0] == "wsgi-sync_builtin_s1/repeat1"


# Merging ------------------------------------------------------------------------------


def test_merge_gives_the_median_of_every_number_over_the_repeats():
    cells = [
        record(BUILTIN, 1, 100.0, stats=stats(100.0, p95_ms=90)),
        record(BUILTIN, 2, 104.0, stats=stats(104.0, p95_ms=300)),
        record(BUILTIN, 3, 98.0, stats=stats(98.0, p95_ms=110)),
    ]

    (merged,) = repeats.merge_repeats(results_of(cells, 3))["cells"]

    assert merged["stats"]["rps"] == 100.0
    assert merged["stats"]["p95_ms"] == 110
    assert merged["probe"]["p50_ms"] == 3.0
    assert merged["server_timing"]["sort_ms"] == 30.0
    assert merged["stats"][repeats.SPREAD_KEY] == pytest.approx(6 / 100)
    assert "repeat" not in merged
    assert merged["repeats"]["count"] == 3


def test_merge_takes_medians_of_any_measured_dict_and_adds_up_failure_causes():
    cells = [
        record(BUILTIN, 1, 100.0, server_cpu={"busy": 0.9, "note": "a"}),
        record(BUILTIN, 2, 100.0, server_cpu={"busy": 0.5, "note": "b"}),
        record(BUILTIN, 3, 100.0, server_cpu={"busy": 0.7, "note": "c"}),
    ]
    for index, cell in enumerate(cells):
        cell["failure_causes"] = {"server": {"HTTP 503": index}, "harness": {}}

    (merged,) = repeats.merge_repeats(results_of(cells, 3))["cells"]

    assert merged["server_cpu"] == {"busy": 0.7, "note": "a"}
    assert merged["failure_causes"] == {"server": {"HTTP 503": 3}, "harness": {}}


def test_a_spread_above_the_limit_flags_the_cell_with_its_numbers():
    cells = [record(BUILTIN, 1, 80.0), record(BUILTIN, 2, 100.0), record(BUILTIN, 3, 120.0)]

    (merged,) = repeats.merge_repeats(results_of(cells, 3))["cells"]

    reason = merged["flags"][repeats.SPREAD_FLAG]
    assert "RPS varied by 40.0% of the median across 3 repeats" in reason
    assert "(min 80.0, median 100.0, max 120.0)" in reason
    assert "more than the 15.0%" in reason


def test_a_spread_within_the_limit_raises_no_flag():
    cells = [record(BUILTIN, 1, 100.0), record(BUILTIN, 2, 110.0)]

    (merged,) = repeats.merge_repeats(results_of(cells, 2), Rules(max_spread=0.15))["cells"]

    assert merged["flags"] == {}


def test_the_limit_comes_from_the_rules():
    cells = [record(BUILTIN, 1, 100.0), record(BUILTIN, 2, 110.0)]

    (merged,) = repeats.merge_repeats(results_of(cells, 2), Rules(max_spread=0.05))["cells"]

    assert repeats.SPREAD_FLAG in merged["flags"]


def test_each_repeats_flags_are_kept_and_say_which_repeat():
    cells = [
        record(BUILTIN, 1, 100.0, flags={"cpu_warning": "Locust's CPU went above 90 %"}),
        record(BUILTIN, 2, 100.0),
        record(BUILTIN, 3, 100.0, flags={"cpu_warning": "Locust's CPU went above 90 %"}),
    ]

    (merged,) = repeats.merge_repeats(results_of(cells, 3))["cells"]

    assert merged["flags"] == {
        "cpu_warning": "repeat 1: Locust's CPU went above 90 %; "
        "repeat 3: Locust's CPU went above 90 %"
    }


def test_a_failed_repeat_is_flagged_and_left_out_of_the_medians():
    cells = [
        record(BUILTIN, 1, 100.0),
        record(BUILTIN, 2, 0.0, status="error", error="server did not start", stats=None),
        record(BUILTIN, 3, 102.0),
    ]

    (merged,) = repeats.merge_repeats(results_of(cells, 3))["cells"]

    assert merged["status"] == "ok"
    assert merged["stats"]["rps"] == 101.0
    assert merged["flags"][repeats.REPEAT_FAILED_FLAG] == (
        "repeat 2 failed: server did not start; the numbers are medians of the other 2"
    )


def test_a_cell_whose_repeats_all_failed_stays_failed_with_every_error():
    cells = [
        record(BUILTIN, 1, 0.0, status="error", error="port busy", stats=None),
        record(BUILTIN, 2, 0.0, status="error", error="no answer", stats=None),
    ]

    (merged,) = repeats.merge_repeats(results_of(cells, 2))["cells"]

    assert merged["status"] == "error"
    assert merged["error"] == "repeat 1: port busy; repeat 2: no answer"


def test_a_run_without_repeats_is_not_touched():
    results = results_of([record(BUILTIN, 1, 100.0), record(BUBBLE, 1, 20.0)], 1)

    assert repeats.merge_repeats(results) is results


def test_merging_merged_results_changes_nothing():
    results = results_of([record(BUILTIN, 1, 80.0), record(BUILTIN, 2, 120.0)], 2)

    once = repeats.merge_repeats(results)

    assert repeats.merge_repeats(once) is once
    assert len(once["cells"]) == 1


def test_a_single_repeat_of_a_repeated_run_shows_no_spread():
    (merged,) = repeats.merge_repeats(results_of([record(BUILTIN, 1, 100.0)], 3))["cells"]

    assert merged["stats"][repeats.SPREAD_KEY] is None
    assert merged["flags"] == {}


# Report ---------------------------------------------------------------------------------


def summary_row(markdown: str, algorithm: str) -> list[str]:
    table = markdown.split("### Requests, latency and throughput")[1]
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == algorithm:
            return cells
    raise AssertionError(f"no {algorithm} row in:\n{table}")


def summary_header(markdown: str) -> list[str]:
    table = markdown.split("### Requests, latency and throughput")[1]
    header = next(line for line in table.splitlines() if line.startswith("|"))
    return [cell.strip() for cell in header.strip().strip("|").split(" | ")]


@pytest.fixture
def repeated_results() -> dict:
    return results_of(
        [
            record(BUILTIN, 1, 100.0),
            record(BUBBLE, 1, 20.0),
            record(BUILTIN, 2, 104.0),
            record(BUBBLE, 2, 30.0),
        ],
        2,
    )


def test_report_shows_one_row_per_cell_with_medians_and_the_rps_spread(repeated_results):
    markdown = render_report(repeated_results, None)

    assert summary_header(markdown)[8:10] == ["RPS", "RPS spread"]
    assert summary_row(markdown, "builtin")[8:10] == ["102.0", "3.9%"]
    assert markdown.count("| builtin | wsgi-sync") == 3  # one row in each of three tables
    assert "Each number is the median over the cell's 2 repeats" in markdown


def test_report_marks_a_too_wide_cell_and_lists_it_under_validity(repeated_results):
    markdown = render_report(repeated_results, None)
    validity = markdown.split("## Validity")[1]

    assert summary_row(markdown, "bubble")[1] == "wsgi-sync ⚠1"
    assert "- ⚠1 `wsgi-sync/bubble/s1` is flagged:" in validity
    assert "`spread_too_wide`: RPS varied by 40.0% of the median across 2 repeats" in validity
    assert "**Spread**: a repeated cell whose RPS spread is above 15.0%" in validity


def test_load_settings_say_how_often_each_cell_ran(repeated_results):
    repeated_results["load_options"] = {"users": 8, "run_time_s": 15, "probe": False}

    markdown = render_report(repeated_results, None)

    assert "- repeats: each cell ran 2 times, round-robin over the cells" in markdown


def test_with_one_repeat_the_report_is_what_it_was_without_repeats():
    cells = [record(BUILTIN, 1, 100.0), record(BUBBLE, 1, 20.0, flags={"cut_off": "late"})]
    with_repeats = results_of(cells, 1)
    without = copy.deepcopy(with_repeats)
    del without["repeats"]
    for cell in without["cells"]:
        del cell["repeat"]

    assert render_report(with_repeats, None) == render_report(without, None)
    assert "RPS spread" not in render_report(with_repeats, None)


def test_render_from_run_charts_the_medians(repeated_results, tmp_path):
    drawn = []

    def record_charts(results: dict, charts_dir: Path) -> list[Path]:
        drawn.append(results)
        return []

    (tmp_path / "results.json").write_text(json.dumps(repeated_results))

    report.render_from_run(tmp_path, tmp_path / "b.md", tmp_path / "charts", None, record_charts)

    assert [cell["stats"]["rps"] for cell in drawn[0]["cells"]] == [102.0, 25.0]
