"""The bottleneck sections of the report, rendered from a synthetic run."""

import pytest

from bench import bottleneck_report, report
from bench.report import render_report

CEILING = "## The ceiling: one request's work, in-process"
EFFICIENCY = "## Throughput against the ceiling, and who is saturated"
PROBE = "## The light request: under load and idle"
FRAMEWORK = "## The framework's own cost per request"
COMPARISON = "## Comparison by workload"
TARGETS = "## Targets"


def server_cpu(utilisation, per_request, cpus_busy=None, busiest=None) -> dict:
    return {
        "utilisation": utilisation,
        "cpus_busy": utilisation if cpus_busy is None else cpus_busy,
        "busiest_process_cores": utilisation if busiest is None else busiest,
        "cpu_ms_per_request": per_request,
        "cores": 1,
        "exited": 0,
    }


def cell(arm, algorithm, scenario, rps, cpu, probe=None, **values) -> dict:
    server = "gunicorn" if arm.startswith("wsgi") else "uvicorn"
    identity = f"{arm}/ping" if scenario is None else f"{arm}/{algorithm}/s{scenario}"
    record = {
        "id": identity,
        "arm": arm,
        "server": server,
        "algorithm": algorithm,
        "scenario": scenario,
        "status": "ok",
        "error": None,
        "flags": {},
        "stats": {"rps": rps, "requests": 300, "failures": 0, "p50_ms": 400.0, "p95_ms": 500.0},
        "probe": probe,
        "server_timing": {},
        "server_cpu": cpu,
    }
    record.update(values)
    return record


@pytest.fixture
def results() -> dict:
    return {
        "status": "complete",
        "kind": "fixed",
        "load_options": {"probe_rate": 2.0},
        "server_options": {"process_pool": 1},
        "ceiling": {
            "status": "ok",
            "error": None,
            "cpus": [0],
            "repeats": 5,
            "warm_ups": 1,
            "jobs": {
                "bubble/s1": {
                    "median_ms": 62.0,
                    "min_ms": 55.0,
                    "max_ms": 90.0,
                    "cpu_median_ms": 50.0,
                    "count": 5,
                }
            },
        },
        "idle_probe": {
            "wsgi-sync": {
                "status": "ok",
                "stats": {"requests": 30, "p50_ms": 2.0, "p95_ms": 4.0, "max_ms": 6.0},
                "server_cpu": {"cpu_ms_per_request": 0.8},
                "flags": {},
            },
            "asgi-process": {
                "status": "error",
                "error": "asgi-process exited with code 1 before answering",
                "stats": None,
                "flags": {},
            },
        },
        "cells": [
            cell("wsgi-sync", "ping", None, 1200.0, server_cpu(0.97, 0.81)),
            cell(
                "wsgi-sync",
                "bubble",
                1,
                19.0,
                server_cpu(0.98, 51.0),
                probe={"requests": 30, "p50_ms": 300.0, "p95_ms": 420.0},
            ),
            cell("asgi-process", "ping", None, 500.0, server_cpu(0.6, 1.23)),
            cell(
                "asgi-process",
                "bubble",
                1,
                16.0,
                server_cpu(0.5, 60.0, cpus_busy=0.99),
                probe={"requests": 30, "p50_ms": 3.0, "p95_ms": 9.0},
                flags={"cpu_warning": "Locust's CPU went above 90 %"},
            ),
        ],
        "failures": [],
    }


def section(markdown: str, heading: str) -> str:
    lines = markdown.splitlines()
    start = lines.index(heading)
    body = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        body.append(line)
    return "\n".join(body)


