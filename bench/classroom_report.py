"""The classroom kind's report: the classroom's figures beside this run's.

Every section reads only results.json. For each classroom row the published
figures come first, then this run's on each server; a table of ratios
follows, since rates and latencies compare across runs of different
lengths while request counts do not.
"""

from collections.abc import Iterable
from pathlib import Path

from bench import report as base
from bench.arms import ARMS, SCENARIOS
from bench.classroom import MEAN_WAIT_S
from bench.reference import (
    CLASSROOM_NOTES,
    MISSING,
    format_count,
    format_ms,
    format_rate,
    markdown_table,
)
from bench.report import FAILED, FLAG_MARK, Report

CLASSROOM_LABEL = "classroom"
THIS_RUN_LABEL = "this run"
CLASSROOM_SERVER = "runserver (Windows)"
CLASSROOM_LOCUST = "2.14"
ROW_HEADERS = (
    "Run",
    "Server",
    "Users",
    "Span (s)",
    "Requests",
    "Failures",
    "Failed",
    "Cut off",
    "RPS",
    "Failures/s",
    "Average (ms)",
    "Min (ms)",
    "p50 (ms)",
    "p95 (ms)",
    "p99 (ms)",
    "Max (ms)",
)
# Ratios of this run's figure to the classroom's: (stats key, header).
RATIO_COLUMNS = (
    ("rps", "RPS"),
    ("avg_ms", "Average"),
    ("p50_ms", "p50"),
    ("p95_ms", "p95"),
    ("p99_ms", "p99"),
    ("max_ms", "Max"),
)
RowKey = tuple[str, int, float]  # algorithm, scenario, the classroom's spawn rate


# Sections ---------------------------------------------------------------------


def load_section(report: Report) -> list[str]:
    """The replay's Locust settings, with what each classroom user does."""
    options = report.results.get("load_options")
    if not options:
        return []
    items = [
        f"users: {options.get('users')} per cell, each a `ClassroomStudent` waiting 1–3 s "
        "between requests to the row's `/test/` path",
        _spawn_rate_item(options.get("spawn_rate")),
        f"run time: {options.get('run_time_s')} s per cell; stop timeout: "
        f"{options.get('stop_timeout_s')} s (requests still unanswered then are cut off "
        "and the cell is flagged)",
        "probe: off, as in the classroom",
        _processes_item(options.get("processes")),
    ]
    return ["### Load generator (Locust, headless)", ""] + [f"- {item}" for item in items]


def side_by_side_section(report: Report) -> list[str]:
    """Per classroom row: the published figures, then this run's per server."""
    rows = classroom_rows(report.cells)
    if not rows:
        return []
    lines = ["## The classroom, side by side", "", _intro(report.results), ""]
    lines += [f"- **{name}**: {text}" for name, text in differences(report.results, rows)]
    for key, (reference, cells) in rows.items():
        lines += [""] + row_block(report, key, reference, cells)
    return lines


def ratios_section(report: Report) -> list[str]:
    """This run's rates and latencies divided by the classroom's, row by row."""
    rows = classroom_rows(report.cells)
    table_rows = [
        _ratio_row(report, key, reference, cell)
        for key, (reference, cells) in rows.items()
        for cell in cells
    ]
    if not table_rows:
        return []
    headers = ["Algorithm", "Scenario", "Spawn rate", "Server"]
    headers += [f"{header} ×" for _, header in RATIO_COLUMNS]
    headers.append("Failed: classroom → this run")
    return (
        ["### This run ÷ the classroom", ""]
        + markdown_table(headers, table_rows, label_columns=4)
        + [
            "",
            "Each ratio is this run's figure divided by the classroom's for the same row: "
            "above 1× means more requests per second, or slower answers. Rates and "
            "latencies can be compared across runs of different lengths; request counts "
            "cannot, so they are left out here.",
        ]
    )


