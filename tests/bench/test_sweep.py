"""The sweep kind: sizes, schedule, fits, records and their report, no servers."""

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import sweep, sweep_report
from bench.arms import ARMS
from bench.loadgen import LoadOptions
from bench.report import render_report
from bench.runner import RunPlan
from bench.servers import ServerOptions
from bench.sweep import SweepCell, SweepError
from sorts.params import N_CAPS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WSGI_SYNC = ARMS["wsgi-sync"]


def power_law(n: int, exponent: float, scale: float = 1e-6) -> float:
    return scale * n**exponent


def synthetic_points(ns, exponent: float, rounds: int = 3, fixed_ms: float = 0.0) -> list[dict]:
    """Points as the sweep stores them, with times from a known power law.

    Rounds disagree by a few percent, in a pattern, so medians have work to
    do; the warm-up round is absurdly slow, so using it would show.
    """
    points = []
    for round_number, n in sweep.schedule(ns, rounds, warm_up_rounds=1):
        wobble = 1 + 0.03 * ((round_number + n) % 3 - 1)
        sort_ms = power_law(n, exponent) * wobble * (1000 if round_number < 1 else 1)
        in_process = sweep.new_point(sweep.IN_PROCESS, round_number, n, sort_ms=sort_ms)
        client_ms = fixed_ms + sort_ms
        over_http = sweep.new_point(
            sweep.HTTP,
            round_number,
            n,
            sort_ms=sort_ms,
            generate_ms=0.0,
            wait_ms=0.0,
            client_ms=client_ms,
            other_ms=fixed_ms,
        )
        points += [in_process, over_http]
    return points


def recorded(algorithm: str, ns, exponent: float, fixed_ms: float = 0.0, **values) -> dict:
    cell = SweepCell(WSGI_SYNC, algorithm, None, ns=tuple(ns), rounds=3)
    record = sweep.new_sweep_record(cell)
    record["points"] = synthetic_points(ns, exponent, fixed_ms=fixed_ms)
    record.update(sweep.summarize(record["points"], ns))
    record["server_command"] = (
        "/tmp/venv/bin/python -m gunicorn asyncproj.wsgi --bind 127.0.0.1:40111 --workers 1"
    )
    record["in_process"] = {"command": "python -m bench.sweep ...", "cpus": [0]}
    record.update(values)
    return record


@pytest.fixture
def results() -> dict:
    return {
        "kind": "sweep",
        "status": "complete",
        "server_options": {"workers": 1, "cpus": [0]},
        "load_options": {"cpus": [1]},
        "cells": [
            recorded("bubble", [250, 500, 1000, 2000, 4000], 2.0, fixed_ms=2.0),
            recorded("builtin", [1000, 10_000, 100_000], 1.1, fixed_ms=2.0),
        ],
        "failures": [],
    }


