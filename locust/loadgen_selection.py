"""Make ``--tags`` plus user class names pick exactly the users meant.

Two things in Locust 2.47 get in the way of choosing one cell:

- ``--tags`` takes any number of values, so in ``--tags bubble_scenario1
  SyncClient`` the class name is read as one more tag and no class is
  selected. Names of user classes found among the tags are therefore
  taken as the class selection (``--tags t -- SyncClient`` or class names
  before ``--tags`` need no help).
- Tag filtering keeps a user class whose tasks all got filtered out; it
  only logs "had no tasks left" and then each such user fails when it
  starts. Classes with no task left are therefore not spawned.

Both run once, on the master or the standalone runner, before the test
starts; workers spawn what the master dispatches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from locust.runners import WorkerRunner

logger = logging.getLogger(__name__)


def split_class_names(
    tags: Iterable[str] | None, class_names: Iterable[str]
) -> tuple[list[str] | None, list[str]]:
    """Split a --tags list into real tags and user class names.

    Real tags come back as None when none are left, which Locust reads
    as "no tag filter".
    """
    if tags is None:
        return None, []
    known = set(class_names)
    real = [name for name in tags if name not in known]
    named = [name for name in tags if name in known]
    return (real or None), named


def task_selected(task: Any, tags: set[str] | None, exclude_tags: set[str] | None) -> bool:
    """Whether a task passes --tags/--exclude-tags as Locust judges it."""
    if hasattr(task, "tasks"):
        return any(task_selected(inner, tags, exclude_tags) for inner in task.tasks)
    task_tags = getattr(task, "locust_tag_set", set())
    if tags is not None and not task_tags & tags:
        return False
    return exclude_tags is None or not task_tags & exclude_tags


def has_selected_task(
    user_class: Any, tags: Iterable[str] | None, exclude_tags: Iterable[str] | None
) -> bool:
    tag_set = set(tags) if tags else None
    exclude_set = set(exclude_tags) if exclude_tags else None
    return any(task_selected(task, tag_set, exclude_set) for task in user_class.tasks)


def narrow_user_classes(environment: Any) -> None:
    """Apply both fixes above to the environment's options and user classes."""
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    available = _available_classes(environment)

    tags, named = split_class_names(options.tags, available)
    if named:
        options.tags = tags
        chosen = named + [name for name in options.user_classes or () if name not in named]
        logger.info("Read %s after --tags as user class names", ", ".join(named))
        environment.user_classes[:] = [available[name] for name in chosen]

    kept = [
        user_class
        for user_class in environment.user_classes
        if has_selected_task(user_class, options.tags, options.exclude_tags)
    ]
    dropped = [cls.__name__ for cls in environment.user_classes if cls not in kept]
    if dropped and kept:
        logger.info("No task matches the tags in %s; not spawning them", ", ".join(dropped))
        environment.user_classes[:] = kept


def _available_classes(environment: Any) -> Mapping[str, Any]:
    if environment.available_user_classes:
        return environment.available_user_classes
    return {user_class.__name__: user_class for user_class in environment.user_classes}
