"""Fixtures shared by the test modules."""

from pathlib import Path

import pytest

from sorts import offload


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """A file for a server's output, kept with the test's temporary files."""
    return tmp_path / "server.log"


@pytest.fixture
def offload_pools():
    """Shut down the thread and process pools that a test's requests made.

    The pools live as long as the process; without this, a spawned pool
    child would outlive the test that started it.
    """
    yield
    offload.shutdown_pools()