def classroom_notes_section(report: Report) -> list[str]:
    scenarios = sorted({key[1] for key in classroom_rows(report.cells)})
    notes = [CLASSROOM_NOTES[scenario] for scenario in scenarios if scenario in CLASSROOM_NOTES]
    if not notes:
        return []
    return ["### About the classroom's figures", ""] + [f"- {note}" for note in notes]


SECTIONS: tuple[base.Section, ...] = (
    base.status_section,
    base.context_section,
    base.servers_section,
    load_section,
    side_by_side_section,
    ratios_section,
    classroom_notes_section,
    base.validity_section,
)


def make_charts(results: dict, charts_dir: Path) -> list[Path]:
    """The classroom comparison is a table; it draws no charts."""
    return []


# Rows ---------------------------------------------------------------------------


def classroom_rows(cells: Iterable[dict]) -> dict[RowKey, tuple[dict, list[dict]]]:
    """Cells grouped by the classroom row they replay, in run order."""
    rows: dict[RowKey, tuple[dict, list[dict]]] = {}
    for cell in cells:
        reference = cell.get("classroom")
        if not reference:
            continue
        # Merged repeats hold medians: 1.0 for scenario 1.
        key = (reference["algorithm"], int(reference["scenario"]), float(reference["spawn_rate"]))
        rows.setdefault(key, (reference, []))[1].append(cell)
    return rows


def row_block(report: Report, key: RowKey, reference: dict, cells: list[dict]) -> list[str]:
    algorithm, scenario, spawn_rate = key
    table = [_classroom_line(reference)] + [_run_line(report, cell) for cell in cells]
    return (
        [f"### {_scenario_text(scenario)}: {algorithm} at {spawn_rate:g} users/s", ""]
        + [_ramp_text(reference, cells), ""]
        + markdown_table(ROW_HEADERS, table, label_columns=2)
    )


def _classroom_line(reference: dict) -> list[str]:
    label = [CLASSROOM_LABEL, CLASSROOM_SERVER, format_count(reference.get("users"))]
    return label + _figures(reference, cut_off=None)


def _run_line(report: Report, cell: dict) -> list[str]:
    label = [THIS_RUN_LABEL, _server_label(report, cell), _users_text(cell)]
    if cell.get("status") != "ok":
        return label + [FAILED] + [MISSING] * (len(ROW_HEADERS) - 4)
    return label + _figures(cell.get("stats") or {}, cell.get("cut_off_requests"))


def _figures(stats: dict, cut_off: int | None) -> list[str]:
    """A row's numbers; `cut_off` is None where it was never counted."""
    return [
        _format_seconds(span_s(stats)),
        format_count(stats.get("requests")),
        format_count(stats.get("failures")),
        _format_share(failed_share(stats)),
        format_count(cut_off),
        format_rate(stats.get("rps")),
        format_rate(stats.get("failures_per_s")),
        format_ms(stats.get("avg_ms")),
        format_ms(stats.get("min_ms")),
        format_ms(stats.get("p50_ms")),
        format_ms(stats.get("p95_ms")),
        format_ms(stats.get("p99_ms")),
        format_ms(stats.get("max_ms")),
    ]


def _ratio_row(report: Report, key: RowKey, reference: dict, cell: dict) -> list[str]:
    algorithm, scenario, spawn_rate = key
    label = [algorithm, str(scenario), f"{spawn_rate:g}", _server_label(report, cell)]
    if cell.get("status") != "ok":
        return label + [FAILED] + [MISSING] * len(RATIO_COLUMNS)
    stats = cell.get("stats") or {}
    ratios = [format_ratio(ratio(stats.get(k), reference.get(k))) for k, _ in RATIO_COLUMNS]
    shares = f"{_format_share(failed_share(reference))} → {_format_share(failed_share(stats))}"
    return label + ratios + [shares]


def _server_label(report: Report, cell: dict) -> str:
    name = "external" if cell.get("server") == "external" else cell.get("arm") or MISSING
    number = report.notes.get(cell.get("id"))
    return f"{name} {FLAG_MARK}{number}" if number else name


