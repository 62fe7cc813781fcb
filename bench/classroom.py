"""The classroom kind: the classroom's Locust run replayed, row by row, per server.

Each row of the classroom's published table (an algorithm, a scenario and a
spawn rate, with 500 users) becomes one cell per server arm: ClassroomStudent
users waiting 1-3 s between requests to the row's /test/ path, against a
fresh server, without the probe. Each cell record carries the classroom's
own figures for its row, so the report needs nothing else to put them side
by side.
"""

import csv
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.arms import ARMS, Cell
from bench.loadgen import cut_off_count
from bench.reference import load_classroom
from bench.runner import RunPlan, cell_folder, request_logs, run_fixed_cell

logger = logging.getLogger(__name__)

USER_CLASS = "ClassroomStudent"
LOCUST_PREFIX = "locust"  # the runner's name for Locust's files in a cell folder
MEAN_WAIT_S = 2.0  # ClassroomStudent waits between 1 and 3 s, uniformly
# The /test/ paths are sync views: the classroom's server, then the lab's
# two ways of serving sync views.
DEFAULT_ARMS = ("runserver", "wsgi-sync", "asgi-sync")
DEFAULT_USERS = 500
DEFAULT_RUN_TIME_S = 60
# A saturated server holds a queue of hundreds of requests at the end;
# waiting for all of them would add minutes to every cell. What is still
# unanswered after this long is cut off, and the cell says so.
DEFAULT_STOP_TIMEOUT_S = 10
# Options this kind sets when the command line leaves them out; a spawn
# rate of None keeps each row's own.
DEFAULTS = {
    "arms": list(DEFAULT_ARMS),
    "users": DEFAULT_USERS,
    "spawn_rate": None,
    "run_time": DEFAULT_RUN_TIME_S,
    "stop_timeout": DEFAULT_STOP_TIMEOUT_S,
    "no_probe": True,  # the classroom had none
}
SUMMARY = (
    "the classroom's run replayed per row of its table (500 users, 1-3 s apart, "
    f"the row's spawn rate), against {', '.join(DEFAULT_ARMS)} by default, "
    f"{DEFAULT_RUN_TIME_S} s per cell, a {DEFAULT_STOP_TIMEOUT_S} s stop timeout, no probe"
)


@dataclass(frozen=True)
class ClassroomCell(Cell):
    """One row of the classroom's table against one server arm."""

    spawn_rate: float = 0.0  # users started per second
    users: int = DEFAULT_USERS
    classroom_path: str = ""
    # The classroom's published figures for this row, as bench.reference reads them.
    reference: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        # Named after the row's published rate, so that a --spawn-rate for
        # every row still leaves the two bubble rows apart.
        rate = self.reference.get("spawn_rate", self.spawn_rate)
        return f"{self.arm.name}/classroom/{self.algorithm}/s{self.scenario}/r{rate:g}"

    @property
    def tag(self) -> str:
        return f"classroom_{self.algorithm}_scenario{self.scenario}"

    @property
    def path(self) -> str:
        return self.classroom_path

    @property
    def user_class(self) -> str:
        return USER_CLASS

    @property
    def label(self) -> str:
        return (
            f"{self.arm.name} classroom {self.algorithm} scenario {self.scenario}, "
            f"{self.users} users at {self.spawn_rate:g}/s"
        )


def plan_classroom_cells(
    arm_names: Sequence[str],
    algorithms: Sequence[str],
    scenarios: Sequence[int],
    users: int = DEFAULT_USERS,
    spawn_rate: float | None = None,
    rows: list[dict] | None = None,
) -> list[ClassroomCell]:
    """Every chosen classroom row against every arm, one row's arms together.

    A row is chosen when its algorithm and scenario both are. Rows run in
    the classroom's order, so an interrupted run still holds whole rows.
    """
    rows = load_classroom() if rows is None else rows
    chosen = [
        row for row in rows if row["algorithm"] in algorithms and row["scenario"] in scenarios
    ]
    return [
        ClassroomCell(
            ARMS[name],
            row["algorithm"],
            row["scenario"],
            spawn_rate=float(spawn_rate or row["spawn_rate"]),
            users=users,
            classroom_path=row["path"],
            reference=row,
        )
        for row in chosen
        for name in arm_names
    ]


def cells_from_options(options: dict) -> list[ClassroomCell]:
    """The command's resolved options as classroom cells.

    Against a --target every arm would send the same /test/ requests to the
    same server, so each row runs once there.
    """
    arms = list(options["arms"])
    if options.get("target") and len(arms) > 1:
        logger.info("with --target the arms' cells would be the same; running %s only", arms[0])
        arms = arms[:1]
    return plan_classroom_cells(
        arms,
        options["algorithms"],
        options["scenarios"],
        users=options["users"],
        spawn_rate=options["spawn_rate"],
    )


def run_classroom_cell(cell: ClassroomCell, plan: RunPlan) -> dict:
    """Replay one classroom row on a fresh server; one record."""
    load = dataclasses.replace(plan.load, users=cell.users, spawn_rate=cell.spawn_rate, probe=False)
    record = run_fixed_cell(cell, dataclasses.replace(plan, load=load))
    cell_dir = cell_folder(cell, plan)
    record.update(
        spawn_rate=cell.spawn_rate,
        peak_users=peak_users(cell_dir),
        cut_off_requests=_cut_off_requests(cell_dir),
        classroom=dict(cell.reference),
    )
    return record


def peak_users(cell_dir: Path) -> int | None:
    """The most users that ran at once, read from the request logs.

    Each Locust process logs its own user count, so the peaks of the
    workers' logs add up. None when no request was logged.
    """
    peaks = [_file_peak(path) for path in request_logs(cell_dir / LOCUST_PREFIX)]
    peaks = [peak for peak in peaks if peak is not None]
    return sum(peaks) if peaks else None


def _cut_off_requests(cell_dir: Path) -> int:
    """Requests the stop timeout cut off; 0 when Locust's log names none."""
    try:
        log_text = (cell_dir / f"{LOCUST_PREFIX}.log").read_text(errors="replace")
    except OSError:
        return 0
    return cut_off_count(log_text) or 0


def _file_peak(path: Path) -> int | None:
    with open(path, newline="", encoding="utf-8") as log:
        counts = [int(row["users"]) for row in csv.DictReader(log) if row.get("users")]
    return max(counts) if counts else None
