"""Bar charts of a run's throughput and latency: one pair per scenario.

Drawn with matplotlib's object API on the Agg canvas rather than pyplot:
nothing needs a display, and no global figure registry keeps figures alive
between calls. File names depend only on the scenario and the metric, so a
re-run overwrites its charts instead of piling up new ones.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bench.arms import ALGORITHMS, PING, SCENARIOS
from bench.reference import format_ms, format_rate

logger = logging.getLogger(__name__)

RPS = "rps"
LATENCY = "latency"
METRIC_KEYS = {RPS: ("rps",), LATENCY: ("p50_ms", "p95_ms")}
# Bar labels read like the report's tables.
LABEL_FORMATS = {"rps": format_rate, "p50_ms": format_ms, "p95_ms": format_ms}
FIGURE_SIZE_IN = (8.0, 4.5)
DPI = 110
GROUP_WIDTH = 0.8  # share of an algorithm's slot taken by its bars
# Past this max/min ratio, linear bars flatten the fast cells to nothing.
LOG_SCALE_RATIO = 100.0
FLAGGED_HATCH = "//"
PALETTE = "tab10"


@dataclass
class Grid:
    """One scenario's values per (algorithm, arm, stats key)."""

    scenario: int
    algorithms: list[str] = field(default_factory=list)
    arms: list[str] = field(default_factory=list)
    values: dict[tuple[str, str, str], float] = field(default_factory=dict)
    flagged: set[tuple[str, str]] = field(default_factory=set)
    failed: set[tuple[str, str]] = field(default_factory=set)
    n: int | None = None
    max: int | None = None

    def has(self, keys: Iterable[str]) -> bool:
        wanted = set(keys)
        return any(key in wanted for _, _, key in self.values)

    def column(self, key: str) -> list[float]:
        return [value for (_, _, name), value in self.values.items() if name == key]


def chart_path(charts_dir: Path, scenario: int, metric: str) -> Path:
    return charts_dir / f"scenario{scenario}-{metric}.png"


def planned_charts(results: dict, charts_dir: Path) -> dict[tuple[int, str], Path]:
    """The charts the results hold data for, by (scenario, metric)."""
    planned = {}
    for scenario, grid in scenario_grids(results).items():
        for metric, keys in METRIC_KEYS.items():
            if grid.has(keys):
                planned[(scenario, metric)] = chart_path(charts_dir, scenario, metric)
    return planned


def make_charts(results: dict, charts_dir: Path) -> list[Path]:
    """Write every chart the results have data for; return their paths."""
    planned = planned_charts(results, charts_dir)
    if not planned:
        logger.info("no successful cells to chart; no charts written")
        return []

    charts_dir.mkdir(parents=True, exist_ok=True)
    grids = scenario_grids(results)
    for (scenario, metric), path in planned.items():
        figure = DRAWERS[metric](grids[scenario])
        _save(figure, path)
        logger.info("chart written to %s", path)
    return list(planned.values())


def scenario_grids(results: dict) -> dict[int, Grid]:
    """A grid per scenario that has at least one non-ping cell."""
    grids: dict[int, Grid] = {}
    for cell in results.get("cells") or []:
        scenario = cell.get("scenario")
        if cell.get("algorithm") == PING or scenario is None:
            continue
        grid = grids.setdefault(scenario, Grid(scenario))
        _add_cell(grid, cell)
    for grid in grids.values():
        grid.algorithms.sort(key=algorithm_order)
    return dict(sorted(grids.items()))


def needs_log_scale(values: Iterable[float | None]) -> bool:
    """True when the positive values span more than LOG_SCALE_RATIO."""
    positive = [value for value in values if value is not None and value > 0]
    return len(positive) > 1 and max(positive) / min(positive) >= LOG_SCALE_RATIO


def rps_figure(grid: Grid) -> Figure:
    figure = Figure(figsize=FIGURE_SIZE_IN, layout="constrained")
    axes = figure.add_subplot()
    log = needs_log_scale(grid.column("rps"))
    _grouped_bars(axes, grid, "rps", log)

    axes.set_title(f"{_scenario_title(grid)}: throughput")
    axes.set_ylabel("requests per second" + (" (log scale)" if log else ""))
    _legend(axes, grid)
    return figure