def _users_text(cell: dict) -> str:
    users, peak = cell.get("users"), cell.get("peak_users")
    if peak is None or peak == users:
        return format_count(users)
    return f"{format_count(peak)} of {format_count(users)}"


# Numbers ------------------------------------------------------------------------


def span_s(stats: dict) -> float | None:
    """Seconds over which Locust counted: its request count over its RPS."""
    requests, rps = stats.get("requests"), stats.get("rps")
    if not requests or not rps:
        return None
    return requests / rps


def failed_share(stats: dict) -> float | None:
    requests, failures = stats.get("requests"), stats.get("failures")
    if not requests or failures is None:
        return None
    return failures / requests


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


def format_ratio(value: float | None) -> str:
    """Two significant decimals below 10×, whole numbers above."""
    if value is None:
        return MISSING
    return f"{value:.2f}×" if value < 10 else f"{value:,.0f}×"


def _format_share(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.1f} %"


def _format_seconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.0f}"


# Prose --------------------------------------------------------------------------


def _intro(results: dict) -> str:
    users = (results.get("load_options") or {}).get("users")
    offered = f"about {users / MEAN_WAIT_S:,.0f}" if users else "a fixed rate of"
    return (
        "The classroom's published figures for each row of its table, then this run's "
        f"replay of the same row on each server. {users or 'The'} users, each waiting "
        f"1–3 s, offer {offered} requests/s while answers are quick. A server that "
        "answers fewer queues the rest, so response times grow until each user's cycle "
        f"(its wait plus one response) fits what the server delivers: RPS ≈ users ÷ "
        f"({MEAN_WAIT_S:g} s + average response time). *Span* is requests ÷ RPS, the "
        "seconds over which Locust counted, worked out the same way for both runs. "
        "*Cut off* counts requests still waiting for their answer when the stop timeout "
        "ran out: they are in no other column. What differs between the two runs:"
    )


def differences(results: dict, rows: dict) -> list[tuple[str, str]]:
    """What differs between the classroom's run and this one, plainly."""
    machine = results.get("machine") or {}
    packages = machine.get("packages") or {}
    return [
        (
            "Hardware",
            "the classroom ran on a Windows desktop whose CPU and core count were not "
            f"recorded; this run on {_machine_text(machine)}.",
        ),
        ("Server", _server_text(results, rows)),
        (
            "Locust",
            f"{CLASSROOM_LOCUST} in the classroom, {packages.get('locust', 'unknown')} here. "
            "The classroom's locustfile is known only by its settings (users, wait, "
            "paths); this run's users are `FastHttpUser`s.",
        ),
        ("Run length", _run_length_text(results, rows)),
        ("End of the run", _stop_text(results)),
        ("CPU pinning", _pinning_text(results)),
    ]


def _server_text(results: dict, rows: dict) -> str:
    django = ((results.get("machine") or {}).get("packages") or {}).get("django", "unknown")
    classroom = "the classroom used Django's development server (`runserver`) on Windows"
    if results.get("target_url"):
        return (
            f"{classroom}; this run loaded an external server at `{results['target_url']}` "
            "that it neither started nor managed: its server model, settings and CPU "
            f"pinning are unknown here. This project runs Django {django}."
        )
    arms = list(dict.fromkeys(cell.get("arm") for _, cells in rows.values() for cell in cells))
    described = "; ".join(f"`{arm}`, {ARMS[arm].summary}" for arm in arms if arm in ARMS)
    return (
        f"{classroom}, version and settings not recorded; this run used Django {django} "
        f"with DEBUG off, a fresh server per cell: {described}."
    )


def _run_length_text(results: dict, rows: dict) -> str:
    spans = [span_s(reference) for reference, _ in rows.values()]
    spans = [span for span in spans if span is not None]
    classroom = "not recorded"
    if spans:
        low, high = f"{min(spans):,.0f}", f"{max(spans):,.0f}"
        classroom = f"{low} s" if low == high else f"{low}–{high} s per row"
        classroom += " (their span)"
    runs = "run" if len(spans) == 1 else "runs"
    load = results.get("load_options") or {}
    return (
        f"the classroom's {runs} lasted {classroom}; this run held each cell for "
        f"{load.get('run_time_s')} s. Users start at the row's spawn rate, so a row at "
        "5 users/s needs 100 s to start 500 users: where fewer started, the Users column "
        "says how many ran at the peak. Compare the ratios below, not request counts."
    )


