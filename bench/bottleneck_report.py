"""Report sections on where the bottleneck goes (issue 4).

Each section is a function from `bench.report.Report` to Markdown lines,
empty when the run holds none of its data, so older runs still render.
They read what `bench.bottleneck` derives from results.json: nothing here
measures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench import bottleneck, charts
from bench.arms import PING
from bench.ceiling import ceiling_rps, work_ms
from bench.reference import MISSING, format_count, format_ms, format_rate, markdown_table

if TYPE_CHECKING:
    from bench.report import Report

FLAG_MARK = "⚠"  # as bench.report marks a flagged cell
FAILED = "failed"
STATUS_WORDS = {
    bottleneck.MET: "**met**",
    bottleneck.MISSED: "**missed**",
    bottleneck.NOT_MEASURED: "not measured",
}


def format_share(value: float | None) -> str:
    return MISSING if value is None else f"{value:.0%}"


def format_ratio(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f}×"


def format_cpu_ms(value: float | None) -> str:
    """CPU per request: small numbers, so two decimals below 10 ms."""
    if value is None:
        return MISSING
    return f"{value:.2f}" if value < 10 else format_ms(value)


# Sections ----------------------------------------------------------------------


def work_ceiling_section(report: Report) -> list[str]:
    """The in-process time of one request's work, per algorithm × scenario."""
    ceiling = report.results.get("ceiling")
    if not ceiling:
        return []
    lines = ["## The ceiling: one request's work, in-process", ""]
    if ceiling.get("status") != "ok":
        return lines + [f"Not measured: {ceiling.get('error') or 'no reason recorded'}."]

    cores = len(ceiling.get("cpus") or [])
    headers = ["Algorithm", "Scenario", "CPU median (ms)", "Wall median (ms)"]
    headers += ["Wall min (ms)", "Wall max (ms)", "Runs", "Ceiling RPS"]
    rows = [
        _ceiling_row(key, job, cores) for key, job in sorted((ceiling.get("jobs") or {}).items())
    ]
    return lines + [_ceiling_legend(ceiling, cores), ""] + markdown_table(headers, rows, 2)


def efficiency_section(report: Report) -> list[str]:
    """Each heavy cell's throughput against its ceiling, and who ran out of CPU."""
    cells = _heavy(report.cells)
    if not any(cell.get("server_cpu") or _rating(report, cell) for cell in cells):
        return []
    headers = ["Algorithm", "Scenario", "Arm", "RPS (ok)", "Failures", "Ceiling RPS"]
    headers += ["Efficiency"]
    headers += ["Server CPU", "Others", "Busiest process", "CPU per request (ms)", "Work (ms)"]
    headers += ["Saturated"]
    rows = [_efficiency_row(report, cell) for cell in cells]
    return (
        ["## Throughput against the ceiling, and who is saturated", ""]
        + markdown_table(headers, rows, label_columns=3)
        + ["", EFFICIENCY_LEGEND]
        + _drift_lines(report, cells)
    )


def probe_section(report: Report) -> list[str]:
    """The probe on the idle server, and under each heavy cell's load."""
    idle = report.results.get("idle_probe") or {}
    cells = [cell for cell in _heavy(report.cells) if bottleneck.loaded_probe(cell)]
    if not idle and not cells:
        return []
    lines = ["## The light request: under load and idle", ""]
    if idle:
        lines += _idle_table(idle) + [""]
    if cells:
        headers = ["Algorithm", "Scenario", "Arm", "Probes", "Loaded p50 (ms)"]
        headers += ["Loaded p95 (ms)", "Idle p50 (ms)", "Idle p95 (ms)", "p50 ratio", "p95 ratio"]
        rows = [_probe_row(report, cell) for cell in cells]
        lines += markdown_table(headers, rows, label_columns=3) + [""]
    return lines + [_probe_legend(report.results)]


def framework_cost_section(report: Report) -> list[str]:
    """The ping cells' server CPU: what each server model costs per request."""
    cells = [cell for cell in report.cells if cell.get("algorithm") == PING]
    if not any(cell.get("server_cpu") for cell in cells):
        return []
    headers = ["Arm", "Server", "Ping RPS", "Server CPU per ping (ms)", "Server CPU"]
    headers += ["Others", "Busiest process", "Saturated"]
    rows = [_framework_row(report, cell) for cell in cells]
    return (
        ["## The framework's own cost per request", ""]
        + markdown_table(headers, rows, label_columns=2)
        + ["", FRAMEWORK_LEGEND]
    )


