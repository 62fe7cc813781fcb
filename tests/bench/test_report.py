import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import report
from bench.reference import classroom_section, format_ms, load_classroom
from bench.report import (
    BLOCK_END,
    BLOCK_START,
    render_from_run,
    render_report,
    update_benchmarks_md,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SERVER_ERROR = "asgi-thread did not answer http://127.0.0.1:40123/async/ping/ within 30 s"


def stats(**values) -> dict:
    row = {
        "requests": 1000,
        "failures": 0,
        "avg_ms": 50.0,
        "min_ms": 2.0,
        "max_ms": 400.0,
        "avg_size_bytes": 96,
        "rps": 50.0,
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


def cell(arm: str, algorithm: str, scenario: int | None, **values) -> dict:
    server = "gunicorn" if arm.startswith("wsgi") else "uvicorn"
    name = f"{arm}/ping" if scenario is None else f"{arm}/{algorithm}/s{scenario}"
    command = {
        "gunicorn": "/tmp/venv/bin/python -m gunicorn asyncproj.wsgi --bind 127.0.0.1:40111 "
        "--worker-class sync --workers 1",
        "uvicorn": "/tmp/venv/bin/python -m uvicorn asyncproj.asgi:app --host 127.0.0.1 "
        "--port 40122 --workers 1",
    }[server]
    record = {
        "id": name,
        "arm": arm,
        "server": server,
        "algorithm": algorithm,
        "scenario": scenario,
        "path": f"/x/{algorithm}/",
        "users": 8,
        "run_time_s": 15,
        "status": "ok",
        "error": None,
        "flags": {},
        "server_command": command,
        "locust_command": "python -m locust ...",
        "locust_exit_code": 0,
        "stats": stats(),
        "probe": stats(p50_ms=3.5, p95_ms=7.26),
        "server_timing": {
            "count": 900,
            "wait_ms": 10.0,
            "generate_ms": 1.5,
            "sort_ms": 30.0,
            "client_ms": 48.0,
        },
        "files": {"csv_prefix": f"{name}/locust", "html": f"{name}/locust.html"},
    }
    if scenario is not None:
        record.update(n={1: 1000, 2: 10000}[scenario], max={1: 5000, 2: 50000}[scenario])
    else:
        record.update(probe=None, server_timing={})
    record.update(values)
    return record


@pytest.fixture
def results() -> dict:
    return {
        "schema": 1,
        "kind": "fixed",
        "status": "complete",
        "started_at": "2025-03-01T10:00:00+00:00",
        "finished_at": "2025-03-01T10:42:30+00:00",
        "command": "python manage.py bench --arms wsgi-sync asgi-thread",
        "machine": {
            "cpu_model": "Example CPU 3000",
            "cpu_count": 4,
            "cpus_available": [0, 1, 2, 3],
            "memory_gib": 15.5,
            "platform": "Linux-6.1-x86_64",
            "python": "3.11.9",
            "packages": {"django": "5.2.19", "locust": "2.47.0"},
        },
        "server_options": {
            "workers": 2,
            "threads": 4,
            "uvicorn_workers": 1,
            "thread_pool": 6,
            "process_pool": 3,
            "max_in_flight": 0,
            "cpus": [0, 1, 2],
        },
        "load_options": {
            "users": 8,
            "spawn_rate": 8.0,
            "run_time_s": 15,
            "stop_timeout_s": 60,
            "probe": True,
            "probe_rate": 2.0,
            "cpus": [3],
        },
        "extra": {},
        "cells": [
            cell("wsgi-sync", "ping", None, stats=stats(rps=812.44, requests=12186)),
            cell(
                "wsgi-sync",
                "builtin",
                1,
                stats=stats(requests=12345, avg_ms=45.67, max_ms=1234.4, rps=82.31, p99_ms=None),
            ),
            cell(
                "wsgi-sync",
                "bubble",
                1,
                stats=stats(requests=321, p50_ms=2345.6, p95_ms=5012.2, rps=21.44),
                flags={"cpu_warning": "Locust's CPU went above 90 %"},
            ),
            cell("asgi-thread", "ping", None, stats=stats(rps=1503.27, requests=22549)),
            cell("asgi-thread", "builtin", 1, stats=stats(requests=23456, rps=156.04)),
            cell("asgi-thread", "bubble", 1, stats=stats(requests=654, avg_size_bytes=None)),
            cell("wsgi-sync", "builtin", 2, stats=stats(requests=777, rps=51.8)),
            cell(
                "asgi-thread",
                "builtin",
                2,
                status="error",
                error=SERVER_ERROR,
                stats=None,
                probe=None,
                server_timing={},
            ),
        ],
        "failures": [{"cell": "asgi-thread/builtin/s2", "error": SERVER_ERROR}],
    }


def section(markdown: str, heading: str) -> str:
    """The text under `heading`, up to the next heading of the same level or higher."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    body = []
    for line in lines[start + 1 :]:
        if line.startswith("#") and len(line) - len(line.lstrip("#")) <= level:
            break
        body.append(line)
    return "\n".join(body)


def row(text: str, *labels: str) -> list[str]:
    """The table row whose first cells are `labels`, split into cells."""
    for line in text.splitlines():
        cells = line.strip().strip("|").split(" | ")
        cells = [cell.strip() for cell in cells]
        if line.startswith("|") and cells[: len(labels)] == list(labels):
            return cells
    raise AssertionError(f"no row starting with {labels} in:\n{text}")


SCENARIO_1 = "## Scenario 1: n = 1,000, max = 5,000"
SCENARIO_2 = "## Scenario 2: n = 10,000, max = 50,000"


def test_summary_table_puts_each_cells_numbers_in_its_row(results):
    scenario = section(render_report(results, None), SCENARIO_1)
    table = section(scenario, "### Requests, latency and throughput")

    assert row(table, "builtin", "wsgi-sync") == [
        "builtin",
        "wsgi-sync",
        "12,345",
        "0",
        "45.7",
        "2.0",
        "1,234",
        "96",
        "82.3",
        "0.0",
    ]
    assert row(table, "builtin", "asgi-thread")[2] == "23,456"
    assert row(table, "builtin", "asgi-thread")[8] == "156.0"


def test_rows_follow_the_classroom_algorithm_order_then_the_run_order_of_arms(results):
    table = section(render_report(results, None), SCENARIO_1)
    labels = [
        tuple(line.strip("|").split(" | ")[:2])
        for line in section(table, "### Requests, latency and throughput").splitlines()
        if line.startswith("| b")
    ]
    assert [(a.strip(), b.split()[0]) for a, b in labels] == [
        ("builtin", "wsgi-sync"),
        ("builtin", "asgi-thread"),
        ("bubble", "wsgi-sync"),
        ("bubble", "asgi-thread"),
    ]


def test_percentile_table_shows_every_percentile_and_a_dash_for_none(results):
    scenario = section(render_report(results, None), SCENARIO_1)
    table = section(scenario, "### Response-time percentiles")

    assert row(table, "builtin", "wsgi-sync")[2:] == [
        "40.0",
        "45.0",
        "50.0",
        "60.0",
        "80.0",
        "100",
        "—",
        "400",
    ]


def test_missing_size_shows_as_a_dash(results):
    scenario = section(render_report(results, None), SCENARIO_1)
    table = section(scenario, "### Requests, latency and throughput")

    assert row(table, "bubble", "asgi-thread")[7] == "—"


def test_flagged_cell_is_marked_in_every_table_and_listed_with_its_reason(results):
    markdown = render_report(results, None)
    scenario = section(markdown, SCENARIO_1)
    validity = section(markdown, "## Validity")

    assert row(scenario, "bubble", "wsgi-sync ⚠1")[2] == "321"
    assert row(section(scenario, "### Where the time goes"), "bubble", "wsgi-sync ⚠1")
    assert "- ⚠1 `wsgi-sync/bubble/s1` is flagged:" in validity
    assert "  - `cpu_warning`: Locust's CPU went above 90 %" in validity


def test_failed_cell_shows_a_row_marked_failed_and_its_error(results):
    markdown = render_report(results, None)
    scenario = section(markdown, SCENARIO_2)
    validity = section(markdown, "## Validity")

    failed_row = row(scenario, "builtin", "asgi-thread ⚠2")
    assert failed_row[2:] == ["failed"] + ["—"] * 7
    assert f"- ⚠2 `asgi-thread/builtin/s2` **failed**: {SERVER_ERROR}" in validity


def test_a_clean_run_says_nothing_was_flagged(results):
    results["cells"] = [c for c in results["cells"] if not c["flags"] and c["status"] == "ok"]
    results["failures"] = []
    validity = section(render_report(results, None), "## Validity")

    assert "No cell was flagged and none failed." in validity
    assert "⚠" not in render_report(results, None).split("## The classroom")[0]


def test_interrupted_run_is_stated_at_the_top_and_in_validity(results):
    results["status"] = "interrupted"
    markdown = render_report(results, None)
    first_text = [line for line in markdown.splitlines() if line and "<!--" not in line][0]

    assert first_text.startswith("> **⚠ INTERRUPTED RUN.**")
    assert "only 8 cells were recorded" in first_text
    assert "**The run is interrupted**" in section(markdown, "## Validity")


def test_complete_run_has_no_banner(results):
    assert "INTERRUPTED" not in render_report(results, None)
    assert "UNFINISHED" not in render_report(results, None)


def test_context_names_machine_versions_command_and_status(results):
    context = section(render_report(results, None), "## Run context")

    assert "2025-03-01 10:00 UTC to 2025-03-01 10:42 UTC (42 min 30 s)" in context
    assert "Example CPU 3000, 4 logical CPUs (4 available to the run), 15.5 GiB" in context
    assert "**Python**: 3.11.9" in context
    assert "django 5.2.19, locust 2.47.0" in context
    assert "`python manage.py bench --arms wsgi-sync asgi-thread`" in context
    assert "complete; 8 cells, 1 failed, 1 flagged" in context


def test_server_commands_hide_the_port_and_the_interpreter_path(results):
    servers = section(render_report(results, None), "### Servers")

    assert "`python -m gunicorn asyncproj.wsgi --bind 127.0.0.1:PORT" in servers
    assert "--port PORT --workers 1`" in servers
    assert "40111" not in servers and "/tmp/venv" not in servers


def test_servers_section_gives_pool_sizes_and_disjoint_pinning(results):
    servers = section(render_report(results, None), "### Servers")

    assert "gunicorn: 2 worker processes; gthread workers run 4 threads each" in servers
    assert "uvicorn: 1 worker process; per worker" in servers
    assert "a thread pool of 6 and a process pool of 3" in servers
    assert "server on CPUs 0–2, Locust on CPU 3 (disjoint sets)" in servers


def test_servers_section_leaves_out_the_sizes_of_a_server_the_run_did_not_use(results):
    results["cells"] = [c for c in results["cells"] if c.get("server") == "gunicorn"]
    servers = section(render_report(results, None), "### Servers")

    assert "gunicorn: 2 worker processes" in servers
    assert "uvicorn" not in servers
    assert "process pool" not in servers


def test_unpinned_run_says_the_server_and_locust_shared_cpus(results):
    results["server_options"]["cpus"] = []
    results["load_options"]["cpus"] = []
    servers = section(render_report(results, None), "### Servers")

    assert "No CPU isolation**: the server and Locust shared the machine's 4 CPUs" in servers


def test_load_section_copies_the_locust_settings(results):
    load = section(render_report(results, None), "### Load generator (Locust, headless)")

    for text in (
        "users: 8 per cell",
        "spawn rate: 8.0 users/s",
        "run time: 15 s",
        "stop timeout: 60 s",
        "at 2.0 requests/s",
    ):
        assert text in load


def test_time_split_puts_server_timing_beside_the_probe(results):
    scenario = section(render_report(results, None), SCENARIO_1)
    table = section(scenario, "### Where the time goes")

    # client, wait, generate, sort, elsewhere, p50, p95, probe p50, probe p95
    assert row(table, "builtin", "wsgi-sync")[2:] == [
        "48.0",
        "10.0",
        "1.5",
        "30.0",
        "6.5",
        "40.0",
        "100",
        "3.5",
        "7.3",
    ]


def test_ceiling_section_gives_each_arms_ping_rps_and_latency(results):
    ceiling = section(render_report(results, None), "## Harness ceiling: the ping endpoint")

    assert row(ceiling, "wsgi-sync", "gunicorn")[2:5] == ["12,186", "0", "812.4"]
    assert row(ceiling, "asgi-thread", "uvicorn")[4] == "1,503.3"


def test_sections_are_skipped_when_their_data_is_absent():
    markdown = render_report({"status": "complete"}, None)

    assert "## Scenario" not in markdown
    assert "## Harness ceiling" not in markdown
    assert "## Validity" not in markdown
    assert "## The classroom's published figures" in markdown


def test_render_report_takes_extra_sections():
    def extra(report_input):
        return ["## Extra", "", f"{len(report_input.cells)} cells"]

    markdown = render_report({"cells": []}, None, sections=[extra])

    assert "## Extra\n\n0 cells" in markdown


def test_charts_are_linked_relative_to_the_report(results, tmp_path):
    charts_dir = tmp_path / "benchmarks"
    charts_dir.mkdir()
    (charts_dir / "scenario1-rps.png").write_bytes(PNG_SIGNATURE)
    markdown = render_report(results, charts_dir)

    assert "![Scenario 1 throughput](benchmarks/scenario1-rps.png)" in markdown
    assert "scenario1-latency.png" not in markdown  # not drawn, so not linked


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0, "0.0"),
        (3.14159, "3.1"),
        (99.94, "99.9"),
        (99.96, "100"),
        (123.4, "123"),
        (23000, "23,000"),
    ],
)
def test_format_ms_keeps_one_decimal_below_100_ms(value, text):
    assert format_ms(value) == text


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_format_ms_never_shows_more_than_one_decimal(value):
    text = format_ms(value)
    assert "." not in text or len(text.split(".")[1]) == 1


# benchmarks.md ------------------------------------------------------------


def test_update_keeps_the_prose_and_replaces_the_block(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(
        f"# Benchmarks\n\nIntro prose.\n\n{BLOCK_START}\nold numbers\n{BLOCK_END}\n\nAnalysis.\n",
        encoding="utf-8",
    )
    update_benchmarks_md(path, "new numbers\n")

    assert path.read_text(encoding="utf-8") == (
        f"# Benchmarks\n\nIntro prose.\n\n{BLOCK_START}\nnew numbers\n{BLOCK_END}\n\nAnalysis.\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["benchmarks.md"]


def test_update_creates_a_new_file_with_title_markers_and_placeholder(tmp_path):
    path = tmp_path / "benchmarks.md"
    update_benchmarks_md(path, "numbers")
    text = path.read_text(encoding="utf-8")

    assert text.startswith("# Benchmarks\n")
    assert f"{BLOCK_START}\nnumbers\n{BLOCK_END}\n" in text
    assert text.index(report.PLACEHOLDER) < text.index(BLOCK_START)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"prose\n{BLOCK_START}\nblock\n", "found 1 and 0"),
        (f"prose\nblock\n{BLOCK_END}\n", "found 0 and 1"),
        (f"{BLOCK_START}\na\n{BLOCK_END}\n{BLOCK_START}\nb\n{BLOCK_END}\n", "found 2 and 2"),
    ],
)
def test_update_refuses_a_missing_or_doubled_marker(tmp_path, text, message):
    path = tmp_path / "benchmarks.md"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError, match=f"must hold exactly one .*{message}"):
        update_benchmarks_md(path, "new")
    assert path.read_text(encoding="utf-8") == text


def test_update_refuses_an_end_marker_before_the_start(tmp_path):
    path = tmp_path / "benchmarks.md"
    text = f"prose\n{BLOCK_END}\nblock\n{BLOCK_START}\n"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError, match="bench:end --> before <!-- bench:start"):
        update_benchmarks_md(path, "new")
    assert path.read_text(encoding="utf-8") == text


def test_render_from_run_writes_charts_and_the_report(results, tmp_path):
    run_dir = tmp_path / "bench-runs" / "20250301-100000"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    report_path = tmp_path / "benchmarks.md"
    charts_dir = tmp_path / "benchmarks"

    assert render_from_run(run_dir, report_path, charts_dir) == report_path

    text = report_path.read_text(encoding="utf-8")
    assert "![Scenario 1 throughput](benchmarks/scenario1-rps.png)" in text
    assert "![Scenario 2 response time](benchmarks/scenario2-latency.png)" in text
    assert (charts_dir / "scenario1-rps.png").read_bytes().startswith(PNG_SIGNATURE)


def test_render_from_run_accepts_the_json_file_itself(results, tmp_path):
    json_path = tmp_path / "results.json"
    json_path.write_text(json.dumps(results), encoding="utf-8")
    report_path = tmp_path / "benchmarks.md"

    render_from_run(json_path, report_path, tmp_path / "benchmarks")

    assert "| builtin | wsgi-sync |" in report_path.read_text(encoding="utf-8")


# The classroom's figures ----------------------------------------------------------


def test_reference_csv_is_loaded_with_numbers_as_numbers():
    rows = load_classroom()
    builtin = next(r for r in rows if r["scenario"] == 1 and r["algorithm"] == "builtin")

    assert builtin["requests"] == 16739
    assert builtin["rps"] == 212.0
    assert len(rows) == 6


def test_reference_section_holds_the_classroom_numbers_in_both_tables():
    markdown = "\n".join(classroom_section())
    scenario_1 = section(markdown, "### Classroom scenario 1: n = 1,000, max = 5,000")

    assert row(scenario_1, "builtin", "20")[2:4] == ["16,739", "0"]
    assert row(scenario_1, "bubble", "5")[2:] == [
        "4,131",
        "0",
        "16,644",
        "50.0",
        "24,920",
        "13",
        "19.2",
        "0.0",
    ]
    percentiles = scenario_1.split("\n\n")[1]
    assert row(percentiles, "bubble", "5")[2] == "23,000"


def test_reference_section_states_the_classroom_setup_and_the_missing_bubble_row():
    markdown = "\n".join(classroom_section())
    scenario_2 = section(markdown, "### Classroom scenario 2: n = 10,000, max = 50,000")

    assert "`runserver`) on a Windows desktop, Locust 2.14, 500 users" in markdown
    assert "1–3 s" in markdown
    assert "| bubble" not in scenario_2
    assert "every bubble-sort request timed out" in scenario_2


def test_render_report_includes_the_classroom_figures(results):
    markdown = render_report(results, None)

    assert "## The classroom's published figures" in markdown
    assert "16,739" in markdown


def test_project_copy_of_the_classroom_csv_sits_next_to_the_module():
    assert Path(report.__file__).with_name("reference_classroom.csv").is_file()


def test_a_run_with_its_own_block_name_sits_beside_the_fixed_block(tmp_path, results):
    target = tmp_path / "benchmarks.md"
    target.write_text("# B\n\nprose\n\n<!-- bench:start -->\nfixed numbers\n<!-- bench:end -->\n")
    results["block"] = "repeats"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps(results))

    report.render_from_run(tmp_path / "run", target, tmp_path / "charts")

    text = target.read_text()
    assert "fixed numbers" in text and "prose" in text
    assert text.index("<!-- bench:end -->") < text.index("<!-- bench:start:repeats -->")
    assert "<!-- bench:end:repeats -->" in text
