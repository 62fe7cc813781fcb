"""The kinds of run `manage.py bench` knows, and how each is run and shown.

A kind pairs the function that runs one cell with the report sections and
charts that show its results. Every run stores its kind in results.json,
so a stored run is re-rendered by the same sections that wrote it first.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench import (
    charts,
    classroom,
    classroom_report,
    report,
    stress,
    stress_charts,
    stress_report,
    sweep,
    sweep_report,
)
from bench.arms import Cell
from bench.runner import CellRunner, RunPlan, run_fixed_cell


@dataclass(frozen=True)
class Kind:
    name: str
    cell_runner: CellRunner
    sections: tuple[report.Section, ...]
    make_charts: Callable[[dict, Path], list[Path]]
    summary: str
    # Builds the cells from the command's resolved options; None: every
    # arm × algorithm × scenario.
    plan_cells: Callable[[dict], list[Cell]] | None = None
    # Command options this kind sets when the command line leaves them out.
    defaults: Mapping[str, object] = field(default_factory=dict)
    # Whether --repeat may run each cell more than once (the report merges them).
    repeatable: bool = False
    # Adjusts the command's plan to the kind (its progress line, baselines).
    finish_plan: Callable[[RunPlan], RunPlan] | None = None
    # Reads the kind's own settings from the command's options into
    # RunPlan.extra, where the report finds them; ValueError on bad ones.
    plan_extra: Callable[[dict], dict] | None = None


KINDS = {
    kind.name: kind
    for kind in (
        Kind(
            "fixed",
            run_fixed_cell,
            report.SECTIONS,
            charts.make_charts,
            "a fixed number of users per cell for a fixed time",
            repeatable=True,
        ),
        Kind(
            "sweep",
            sweep.run_sweep_cell,
            sweep_report.SECTIONS,
            sweep_report.make_charts,
            sweep.SUMMARY,
            plan_cells=sweep.cells_from_options,
            defaults=sweep.DEFAULTS,
            finish_plan=sweep.finish_plan,
        ),
        Kind(
            "classroom",
            classroom.run_classroom_cell,
            classroom_report.SECTIONS,
            classroom_report.make_charts,
            classroom.SUMMARY,
            plan_cells=classroom.cells_from_options,
            defaults=classroom.DEFAULTS,
        ),
        Kind(
            "stress",
            stress.run_stress_cell,
            stress_report.STRESS_SECTIONS,
            stress_charts.make_stress_charts,
            "users grow in steps past the breaking point, then drop; finds the "
            "threshold, the breaking point and the recovery",
            plan_cells=stress.cells_from_options,
            finish_plan=stress.finish_stress_plan,
            plan_extra=stress.stress_extra,
        ),
        Kind(
            "load",
            stress.run_load_cell,
            stress_report.LOAD_SECTIONS,
            stress_charts.make_load_charts,
            "hold --hold-users, or each cell's threshold from --from-stress, and watch "
            "throughput, its spread and the p95 drift",
            plan_cells=stress.cells_from_options,
            finish_plan=stress.finish_load_plan,
            plan_extra=stress.load_extra,
        ),
    )
}
