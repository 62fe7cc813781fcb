"""Report sections for stress and load runs, in the generated block of benchmarks.md.

Each section is a function from a `bench.report.Report` to Markdown lines
and returns no lines when its data is absent, as in `bench.report`. The
run context, servers and validity sections are shared with the fixed-load
report; what is new here is how the test was run (the rules with their
values), the threshold / breaking point / recovery table, the comparison
across server models, and the per-cell steps and charts.
"""

import os
from pathlib import Path

from bench import report, stress
from bench.charts import algorithm_order
from bench.reference import MISSING, format_count, format_ms, format_rate, markdown_table
from bench.report import FLAG_MARK, Report
from bench.stress_charts import LOAD, STRESS, cell_chart_path, comparison_chart_path

FAILED = "failed"
SKIPPED = "skipped"


# Stress ---------------------------------------------------------------------------


def stress_method_section(report_: Report) -> list[str]:
    """How the stress test was run: the staircase, the timing rule, the rules."""
    settings = _settings(report_)
    if settings is None:
        return []
    rules = _first_rules(report_, STRESS) or settings.rules().as_dict()
    lines = ["## Stress test: how it was run", ""]
    lines += [f"- {item}" for item in _stress_method_items(report_, settings, rules)]
    return lines + ["", "### Rules", ""] + _rules_table(settings, rules)


def stress_summary_section(report_: Report) -> list[str]:
    """One row per arm × algorithm × scenario: threshold, breaking point, recovery."""
    cells = _sorted_cells(report_.cells)
    if not cells:
        return []
    headers = [
        "Scenario",
        "Algorithm",
        "Arm",
        "One request (ms)",
        "Step (s)",
        "Threshold users",
        "Threshold RPS",
        "Threshold p95 (ms)",
        "Server CPU there",
        "Breaking point users",
        "Broken rule",
        "Recovery",
    ]
    rows = [_stress_row(report_, cell) for cell in cells]
    return [
        "## Threshold, breaking point and recovery",
        "",
        *markdown_table(headers, rows, label_columns=3),
        "",
        "*Threshold*: where adding users stopped adding throughput (≥ N: not reached, "
        "throughput still grew at the last step). *Server CPU there*: the server's "
        "share of its CPUs in that step; well under 100 % means something other than "
        "its CPU set the limit. *Breaking point*: the first step "
        "that broke a rule; ≤ N: not reached up to N users. *Recovery*: seconds from "
        "the drop until latency was back near the first step's and nothing failed.",
    ]


def stress_comparison_section(report_: Report) -> list[str]:
    """Per algorithm × scenario: the arms' chart and what it shows, in words."""
    groups = _groups(report_.cells, STRESS)
    if not groups:
        return []
    blocks = [["## Comparison across server models"]]
    for (algorithm, scenario), cells in groups.items():
        path = comparison_chart_path(_charts_dir(report_), STRESS, algorithm, scenario)
        blocks.append(
            [f"### {algorithm}, scenario {scenario}", ""]
            + _image(report_, path, f"{algorithm} scenario {scenario}: arms compared")
            + [f"- {sentence}" for sentence in stress_comparison(cells)]
        )
    return report.join_blocks(blocks)


def stress_comparison(cells: list[dict]) -> list[str]:
    """What the arms' thresholds, breaking points and recoveries say, in sentences."""
    measured = [cell for cell in cells if cell.get("status") == "ok" and cell.get("stress")]
    if not measured:
        return []
    return [
        _throughput_sentence(measured),
        _breaking_sentence(measured),
        _recovery_sentence(measured),
    ]


def stress_cells_section(report_: Report) -> list[str]:
    """Every cell: its chart, its verdict and its steps."""
    cells = [cell for cell in _sorted_cells(report_.cells) if cell.get("stress")]
    if not cells:
        return []
    blocks = [["## Per cell"]]
    for cell in cells:
        blocks.append(_stress_cell_block(report_, cell))
    return report.join_blocks(blocks)


STRESS_SECTIONS = (
    report.status_section,
    report.context_section,
    report.servers_section,
    stress_method_section,
    stress_summary_section,
    stress_comparison_section,
    stress_cells_section,
    report.validity_section,
)


# Load -----------------------------------------------------------------------------