def row(markdown: str, first: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first:
            return cells
    raise AssertionError(f"no row starting with {first!r} in:\n{markdown}")


# Planning -----------------------------------------------------------------------


def test_sizes_are_evenly_spaced_on_a_log_scale():
    assert sweep.sizes(250, 4000, 5) == [250, 500, 1000, 2000, 4000]


@pytest.mark.parametrize(("low", "high", "points"), [(10, 100, 1), (100, 100, 3), (0, 10, 3)])
def test_sizes_refuse_a_series_that_cannot_give_a_slope(low, high, points):
    with pytest.raises(ValueError):
        sweep.sizes(low, high, points)


def test_every_sweep_stays_under_the_apps_cap_for_its_algorithm(monkeypatch):
    monkeypatch.setitem(sweep.SWEEP_RANGES, "bubble", (250, 50_000))

    cells = sweep.sweep_cells("wsgi-sync", ["bubble", "builtin", "priority_queue"], points=4)

    for cell in cells:
        assert cell.ns[-1] <= N_CAPS[cell.algorithm]
    assert cells[1].ns[-1] == N_CAPS["bubble"]


def test_sweep_cells_follow_the_classroom_order_and_name_arm_and_algorithm():
    cells = sweep.sweep_cells("asgi-thread", ["bubble", "builtin"], points=3, rounds=2)

    assert [cell.id for cell in cells] == ["asgi-thread/builtin/sweep", "asgi-thread/bubble/sweep"]
    assert [cell.path for cell in cells] == ["/async/thread/builtin/", "/async/thread/bubble/"]
    assert all(len(cell.ns) == 3 and cell.rounds == 2 for cell in cells)


def test_sweep_cells_refuse_an_unknown_arm_by_name():
    with pytest.raises(ValueError, match="unknown arm 'nginx'"):
        sweep.sweep_cells("nginx", ["builtin"])


def test_cells_come_from_the_commands_sweep_options():
    options = {
        "sweep_arm": "asgi-process",
        "algorithms": ["priority_queue"],
        "sweep_points": 4,
        "sweep_rounds": 7,
    }

    (cell,) = sweep.cells_from_options(options)

    assert cell.arm.name == "asgi-process"
    assert (cell.algorithm, len(cell.ns), cell.rounds) == ("priority_queue", 4, 7)


def test_a_sweep_plan_runs_no_locust_baselines_and_says_what_each_cell_does(tmp_path):
    plan = RunPlan(
        cells=sweep.sweep_cells("wsgi-sync", ["builtin"], points=3, rounds=4),
        server=ServerOptions(),
        load=LoadOptions(),
        run_dir=tmp_path,
        ceiling_repeats=5,
        idle_probe_s=10,
    )

    finished = sweep.finish_plan(plan)

    assert (finished.ceiling_repeats, finished.idle_probe_s) == (0, 0)
    assert finished.detail.startswith("4 timed rounds of each size")


def test_schedule_times_every_size_once_per_round_warm_up_first():
    assert sweep.schedule([10, 20], rounds=2, warm_up_rounds=1) == [
        (0, 10),
        (0, 20),
        (1, 10),
        (1, 20),
        (2, 10),
        (2, 20),
    ]


def test_a_request_asks_for_max_five_times_n_and_the_rounds_seed():
    assert sweep.sweep_path("/sync/bubble/", 250, 3) == "/sync/bubble/?n=250&max=1250&seed=3"


# Fits ---------------------------------------------------------------------------


@pytest.mark.parametrize("exponent", [1.0, 1.5, 2.0])
def test_fit_recovers_a_known_exponent_from_synthetic_points(exponent):
    ns = sweep.sizes(250, 64_000, 6)

    summary = sweep.summarize(synthetic_points(ns, exponent), ns)

    for name in sweep.SERIES:
        if name == "http_client":
            continue
        assert summary["fits"][name]["exponent"] == pytest.approx(exponent, abs=0.02)
        assert summary["fits"][name]["r_squared"] > 0.99


def test_a_fixed_cost_per_request_flattens_the_client_latency_fit():
    ns = sweep.sizes(100, 10_000, 5)

    summary = sweep.summarize(synthetic_points(ns, 1.0, fixed_ms=5.0), ns)

    assert summary["fits"]["http_sort"]["exponent"] == pytest.approx(1.0, abs=0.02)
    assert summary["fits"]["http_client"]["exponent"] < 0.5


def test_medians_leave_out_warm_up_rounds_and_count_the_timed_ones():
    points = synthetic_points([100, 200], 1.0, rounds=3)

    medians = sweep.series_medians(points, sweep.IN_PROCESS, "sort_ms", [100, 200])

    assert [item["count"] for item in medians] == [3, 3]
    assert medians[0]["ms"] == pytest.approx(power_law(100, 1.0), rel=0.05)


def test_each_size_keeps_how_far_its_rounds_disagree():
    points = synthetic_points([100, 200], 1.0, rounds=3)

    medians = sweep.series_medians(points, sweep.IN_PROCESS, "sort_ms", [100, 200])

    assert [item["spread"] for item in medians] == pytest.approx([0.06, 0.06])


def sized(*spreads: float | None, count: int = 5) -> list[dict]:
    return [
        {"n": 10 * (index + 1), "ms": 1.0, "count": count, "spread": value}
        for index, value in enumerate(spreads)
    ]


def test_a_sweep_is_flagged_noisy_when_most_sizes_of_a_series_disagree():
    medians = {"in_process": sized(0.01, 0.02, 0.03), "http_sort": sized(0.5, 0.4, 0.02)}

    flag = sweep.noisy_flag(medians)

    assert flag == {
        "noisy_rounds": "the timed rounds disagreed by more than 15% ((max − min) / "
        "median) at most sizes (http_sort: 2 of 3): the machine was likely busy, and the "
        "fitted exponents may move on a re-run"
    }


def test_a_few_wide_sizes_or_single_rounds_do_not_make_a_sweep_noisy():
    assert sweep.noisy_flag({"in_process": sized(0.5, 0.01, 0.01, 0.9)}) == {}
    assert sweep.noisy_flag({"in_process": sized(None, None, count=1)}) == {}


def test_a_series_with_one_usable_size_gets_no_fit():
    assert sweep.fit_series([{"n": 10, "ms": 1.0, "count": 3}]) is None
    assert sweep.fit_series([{"n": 10, "ms": 1.0}, {"n": 20, "ms": 0.0}]) is None


def test_theory_over_the_range_is_above_one_for_n_log_n_and_two_for_bubble():
    ns = sweep.sizes(1000, 200_000, 6)
    local = sweep.theory_over_range("builtin", ns)

    assert 1.0 < local < 1.0 + 1 / math.log(1000)
    assert sweep.theory_over_range("bubble", [250, 4000]) == pytest.approx(2.0)


# The timing child and the client ---------------------------------------------------


def test_the_timing_child_writes_a_point_per_round_and_size(tmp_path):
    output = tmp_path / "points.json"

    code = sweep.main(
        ["--algorithm", "builtin", "--ns", "10,20", "--rounds", "2", "--output", str(output)]
    )

    data = json.loads(output.read_text())
    assert code == 0
    assert [(p["round"], p["n"], p["max"]) for p in data["points"]] == [
        (0, 10, 50),
        (0, 20, 100),
        (1, 10, 50),
        (1, 20, 100),
        (2, 10, 50),
        (2, 20, 100),
    ]
    assert all(p["sort_ms"] >= 0 and p["mode"] == "in_process" for p in data["points"])


class Answers(BaseHTTPRequestHandler):
    """A stand-in for the app: 200 with timings on /ok/, 503 elsewhere."""

    def do_GET(self):  # noqa: N802 - the name http.server calls
        if self.path.startswith("/ok/"):
            body = json.dumps({"wait_ms": 0.5, "generate_ms": 1.0, "sort_ms": 2.0}).encode()
            self.send_response(200)
        else:
            body = b'{"error": "busy"}'
            self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_timed_request_keeps_the_servers_timings_and_the_rest_of_the_latency(stand_in):
    timing = sweep.timed_request(stand_in, "/ok/?n=10")

    assert (timing["wait_ms"], timing["generate_ms"], timing["sort_ms"]) == (0.5, 1.0, 2.0)
    assert timing["other_ms"] == pytest.approx(timing["client_ms"] - 3.5)


def test_a_timed_request_that_is_not_answered_200_stops_the_series(stand_in):
    with pytest.raises(SweepError, match="answered 503"):
        sweep.timed_request(stand_in, "/busy/?n=10")


# Report -------------------------------------------------------------------------


def test_exponent_table_puts_theory_beside_each_fitted_series(results):
    markdown = render_report(results, None, sections=sweep_report.SECTIONS)

    bubble = row(markdown, "bubble")
    assert bubble[1:3] == ["O(n²): 2", "2.00"]
    assert bubble[3:7] == ["2.00", "1.000", "2.00", "1.000"]
    builtin = row(markdown, "builtin")
    assert builtin[1] == "O(n log n): 1"
    assert builtin[3] == "1.10"
    assert float(builtin[7]) < 1.0  # client latency carries a fixed 2 ms


def test_report_explains_which_series_is_which_and_the_fixed_cost(results):
    markdown = render_report(results, None, sections=sweep_report.SECTIONS)

    assert "*HTTP, server sort*" in markdown
    assert "This is the honest exponent over HTTP" in markdown
    assert "the curve is flat at small n" in markdown
    assert "bubble at n = 250: 2.1 ms of latency, 0.1 ms of sort" in markdown


def test_report_gives_the_medians_behind_each_fit(results):
    markdown = render_report(results, None, sections=sweep_report.SECTIONS)
    table = markdown.split("### bubble: median time per size")[1]

    assert row(table, "4,000") == [
        "4,000",
        "20,000",
        "16.0",
        "16.0",
        "18.0",
        "2.0",
        "6.0%",
        "6.0%",
    ]


def test_setup_names_the_server_model_the_cpus_and_the_sizes(results):
    markdown = render_report(results, None, sections=sweep_report.SECTIONS)

    assert "`wsgi-sync` (gunicorn, sync workers" in markdown
    assert "1 worker process" in markdown
    assert "server on CPU 0, the in-process timing child on CPU 0, the HTTP client on CPU 1" in (
        markdown
    )
    assert "**bubble**: n from 250 to 4,000 in 5 sizes, max = 5 × n" in markdown
    assert "--bind 127.0.0.1:PORT" in markdown


def test_a_failed_sweep_shows_dashes_and_its_error_under_validity(results):
    failed = recorded("priority_queue", [1000, 2000], 1.0)
    failed.update(status="error", error="over HTTP: GET /sync/... failed: refused")
    failed["points"] = [p for p in failed["points"] if p["mode"] == "in_process"]
    failed.update(sweep.summarize(failed["points"], failed["ns"]))
    results["cells"].append(failed)

    markdown = render_report(results, None, sections=sweep_report.SECTIONS)

    assert row(markdown, "priority_queue ⚠1")[5:] == ["—", "—", "—", "—"]
    assert "**failed**: over HTTP: GET /sync/... failed: refused" in markdown


def test_chart_is_drawn_and_linked_relative_to_the_report(results, tmp_path):
    charts_dir = tmp_path / "charts"

    (path,) = sweep_report.make_charts(results, charts_dir)
    markdown = render_report(
        results, charts_dir, report_dir=tmp_path, sections=sweep_report.SECTIONS
    )

    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert "![Time against n, log-log](charts/sweep-growth.png)" in markdown


def test_no_chart_is_drawn_without_medians(tmp_path):
    assert sweep_report.make_charts({"cells": [{"id": "x", "ns": [1, 2]}]}, tmp_path) == []
    assert not list(tmp_path.iterdir())


# Real runs --------------------------------------------------------------------------


def tiny_plan(tmp_path: Path, cell: SweepCell) -> RunPlan:
    return RunPlan(cells=[cell], server=ServerOptions(), load=LoadOptions(), run_dir=tmp_path)


@pytest.mark.slow
def test_the_in_process_sweep_runs_a_pinned_child_for_every_round(tmp_path):
    cell = SweepCell(WSGI_SYNC, "bubble", None, ns=(20, 40), rounds=2)
    record = sweep.new_sweep_record(cell)

    points = sweep.measure_in_process(cell, tiny_plan(tmp_path, cell), tmp_path, record)

    assert len(points) == 3 * 2
    assert record["in_process"]["cpus"]
    assert sweep.summarize(points, cell.ns)["fits"]["in_process"]["points"] == 2


@pytest.mark.slow
def test_a_whole_sweep_cell_times_in_process_and_over_http(tmp_path):
    cell = SweepCell(WSGI_SYNC, "builtin", None, ns=(100, 1000), rounds=1)

    record = sweep.run_sweep_cell(cell, tiny_plan(tmp_path, cell))

    assert record["status"] == "ok", record["error"]
    assert {point["mode"] for point in record["points"]} == {"in_process", "http"}
    assert all(record["fits"][name] for name in sweep.SERIES)
    assert "gunicorn" in record["server_command"]
