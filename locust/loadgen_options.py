"""Command-line options of asyncproj's locustfile and load shapes.

Locust imports every file given to -f, then builds its parser and fires
``init_command_line_parser``. Each file asks this module for the option
groups it needs. A group goes to the parser once however many files ask
for it, so ``-f locust/locustfile.py,locust/step_shape.py`` (or both
shapes at once) never fails with "conflicting option string".

This module is a plain file next to the locustfile, not a package: Locust
puts the locustfile's directory on sys.path while it imports the file, so
``import loadgen_options`` works from any file in ``locust/``.

Every option has an ``ASYNCPROJ_*`` environment variable as fallback.
Locust answers ``--help`` before it imports any locustfile, so these
options are missing there; ``python locust/loadgen_options.py --help``
lists them with their defaults. The web UI shows them too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import configargparse

from locust import events

ENV_PREFIX = "ASYNCPROJ_"

PROBE_PATHS = {"sync": "/sync/ping/", "async": "/async/ping/"}
GROWTH_MODES = ("double", "add")

DEFAULT_PROBE_MODE = "sync"
DEFAULT_PROBE_RATE_RPS = 2.0
DEFAULT_STEP_START_USERS = 1
DEFAULT_STEP_GROWTH = "double"
DEFAULT_STEP_INCREMENT_USERS = 4
DEFAULT_STEP_DURATION_S = 30.0
DEFAULT_STEP_MAX_USERS = 64
DEFAULT_STEP_SPAWN_RATE = 10.0  # users per second
DEFAULT_STEP_MAX_FAILURE_RATIO = 0.01
DEFAULT_STEP_P95_TARGET_MS = 0.0  # 0 turns the latency rule off
DEFAULT_RECOVERY_USERS = 1
DEFAULT_RECOVERY_DURATION_S = 30.0
DEFAULT_HOLD_USERS = 10
DEFAULT_HOLD_SPAWN_RATE = 10.0  # users per second
DEFAULT_HOLD_DURATION_S = 60.0

AddOptions = Callable[[argparse.ArgumentParser], None]

_registered: set[AddOptions] = set()


def register(add_options: AddOptions) -> None:
    """Have ``add_options`` called on Locust's parser, once per process."""
    if add_options in _registered:
        return
    _registered.add(add_options)
    events.init_command_line_parser.add_listener(add_options)


def option_value(environment: Any, name: str, default: Any) -> Any:
    """Read a parsed option, or ``default`` when it is unset or empty.

    Empty counts as unset because the web UI sends "" for an option whose
    default is None.
    """
    options = getattr(environment, "parsed_options", None)
    value = getattr(options, name, None)
    return default if value is None or value == "" else value


def probe_path(mode: str) -> str:
    """Map a probe mode (sync, async or a path) to the path to request."""
    return PROBE_PATHS.get(mode, mode)


# Value checkers for argparse: an ArgumentTypeError message reaches the
# user as "argument --flag: <message>", one line, exit code 2.