def load_method_section(report_: Report) -> list[str]:
    """How the load test was run: which users were held, for how long, judged how."""
    settings = _settings(report_)
    if settings is None:
        return []
    if settings.from_stress:
        users = (
            f"each cell at the threshold users that the stress run `{settings.from_stress}` "
            "found for it; cells without a threshold there were skipped"
        )
    else:
        users = f"{stress.users_text(settings.hold_users)} in every cell (`--hold-users`)"
    spawn = (report_.results.get("load_options") or {}).get("spawn_rate")
    items = [
        f"**Users**: {users}, plus the probe user when it is on.",
        f"**Ramp**: users start at {spawn or stress.DEFAULT_SPAWN_RATE} per second; the hold "
        "starts when all run. Requests sent during the ramp are summarized apart and "
        "left out of every hold figure.",
        f"**Hold**: {settings.hold_duration_s:g} s (`--hold-duration`). Throughput is "
        "counted in bins sized per cell (the Bin column): long enough for "
        f"{stress.LOAD_BIN_REQUESTS} requests of one user and "
        f"{stress.analysis.DEFAULT_LOAD_BIN_S:g} s at least, but no longer than a "
        f"{stress.MIN_HOLD_BINS}rd of the hold. The spread is the standard deviation of "
        "the bins' throughput and CV is spread / mean.",
        "**Drift**: the p95 of requests sent in the last third of the hold against the "
        "first third (ratio last / first).",
        "**In-flight requests**: users are stopped only after their current request "
        "returns, so requests running at the end are counted.",
        _gate_item(settings, LOAD),
    ]
    return ["## Load test: how it was run", ""] + [f"- {item}" for item in items]


def load_summary_section(report_: Report) -> list[str]:
    """One row per arm × algorithm × scenario: the held load's steadiness and drift."""
    cells = _sorted_cells(report_.cells)
    if not cells:
        return []
    headers = [
        "Scenario",
        "Algorithm",
        "Arm",
        "Users",
        "Bin (s)",
        "Mean RPS",
        "Spread (RPS)",
        "CV",
        "p95 (ms)",
        "p95 first third (ms)",
        "p95 last third (ms)",
        "Drift",
        "Failures",
        "Server CPU",
        "Ramp",
    ]
    rows = [_load_row(report_, cell) for cell in cells]
    return [
        "## Held load: throughput, spread and drift",
        "",
        *markdown_table(headers, rows, label_columns=3),
        "",
        "*Ramp*: its length, requests and p95, kept out of the other columns. "
        "*Drift*: p95 of the last third / p95 of the first third of the hold.",
    ]


def load_cells_section(report_: Report) -> list[str]:
    """The arms compared per algorithm × scenario, then every cell over time."""
    groups = _groups(report_.cells, LOAD)
    if not groups:
        return []
    blocks = [["## Charts"]]
    for (algorithm, scenario), cells in groups.items():
        path = comparison_chart_path(_charts_dir(report_), LOAD, algorithm, scenario)
        lines = [f"### {algorithm}, scenario {scenario}", ""]
        lines += _image(report_, path, f"{algorithm} scenario {scenario}: arms compared")
        for cell in cells:
            lines += _image(report_, cell_chart_path(_charts_dir(report_), LOAD, cell), cell["id"])
        blocks.append(lines)
    return report.join_blocks(blocks)


LOAD_SECTIONS = (
    report.status_section,
    report.context_section,
    report.servers_section,
    load_method_section,
    load_summary_section,
    load_cells_section,
    report.validity_section,
)


# Stress helpers ---------------------------------------------------------------------


def _stress_method_items(
    report_: Report, settings: stress.StressSettings, rules: dict
) -> list[str]:
    growth = "doubling" if settings.growth == "double" else f"adding {settings.increment}"
    probe = (report_.results.get("load_options") or {}).get("probe")
    return [
        f"**Staircase**: from {stress.users_text(settings.start_users)}, {growth} per step, "
        f"up to the ceiling of {stress.users_text(settings.max_users)}"
        + ("; one more user, the probe, pings the arm beside them" if probe else "")
        + ". The staircase stops at the first step that breaks a rule.",
        f"**Step length**: {_step_rule(settings, rules)}",
        f"**Counted window**: the first {rules['settle_fraction']:.0%} of each step is left "
        "out as ramp-up (users starting, queues filling); a request counts in the step "
        "in which it was sent, even when it completes later.",
        f"**Recovery**: after the last step the load drops to "
        f"{stress.users_text(settings.recovery_users)} for {_recovery_length(settings)}.",
        "**In-flight requests**: Locust stops a user only after its current request has "
        "returned (a stop timeout per cell, long enough for a request queued behind "
        "every user), at the drop and at the end, so those requests are counted.",
        "**Locust's own stop rule**: the step shape applies the failure and p95 limits to "
        "Locust's running totals (probe included, by completion time) to decide when to "
        "stop climbing; the verdicts below come from the analysis of the request log.",
        _gate_item(settings, STRESS),
    ]


