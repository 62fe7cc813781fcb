import pytest

from bench import charts
from bench.charts import (
    chart_path,
    latency_figure,
    make_charts,
    needs_log_scale,
    planned_charts,
    rps_figure,
    scenario_grids,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def cell(arm: str, algorithm: str, scenario: int | None, **values) -> dict:
    record = {
        "id": f"{arm}/{algorithm}" + (f"/s{scenario}" if scenario else ""),
        "arm": arm,
        "algorithm": algorithm,
        "scenario": scenario,
        "status": "ok",
        "flags": {},
        "stats": {"rps": 50.0, "p50_ms": 40.0, "p95_ms": 90.0},
    }
    if scenario is not None:
        record.update(n={1: 1000, 2: 10000}[scenario], max={1: 5000, 2: 50000}[scenario])
    record.update(values)
    return record


@pytest.fixture
def results() -> dict:
    return {
        "cells": [
            cell("wsgi-sync", "ping", None, stats={"rps": 900.0, "p50_ms": 2, "p95_ms": 5}),
            cell("wsgi-sync", "builtin", 1),
            cell(
                "wsgi-sync",
                "bubble",
                1,
                stats={"rps": 2.5, "p50_ms": 3100.0, "p95_ms": 5200.0},
                flags={"cpu_warning": "Locust's CPU went above 90 %"},
            ),
            cell("asgi-thread", "builtin", 1, stats={"rps": 80.0, "p50_ms": None, "p95_ms": 70}),
            cell("asgi-thread", "bubble", 1, status="error", stats=None),
            cell("wsgi-sync", "builtin", 2, stats={"rps": 12.0, "p50_ms": 600, "p95_ms": 900}),
        ]
    }


def test_every_scenario_gets_a_throughput_and_a_latency_png(results, tmp_path):
    written = make_charts(results, tmp_path / "benchmarks")

    assert sorted(path.name for path in written) == [
        "scenario1-latency.png",
        "scenario1-rps.png",
        "scenario2-latency.png",
        "scenario2-rps.png",
    ]
    for path in written:
        assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_chart_names_depend_only_on_scenario_and_metric(tmp_path):
    assert chart_path(tmp_path, 2, charts.RPS) == tmp_path / "scenario2-rps.png"


def test_redrawing_the_same_results_gives_the_same_bytes(results, tmp_path):
    first = {p.name: p.read_bytes() for p in make_charts(results, tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in make_charts(results, tmp_path / "b")}

    assert first == second


def test_no_cells_means_no_charts_and_no_folder(tmp_path):
    assert make_charts({"cells": []}, tmp_path / "benchmarks") == []
    assert make_charts({}, tmp_path / "benchmarks") == []
    assert not (tmp_path / "benchmarks").exists()


def test_ping_cells_alone_are_not_charted(results, tmp_path):
    results["cells"] = [c for c in results["cells"] if c["algorithm"] == "ping"]

    assert make_charts(results, tmp_path) == []


def test_a_scenario_whose_cells_all_failed_is_skipped(results, tmp_path):
    for record in results["cells"]:
        if record["scenario"] == 2:
            record.update(status="error", stats=None)

    assert set(planned_charts(results, tmp_path)) == {(1, "rps"), (1, "latency")}
    assert not list(tmp_path.glob("scenario2-*.png"))


def test_failed_cell_keeps_its_slot_but_has_no_value(results):
    grid = scenario_grids(results)[1]

    assert grid.algorithms == ["builtin", "bubble"]
    assert grid.arms == ["wsgi-sync", "asgi-thread"]
    assert ("bubble", "asgi-thread", "rps") not in grid.values
    assert grid.flagged == {("bubble", "wsgi-sync")}
    assert grid.failed == {("bubble", "asgi-thread")}


def test_a_failed_cell_is_labelled_failed_on_the_chart(results):
    figure = rps_figure(scenario_grids(results)[1])

    assert "failed" in [text.get_text() for text in figure.axes[0].texts]


def test_latency_spanning_orders_of_magnitude_uses_a_log_axis(results):
    figure = latency_figure(scenario_grids(results)[1])

    assert [axes.get_yscale() for axes in figure.axes] == ["log", "log"]


def test_close_values_keep_a_linear_axis(results):
    figure = rps_figure(scenario_grids(results)[2])

    assert figure.axes[0].get_yscale() == "linear"
    assert figure.axes[0].get_ylabel() == "requests per second"


def test_charts_carry_titles_and_a_legend(results):
    figure = rps_figure(scenario_grids(results)[1])
    axes = figure.axes[0]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]

    assert axes.get_title() == "Scenario 1 (n = 1,000, max = 5,000): throughput"
    assert legend == ["wsgi-sync", "asgi-thread", "flagged: see Validity"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1, 5000], True), ([10, 900], False), ([None, 0, 5], False), ([], False)],
)
def test_log_scale_only_when_values_span_two_orders_of_magnitude(values, expected):
    assert needs_log_scale(values) is expected
