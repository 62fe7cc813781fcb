"""Charts of stress and load runs: each cell over time, and the arms side by side.

Every chart is drawn from results.json alone (the time series the runner
stored per cell), on matplotlib's Agg canvas with the object API, and
closed with its figure. File names depend only on the kind, the cell or
the algorithm and scenario, so a re-run overwrites its charts.

- ``<kind>-<arm>-<algorithm>-s<k>.png``: users, throughput and p50/p95
  over time; for a stress cell the threshold, the breaking point and the
  recovery window are marked, for a load cell the ramp and the hold.
- ``<kind>-<algorithm>-s<k>-arms.png``: the arms compared; for stress,
  throughput and p95 against users per step, for load, the hold's mean
  throughput and its p95 in the first and last third.
"""

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.charts import DPI, PALETTE, algorithm_order, needs_log_scale
from bench.stress import users_text

logger = logging.getLogger(__name__)

STRESS = "stress"
LOAD = "load"
CELL_FIGURE_SIZE_IN = (9.0, 7.5)
COMPARISON_FIGURE_SIZE_IN = (10.0, 4.2)
THRESHOLD_COLOR = "tab:green"
BREAK_COLOR = "tab:red"
RECOVERY_COLOR = "grey"
RAMP_COLOR = "tab:orange"
SHADE_ALPHA = 0.15
SLO_HEADROOM = 3.0  # draw the p95 rule when it is at most this times the highest p95
P50_STYLE = {"color": "tab:blue", "linewidth": 1.0, "label": "p50"}
P95_STYLE = {"color": "tab:purple", "linewidth": 1.2, "label": "p95"}
STEP_STYLE = {"color": "black", "linewidth": 2.5, "alpha": 0.6}


def cell_chart_path(charts_dir: Path, kind: str, cell: dict) -> Path:
    return (
        charts_dir / f"{kind}-{cell.get('arm')}-{cell.get('algorithm')}-s{cell.get('scenario')}.png"
    )


def comparison_chart_path(charts_dir: Path, kind: str, algorithm: str, scenario: int) -> Path:
    return charts_dir / f"{kind}-{algorithm}-s{scenario}-arms.png"


def charted_cells(results: dict, kind: str) -> list[dict]:
    """The cells that ran and hold the kind's time series."""
    return [
        cell
        for cell in results.get("cells") or []
        if cell.get("status") == "ok" and ((cell.get(kind) or {}).get("series") or {}).get("t_s")
    ]


