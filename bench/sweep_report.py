"""Show a sweep run: the fitted growth exponents beside the theory, and a chart.

Reads only the records `bench.sweep` stored, so a sweep is re-rendered
without re-running it. The chart is drawn with matplotlib's object API on
the Agg canvas, as `bench.charts` draws the fixed kind's.
"""

import logging
import math
import os
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench import report
from bench.arms import ARMS
from bench.charts import algorithm_order
from bench.reference import MISSING, format_ms, markdown_table
from bench.repeats import format_spread
from bench.sweep import SERIES

logger = logging.getLogger(__name__)

CHART_FILE = "sweep-growth.png"
FIGURE_SIZE_IN = (8.0, 5.5)
DPI = 110
PALETTE = "tab10"
# How each series looks: marker for its points, line style for its fit.
SERIES_STYLES = {
    "in_process": ("o", "-", "in process: sort only"),
    "http_sort": ("s", "--", "over HTTP: server's sort_ms"),
    "http_client": ("^", ":", "over HTTP: client latency"),
}
SERIES_HEADERS = {
    "in_process": "In process",
    "http_sort": "HTTP, server sort",
    "http_client": "HTTP, client latency",
}


# Sections -----------------------------------------------------------------------


def setup_section(report_data: report.Report) -> list[str]:
    """What was swept, where it ran, and how each time was taken."""
    cells = _sweep_cells(report_data)
    if not cells:
        return []
    first = cells[0]
    lines = ["## Growth sweep: setup", ""]
    workers = (report_data.results.get("server_options") or {}).get("workers")
    lines.append(f"- **Server model over HTTP**: {_arm_line(first.get('arm'), workers)}")
    lines += [f"  - `{command}`" for command in _server_commands(cells)]
    lines.append(f"- **CPUs**: {_cpu_line(report_data.results, cells)}")
    lines += [f"- **{cell.get('algorithm')}**: {_sizes_line(cell)}" for cell in cells]
    lines.append(f"- **Timing**: {_timing_line(first)}")
    return lines


def growth_section(report_data: report.Report) -> list[str]:
    """The exponents table, the chart, what each series means, the medians."""
    cells = _sweep_cells(report_data)
    if not cells:
        return []
    lines = ["## How cost grows with n", ""]
    link = chart_link(report_data)
    if link:
        lines += [f"![Time against n, log-log]({link})", ""]
    lines += exponent_table(report_data, cells)
    lines += ["", *series_legend(cells)]
    for cell in cells:
        lines += ["", *medians_table(cell)]
    return lines


SECTIONS: tuple[report.Section, ...] = (
    report.status_section,
    report.context_section,
    setup_section,
    growth_section,
    report.validity_section,
)


# Tables -----------------------------------------------------------------------


def exponent_table(report_data: report.Report, cells: list[dict]) -> list[str]:
    """One row per algorithm: theory, then each series' fitted exponent and r²."""
    headers = ["Algorithm", "Theory", "Expected here"]
    for name in SERIES:
        headers += [SERIES_HEADERS[name], "r²"]
    rows = [_exponent_row(report_data, cell) for cell in cells]
    return ["### Fitted growth exponents", ""] + markdown_table(headers, rows)


def _exponent_row(report_data: report.Report, cell: dict) -> list[str]:
    theory = cell.get("theory") or {}
    row = [
        _algorithm_label(report_data, cell),
        _theory_text(theory),
        format_exponent(theory.get("over_range")),
    ]
    fits = cell.get("fits") or {}
    for name in SERIES:
        fit = fits.get(name) or {}
        row += [format_exponent(fit.get("exponent")), format_r_squared(fit.get("r_squared"))]
    return row


def medians_table(cell: dict) -> list[str]:
    """The medians behind the fits, one row per n."""
    medians = cell.get("medians") or {}
    by_n = {
        name: {item["n"]: item["ms"] for item in medians.get(name) or []}
        for name in (*SERIES, "http_other")
    }
    spreads = {
        name: {item["n"]: item.get("spread") for item in medians.get(name) or []}
        for name in ("in_process", "http_sort")
    }
    headers = [
        "n",
        "max",
        "In-process sort (ms)",
        "HTTP server sort (ms)",
        "HTTP client latency (ms)",
        "Client time outside the work (ms)",
        "Rounds' spread, in process",
        "Rounds' spread, HTTP sort",
    ]
    rows = [
        [f"{n:,}", f"{n * (cell.get('max_per_n') or 0):,}"]
        + [format_ms(by_n[name].get(n)) for name in (*SERIES, "http_other")]
        + [format_spread(spreads[name].get(n)) for name in spreads]
        for n in cell.get("ns") or []
    ]
    title = f"### {cell.get('algorithm')}: median time per size"
    return [title, ""] + markdown_table(headers, rows, label_columns=0)


