"""The lab's targets, judged from synthetic runs: met, missed (and why), not measured."""

import pytest

from bench.bottleneck import MET, MISSED, NOT_MEASURED, evaluate_targets

CEILING_TARGET = "best arm ≥ 90% of the ceiling"
PROBE_TARGET = "probe p95 under load ≤ 3× idle (process arm)"
PING_TARGET = "ASGI ping ≥ 50% of the WSGI ping's RPS"


def cpu(utilisation=0.98, cpus_busy=None, busiest=None, per_request=None, cores=1) -> dict:
    return {
        "utilisation": utilisation,
        "cpus_busy": utilisation if cpus_busy is None else cpus_busy,
        "busiest_process_cores": utilisation if busiest is None else busiest,
        "cpu_ms_per_request": per_request,
        "cores": cores,
    }


def cell(arm, algorithm, scenario, rps, server_cpu=None, flags=None, probe_p95=None, **stats):
    server = "gunicorn" if arm.startswith("wsgi") else "uvicorn"
    identity = f"{arm}/ping" if scenario is None else f"{arm}/{algorithm}/s{scenario}"
    return {
        "id": identity,
        "arm": arm,
        "server": server,
        "algorithm": algorithm,
        "scenario": scenario,
        "status": "ok",
        "stats": {"rps": rps, "requests": stats.get("requests", 500), "failures": 0},
        "probe": None if probe_p95 is None else {"p95_ms": probe_p95, "requests": 30},
        "server_cpu": server_cpu,
        "flags": flags or {},
    }


def run(cells, idle=None, process_pool=1, ceiling_ms=None) -> dict:
    jobs = {
        key: {"median_ms": value, "cpu_median_ms": value}
        for key, value in (ceiling_ms or {"bubble/s1": 50.0}).items()
    }
    return {
        "server_options": {"process_pool": process_pool},
        "ceiling": {"status": "ok", "cpus": [0], "jobs": jobs},
        "idle_probe": {
            arm: {"status": "ok", "stats": {"p95_ms": p95, "requests": 30}}
            for arm, p95 in (idle or {}).items()
        },
        "cells": cells,
    }


def check(results, target, scope):
    found = [c for c in evaluate_targets(results) if c.target == target and c.scope == scope]
    assert len(found) == 1, found
    return found[0]


def test_the_ceiling_target_is_met_by_the_best_arm_even_when_others_trail():
    results = run(
        [
            cell("wsgi-sync", "bubble", 1, 19.0, cpu()),
            cell("asgi-loop", "bubble", 1, 9.0, cpu()),
        ]
    )

    result = check(results, CEILING_TARGET, "bubble scenario 1")

    assert result.status == MET
    assert result.measured.startswith("wsgi-sync: 95% of the ceiling (19.0 of 20.0")
    assert result.reasons == ()


def test_a_harness_bound_best_cell_misses_the_ceiling_and_says_locust_was_the_limit():
    results = run([cell("wsgi-sync", "bubble", 1, 12.0, cpu(0.6), flags={"cpu_warning": "x"})])

    result = check(results, CEILING_TARGET, "bubble scenario 1")

    assert result.status == MISSED
    assert any("Locust's CPU went above 90 %" in reason for reason in result.reasons)
    assert any("only 60% busy: not saturated" in reason for reason in result.reasons)
    assert not any("allows about" in reason for reason in result.reasons)


def test_a_server_saturated_by_its_own_overhead_misses_with_the_overhead_per_request():
    results = run([cell("asgi-process", "bubble", 1, 15.0, cpu(0.99, per_request=66.0))])

    (reason,) = check(results, CEILING_TARGET, "bubble scenario 1").reasons

    assert reason == (
        "the server used 99% of its 1 core(s) and 66.0 ms of CPU per request against "
        "50.0 ms of in-process work, which allows about 75% of the ceiling; 16.0 ms per "
        "request went to the server itself (framework, offloading, HTTP)"
    )


def test_a_miss_on_shared_cpus_blames_the_other_processes_not_the_users():
    results = run([cell("wsgi-sync", "bubble", 1, 10.0, cpu(0.5, cpus_busy=0.98))])

    (reason,) = check(results, CEILING_TARGET, "bubble scenario 1").reasons

    assert reason.startswith("other processes used 48% of the server's CPUs")


def test_a_miss_with_one_process_on_one_of_several_cores_names_the_single_process():
    server_cpu = cpu(0.34, cpus_busy=0.36, busiest=0.97, cores=3)
    results = run([cell("asgi-thread", "bubble", 1, 20.0, server_cpu)])

    (reason,) = check(results, CEILING_TARGET, "bubble scenario 1").reasons

    assert "one server process used a whole core" in reason
    assert "3 cores were 34% busy" in reason


def test_few_requests_and_failures_are_named_among_the_reasons():
    heavy = cell("wsgi-sync", "bubble", 1, 10.0, cpu(0.5), requests=12)
    heavy["stats"]["failures"] = 3

    reasons = check(run([heavy]), CEILING_TARGET, "bubble scenario 1").reasons

    assert any("3 of 12 requests failed" in reason for reason in reasons)
    assert any("only 12 requests completed" in reason for reason in reasons)


def test_a_cell_needing_less_cpu_than_the_ceiling_cannot_be_judged_against_it():
    results = run([cell("wsgi-sync", "bubble", 1, 24.0, cpu(0.98, per_request=40.0))])

    result = check(results, CEILING_TARGET, "bubble scenario 1")

    assert result.status == NOT_MEASURED
    assert result.measured.startswith("wsgi-sync: 120% of the ceiling")
    (reason,) = result.reasons
    assert reason.startswith(
        "the server needed 40.0 ms of CPU per request, 20% less than the ceiling's "
        "in-process run of the same work: the CPU's speed changed between the two"
    )