def latency_figure(grid: Grid) -> Figure:
    figure = Figure(figsize=(FIGURE_SIZE_IN[0] * 1.4, FIGURE_SIZE_IN[1]), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    log = needs_log_scale(grid.column("p50_ms") + grid.column("p95_ms"))
    _grouped_bars(left, grid, "p50_ms", log)
    _grouped_bars(right, grid, "p95_ms", log)

    figure.suptitle(f"{_scenario_title(grid)}: response time")
    left.set_title("median (p50)")
    right.set_title("95th percentile (p95)")
    left.set_ylabel("response time, ms" + (" (log scale)" if log else ""))
    _legend(right, grid)
    return figure


DRAWERS = {RPS: rps_figure, LATENCY: latency_figure}


def _add_cell(grid: Grid, cell: dict) -> None:
    algorithm, arm = cell.get("algorithm"), cell.get("arm")
    if algorithm not in grid.algorithms:
        grid.algorithms.append(algorithm)
    if arm not in grid.arms:
        grid.arms.append(arm)
    grid.n = grid.n or cell.get("n")
    grid.max = grid.max or cell.get("max")

    # A failed cell keeps its slot on the axis but gets no bars.
    if cell.get("status") != "ok":
        grid.failed.add((algorithm, arm))
        return
    if cell.get("flags"):
        grid.flagged.add((algorithm, arm))
    for key, value in (cell.get("stats") or {}).items():
        if value is not None and key in LABEL_FORMATS:
            grid.values[(algorithm, arm, key)] = float(value)


def _grouped_bars(axes: Axes, grid: Grid, key: str, log: bool) -> None:
    """Algorithms along x, one bar per arm; a slot without data says so."""
    width = GROUP_WIDTH / len(grid.arms)
    colors = _colors(len(grid.arms))
    if log:
        axes.set_yscale("log")

    for arm_index, arm in enumerate(grid.arms):
        offset = -GROUP_WIDTH / 2 + width * (arm_index + 0.5)
        for slot, algorithm in enumerate(grid.algorithms):
            value = grid.values.get((algorithm, arm, key))
            if value is None or (log and value <= 0):
                failed = (algorithm, arm) in grid.failed
                _no_bar(axes, slot + offset, "failed" if failed else "no data")
                continue
            bars = axes.bar(slot + offset, value, width, color=colors[arm_index])
            if (algorithm, arm) in grid.flagged:
                bars[0].set_hatch(FLAGGED_HATCH)
            label = LABEL_FORMATS[key](value)
            axes.bar_label(bars, labels=[label], fontsize=7, padding=2)

    axes.set_xticks(range(len(grid.algorithms)), grid.algorithms)
    # Fixed limits: autoscaling sees only the bars drawn, and would crop a
    # slot that holds nothing but its "no data" note.
    axes.set_xlim(-0.5, len(grid.algorithms) - 0.5)
    axes.set_xlabel("algorithm")
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)


def _no_bar(axes: Axes, x: float, note: str) -> None:
    # x in data units, y in axes units: works on linear and log scales.
    axes.text(
        x,
        0.02,
        note,
        rotation=90,
        ha="center",
        va="bottom",
        fontsize=7,
        color="grey",
        transform=axes.get_xaxis_transform(),
    )


def _legend(axes: Axes, grid: Grid) -> None:
    colors = _colors(len(grid.arms))
    handles = [Patch(color=color, label=arm) for arm, color in zip(grid.arms, colors)]
    if grid.flagged:
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="black",
                hatch=FLAGGED_HATCH,
                label="flagged: see Validity",
            )
        )
    axes.legend(handles=handles, title="arm", fontsize=8, title_fontsize=8)


def _colors(count: int) -> list:
    palette = colormaps[PALETTE]
    return [palette(index % palette.N) for index in range(count)]


def _scenario_title(grid: Grid) -> str:
    size = grid.n or SCENARIOS.get(grid.scenario, {}).get("n")
    top = grid.max or SCENARIOS.get(grid.scenario, {}).get("max")
    if size is None or top is None:
        return f"Scenario {grid.scenario}"
    return f"Scenario {grid.scenario} (n = {size:,}, max = {top:,})"


def algorithm_order(name: str) -> tuple[int, str]:
    """Sort key: the classroom's algorithm order, unknown names after."""
    known = ALGORITHMS.index(name) if name in ALGORITHMS else len(ALGORITHMS)
    return known, str(name)


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    # No Software entry: the bytes then change only when the chart does,
    # which keeps committed images quiet in git.
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