def comparison_section(report: Report) -> list[str]:
    """Per workload, which arm did best and worst, read from the tables above."""
    workloads = _workloads(report.cells)
    if not workloads:
        return []
    headers = ["Algorithm", "Scenario", "Most RPS", "Least RPS", "Best probe p95"]
    headers += ["Worst probe p95"]
    rows = [_comparison_row(report, *workload) for workload in workloads]
    return ["## Comparison by workload", ""] + markdown_table(headers, rows, label_columns=2)


def targets_section(report: Report) -> list[str]:
    """Each of the lab's targets: met, missed or not measured, and why."""
    if not report.cells:
        return []
    lines = ["## Targets", ""]
    for check in bottleneck.evaluate_targets(report.results):
        lines.append(
            f"- {STATUS_WORDS[check.status]}: {check.target}, {check.scope}: {check.measured}"
        )
        lines += [f"  - why: {reason}" for reason in check.reasons]
    return lines + ["", TARGETS_LEGEND]


SECTIONS: tuple[Callable[[Report], list[str]], ...] = (
    work_ceiling_section,
    efficiency_section,
    probe_section,
    framework_cost_section,
    comparison_section,
    targets_section,
)


# Legends -------------------------------------------------------------------------

EFFICIENCY_LEGEND = (
    "*RPS (ok)*: successful requests per second (Locust's RPS without failures, "
    "such as the bounded arms' 503s, counted under *Failures*). "
    "*Efficiency*: that over the ceiling RPS (server cores / in-process CPU time of "
    "one request's work). *Server CPU*: CPU seconds of the server's whole process tree "
    "(workers and pool children) per second of the load window per server core; 100 % "
    "is every server core busy throughout. *Others*: the share of the same CPUs that "
    "other processes used meanwhile; above a few per cent the machine was not quiet "
    "and the server got less than its cores. *Busiest process*: the cores' worth of CPU "
    "its busiest process used; near 100 % while the server CPU stays low means one "
    "process (one GIL) was the limit. *CPU per request*: the tree's CPU over the window "
    "per successful request of the cell's load (the probe's and the refusals' small "
    "cost is charged to them). *Saturated*: who ran out of CPU, "
    "the server (≥ 90 % busy), its CPUs shared with other processes (≥ 90 % busy "
    "together), one of its processes, or Locust (its CPU warning). "
    "Processes that exit during a cell lose the CPU they used after their last sample "
    f"(sampled every {bottleneck.CPU_SAMPLE_INTERVAL_S:g} s); such cells are flagged "
    "`server_cpu_gap`."
)
FRAMEWORK_LEGEND = (
    "The ping endpoints do no work, so the server CPU per ping is the server model's "
    "own cost of one request: HTTP parsing, the framework, the worker model. When the "
    "server is not saturated, the ping RPS is Locust's limit rather than the server's."
)
TARGETS_LEGEND = (
    "Checked from this run's data. A miss names the causes the data shows: Locust's "
    "CPU warning (harness-bound), server CPU well below 100 % (not saturated: too few "
    "users, or one process doing all the work), CPU per request above the in-process "
    "work (overhead), or too few requests for a steady figure."
)


def _ceiling_legend(ceiling: dict, cores: int) -> str:
    cpus = ", ".join(str(cpu) for cpu in ceiling.get("cpus") or []) or "any CPU"
    return (
        "`sorts.jobs.run_job` (generate the list, find its largest value) timed in a "
        f"fresh Python process pinned to CPU(s) {cpus}, the server's; median of at "
        f"least {ceiling.get('repeats')} runs after {ceiling.get('warm_ups')} untimed "
        "one(s), quick jobs repeated until half a second was timed. *Ceiling RPS*: "
        f"{cores} core(s) / CPU median, what a server doing nothing but this work "
        "would serve. CPU time rather than wall time, so that other processes on "
        "these CPUs do not lower the ceiling; a wall median well above the CPU "
        "median says they were there."
    )