def comparison_groups(results: dict, kind: str) -> dict[tuple[str, int], list[dict]]:
    """The charted cells by (algorithm, scenario), in the classroom's order."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for cell in charted_cells(results, kind):
        groups.setdefault((cell.get("algorithm"), cell.get("scenario")), []).append(cell)
    return dict(sorted(groups.items(), key=lambda item: (item[0][1], algorithm_order(item[0][0]))))


def make_stress_charts(results: dict, charts_dir: Path) -> list[Path]:
    """Write every stress chart the results hold data for; return their paths."""
    return _make_charts(results, charts_dir, STRESS, stress_cell_figure, stress_comparison_figure)


def make_load_charts(results: dict, charts_dir: Path) -> list[Path]:
    """Write every load chart the results hold data for; return their paths."""
    return _make_charts(results, charts_dir, LOAD, load_cell_figure, load_comparison_figure)


def _make_charts(
    results: dict,
    charts_dir: Path,
    kind: str,
    cell_figure: Callable[[dict], Figure],
    comparison_figure: Callable[[list[dict]], Figure],
) -> list[Path]:
    cells = charted_cells(results, kind)
    if not cells:
        logger.info("no %s cell to chart; no charts written", kind)
        return []

    charts_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for cell in cells:
        written.append(_save(cell_figure(cell), cell_chart_path(charts_dir, kind, cell)))
    for (algorithm, scenario), group in comparison_groups(results, kind).items():
        path = comparison_chart_path(charts_dir, kind, algorithm, scenario)
        written.append(_save(comparison_figure(group), path))
    logger.info("%d %s charts written to %s", len(written), kind, charts_dir)
    return written


# Cells over time ---------------------------------------------------------------


def stress_cell_figure(cell: dict) -> Figure:
    stress = cell["stress"]
    figure, (users, throughput, latency) = _time_axes(cell, stress["series"])
    _users_line(users, _stress_users(stress))
    _step_levels(throughput, latency, stress.get("steps") or [])
    target = (stress.get("rules") or {}).get("p95_target_ms")
    _slo_line(latency, target, stress["series"].get("p95_ms") or [])
    for axes in (users, throughput, latency):
        _stress_marks(axes, stress)
    users.legend(handles=_mark_handles(users), fontsize=7, loc="upper left")
    _floor_at_zero(throughput, latency)
    return figure


def load_cell_figure(cell: dict) -> Figure:
    load = cell["load"]
    figure, (users, throughput, latency) = _time_axes(cell, load["series"])
    _users_line(users, _load_users(load), steps=False)
    summary = load.get("summary") or {}
    if summary.get("mean_rps") is not None:
        throughput.axhline(summary["mean_rps"], label="hold mean", **STEP_STYLE)
    for axes in (users, throughput, latency):
        _load_marks(axes, load)
    users.legend(handles=_mark_handles(users), fontsize=7, loc="lower right")
    _floor_at_zero(throughput, latency)
    return figure


def _time_axes(cell: dict, series: dict) -> tuple[Figure, Sequence[Axes]]:
    """Three stacked panels over time: users, throughput, latency."""
    figure = Figure(figsize=CELL_FIGURE_SIZE_IN, layout="constrained")
    users, throughput, latency = figure.subplots(3, 1, sharex=True)
    middle = [t + series["bin_s"] / 2 for t in series["t_s"]]

    throughput.plot(middle, series["done_rps"], color="tab:blue", linewidth=1.0)
    throughput.set_ylabel("completed / s")
    _latency_lines(latency, middle, series)
    users.set_ylabel("users")
    latency.set_xlabel(f"seconds from the start (bins of {series['bin_s']:g} s)")
    figure.suptitle(_cell_title(cell), fontsize=10)
    for axes in (users, throughput, latency):
        axes.grid(alpha=0.3)
    return figure, (users, throughput, latency)


def _latency_lines(axes: Axes, middle: list[float], series: dict) -> None:
    p50, p95 = series.get("p50_ms") or [], series.get("p95_ms") or []
    axes.plot(middle, _gaps(p50), marker=".", markersize=3, **P50_STYLE)
    axes.plot(middle, _gaps(p95), marker=".", markersize=3, **P95_STYLE)
    log = needs_log_scale(p50 + p95)
    if log:
        axes.set_yscale("log")
    axes.set_ylabel("response time, ms" + (" (log)" if log else "") + "\nby send time")
    axes.legend(fontsize=7, loc="upper left")


def _users_line(axes: Axes, points: list[tuple[float, int]], steps: bool = True) -> None:
    """The users planned over time: a staircase, or a ramp then a level."""
    if not points:
        return
    times, users = zip(*points)
    if steps:
        axes.step(times, users, where="post", color="black", linewidth=1.2)
    else:
        axes.plot(times, users, color="black", linewidth=1.2)
    axes.set_ylim(bottom=0)


def _step_levels(throughput: Axes, latency: Axes, steps: list[dict]) -> None:
    """Each step's counted window as a bar at its judged throughput and p95."""
    for step in steps:
        span = (step["window_start_s"], step["end_s"])
        throughput.plot(span, [step["throughput_rps"]] * 2, **STEP_STYLE)
        if step.get("p95_ms") is not None:
            latency.plot(span, [step["p95_ms"]] * 2, **STEP_STYLE)


def _slo_line(axes: Axes, target_ms: float | None, values: Sequence[float | None]) -> None:
    """The p95 rule as a line, or as a note when it lies far above the data."""
    if not target_ms:
        return
    highest = max((value for value in values if value is not None), default=0.0)
    if target_ms > SLO_HEADROOM * highest:
        note = f"p95 rule {target_ms:g} ms: far above this chart"
        axes.text(0.99, 0.95, note, transform=axes.transAxes, ha="right", va="top", fontsize=7)
        return
    axes.axhline(target_ms, color=BREAK_COLOR, linestyle=":", linewidth=1.0)
    axes.annotate(
        f"p95 rule {target_ms:g} ms",
        (0.01, target_ms),
        xycoords=("axes fraction", "data"),
        ha="left",
        va="bottom",
        fontsize=7,
        color=BREAK_COLOR,
    )


