"""The classroom's published figures, and the two tables they came in.

The run's own tables in `bench.report` reuse the column layouts and number
formats defined here, so this run and the classroom's can be read side by
side, column for column.
"""

import csv
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# A copy of the shared classroom-results.csv: the repository must carry it.
CLASSROOM_CSV = Path(__file__).with_name("reference_classroom.csv")
MISSING = "—"
# At and above this many ms a decimal adds noise, not information.
WHOLE_MS_FROM = 100.0

# Facts about the classroom run that its CSV cannot carry.
CLASSROOM_SETUP = (
    "Measured in the classroom run this lab grew out of: Django's development "
    "server (`runserver`) on a Windows desktop, Locust 2.14, 500 users, each "
    "waiting 1–3 s between requests, one endpoint at a time, users started at "
    "the spawn rate shown in each row (users per second). The server, machine "
    "and load differ from this run's, so compare shapes and ratios, not "
    "absolute numbers."
)
CLASSROOM_NOTES = {
    1: (
        "The summary written beside the original table said the bubble-sort run "
        "at spawn rate 5 answered every request within 2.5 s; its own "
        "percentiles put the median near 23 s. The numbers are kept as "
        "published."
    ),
    2: "There is no bubble-sort row: every bubble-sort request timed out.",
}


def format_ms(value: float | None) -> str:
    """Milliseconds: whole numbers from 100 ms up, one decimal below."""
    if value is None:
        return MISSING
    if abs(value) >= WHOLE_MS_FROM - 0.05:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def format_rate(value: float | None) -> str:
    """A per-second rate (requests or failures), one decimal."""
    return MISSING if value is None else f"{value:,.1f}"


def format_count(value: float | None) -> str:
    return MISSING if value is None else f"{round(value):,}"


@dataclass(frozen=True)
class Column:
    key: str  # the stats key, as in results.json and the classroom CSV
    header: str
    format: Callable[[float | None], str]


# The classroom's table 1: volume, latency summary and throughput.
SUMMARY_COLUMNS = (
    Column("requests", "Requests", format_count),
    Column("failures", "Failures", format_count),
    Column("avg_ms", "Average (ms)", format_ms),
    Column("min_ms", "Min (ms)", format_ms),
    Column("max_ms", "Max (ms)", format_ms),
    Column("avg_size_bytes", "Average size (bytes)", format_count),
    Column("rps", "RPS", format_rate),
    Column("failures_per_s", "Failures/s", format_rate),
)
# The classroom's table 2: response-time percentiles.
PERCENTILE_COLUMNS = tuple(
    Column(f"p{point}_ms", f"{point}% (ms)", format_ms)
    for point in (50, 60, 70, 80, 90, 95, 99, 100)
)


def stats_cells(stats: dict | None, columns: Sequence[Column]) -> list[str]:
    """One formatted table cell per column; absent values show as a dash."""
    stats = stats or {}
    return [column.format(stats.get(column.key)) for column in columns]


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], label_columns: int = 1
) -> list[str]:
    """A Markdown table; columns after the first `label_columns` align right."""
    rule = ["---" if index < label_columns else "---:" for index in range(len(headers))]
    lines = [_table_row(headers), _table_row(rule)]
    lines += [_table_row(row) for row in rows]
    return lines


def load_classroom(path: Path = CLASSROOM_CSV) -> list[dict]:
    """The classroom's rows, with numbers as numbers."""
    with open(path, newline="", encoding="utf-8") as figures:
        return [_typed_row(row) for row in csv.DictReader(figures)]


def classroom_section(rows: list[dict] | None = None) -> list[str]:
    """The section comparing against the classroom; no lines without rows."""
    if rows is None:
        rows = load_classroom()
    if not rows:
        return []

    lines = ["## The classroom's published figures", "", CLASSROOM_SETUP]
    for scenario in sorted({row["scenario"] for row in rows}):
        lines += [""] + _classroom_scenario(scenario, rows)
    return lines


def _classroom_scenario(scenario: int, rows: list[dict]) -> list[str]:
    chosen = [row for row in rows if row["scenario"] == scenario]
    first = chosen[0]
    headers = ["Algorithm", "Spawn rate (users/s)"]
    labels = [[row["algorithm"], f"{row['spawn_rate']:g}"] for row in chosen]

    lines = [
        f"### Classroom scenario {scenario}: n = {first['n']:,}, max = {first['max']:,}",
        "",
    ]
    lines += markdown_table(
        headers + [column.header for column in SUMMARY_COLUMNS],
        [label + stats_cells(row, SUMMARY_COLUMNS) for label, row in zip(labels, chosen)],
        label_columns=2,
    )
    lines.append("")
    lines += markdown_table(
        headers + [column.header for column in PERCENTILE_COLUMNS],
        [label + stats_cells(row, PERCENTILE_COLUMNS) for label, row in zip(labels, chosen)],
        label_columns=2,
    )
    if scenario in CLASSROOM_NOTES:
        lines += ["", CLASSROOM_NOTES[scenario]]
    return lines


def _typed_row(row: dict[str, str]) -> dict:
    return {key: _typed(value) for key, value in row.items()}


def _typed(text: str) -> int | float | str | None:
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _table_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_escape(cell) for cell in cells) + " |"


def _escape(cell: str) -> str:
    # A pipe or a line break in an error message would split the row.
    return str(cell).replace("|", "\\|").replace("\n", " ")