def _step_rule(settings: stress.StressSettings, rules: dict) -> str:
    if settings.step_duration_s:
        return f"{settings.step_duration_s:g} s for every cell (`--step-duration`)."
    return (
        "per cell, from the cost of one request of the cell alone on the warmed-up "
        f"server (the median of up to {stress.COST_MAX_SAMPLES} in about "
        f"{stress.COST_BUDGET_S:g} s): long enough for {stress.STEP_REQUESTS} requests of "
        f"one user in the counted window, between {stress.MIN_STEP_S:g} and "
        f"{stress.MAX_STEP_S:g} s. Cells whose steps still counted fewer than "
        f"{stress.FEW_REQUESTS} requests are flagged."
    )


def _recovery_length(settings: stress.StressSettings) -> str:
    if settings.recovery_duration_s:
        return f"{settings.recovery_duration_s:g} s (`--recovery-duration`)"
    return (
        "a window sized per cell: bins long enough for the minimum of requests at the "
        f"recovery load (the request's cost × {stress.COST_MARGIN:g}, at least 1 s), "
        f"the confirming bins plus {stress.RECOVERY_SPARE_BINS}, from "
        f"{stress.MIN_RECOVERY_S:g} to {stress.MAX_RECOVERY_S:g} s; only "
        f"{stress.MIN_RECOVERY_S:g} s when one request alone is slower than the p95 rule, "
        "since the first step then breaks it and the load has nowhere to drop"
    )


def _rules_table(settings: stress.StressSettings, rules: dict) -> list[str]:
    latency_option = "`--p95-target-ms`" if settings.p95_target_ms else "`--p95-rule-ms`"
    rows = [
        [
            "Breaking point: failures",
            f"failed / all requests of a step above {rules['max_failure_ratio']:g}",
            "`--max-failure-ratio`",
        ],
        [
            "Breaking point: latency",
            f"a step's p95 above {format_ms(rules['p95_target_ms'])} ms",
            latency_option,
        ],
        ["Breaking point: no answer", "a step with users completed no request", "—"],
        [
            "Threshold: near the peak",
            f"throughput at least {1 - rules['plateau_tolerance']:.0%} of the best step's",
            "`--plateau-tolerance`",
        ],
        [
            "Threshold: flat after",
            f"the next step adds less than {rules['min_gain']:.0%}",
            "`--min-gain`",
        ],
        [
            "Recovery: a good bin",
            f"≥ {rules['min_bin_requests']} requests, none failed, p95 ≤ "
            f"{rules['recovery_factor']:g} × the first step's p95"
            + _slack(rules.get("recovery_slack_ms")),
            "—",
        ],
        [
            "Recovery: confirmed",
            f"{rules['recovery_confirm_bins']} good bins in a row; the time is the first one's "
            "start",
            "—",
        ],
    ]
    return markdown_table(["Rule", "Limit", "Option"], rows, label_columns=3)


def _slack(slack_ms: float | None) -> str:
    return f" + {slack_ms:g} ms" if slack_ms else ""


def _gate_item(settings: stress.StressSettings, kind: str) -> str:
    if settings.p95_target_ms is None:
        return "**Gate**: no `--p95-target-ms` was given, so no cell could fail the run."
    what = {
        STRESS: "its breaking point was reached by the latency rule (the target) at or "
        "below the ceiling",
        LOAD: "the hold's p95 was above it",
    }[kind]
    return (
        f"**Gate**: p95 target {settings.p95_target_ms:g} ms (`--p95-target-ms`); "
        f"a cell breaks it when {what}, or when it failed to run. The command then exits "
        "non-zero after writing this report."
    )


def _stress_row(report_: Report, cell: dict) -> list[str]:
    label = [str(cell.get("scenario")), cell.get("algorithm") or MISSING, _arm_label(report_, cell)]
    data = cell.get("stress")
    if cell.get("status") != "ok" or not data:
        return label + [_failed_word(cell)] + [MISSING] * 8
    timing = data.get("timing") or {}
    threshold = data.get("threshold") or {}
    return label + [
        format_ms(timing.get("cost_ms")),
        _seconds(timing.get("step_s")),
        *_threshold_cells(data.get("threshold")),
        _percent(_step_cpu(data, threshold.get("step_index"))),
        *_breaking_cells(data),
        _recovery_cell(data),
    ]


