"""Fixtures shared by the test modules."""

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@pytest.fixture
def http_stub() -> Iterator[Callable[[type[BaseHTTPRequestHandler]], str]]:
    """Serve a handler class on a free loopback port in a thread; give its URL.

    Every server started through it is shut down when the test ends.
    """
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def serve(handler: type[BaseHTTPRequestHandler]) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.block_on_close = False
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()