def _stop_text(results: dict) -> str:
    timeout = (results.get("load_options") or {}).get("stop_timeout_s")
    return (
        "the classroom's command line was not recorded; with Locust's default (no stop "
        "timeout) users stop at once and requests still in flight are never counted. "
        f"This run lets them finish for up to {timeout} s, then cuts off the rest, counts "
        "them and flags the cell `cut_off`: the slowest answers are missing from both."
    )


def _pinning_text(results: dict) -> str:
    server = (results.get("server_options") or {}).get("cpus") or []
    load = (results.get("load_options") or {}).get("cpus") or []
    classroom = "the classroom's Locust and server shared one desktop"
    if results.get("target_url"):
        pinned = f"CPUs {_cpus(load)}" if load else "no CPU set"
        return f"{classroom}; this run pinned Locust to {pinned}, the external server unknown."
    if server and load and not set(server) & set(load):
        return (
            f"{classroom}; this run gave the server CPUs {_cpus(server)} and Locust "
            f"CPUs {_cpus(load)}, so neither slowed the other."
        )
    return f"{classroom}; so did this run's (no pinning)."


def _machine_text(machine: dict) -> str:
    parts = [
        machine.get("cpu_model") or "an unknown CPU",
        f"{machine.get('cpu_count')} logical CPUs" if machine.get("cpu_count") else None,
        machine.get("platform"),
    ]
    return ", ".join(part for part in parts if part) or "an unrecorded machine"


def _ramp_text(reference: dict, cells: list[dict]) -> str:
    """The row's path, this run's ramp-up, and any change from the classroom's load."""
    users = _first(cells, "users")
    rate = _first(cells, "spawn_rate")
    run_time = _first(cells, "run_time_s")
    text = f"Path `{reference.get('path')}`."
    if users and rate:
        ramp = users / rate
        text += f" This run started {users} users at {rate:g}/s: {ramp:,.0f} s of ramp-up"
        if run_time and ramp > run_time:
            text += f", longer than its {run_time} s of load, so not every user started"
        text += "."
    changed = _load_changes(reference, users, rate)
    if changed:
        text += (
            f" **{FLAG_MARK} Not the classroom's load**: {changed}, so the ratios do not "
            "compare like with like."
        )
    return text


def _load_changes(reference: dict, users: int | None, rate: float | None) -> str:
    changes = []
    if users and reference.get("users") and users != reference["users"]:
        changes.append(f"{users} users instead of {reference['users']}")
    if rate and reference.get("spawn_rate") and rate != reference["spawn_rate"]:
        changes.append(f"{rate:g} users/s instead of {reference['spawn_rate']:g}")
    return " and ".join(changes)


def _first(cells: list[dict], key: str):
    return next((cell.get(key) for cell in cells if cell.get(key)), None)


def _scenario_text(scenario: int) -> str:
    size = SCENARIOS.get(scenario)
    if not size:
        return f"Scenario {scenario}"
    return f"Scenario {scenario} (n = {size['n']:,}, max = {size['max']:,})"


def _spawn_rate_item(spawn_rate: float | None) -> str:
    if spawn_rate is None:
        return "spawn rate: each row's own, as the classroom's table gives it (users/s)"
    return f"spawn rate: {spawn_rate:g} users/s for every row (the classroom's rows differ)"


def _processes_item(processes: int | None) -> str:
    if not processes or processes <= 1:
        return "Locust processes: one"
    return f"Locust processes: a master and {processes} workers (Locust's `--processes`)"


def _cpus(cpus: list[int]) -> str:
    return ", ".join(str(cpu) for cpu in sorted(cpus))