def _threshold_cells(threshold: dict | None) -> list[str]:
    if threshold is None:
        return [MISSING] * 3
    users = str(threshold["users"]) if threshold["reached"] else f"≥ {threshold['users']}"
    return [users, format_rate(threshold["throughput_rps"]), format_ms(threshold["p95_ms"])]


def _breaking_cells(data: dict) -> list[str]:
    breaking = data.get("breaking_point")
    if breaking is not None:
        return [str(breaking["users"]), breaking["rule"]]
    steps = data.get("steps") or []
    top = steps[-1]["users"] if steps else MISSING
    return [f"≤ {top}: not reached", MISSING]


def _recovery_cell(data: dict) -> str:
    note = data.get("recovery_note") or ""
    if note.startswith("no drop"):
        return "no drop"
    if note.startswith("window too short"):
        return "not measurable: window too short"
    recovery = data.get("recovery")
    if recovery is None:
        return MISSING
    if not recovery["recovered"]:
        return f"did not recover in {_seconds(recovery['phase_s'])} s"
    return f"{_seconds(recovery['seconds'])} s"


def _stress_cell_block(report_: Report, cell: dict) -> list[str]:
    data = cell["stress"]
    title = f"### {cell.get('arm')}, {cell.get('algorithm')}, scenario {cell.get('scenario')}"
    lines = [title, ""]
    lines += _image(report_, cell_chart_path(_charts_dir(report_), STRESS, cell), cell["id"])
    if cell.get("status") == "ok":
        lines += [stress.verdict_line(data) + ".", ""]
    return lines + _steps_table(data)


def _steps_table(data: dict) -> list[str]:
    steps = data.get("steps") or []
    if not steps:
        return []
    probe = {step["index"]: step for step in data.get("probe_steps") or []}
    headers = [
        "Step",
        "Users",
        "Counted (s)",
        "Requests",
        "Failures",
        "RPS",
        "p50 (ms)",
        "p95 (ms)",
        "p99 (ms)",
        "Probe p95 (ms)",
        "Server CPU",
    ]
    rows = [
        [
            str(step["index"]),
            str(step["users"]),
            _seconds(step["window_s"]),
            format_count(step["count"]),
            format_count(step["failures"]),
            format_rate(step["throughput_rps"]),
            format_ms(step["p50_ms"]),
            format_ms(step["p95_ms"]),
            format_ms(step["p99_ms"]),
            format_ms((probe.get(step["index"]) or {}).get("p95_ms")),
            _percent(_step_cpu(data, step["index"])),
        ]
        for step in steps
    ]
    return markdown_table(headers, rows, label_columns=1)


def _throughput_sentence(cells: list[dict]) -> str:
    parts = []
    for cell in sorted(cells, key=_threshold_rps, reverse=True):
        threshold = cell["stress"].get("threshold")
        if threshold is None:
            parts.append(f"{cell['arm']} no throughput")
            continue
        where = "at" if threshold["reached"] else "still growing at"
        parts.append(
            f"{cell['arm']} {format_rate(threshold['throughput_rps'])} requests/s "
            f"{where} {stress.users_text(threshold['users'])}"
        )
    return "Throughput at the threshold, highest first: " + "; ".join(parts) + "."


def _breaking_sentence(cells: list[dict]) -> str:
    broken = sorted(
        (cell for cell in cells if cell["stress"].get("breaking_point")),
        key=lambda cell: cell["stress"]["breaking_point"]["users"],
    )
    standing = [cell for cell in cells if not cell["stress"].get("breaking_point")]
    parts = [
        f"{cell['arm']} at {stress.users_text(cell['stress']['breaking_point']['users'])} "
        f"({cell['stress']['breaking_point']['rule']})"
        for cell in broken
    ]
    parts += [f"{cell['arm']} not up to {_top_users(cell)}" for cell in standing]
    return "Breaking point, earliest first: " + "; ".join(parts) + "."


def _recovery_sentence(cells: list[dict]) -> str:
    parts = [f"{cell['arm']} {_recovery_cell(cell['stress'])}" for cell in cells]
    return "Recovery after the drop: " + "; ".join(parts) + "."


