"""The kinds of run `manage.py bench` knows, and how each is run and shown.

A kind pairs the function that runs one cell with the report sections and
charts that show its results. Every run stores its kind in results.json,
so a stored run is re-rendered by the same sections that wrote it first.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import charts, report
from bench.runner import CellRunner, run_fixed_cell


@dataclass(frozen=True)
class Kind:
    name: str
    cell_runner: CellRunner
    sections: tuple[report.Section, ...]
    make_charts: Callable[[dict, Path], list[Path]]
    summary: str


KINDS = {
    kind.name: kind
    for kind in (
        Kind(
            "fixed",
            run_fixed_cell,
            report.SECTIONS,
            charts.make_charts,
            "a fixed number of users per cell for a fixed time",
        ),
    )
}
