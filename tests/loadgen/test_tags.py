"""Tag selection: each cell tag picks one task per class, as Locust filters."""

from __future__ import annotations

from argparse import Namespace
from types import SimpleNamespace
from typing import Any

import pytest
from locust.user.task import filter_tasks_by_tags

ARMS = {
    "SyncClient": ("/sync/", "/sync/ping/"),
    "ThreadOffloadClient": ("/async/thread/", "/async/ping/"),
    "ProcessOffloadClient": ("/async/process/", "/async/ping/"),
    "LoopClient": ("/async/loop/", "/async/ping/"),
    "SensitiveClient": ("/async/sensitive/", "/async/ping/"),
}
ALGORITHMS = ("builtin", "bubble", "priority_queue")
CELLS = [(algorithm, scenario) for algorithm in ALGORITHMS for scenario in (1, 2)]
QUERIES = {1: "?n=1000&max=5000", 2: "?n=10000&max=50000"}


def tasks_after_filter(user_class: type, *tags: str) -> list[Any]:
    """The tasks Locust would keep for ``--tags tags``, on a throwaway subclass."""
    copy = type(user_class.__name__, (user_class,), {})
    filter_tasks_by_tags(copy, tags=set(tags))
    return copy.tasks


class RecordingClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def get(self, url: str, name: str | None = None) -> None:
        self.calls.append((url, name))


def requests_made(task: Any, user_class: type) -> list[tuple[str, str | None]]:
    """Run a task on a stand-in user of ``user_class``; return (url, name) pairs."""
    user = SimpleNamespace(
        client=RecordingClient(),
        prefix=getattr(user_class, "prefix", ""),
        ping_path=getattr(user_class, "ping_path", ""),
    )
    task(user)
    return user.client.calls


@pytest.mark.parametrize("class_name", ARMS)
@pytest.mark.parametrize(("algorithm", "scenario"), CELLS)
def test_each_cell_tag_selects_exactly_one_task_per_arm(
    locustfile, class_name, algorithm, scenario
):
    user_class = getattr(locustfile, class_name)
    prefix, _ = ARMS[class_name]

    tasks = tasks_after_filter(user_class, f"{algorithm}_scenario{scenario}")

    assert len(tasks) == 1
    assert requests_made(tasks[0], user_class) == [
        (f"{prefix}{algorithm}/{QUERIES[scenario]}", f"{prefix}{algorithm}/ [s{scenario}]")
    ]


@pytest.mark.parametrize("class_name", ARMS)
def test_algorithm_and_scenario_tags_select_their_rows_and_columns(locustfile, class_name):
    user_class = getattr(locustfile, class_name)

    assert len(tasks_after_filter(user_class, "bubble")) == 2
    assert len(tasks_after_filter(user_class, "scenario2")) == 3


@pytest.mark.parametrize("class_name", ARMS)
def test_ping_tag_requests_the_modes_ping_path(locustfile, class_name):
    user_class = getattr(locustfile, class_name)
    _, ping_path = ARMS[class_name]

    tasks = tasks_after_filter(user_class, "ping")

    assert len(tasks) == 1
    assert requests_made(tasks[0], user_class) == [(ping_path, None)]


def test_probe_tag_selects_only_the_probe(locustfile):
    assert len(tasks_after_filter(locustfile.ProbeClient, "probe")) == 1
    for class_name in [*ARMS, "ClassroomStudent"]:
        assert tasks_after_filter(getattr(locustfile, class_name), "probe") == []


@pytest.mark.parametrize(("algorithm", "scenario"), CELLS)
def test_cell_tags_select_nothing_in_probe_and_classroom(locustfile, algorithm, scenario):
    tag = f"{algorithm}_scenario{scenario}"

    assert tasks_after_filter(locustfile.ProbeClient, tag) == []
    assert tasks_after_filter(locustfile.ClassroomStudent, tag) == []


