"""The classroom kind's plan, cells and Locust command, without servers."""

import pytest

from bench import classroom
from bench.arms import ALGORITHMS, ARMS
from bench.classroom import (
    ClassroomCell,
    cells_from_options,
    peak_users,
    plan_classroom_cells,
    run_classroom_cell,
)
from bench.loadgen import LoadOptions, locust_command, request_name
from bench.management.commands.bench import resolve_defaults
from bench.reference import load_classroom
from bench.runner import RunPlan
from bench.servers import ServerOptions

ROWS = load_classroom()
CLASSROOM_PATHS = ("/test/normal_sort/", "/test/priority_queue/", "/test/bubble_sort/")
REQUEST_LOG_HEADER = "start,response_time_ms,name,ok,users,wait_ms,generate_ms,sort_ms,status\n"


def options(**values) -> dict:
    chosen = {
        "arms": list(classroom.DEFAULT_ARMS),
        "algorithms": list(ALGORITHMS),
        "scenarios": [1, 2],
        "users": 500,
        "spawn_rate": None,
        "target": None,
    }
    chosen.update(values)
    return chosen


def bubble_cell(spawn_rate: float = 5.0) -> ClassroomCell:
    (row,) = [r for r in ROWS if r["algorithm"] == "bubble" and r["spawn_rate"] == 5]
    return ClassroomCell(
        ARMS["runserver"],
        "bubble",
        1,
        spawn_rate=spawn_rate,
        users=500,
        classroom_path=row["path"],
        reference=row,
    )


def test_every_classroom_row_runs_on_every_arm_one_row_at_a_time():
    cells = plan_classroom_cells(["runserver", "wsgi-sync"], list(ALGORITHMS), [1, 2])

    assert len(cells) == 2 * len(ROWS)
    assert [cell.arm.name for cell in cells[:2]] == ["runserver", "wsgi-sync"]
    assert cells[0].reference == cells[1].reference == ROWS[0]
    assert len({cell.id for cell in cells}) == len(cells)


def test_a_row_keeps_its_published_spawn_rate_and_gets_the_users_asked_for():
    cells = plan_classroom_cells(["runserver"], ["bubble"], [1], users=40)

    assert [(cell.spawn_rate, cell.users) for cell in cells] == [(20.0, 40), (5.0, 40)]


def test_a_spawn_rate_for_every_row_still_keeps_the_two_bubble_rows_apart():
    cells = plan_classroom_cells(["runserver"], ["bubble"], [1], spawn_rate=50.0)

    assert [cell.spawn_rate for cell in cells] == [50.0, 50.0]
    assert [cell.id for cell in cells] == [
        "runserver/classroom/bubble/s1/r20",
        "runserver/classroom/bubble/s1/r5",
    ]


def test_only_rows_whose_algorithm_and_scenario_are_both_chosen_run():
    assert plan_classroom_cells(["runserver"], ["bubble"], [2]) == []
    chosen = plan_classroom_cells(["runserver"], ["builtin", "priority_queue"], [2])
    assert [(cell.algorithm, cell.scenario) for cell in chosen] == [
        ("builtin", 2),
        ("priority_queue", 2),
    ]


def test_a_classroom_cell_asks_the_student_for_the_rows_path():
    cell = bubble_cell()

    assert cell.tag == "classroom_bubble_scenario1"
    assert cell.path == "/test/bubble_sort/"
    assert cell.user_class == "ClassroomStudent"
    assert request_name(cell) == "/test/bubble_sort/ [s1]"
    assert cell.label == "runserver classroom bubble scenario 1, 500 users at 5/s"