def series_legend(cells: list[dict]) -> list[str]:
    """What each series measures, and why client latency bends at small n."""
    first = cells[0]
    return [
        "Each exponent is the least-squares slope of log(time) against log(n) over the "
        f"medians below (each the median of {first.get('rounds')} timed rounds); r² near 1 "
        "means one straight line on log-log axes fits. *Theory* is the textbook growth "
        "(n log n counts as 1); *expected here* is the slope the theory's own cost "
        "function has over the sizes swept, since n log n bends on log-log axes (its "
        "local slope is 1 + 1 / ln n).",
        "",
        "- *In process*: only the sort, timed by `run_job` in a Python process pinned to "
        "the server's CPUs, with no server around it: the algorithm's own cost.",
        "- *HTTP, server sort*: the same sort timed by the view while it served the "
        "request (`sort_ms` in the answer). This is the honest exponent over HTTP: the "
        "algorithm inside the server.",
        "- *HTTP, client latency*: what the client waited for the whole request. Every "
        "request pays a cost that does not grow with the sort: the connection, HTTP "
        "parsing, Django's routing and middleware, the JSON answer, plus building the "
        "list, which grows only linearly. While that cost is a large share of the "
        "latency, the curve is flat at small n and the fitted exponent comes out "
        "below the algorithm's; it is what a user sees, not what the sort costs. "
        + _fixed_cost_sentence(cells),
        "- *Client time outside the work* (tables below): the latency minus the "
        "server's own wait, list generation and sort, i.e. the part of each request "
        "that is neither the work nor waiting for it.",
        "- *Rounds' spread* (tables below): (max − min) / median of a size's timed "
        "rounds. The median shrugs off one slow round; a sweep where most sizes "
        "spread widely is flagged `noisy_rounds` under Validity.",
    ]


def _fixed_cost_sentence(cells: list[dict]) -> str:
    """The measured share of the latency outside the sort, at each smallest n."""
    parts = []
    for cell in cells:
        at_smallest = _smallest_n_times(cell)
        if at_smallest is None:
            continue
        n, client, sort = at_smallest
        parts.append(
            f"{cell.get('algorithm')} at n = {n:,}: {format_ms(client)} ms of latency, "
            f"{format_ms(sort)} ms of sort"
        )
    if not parts:
        return ""
    return "Here, at the smallest sizes: " + "; ".join(parts) + "."


def _smallest_n_times(cell: dict) -> tuple[int, float, float] | None:
    medians = cell.get("medians") or {}
    client = {item["n"]: item["ms"] for item in medians.get("http_client") or []}
    sort = {item["n"]: item["ms"] for item in medians.get("http_sort") or []}
    shared = sorted(set(client) & set(sort))
    if not shared:
        return None
    return shared[0], client[shared[0]], sort[shared[0]]


def _theory_text(theory: dict) -> str:
    if theory.get("exponent") is None:
        return MISSING
    return f"{theory.get('cost')}: {theory['exponent']:g}"