def _drift_lines(report: Report, cells: list[dict]) -> list[str]:
    """A warning naming the cells whose efficiency the ceiling cannot judge."""
    drifted = [
        (cell, ratio)
        for cell in cells
        if (ratio := bottleneck.speed_drift(cell, report.results)) is not None
    ]
    if not drifted:
        return []
    names = ", ".join(
        f"{cell.get('arm')} {cell.get('algorithm')} s{cell.get('scenario')} ({format_share(ratio)})"
        for cell, ratio in drifted
    )
    return [
        "",
        f"**{FLAG_MARK} The CPU's speed changed during this run.** These cells needed "
        "less CPU per request than the ceiling's in-process run of the same work "
        f"(share of it in brackets): {names}. A server cannot do the same work in less "
        "CPU, so the host ran at another speed then (shared or throttled), and their "
        "efficiency is overstated. Compare their CPU per request instead, or rerun on "
        "a quiet machine.",
    ]


def _probe_legend(results: dict) -> str:
    load = results.get("load_options") or {}
    rate = load.get("probe_rate")
    return (
        f"The probe is one user requesting the arm's ping path at {format_rate(rate)} "
        "requests/s. *Loaded*: during the heavy cell, beside its users. *Idle*: the same "
        "client alone against a fresh server of the arm, once per arm per run. Both from "
        "the request log, exact percentiles, each run's first probe left out: it also "
        "opens the connection while Locust starts, and would be the p95 of a short run. "
        "A ratio near 1× means the heavy load did not reach the light request; a large "
        "one, that the light request queued behind the heavy ones."
    )


# Rows ---------------------------------------------------------------------------------


def _ceiling_row(key: str, job: dict, cores: int) -> list[str]:
    algorithm, _, scenario = key.partition("/s")
    return [
        algorithm,
        scenario,
        format_ms(work_ms(job)),
        format_ms(job.get("median_ms")),
        format_ms(job.get("min_ms")),
        format_ms(job.get("max_ms")),
        format_count(job.get("count")),
        format_rate(ceiling_rps(work_ms(job), cores)),
    ]


def _efficiency_row(report: Report, cell: dict) -> list[str]:
    label = _label(report, cell)
    if _failed(cell):
        return label + [FAILED] + [MISSING] * 10
    rating = _rating(report, cell) or {}
    cpu = cell.get("server_cpu") or {}
    return label + [
        format_rate(bottleneck.successful_rps(cell.get("stats"))),
        format_count((cell.get("stats") or {}).get("failures")),
        format_rate(rating.get("ceiling_rps")),
        format_share(rating.get("efficiency")),
        format_share(cpu.get("utilisation")),
        format_share(bottleneck.others_share(cpu)),
        format_share(cpu.get("busiest_process_cores")),
        format_cpu_ms(cpu.get("cpu_ms_per_request")),
        format_ms(rating.get("work_ms")),
        bottleneck.saturation(cell),
    ]


def _idle_table(idle: dict) -> list[str]:
    headers = ["Arm", "Idle probes", "Idle p50 (ms)", "Idle p95 (ms)", "Idle max (ms)"]
    headers += ["Server CPU per probe (ms)", "Flags"]
    rows = []
    for arm, record in idle.items():
        if record.get("status") != "ok":
            rows.append([arm, FAILED] + [MISSING] * 4 + [record.get("error") or ""])
            continue
        stats = record.get("probe_latency") or record.get("stats") or {}
        cpu = record.get("server_cpu") or {}
        rows.append(
            [
                arm,
                format_count(stats.get("requests")),
                format_ms(stats.get("p50_ms")),
                format_ms(stats.get("p95_ms")),
                format_ms(stats.get("max_ms")),
                format_cpu_ms(cpu.get("cpu_ms_per_request")),
                ", ".join(f"`{name}`" for name in record.get("flags") or {}),
            ]
        )
    return markdown_table(headers, rows, label_columns=1)