def test_the_locust_command_selects_only_the_student_for_its_row(tmp_path):
    cell = bubble_cell()
    load = LoadOptions(users=500, spawn_rate=5.0, probe=False)

    command = locust_command(cell, "http://127.0.0.1:8000", tmp_path / "locust", load)

    assert command[command.index("--tags") + 1 : command.index("--csv")] == [
        "classroom_bubble_scenario1"
    ]
    assert command[command.index("--") + 1 :] == ["ClassroomStudent"]
    assert command[command.index("--users") + 1] == "500"
    assert command[command.index("--spawn-rate") + 1] == "5.0"


def test_against_a_target_each_row_runs_once_as_every_arm_would_send_the_same():
    cells = cells_from_options(options(target="http://192.0.2.10:8000"))

    assert len(cells) == len(ROWS)
    assert {cell.arm.name for cell in cells} == {classroom.DEFAULT_ARMS[0]}


def test_a_cell_runs_with_its_rows_users_and_spawn_rate_and_no_probe(tmp_path, monkeypatch):
    seen = {}

    def fake_fixed_cell(cell, plan):
        seen["load"] = plan.load
        return {"id": cell.id, "status": "ok", "flags": {}}

    monkeypatch.setattr(classroom, "run_fixed_cell", fake_fixed_cell)
    plan = RunPlan(
        cells=[],
        server=ServerOptions(),
        load=LoadOptions(users=7, spawn_rate=None, probe=True),
        run_dir=tmp_path,
    )

    record = run_classroom_cell(bubble_cell(), plan)

    assert (seen["load"].users, seen["load"].spawn_rate, seen["load"].probe) == (500, 5.0, False)
    assert record["spawn_rate"] == 5.0
    assert record["classroom"]["requests"] == 4131
    assert record["cut_off_requests"] == 0


def test_peak_users_adds_up_the_peaks_of_every_workers_log(tmp_path):
    (tmp_path / "locust_requests.worker0.csv").write_text(
        REQUEST_LOG_HEADER + "1.0,5,x,1,3,,,,200\n2.0,5,x,1,250,,,,200\n3.0,5,x,1,120,,,,200\n"
    )
    (tmp_path / "locust_requests.worker1.csv").write_text(
        REQUEST_LOG_HEADER + "1.5,5,x,1,249,,,,200\n"
    )

    assert peak_users(tmp_path) == 499


def test_peak_users_is_unknown_without_a_logged_request(tmp_path):
    (tmp_path / "locust_requests.csv").write_text(REQUEST_LOG_HEADER)

    assert peak_users(tmp_path) is None


@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"{row['algorithm']}-s{row['scenario']}")
def test_every_row_names_a_classroom_path_500_users_and_a_spawn_rate(row):
    assert row["path"] in CLASSROOM_PATHS
    assert row["users"] == 500
    assert row["spawn_rate"] > 0


def unset_options(**values) -> dict:
    chosen = dict.fromkeys(("arms", "users", "spawn_rate", "run_time", "stop_timeout"))
    chosen.update(no_probe=False, **values)
    return chosen


def test_the_classroom_kind_fills_what_the_command_line_left_out():
    resolved = resolve_defaults(unset_options(kind="classroom"))

    assert resolved["arms"] == ["runserver", "wsgi-sync", "asgi-sync"]
    assert (resolved["users"], resolved["spawn_rate"]) == (500, None)
    assert (resolved["run_time"], resolved["stop_timeout"]) == (60, 10)
    assert resolved["no_probe"] is True


def test_options_given_on_the_command_line_win_over_the_kinds_defaults():
    resolved = resolve_defaults(unset_options(kind="classroom", users=50, run_time=10))

    assert (resolved["users"], resolved["run_time"]) == (50, 10)


def test_the_fixed_kind_keeps_the_commands_own_defaults():
    resolved = resolve_defaults(unset_options(kind="fixed"))

    assert resolved["arms"] == ["wsgi-sync", "asgi-thread"]
    assert (resolved["users"], resolved["spawn_rate"], resolved["run_time"]) == (8, 8.0, 10)
    assert (resolved["stop_timeout"], resolved["no_probe"]) == (60, False)