def _threshold_rps(cell: dict) -> float:
    threshold = cell["stress"].get("threshold") or {}
    return threshold.get("throughput_rps") or 0.0


def _top_users(cell: dict) -> str:
    steps = cell["stress"].get("steps") or []
    return stress.users_text(steps[-1]["users"]) if steps else MISSING


# Load helpers -----------------------------------------------------------------------


def _load_row(report_: Report, cell: dict) -> list[str]:
    label = [str(cell.get("scenario")), cell.get("algorithm") or MISSING, _arm_label(report_, cell)]
    data = cell.get("load")
    if cell.get("status") != "ok" or not data:
        return label + [_failed_word(cell)] + [MISSING] * 11
    summary = data.get("summary") or {}
    hold = summary.get("hold") or {}
    return label + [
        str(data.get("users")),
        _seconds(summary.get("bin_s")),
        format_rate(summary.get("mean_rps")),
        format_rate(summary.get("stdev_rps")),
        _percent(summary.get("cv")),
        format_ms(hold.get("p95_ms")),
        format_ms(summary.get("p95_first_third_ms")),
        format_ms(summary.get("p95_last_third_ms")),
        _ratio(summary.get("p95_drift_ratio")),
        f"{format_count(hold.get('failures'))} ({_percent(hold.get('failure_ratio'))})",
        _percent((data.get("server_cpu") or {}).get("utilisation")),
        _ramp_cell(summary.get("ramp") or {}),
    ]


def _step_cpu(data: dict, index: int | None) -> float | None:
    """The server's CPU use in a step's counted window, as a share of its CPUs."""
    for row in data.get("server_cpu_steps") or []:
        if row["index"] == index:
            return row.get("utilisation")
    return None


def _ramp_cell(ramp: dict) -> str:
    if not ramp:
        return MISSING
    return (
        f"{_seconds(ramp.get('window_s'))} s, {format_count(ramp.get('count'))} requests, "
        f"p95 {format_ms(ramp.get('p95_ms'))} ms"
    )


# Shared helpers ---------------------------------------------------------------------


def _settings(report_: Report) -> stress.StressSettings | None:
    data = (report_.results.get("extra") or {}).get("settings")
    if not data:
        return None
    try:
        return stress.StressSettings(**data)
    except (TypeError, ValueError):
        return None


def _first_rules(report_: Report, kind: str) -> dict | None:
    for cell in report_.cells:
        rules = (cell.get(kind) or {}).get("rules")
        if rules:
            return rules
    return None


def _sorted_cells(cells: list[dict]) -> list[dict]:
    """Heavy cells by scenario, algorithm (classroom order), then arm (run order)."""
    arms = list(dict.fromkeys(cell.get("arm") for cell in cells))
    chosen = [cell for cell in cells if cell.get("scenario") is not None]

    def order(cell: dict) -> tuple:
        return cell["scenario"], algorithm_order(cell.get("algorithm")), arms.index(cell.get("arm"))

    return sorted(chosen, key=order)


def _groups(cells: list[dict], kind: str) -> dict[tuple[str, int], list[dict]]:
    groups: dict[tuple[str, int], list[dict]] = {}
    for cell in _sorted_cells(cells):
        if cell.get(kind) or cell.get("status") != "ok":
            groups.setdefault((cell.get("algorithm"), cell["scenario"]), []).append(cell)
    return {key: group for key, group in groups.items() if any(c.get(kind) for c in group)}


def _arm_label(report_: Report, cell: dict) -> str:
    number = report_.notes.get(cell.get("id"))
    arm = cell.get("arm") or MISSING
    return f"{arm} {FLAG_MARK}{number}" if number else arm


def _failed_word(cell: dict) -> str:
    return SKIPPED if cell.get("status") == "skipped" else FAILED


def _charts_dir(report_: Report) -> Path:
    return report_.charts_dir or Path("charts")


def _image(report_: Report, path: Path, alt: str) -> list[str]:
    """A Markdown image of a chart that exists, linked from the report's folder."""
    if report_.charts_dir is None or not path.exists():
        return []
    base = report_.report_dir if report_.report_dir is not None else report_.charts_dir.parent
    return [f"![{alt}]({Path(os.path.relpath(path, base)).as_posix()})", ""]


def _seconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.1f}".removesuffix(".0")


def _percent(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1%}"


def _ratio(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}×"