def test_ceiling_jobs_absent_from_the_run_are_not_measured():
    results = run([cell("wsgi-sync", "bubble", 1, 19.0, cpu())])

    assert check(results, CEILING_TARGET, "bubble scenario 2").status == NOT_MEASURED
    missing = check(results, CEILING_TARGET, "priority_queue scenario 2")
    assert (missing.status, missing.measured) == (NOT_MEASURED, "no cell in this run")


def test_a_run_without_a_ceiling_cannot_judge_its_cpu_heavy_cells():
    results = run([cell("wsgi-sync", "bubble", 1, 19.0, cpu())])
    results["ceiling"] = {"status": "error", "error": "timed out"}

    result = check(results, CEILING_TARGET, "bubble scenario 1")

    assert (result.status, result.measured) == (NOT_MEASURED, "no ceiling for these cells")


def test_the_process_arm_meets_the_probe_target_within_three_times_its_idle_p95():
    results = run(
        [cell("asgi-process", "bubble", 1, 19.0, cpu(), probe_p95=8.0)], {"asgi-process": 4.0}
    )

    result = check(results, PROBE_TARGET, "asgi-process bubble scenario 1")

    assert result.status == MET
    assert result.measured == "8.0 ms under load, 4.0 ms idle: 2.0×"


def test_a_probe_figure_from_few_requests_says_how_few():
    results = run(
        [cell("asgi-process", "bubble", 1, 19.0, cpu(), probe_p95=8.0)], {"asgi-process": 4.0}
    )
    results["cells"][0]["probe"]["requests"] = 9

    result = check(results, PROBE_TARGET, "asgi-process bubble scenario 1")

    assert result.measured.endswith("2.0× (from only 9 and 30 probe requests)")


def test_a_slow_probe_under_a_pool_as_wide_as_the_cores_misses_and_says_why():
    results = run(
        [cell("asgi-process", "bubble", 1, 19.0, cpu(0.99), probe_p95=40.0)],
        {"asgi-process": 4.0},
        process_pool=1,
    )

    result = check(results, PROBE_TARGET, "asgi-process bubble scenario 1")

    assert result.status == MISSED
    assert result.reasons[0].startswith("the process pool had 1 worker(s) on 1 server core(s)")
    assert "the server's CPUs were 99% busy" in result.reasons[1]


def test_the_bounded_process_arm_is_judged_as_a_process_arm_too():
    results = run(
        [cell("asgi-process-bounded", "bubble", 1, 19.0, cpu(), probe_p95=5.0)],
        {"asgi-process-bounded": 4.0},
    )

    assert check(results, PROBE_TARGET, "asgi-process-bounded bubble scenario 1").status == MET


def test_without_an_idle_probe_the_probe_target_is_not_measured():
    results = run([cell("asgi-process", "bubble", 1, 19.0, cpu(), probe_p95=5.0)])

    result = check(results, PROBE_TARGET, "asgi-process bubble scenario 1")

    assert (result.status, result.measured) == (NOT_MEASURED, "no probe p95 on the idle server")


def test_a_run_without_the_process_arm_does_not_measure_the_probe_target():
    results = run([cell("wsgi-sync", "bubble", 1, 19.0, cpu(), probe_p95=5.0)])

    assert check(results, PROBE_TARGET, "process arm").status == NOT_MEASURED


@pytest.mark.parametrize(("asgi_rps", "status"), [(600.0, MET), (400.0, MISSED)])
def test_the_ping_target_compares_the_best_asgi_and_wsgi_pings(asgi_rps, status):
    results = run(
        [
            cell("wsgi-sync", "ping", None, 1000.0, cpu(0.95, per_request=0.9)),
            cell("wsgi-gthread", "ping", None, 900.0, cpu(0.95, per_request=1.0)),
            cell("asgi-thread", "ping", None, asgi_rps, cpu(0.97, per_request=2.3)),
            cell("asgi-loop", "ping", None, asgi_rps - 50, cpu(0.97, per_request=2.4)),
        ]
    )

    result = check(results, PING_TARGET, "ping")

    assert result.status == status
    assert result.measured.startswith(f"asgi-thread {asgi_rps:,.0f} requests/s against wsgi-sync")
    assert result.measured.endswith(
        "by CPU per ping (2.30 ms against 0.90 ms) a saturated ASGI server would reach 39% "
        "of the WSGI one"
    )
    if status == MISSED:
        assert result.reasons == (
            "uvicorn spent 2.30 ms of CPU per ping, gunicorn 0.90 ms: Django's ASGI handler "
            "costs more per request than its WSGI handler",
        )


def test_a_missed_ping_target_names_a_harness_bound_wsgi_ping_and_an_idle_asgi_server():
    results = run(
        [
            cell("wsgi-sync", "ping", None, 1000.0, cpu(0.6), flags={"cpu_warning": "x"}),
            cell("asgi-thread", "ping", None, 300.0, cpu(0.5)),
        ]
    )

    reasons = check(results, PING_TARGET, "ping").reasons

    assert reasons[0].startswith("wsgi-sync: Locust's CPU went above 90 %")
    assert "the ASGI server's CPUs were only 50% busy" in reasons[-1]


def test_the_ping_target_needs_both_servers():
    results = run([cell("asgi-thread", "ping", None, 300.0, cpu())])

    result = check(results, PING_TARGET, "ping")

    assert (result.status, result.measured) == (NOT_MEASURED, "no successful WSGI ping cell")