def format_exponent(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def format_r_squared(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3f}"


# Setup helpers ------------------------------------------------------------------


def _sweep_cells(report_data: report.Report) -> list[dict]:
    cells = [cell for cell in report_data.cells if "ns" in cell]
    return sorted(cells, key=lambda cell: algorithm_order(cell.get("algorithm")))


def _algorithm_label(report_data: report.Report, cell: dict) -> str:
    number = report_data.notes.get(cell.get("id"))
    name = cell.get("algorithm") or MISSING
    return f"{name} {report.FLAG_MARK}{number}" if number else name


def _arm_line(arm: str | None, workers: int | None) -> str:
    summary = ARMS[arm].summary if arm in ARMS else ""
    text = f"`{arm}`" + (f" ({summary})" if summary else "") + ", started once per algorithm"
    if workers:
        text += f"; {workers} worker process{'' if workers == 1 else 'es'}"
    return text


def _server_commands(cells: list[dict]) -> list[str]:
    commands = [
        report.public_command(cell["server_command"])
        for cell in cells
        if cell.get("server_command")
    ]
    return list(dict.fromkeys(commands))


def _cpu_line(results: dict, cells: list[dict]) -> str:
    server = list((results.get("server_options") or {}).get("cpus") or [])
    client = list((results.get("load_options") or {}).get("cpus") or [])
    child = next(((cell.get("in_process") or {}).get("cpus") for cell in cells), None)
    if not server:
        return (
            f"**{report.FLAG_MARK} not pinned**: the timing child, the server and the "
            "HTTP client shared the machine's CPUs"
        )
    parts = [f"server on {_cpus(server)}"]
    if child:
        parts.append(f"the in-process timing child on {_cpus(child)}")
    if client:
        parts.append(f"the HTTP client on {_cpus(client)}")
    return ", ".join(parts)


def _cpus(cpus: list[int]) -> str:
    return ("CPU " if len(cpus) == 1 else "CPUs ") + ", ".join(str(cpu) for cpu in cpus)


def _sizes_line(cell: dict) -> str:
    ns = cell.get("ns") or []
    if not ns:
        return MISSING
    factor = cell.get("max_per_n")
    return f"n from {ns[0]:,} to {ns[-1]:,} in {len(ns)} sizes, max = {factor} × n"


def _timing_line(cell: dict) -> str:
    warm_ups = cell.get("warm_up_rounds")
    return (
        f"{warm_ups} untimed warm-up round{'' if warm_ups == 1 else 's'}, then "
        f"{cell.get('rounds')} timed rounds; a round times every size once, smallest "
        "first, so slow drift of the machine spreads over all sizes. Round r uses seed "
        "r in process and over HTTP alike, so both time the same lists. Over HTTP the "
        "requests go one at a time, so no request ever waits for another."
    )


# Chart ---------------------------------------------------------------------------


def chart_path(charts_dir: Path) -> Path:
    return charts_dir / CHART_FILE


def chart_link(report_data: report.Report) -> str | None:
    """The chart's path relative to the report, when the chart exists."""
    if report_data.charts_dir is None:
        return None
    path = chart_path(report_data.charts_dir)
    if not path.exists():
        return None
    base = report_data.report_dir or report_data.charts_dir.parent
    return Path(os.path.relpath(path, base)).as_posix()


def make_charts(results: dict, charts_dir: Path) -> list[Path]:
    """Draw the log-log chart when any series has medians; return its path."""
    cells = [cell for cell in results.get("cells") or [] if _has_medians(cell)]
    if not cells:
        logger.info("no sweep medians to chart; no chart written")
        return []
    cells.sort(key=lambda cell: algorithm_order(cell.get("algorithm")))
    charts_dir.mkdir(parents=True, exist_ok=True)
    path = chart_path(charts_dir)
    _save(growth_figure(cells), path)
    logger.info("chart written to %s", path)
    return [path]


def growth_figure(cells: list[dict]) -> Figure:
    """Time against n on log-log axes: points, fitted lines, one color per algorithm."""
    figure = Figure(figsize=FIGURE_SIZE_IN, layout="constrained")
    axes = figure.add_subplot()
    axes.set_xscale("log")
    axes.set_yscale("log")
    colors = _colors(cells)

    for cell in cells:
        for name in SERIES:
            _draw_series(axes, cell, name, colors[cell.get("algorithm")])

    axes.set_title("How cost grows with n (log-log)")
    axes.set_xlabel("n (values in the list)")
    axes.set_ylabel("time, ms")
    axes.grid(which="both", alpha=0.25)
    _legends(axes, colors)
    return figure


def _draw_series(axes: Axes, cell: dict, name: str, color) -> None:
    medians = (cell.get("medians") or {}).get(name) or []
    points = [(item["n"], item["ms"]) for item in medians if item["ms"] > 0]
    if not points:
        return
    marker, line_style, _ = SERIES_STYLES[name]
    axes.plot(*zip(*points), linestyle="none", marker=marker, color=color, markersize=5)

    fit = (cell.get("fits") or {}).get(name)
    if fit:
        ends = [points[0][0], points[-1][0]]
        fitted = [math.exp(fit["intercept"]) * n ** fit["exponent"] for n in ends]
        axes.plot(ends, fitted, linestyle=line_style, color=color, linewidth=1.2)


def _legends(axes: Axes, colors: dict) -> None:
    algorithms = [
        Line2D([], [], color=color, linewidth=3, label=name) for name, color in colors.items()
    ]
    series = [
        Line2D([], [], color="black", marker=marker, linestyle=style, label=label)
        for marker, style, label in SERIES_STYLES.values()
    ]
    first = axes.legend(handles=algorithms, title="algorithm", loc="upper left", fontsize=8)
    axes.add_artist(first)
    axes.legend(handles=series, title="points and fitted line", loc="lower right", fontsize=8)


def _colors(cells: list[dict]) -> dict:
    """A color per algorithm, the same in every sweep whichever algorithms ran."""
    palette = colormaps[PALETTE]
    names = [cell.get("algorithm") for cell in cells]
    return {name: palette(algorithm_order(name)[0] % palette.N) for name in names}


def _has_medians(cell: dict) -> bool:
    return any((cell.get("medians") or {}).get(name) for name in SERIES)


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    # No Software entry, so the bytes change only when the chart does.
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
