"""Plumbing shared by asyncproj's load shapes (step_shape.py, hold_shape.py).

A shape here plans its run at its first tick, when Locust's options and
runner are known, counts fixed-count users (the probe) on top of its own
user numbers, and writes the schedule it followed to ``--shape-log`` when
the test stops, then forgets it so that a second run from the web UI
starts afresh.

Times in a schedule log are seconds from ``t0``, the epoch time at which
the shape's clock read zero, so they line up with the request log's
``start`` column.
"""

from __future__ import annotations

import json
import logging
import os
import time
from abc import abstractmethod
from typing import Any

import loadgen_options

from locust import LoadTestShape

logger = logging.getLogger(__name__)

OFFSET_DECIMALS = 3  # ms resolution for offsets in the logs


def offset(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, OFFSET_DECIMALS)


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path``; log instead of raising if the disk says no."""
    try:
        if parent := os.path.dirname(path):
            os.makedirs(parent, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
    except OSError as error:
        logger.error("Could not write the shape log %s: %s", path, error)
        return
    logger.info("Shape log written to %s", path)


class LoggedShape(LoadTestShape):
    """A shape that logs its schedule; subclasses fill in the abstract parts."""

    abstract = True

    def __init__(self) -> None:
        super().__init__()
        self.t0: float | None = None
        self._watching_stop = False

    def fixed_users(self) -> int:
        """Users that fixed_count classes (the probe) add to every target."""
        if self.runner is None:
            return 0
        return sum(user_class.fixed_count for user_class in self.runner.user_classes)

    def environment(self) -> Any:
        return None if self.runner is None else self.runner.environment

    def begin_log(self, elapsed_s: float) -> None:
        """Note t0 and make sure the log gets written when the test stops."""
        self.t0 = time.time() - elapsed_s
        if self._watching_stop or self.runner is None:
            return
        self.runner.environment.events.test_stop.add_listener(self.on_test_stop)
        self._watching_stop = True

    def on_test_stop(self, **_kwargs: Any) -> None:
        if not self.started():
            return
        self.stop_at(self.get_run_time())
        path = loadgen_options.option_value(self.environment(), "shape_log", None)
        if path:
            write_json(path, self.schedule_log())
        self.forget()

    @abstractmethod
    def started(self) -> bool:
        """Whether a run has been planned and not yet forgotten."""

    @abstractmethod
    def stop_at(self, elapsed_s: float) -> None:
        """Close whatever phase is open: the test stopped at ``elapsed_s``."""

    @abstractmethod
    def schedule_log(self) -> dict[str, Any]:
        """The JSON-ready record of the run."""

    @abstractmethod
    def forget(self) -> None:
        """Drop the run's state so that the next run plans afresh."""