def _checked(kind: type, text: str, ok: Callable[[Any], bool], wanted: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _checked(int, text, lambda value: value >= 1, "a whole number >= 1")


def non_negative_int(text: str) -> int:
    return _checked(int, text, lambda value: value >= 0, "a whole number >= 0")


def positive_float(text: str) -> float:
    return _checked(float, text, lambda value: 0 < value < float("inf"), "a number > 0")


def non_negative_float(text: str) -> float:
    return _checked(float, text, lambda value: 0 <= value < float("inf"), "a number >= 0")


def ratio(text: str) -> float:
    return _checked(float, text, lambda value: 0 <= value <= 1, "a ratio from 0 to 1")


def probe_mode(text: str) -> str:
    if text in PROBE_PATHS or text.startswith("/"):
        return text
    raise argparse.ArgumentTypeError(
        f"expected sync, async or a path starting with /, got {text!r}"
    )


class Option(NamedTuple):
    flag: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None


def option_group(*options: Option) -> AddOptions:
    """Build a parser hook that adds ``options``."""

    def add_options(parser: argparse.ArgumentParser) -> None:
        # Straight on the parser, not in an argument group: only options
        # added through Locust's own add_argument appear in the web UI.
        for option in options:
            dest = option.flag.lstrip("-").replace("-", "_")
            parser.add_argument(
                option.flag,
                type=option.parse,
                default=option.default,
                choices=option.choices,
                metavar=option.metavar,
                env_var=ENV_PREFIX + dest.upper(),
                help=option.help + " (default: %(default)s)",
            )

    return add_options


add_request_log_options = option_group(
    Option(
        "--request-log",
        str,
        None,
        "asyncproj: write one CSV row per request to PATH when the test "
        "stops, and PATH.meta.json with Locust's CPU warning; a worker "
        "writes PATH with .worker<index> inserted before the suffix",
        metavar="PATH",
    ),
)

add_probe_options = option_group(
    Option(
        "--probe-mode",
        probe_mode,
        DEFAULT_PROBE_MODE,
        "asyncproj ProbeClient: ping path to request, sync (/sync/ping/), "
        "async (/async/ping/) or a path",
        metavar="MODE",
    ),
    Option(
        "--probe-rate",
        positive_float,
        DEFAULT_PROBE_RATE_RPS,
        "asyncproj ProbeClient: requests per second",
        metavar="PER_S",
    ),
)

add_shape_log_option = option_group(
    Option(
        "--shape-log",
        str,
        None,
        "asyncproj shapes: write the schedule the shape followed to PATH "
        "as JSON when the test stops",
        metavar="PATH",
    ),
)

add_step_options = option_group(
    Option(
        "--step-start-users",
        positive_int,
        DEFAULT_STEP_START_USERS,
        "asyncproj StepShape: users in the first step; a probe comes on top",
        metavar="N",
    ),
    Option(
        "--step-growth",
        str,
        DEFAULT_STEP_GROWTH,
        "asyncproj StepShape: double the users each step, or add --step-increment",
        choices=GROWTH_MODES,
    ),
    Option(
        "--step-increment",
        positive_int,
        DEFAULT_STEP_INCREMENT_USERS,
        "asyncproj StepShape: users added per step with --step-growth add",
        metavar="N",
    ),
    Option(
        "--step-duration",
        positive_float,
        DEFAULT_STEP_DURATION_S,
        "asyncproj StepShape: seconds per step",
        metavar="SECONDS",
    ),
    Option(
        "--step-max-users",
        positive_int,
        DEFAULT_STEP_MAX_USERS,
        "asyncproj StepShape: user ceiling; the step reaching it runs fully",
        metavar="N",
    ),
    Option(
        "--step-spawn-rate",
        positive_float,
        DEFAULT_STEP_SPAWN_RATE,
        "asyncproj StepShape: users started per second within a step",
        metavar="PER_S",
    ),
    Option(
        "--step-max-failure-ratio",
        ratio,
        DEFAULT_STEP_MAX_FAILURE_RATIO,
        "asyncproj StepShape: stop growing when a step's failed/all requests is above this",
        metavar="RATIO",
    ),
    Option(
        "--step-p95-target-ms",
        non_negative_float,
        DEFAULT_STEP_P95_TARGET_MS,
        "asyncproj StepShape: stop growing when a step's p95 is above this "
        "many ms; 0 turns the rule off",
        metavar="MS",
    ),
    Option(
        "--recovery-users",
        non_negative_int,
        DEFAULT_RECOVERY_USERS,
        "asyncproj StepShape: users after the drop",
        metavar="N",
    ),
    Option(
        "--recovery-duration",
        positive_float,
        DEFAULT_RECOVERY_DURATION_S,
        "asyncproj StepShape: seconds of low load after the drop",
        metavar="SECONDS",
    ),
)

add_hold_options = option_group(
    Option(
        "--hold-users",
        positive_int,
        DEFAULT_HOLD_USERS,
        "asyncproj HoldShape: users to ramp to and hold; a probe comes on top",
        metavar="N",
    ),
    Option(
        "--hold-spawn-rate",
        positive_float,
        DEFAULT_HOLD_SPAWN_RATE,
        "asyncproj HoldShape: users started per second in the ramp",
        metavar="PER_S",
    ),
    Option(
        "--hold-duration",
        positive_float,
        DEFAULT_HOLD_DURATION_S,
        "asyncproj HoldShape: seconds to hold, not counting the ramp",
        metavar="SECONDS",
    ),
)


ALL_OPTIONS = (
    add_request_log_options,
    add_probe_options,
    add_shape_log_option,
    add_step_options,
    add_hold_options,
)


def main(args: Sequence[str] | None = None) -> None:
    """Parse (and so, with --help, describe) every asyncproj option."""
    parser = configargparse.ArgumentParser(
        prog="locust -f locust/locustfile.py[,locust/step_shape.py|hold_shape.py]",
        description="asyncproj's options to Locust, next to Locust's own.",
    )
    for add_options in ALL_OPTIONS:
        add_options(parser)
    parser.parse_args(args)


if __name__ == "__main__":
    main()
