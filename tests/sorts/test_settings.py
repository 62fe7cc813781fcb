"""Tests for the ASYNCPROJ_* environment variables that asyncproj.settings reads.

Settings are read once, at import, so each case imports them afresh in a
subprocess with the environment it needs.
"""

import json
import os
import subprocess
import sys

import pytest

from bench.servers import PROJECT_ROOT

SHOW_SETTINGS = """
import json
from asyncproj import settings
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "THREAD_POOL_SIZE": settings.ASYNCPROJ_THREAD_POOL_SIZE,
    "PROCESS_POOL_SIZE": settings.ASYNCPROJ_PROCESS_POOL_SIZE,
    "MAX_IN_FLIGHT": settings.ASYNCPROJ_MAX_IN_FLIGHT,
    "DATABASES": settings.DATABASES,
}))
"""


def import_settings(code: str, **variables: str) -> subprocess.CompletedProcess:
    """Run `code` from the project root with only the given ASYNCPROJ_* set."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ASYNCPROJ_")}
    env.update({f"ASYNCPROJ_{name}": value for name, value in variables.items()})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_with(**variables: str) -> dict:
    result = import_settings(SHOW_SETTINGS, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("THREAD_POOL_SIZE", "abc", "an integer >= 1, got 'abc'"),
        ("THREAD_POOL_SIZE", "0", "an integer >= 1, got '0'"),
        ("PROCESS_POOL_SIZE", "-2", "an integer >= 1, got '-2'"),
        ("PROCESS_POOL_SIZE", "1.5", "an integer >= 1, got '1.5'"),
        ("MAX_IN_FLIGHT", "-1", "an integer >= 0, got '-1'"),
        ("DEBUG", "maybe", "a boolean (1/0, true/false), got 'maybe'"),
    ],
)
def test_bad_environment_value_is_improperly_configured_naming_the_variable(name, value, expected):
    result = import_settings("import asyncproj.settings", **{name: value})
    assert result.returncode != 0
    message = f"ASYNCPROJ_{name} must be {expected}"
    assert f"django.core.exceptions.ImproperlyConfigured: {message}" in result.stderr


def test_defaults_are_safe_and_local():
    shown = settings_with()
    assert shown["DEBUG"] is False
    assert shown["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]
    assert shown["THREAD_POOL_SIZE"] == 4
    assert shown["PROCESS_POOL_SIZE"] >= 1
    assert shown["MAX_IN_FLIGHT"] == 0
    assert shown["DATABASES"] == {}


def test_given_values_are_used():
    shown = settings_with(
        DEBUG="yes",
        ALLOWED_HOSTS="lab.example,10.0.0.5",
        THREAD_POOL_SIZE=" 8 ",
        PROCESS_POOL_SIZE="3",
        MAX_IN_FLIGHT="0",
    )
    assert shown["DEBUG"] is True
    assert shown["ALLOWED_HOSTS"] == ["lab.example", "10.0.0.5"]
    assert (shown["THREAD_POOL_SIZE"], shown["PROCESS_POOL_SIZE"]) == (8, 3)
    assert shown["MAX_IN_FLIGHT"] == 0


@pytest.mark.parametrize("text", ["0", "false", "No", "OFF", ""])
def test_debug_can_be_turned_off_explicitly(text):
    assert settings_with(DEBUG=text)["DEBUG"] is False