def _probe_row(report: Report, cell: dict) -> list[str]:
    probe = bottleneck.loaded_probe(cell) or {}
    idle = bottleneck.idle_stats(report.results, cell.get("arm")) or {}
    return _label(report, cell) + [
        format_count(probe.get("requests")),
        format_ms(probe.get("p50_ms")),
        format_ms(probe.get("p95_ms")),
        format_ms(idle.get("p50_ms")),
        format_ms(idle.get("p95_ms")),
        format_ratio(bottleneck.probe_ratio(cell, report.results, "p50_ms")),
        format_ratio(bottleneck.probe_ratio(cell, report.results, "p95_ms")),
    ]


def _framework_row(report: Report, cell: dict) -> list[str]:
    label = [_arm_label(report, cell), cell.get("server") or MISSING]
    if _failed(cell):
        return label + [FAILED] + [MISSING] * 5
    cpu = cell.get("server_cpu") or {}
    return label + [
        format_rate(bottleneck.successful_rps(cell.get("stats"))),
        format_cpu_ms(cpu.get("cpu_ms_per_request")),
        format_share(cpu.get("utilisation")),
        format_share(bottleneck.others_share(cpu)),
        format_share(cpu.get("busiest_process_cores")),
        bottleneck.saturation(cell),
    ]


def _comparison_row(report: Report, algorithm: str, scenario: int) -> list[str]:
    cells = [
        cell
        for cell in _heavy(report.cells)
        if cell.get("algorithm") == algorithm
        and cell.get("scenario") == scenario
        and not _failed(cell)
    ]
    rps = _ranked(cells, lambda cell: bottleneck.successful_rps(cell.get("stats")))
    probe = _ranked(cells, lambda cell: (bottleneck.loaded_probe(cell) or {}).get("p95_ms"))
    return [
        algorithm,
        str(scenario),
        _best_text(report, rps, -1, _rps_text),
        _best_text(report, rps, 0, _rps_text),
        _best_text(report, probe, 0, _probe_text),
        _best_text(report, probe, -1, _probe_text),
    ]


def _ranked(cells: list[dict], value: Callable[[dict], float | None]) -> list[tuple]:
    scored = [(value(cell), cell) for cell in cells]
    return sorted(
        ((score, cell) for score, cell in scored if score is not None), key=lambda pair: pair[0]
    )


def _best_text(report: Report, ranked: list[tuple], index: int, describe) -> str:
    if not ranked:
        return MISSING
    score, cell = ranked[index]
    return f"{cell.get('arm')} ({describe(report, cell, score)})"


def _rps_text(report: Report, cell: dict, rps: float) -> str:
    rating = _rating(report, cell)
    share = f", {format_share(rating['efficiency'])} of ceiling" if rating else ""
    return f"{format_rate(rps)}/s{share}"


def _probe_text(report: Report, cell: dict, p95_ms: float) -> str:
    ratio = bottleneck.probe_ratio(cell, report.results)
    return f"{format_ms(p95_ms)} ms" + (f", {format_ratio(ratio)} idle" if ratio else "")


# Helpers ----------------------------------------------------------------------------


def _rating(report: Report, cell: dict) -> dict | None:
    return bottleneck.efficiency(cell, report.results)


def _heavy(cells: list[dict]) -> list[dict]:
    """Heavy cells by scenario, then algorithm, then arm in run order."""
    arm_order = list(dict.fromkeys(cell.get("arm") for cell in cells))
    heavy = [cell for cell in cells if cell.get("algorithm") != PING]
    return sorted(
        heavy,
        key=lambda cell: (
            cell.get("scenario") or 0,
            charts.algorithm_order(cell.get("algorithm")),
            arm_order.index(cell.get("arm")),
        ),
    )


def _workloads(cells: list[dict]) -> list[tuple[str, int]]:
    return list(
        dict.fromkeys((cell.get("algorithm"), cell.get("scenario")) for cell in _heavy(cells))
    )


def _label(report: Report, cell: dict) -> list[str]:
    return [cell.get("algorithm") or MISSING, str(cell.get("scenario")), _arm_label(report, cell)]


def _arm_label(report: Report, cell: dict) -> str:
    number = report.notes.get(cell.get("id"))
    arm = cell.get("arm") or MISSING
    return f"{arm} {FLAG_MARK}{number}" if number else arm


def _failed(cell: dict) -> bool:
    return cell.get("status") != "ok"
