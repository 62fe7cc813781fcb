"""Custom options: declared once, usable from the locustfile and both shapes."""

from __future__ import annotations

import pytest
from locust.argument_parser import get_parser

DEFAULTS = {
    "request_log": None,
    "probe_mode": "sync",
    "probe_rate": 2.0,
    "shape_log": None,
    "step_start_users": 1,
    "step_growth": "double",
    "step_increment": 4,
    "step_duration": 30.0,
    "step_max_users": 64,
    "step_spawn_rate": 10.0,
    "step_max_failure_ratio": 0.01,
    "step_p95_target_ms": 0.0,
    "recovery_users": 1,
    "recovery_duration": 30.0,
    "hold_users": 10,
    "hold_spawn_rate": 10.0,
    "hold_duration": 60.0,
}


@pytest.fixture
def parser(locustfile, step_shape, hold_shape):
    """Locust's parser once all three files have been imported."""
    return get_parser()


def test_every_option_parses_to_its_default(parser):
    options = parser.parse_args(["-f", "locust/locustfile.py"])

    assert {name: getattr(options, name) for name in DEFAULTS} == DEFAULTS


def test_options_parse_from_the_command_line(parser):
    options = parser.parse_args(
        [
            "--request-log",
            "out/requests.csv",
            "--probe-mode",
            "/async/ping/",
            "--step-growth",
            "add",
            "--step-duration",
            "2.5",
            "--hold-users",
            "7",
            "--shape-log",
            "out/shape.json",
        ]
    )

    assert options.request_log == "out/requests.csv"
    assert options.probe_mode == "/async/ping/"
    assert (options.step_growth, options.step_duration) == ("add", 2.5)
    assert options.hold_users == 7
    assert options.shape_log == "out/shape.json"


def test_options_fall_back_to_asyncproj_environment_variables(parser, monkeypatch):
    monkeypatch.setenv("ASYNCPROJ_STEP_DURATION", "7")
    monkeypatch.setenv("ASYNCPROJ_REQUEST_LOG", "env/requests.csv")

    options = parser.parse_args([])

    assert options.step_duration == 7.0
    assert options.request_log == "env/requests.csv"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--step-duration", "-1"], "argument --step-duration: expected a number > 0, got '-1'"),
        (["--step-max-users", "two"], "expected a whole number >= 1, got 'two'"),
        (["--step-max-failure-ratio", "2"], "expected a ratio from 0 to 1, got '2'"),
        (["--probe-mode", "fast"], "expected sync, async or a path starting with /, got 'fast'"),
        (["--step-growth", "triple"], "invalid choice: 'triple'"),
    ],
)
def test_bad_values_exit_with_one_line_naming_the_option(parser, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(args)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_registering_a_group_again_causes_no_conflict(loadgen_options, step_shape, hold_shape):
    # Both shapes already registered --shape-log; a third time must be a no-op.
    loadgen_options.register(loadgen_options.add_shape_log_option)
    loadgen_options.register(loadgen_options.add_request_log_options)

    options = get_parser().parse_args(["--shape-log", "s.json", "--request-log", "r.csv"])

    assert (options.shape_log, options.request_log) == ("s.json", "r.csv")


@pytest.mark.parametrize(
    ("mode", "path"),
    [("sync", "/sync/ping/"), ("async", "/async/ping/"), ("/async/ping/", "/async/ping/")],
)
def test_probe_mode_maps_to_a_ping_path(loadgen_options, mode, path):
    assert loadgen_options.probe_path(mode) == path


def test_option_help_lists_every_flag_with_its_environment_variable(loadgen_options, capsys):
    # Locust's own --help runs before locustfiles are imported, so it cannot.
    with pytest.raises(SystemExit) as exit_info:
        loadgen_options.main(["--help"])

    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    for name in DEFAULTS:
        assert "--" + name.replace("_", "-") in text
        assert "ASYNCPROJ_" + name.upper() in text