def _floor_at_zero(*axes_list: Axes) -> None:
    """Linear axes start at zero, so that small changes do not look large.

    Called last: set_ylim stops autoscaling, so every artist must be in.
    """
    for axes in axes_list:
        if axes.get_yscale() == "linear":
            axes.set_ylim(bottom=0)


def _stress_marks(axes: Axes, stress: dict) -> None:
    steps = {step["index"]: step for step in stress.get("steps") or []}
    threshold, breaking = stress.get("threshold"), stress.get("breaking_point")
    if threshold and threshold.get("reached") and threshold["step_index"] in steps:
        step = steps[threshold["step_index"]]
        axes.axvspan(
            step["start_s"],
            step["end_s"],
            color=THRESHOLD_COLOR,
            alpha=SHADE_ALPHA,
            label=f"threshold: {users_text(threshold['users'])}",
        )
    if breaking and breaking["step_index"] in steps:
        axes.axvline(
            steps[breaking["step_index"]]["start_s"],
            color=BREAK_COLOR,
            linestyle="--",
            label=f"breaking point: {users_text(breaking['users'])} ({breaking['rule']})",
        )
    _recovery_marks(axes, stress)


def _recovery_marks(axes: Axes, stress: dict) -> None:
    phase = (stress.get("schedule") or {}).get("recovery")
    if not phase:
        return
    axes.axvspan(
        phase["start_s"],
        phase["end_s"],
        color=RECOVERY_COLOR,
        alpha=SHADE_ALPHA,
        label=f"recovery window, {users_text(phase['users'])}",
    )
    recovery = stress.get("recovery") or {}
    if recovery.get("recovered"):
        axes.axvline(
            phase["start_s"] + recovery["seconds"],
            color=THRESHOLD_COLOR,
            linestyle=":",
            label=f"recovered after {recovery['seconds']:g} s",
        )


def _load_marks(axes: Axes, load: dict) -> None:
    schedule = load.get("schedule") or {}
    hold = schedule.get("hold")
    if schedule.get("ramp_end_s"):
        axes.axvspan(0, schedule["ramp_end_s"], color=RAMP_COLOR, alpha=SHADE_ALPHA, label="ramp")
    if hold:
        axes.axvspan(
            hold["start_s"],
            hold["end_s"],
            color=THRESHOLD_COLOR,
            alpha=SHADE_ALPHA / 2,
            label=f"hold, {users_text(hold['users'])}",
        )
        third = (hold["end_s"] - hold["start_s"]) / 3
        for edge in (hold["start_s"] + third, hold["end_s"] - third):
            axes.axvline(edge, color="grey", linestyle=":", linewidth=0.8)


def _mark_handles(axes: Axes) -> list:
    handles, _ = axes.get_legend_handles_labels()
    return handles


def _stress_users(stress: dict) -> list[tuple[float, int]]:
    schedule = stress.get("schedule") or {}
    phases = list(schedule.get("steps") or [])
    if schedule.get("recovery"):
        phases.append(schedule["recovery"])
    points = [(phase["start_s"], phase["users"]) for phase in phases]
    if phases:
        points.append((phases[-1]["end_s"], phases[-1]["users"]))
    return points


def _load_users(load: dict) -> list[tuple[float, int]]:
    schedule = load.get("schedule") or {}
    hold = schedule.get("hold")
    if not hold:
        return []
    return [(0.0, 0), (hold["start_s"], hold["users"]), (hold["end_s"], hold["users"])]


def _cell_title(cell: dict) -> str:
    return f"{cell.get('arm')}, {cell.get('algorithm')}, scenario {cell.get('scenario')}"


def _gaps(values: list[float | None]) -> list[float]:
    """None as NaN, so that a line breaks where a bin had no request."""
    return [float("nan") if value is None else value for value in values]


# Arms side by side --------------------------------------------------------------