def test_request_names_differ_between_arms(locustfile):
    names = set()
    for class_name in ARMS:
        user_class = getattr(locustfile, class_name)
        for task in tasks_after_filter(user_class, "scenario1", "scenario2"):
            names.update(name for _, name in requests_made(task, user_class))

    assert len(names) == len(ARMS) * len(CELLS)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            ("classroom",),
            {
                ("/test/normal_sort/", "/test/normal_sort/ [s1]"),
                ("/test/priority_queue/", "/test/priority_queue/ [s1]"),
                ("/test/bubble_sort/", "/test/bubble_sort/ [s1]"),
            },
        ),
        (("classroom_bubble",), {("/test/bubble_sort/", "/test/bubble_sort/ [s1]")}),
        (("classroom_bubble_scenario1",), {("/test/bubble_sort/", "/test/bubble_sort/ [s1]")}),
        (
            ("classroom_scenario2",),
            {
                ("/test/normal_sort/?n=10000&max=50000", "/test/normal_sort/ [s2]"),
                ("/test/priority_queue/?n=10000&max=50000", "/test/priority_queue/ [s2]"),
                ("/test/bubble_sort/?n=10000&max=50000", "/test/bubble_sort/ [s2]"),
            },
        ),
        (
            ("classroom_builtin_scenario2",),
            {
                ("/test/normal_sort/?n=10000&max=50000", "/test/normal_sort/ [s2]"),
            },
        ),
    ],
)
def test_classroom_tags_select_paths_and_scenarios(locustfile, tags, expected):
    user_class = locustfile.ClassroomStudent

    tasks = tasks_after_filter(user_class, *tags)

    made = {call for task in tasks for call in requests_made(task, user_class)}
    assert made == expected
    assert len(tasks) == len(expected)


def test_classroom_stays_on_scenario1_without_tags(locustfile, monkeypatch):
    student = locustfile.ClassroomStudent
    monkeypatch.setattr(student, "tasks", list(student.tasks))
    environment = SimpleNamespace(parsed_options=Namespace(tags=None))

    locustfile.keep_classroom_on_scenario1(environment)

    names = {task.__name__ for task in locustfile.ClassroomStudent.tasks}
    assert names == {f"classroom_{algorithm}_scenario1" for algorithm in ALGORITHMS}


def test_classroom_keeps_scenario2_when_tags_ask_for_it(locustfile, monkeypatch):
    student = locustfile.ClassroomStudent
    monkeypatch.setattr(student, "tasks", list(student.tasks))
    environment = SimpleNamespace(parsed_options=Namespace(tags=["classroom_scenario2"]))

    locustfile.keep_classroom_on_scenario1(environment)

    assert len(locustfile.ClassroomStudent.tasks) == 6


def test_split_class_names_takes_class_names_out_of_the_tags(selection):
    tags, classes = selection.split_class_names(
        ["bubble_scenario1", "SyncClient", "probe", "ProbeClient"], ["SyncClient", "ProbeClient"]
    )

    assert tags == ["bubble_scenario1", "probe"]
    assert classes == ["SyncClient", "ProbeClient"]


def test_split_class_names_gives_none_when_only_classes_were_given(selection):
    assert selection.split_class_names(["SyncClient"], ["SyncClient"]) == (None, ["SyncClient"])
    assert selection.split_class_names(None, ["SyncClient"]) == (None, [])


def all_classes_environment(locustfile: Any, **options: Any) -> SimpleNamespace:
    names = [*ARMS, "ClassroomStudent", "ProbeClient"]
    available = {name: getattr(locustfile, name) for name in names}
    settings = {"tags": None, "exclude_tags": None, "user_classes": [], **options}
    return SimpleNamespace(
        parsed_options=Namespace(**settings),
        available_user_classes=available,
        user_classes=list(available.values()),
        runner=None,
    )


def class_names(environment: SimpleNamespace) -> list[str]:
    return [user_class.__name__ for user_class in environment.user_classes]


def test_class_names_after_tags_select_those_classes(locustfile, selection):
    environment = all_classes_environment(
        locustfile, tags=["bubble_scenario1", "probe", "SyncClient", "ProbeClient"]
    )

    selection.narrow_user_classes(environment)

    assert class_names(environment) == ["SyncClient", "ProbeClient"]
    assert environment.parsed_options.tags == ["bubble_scenario1", "probe"]


def test_classes_left_without_tasks_are_not_spawned(locustfile, selection):
    environment = all_classes_environment(locustfile, tags=["bubble_scenario1"])

    selection.narrow_user_classes(environment)

    assert class_names(environment) == list(ARMS)


def test_excluded_tags_also_drop_classes_left_empty(locustfile, selection):
    environment = all_classes_environment(locustfile, exclude_tags=["probe"])

    selection.narrow_user_classes(environment)

    assert "ProbeClient" not in class_names(environment)
    assert "ClassroomStudent" in class_names(environment)


def test_without_tags_every_class_stays(locustfile, selection):
    environment = all_classes_environment(locustfile)

    selection.narrow_user_classes(environment)

    assert len(environment.user_classes) == len(ARMS) + 2