def row(text: str, *labels: str) -> list[str]:
    for line in text.splitlines():
        cells = [part.strip() for part in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[: len(labels)] == list(labels):
            return cells
    raise AssertionError(f"no row starting with {labels} in:\n{text}")


def test_the_bottleneck_sections_are_part_of_the_fixed_report():
    for chosen in bottleneck_report.SECTIONS:
        assert chosen in report.SECTIONS


def test_the_ceiling_table_shows_cpu_and_wall_times_and_the_ceiling_rps(results):
    table = section(render_report(results, None), CEILING)

    assert row(table, "bubble", "1") == [
        "bubble", "1", "50.0", "62.0", "55.0", "90.0", "5", "20.0",
    ]  # fmt: skip
    assert "pinned to CPU(s) 0, the server's" in table


def test_a_ceiling_that_failed_says_so_instead_of_a_table(results):
    results["ceiling"] = {"status": "error", "error": "the ceiling subprocess failed: boom"}

    table = section(render_report(results, None), CEILING)

    assert "Not measured: the ceiling subprocess failed: boom." in table


def test_the_efficiency_table_puts_throughput_beside_ceiling_cpu_and_verdict(results):
    table = section(render_report(results, None), EFFICIENCY)

    assert row(table, "bubble", "1", "wsgi-sync") == [
        "bubble", "1", "wsgi-sync", "19.0", "0", "20.0", "95%", "98%", "0%", "98%",
        "51.0", "50.0", "server CPU",
    ]  # fmt: skip
    flagged = row(table, "bubble", "1", "asgi-process ⚠1")
    assert flagged[6:8] == ["80%", "50%"]
    assert flagged[8] == "49%"
    assert flagged[-1] == "server's CPUs, shared with others and Locust CPU"


def test_the_efficiency_table_warns_when_a_cell_needed_less_cpu_than_the_ceiling(results):
    results["cells"][1]["server_cpu"]["cpu_ms_per_request"] = 40.0

    table = section(render_report(results, None), EFFICIENCY)

    assert "**⚠ The CPU's speed changed during this run.**" in table
    assert "(share of it in brackets): wsgi-sync bubble s1 (80%)." in table


def test_an_efficiency_table_without_drift_has_no_speed_warning(results):
    table = section(render_report(results, None), EFFICIENCY)

    assert "speed changed" not in table


def test_the_probe_tables_give_idle_and_loaded_latency_and_their_ratio(results):
    text = section(render_report(results, None), PROBE)

    assert row(text, "wsgi-sync", "30") == ["wsgi-sync", "30", "2.0", "4.0", "6.0", "0.80", ""]
    assert row(text, "asgi-process", "failed")[-1] == (
        "asgi-process exited with code 1 before answering"
    )
    assert row(text, "bubble", "1", "wsgi-sync") == [
        "bubble", "1", "wsgi-sync", "30", "300", "420", "2.0", "4.0", "150.0×", "105.0×",
    ]  # fmt: skip
    assert row(text, "bubble", "1", "asgi-process ⚠1")[-2:] == ["—", "—"]


def test_the_framework_cost_table_gives_each_pings_cpu_per_request(results):
    table = section(render_report(results, None), FRAMEWORK)

    assert row(table, "wsgi-sync", "gunicorn")[2:5] == ["1,200.0", "0.81", "97%"]
    assert row(table, "asgi-process", "uvicorn")[-1] == "neither"


def test_the_comparison_names_the_best_and_worst_arm_of_each_workload(results):
    table = section(render_report(results, None), COMPARISON)

    assert row(table, "bubble", "1") == [
        "bubble",
        "1",
        "wsgi-sync (19.0/s, 95% of ceiling)",
        "asgi-process (16.0/s, 80% of ceiling)",
        "asgi-process (9.0 ms)",
        "wsgi-sync (420 ms, 105.0× idle)",
    ]


def test_the_targets_section_lists_each_target_with_its_status_and_reasons(results):
    text = section(render_report(results, None), TARGETS)

    assert (
        "- **met**: best arm ≥ 90% of the ceiling, bubble scenario 1: wsgi-sync: 95% of "
        "the ceiling (19.0 of 20.0 requests/s)"
    ) in text
    assert "- not measured: best arm ≥ 90% of the ceiling, bubble scenario 2" in text
    assert (
        "- not measured: probe p95 under load ≤ 3× idle (process arm), asgi-process "
        "bubble scenario 1: no probe p95 on the idle server"
    ) in text
    assert "- **missed**: ASGI ping ≥ 50% of the WSGI ping's RPS, ping: asgi-process 500" in text
    assert "  - why: uvicorn spent 1.23 ms of CPU per ping, gunicorn 0.81 ms" in text


def test_a_run_from_before_the_bottleneck_data_renders_without_these_sections(results):
    for key in ("ceiling", "idle_probe"):
        del results[key]
    for record in results["cells"]:
        record["server_cpu"] = None
        record["probe"] = None

    markdown = render_report(results, None)

    for heading in (CEILING, EFFICIENCY, PROBE, FRAMEWORK):
        assert heading not in markdown
    assert TARGETS in markdown