def stress_comparison_figure(cells: list[dict]) -> Figure:
    """Throughput and p95 against users, one line per arm, points marked."""
    figure = Figure(figsize=COMPARISON_FIGURE_SIZE_IN, layout="constrained")
    throughput, latency = figure.subplots(1, 2, sharex=True)
    colors = _colors(len(cells))
    for cell, color in zip(cells, colors):
        _arm_curves(throughput, latency, cell, color)

    all_p95 = [s["p95_ms"] for c in cells for s in c["stress"]["steps"] if s.get("p95_ms")]
    if needs_log_scale(all_p95):
        latency.set_yscale("log")
    _slo_line(latency, (cells[0]["stress"].get("rules") or {}).get("p95_target_ms"), all_p95)
    if _doubling(cells):
        throughput.set_xscale("log", base=2)
        ladder = sorted({s["users"] for c in cells for s in c["stress"]["steps"]})
        throughput.set_xticks(ladder, [str(users) for users in ladder])
    throughput.set(xlabel="users", ylabel="requests / s (counted window)", title="throughput")
    latency.set(xlabel="users", ylabel="p95, ms", title="95th percentile")
    for axes in (throughput, latency):
        axes.grid(alpha=0.3)
    throughput.legend(fontsize=7, title="o threshold, x breaking point", title_fontsize=7)
    _floor_at_zero(throughput, latency)
    first = cells[0]
    figure.suptitle(
        f"Stress: {first.get('algorithm')}, scenario {first.get('scenario')}", fontsize=10
    )
    return figure


def _arm_curves(throughput: Axes, latency: Axes, cell: dict, color) -> None:
    steps = cell["stress"]["steps"]
    users = [step["users"] for step in steps]
    throughput.plot(
        users, [s["throughput_rps"] for s in steps], marker=".", color=color, label=cell.get("arm")
    )
    latency.plot(users, _gaps([s.get("p95_ms") for s in steps]), marker=".", color=color)
    by_index = {step["index"]: step for step in steps}
    threshold = cell["stress"].get("threshold")
    if threshold and threshold.get("reached"):
        step = by_index.get(threshold["step_index"])
        if step:
            _point(throughput, latency, step, color, "o")
    breaking = cell["stress"].get("breaking_point")
    if breaking and breaking["step_index"] in by_index:
        _point(throughput, latency, by_index[breaking["step_index"]], color, "X")


def _point(throughput: Axes, latency: Axes, step: dict, color, marker: str) -> None:
    style = {"marker": marker, "s": 70, "facecolors": "none" if marker == "o" else color}
    throughput.scatter([step["users"]], [step["throughput_rps"]], edgecolors=color, **style)
    if step.get("p95_ms") is not None:
        latency.scatter([step["users"]], [step["p95_ms"]], edgecolors=color, **style)


def _doubling(cells: list[dict]) -> bool:
    users = sorted({s["users"] for c in cells for s in c["stress"]["steps"] if s["users"] > 0})
    return len(users) > 2 and all(high == 2 * low for low, high in zip(users, users[1:]))


def load_comparison_figure(cells: list[dict]) -> Figure:
    """Mean throughput with its spread, and p95 early and late in the hold, per arm."""
    figure = Figure(figsize=COMPARISON_FIGURE_SIZE_IN, layout="constrained")
    throughput, latency = figure.subplots(1, 2)
    arms = [cell.get("arm") for cell in cells]
    summaries = [cell["load"]["summary"] for cell in cells]
    slots = range(len(cells))

    means = [summary.get("mean_rps") or 0.0 for summary in summaries]
    spreads = [summary.get("stdev_rps") or 0.0 for summary in summaries]
    throughput.bar(slots, means, yerr=spreads, capsize=4, color=_colors(len(cells)))
    width = 0.4
    first = [_zero(s.get("p95_first_third_ms")) for s in summaries]
    last = [_zero(s.get("p95_last_third_ms")) for s in summaries]
    latency.bar([x - width / 2 for x in slots], first, width, label="first third")
    latency.bar([x + width / 2 for x in slots], last, width, label="last third")

    throughput.set(ylabel="requests / s", title="mean throughput (bar: ±1 stdev of bins)")
    latency.set(ylabel="p95, ms", title="p95 drift over the hold")
    for axes in (throughput, latency):
        axes.set_xticks(list(slots), [_held_label(arm, c) for arm, c in zip(arms, cells)])
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
    latency.legend(fontsize=7)
    head = cells[0]
    figure.suptitle(f"Load: {head.get('algorithm')}, scenario {head.get('scenario')}", fontsize=10)
    return figure


def _held_label(arm: str, cell: dict) -> str:
    return f"{arm}\n{users_text(cell['load'].get('users'))}"


def _zero(value: float | None) -> float:
    return 0.0 if value is None else value


def _colors(count: int) -> list:
    palette = colormaps[PALETTE]
    return [palette(index % palette.N) for index in range(count)]


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    # No Software entry: the bytes change only when the chart does.
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    figure.clear()
    return path
