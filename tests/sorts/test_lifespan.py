"""Tests for sorts.lifespan: pools stop when the ASGI server says so."""

import pytest

from sorts import offload
from sorts.lifespan import with_lifespan


class ScriptedServer:
    """Play an ASGI server's side: hand out messages, keep what the app sends."""

    def __init__(self, *messages: dict):
        self.to_send = list(messages)
        self.received: list[dict] = []

    async def receive(self) -> dict:
        return self.to_send.pop(0)

    async def send(self, message: dict) -> None:
        self.received.append(message)


class RecordingApp:
    def __init__(self):
        self.scopes: list[dict] = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)


@pytest.mark.asyncio
async def test_lifespan_is_answered_and_shutdown_stops_the_pools(offload_pools):
    pool = offload.thread_pool()
    wrapped = RecordingApp()
    server = ScriptedServer({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})

    await with_lifespan(wrapped)({"type": "lifespan"}, server.receive, server.send)

    assert server.received == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    assert wrapped.scopes == []
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        pool.submit(int)
    assert offload.thread_pool() is not pool


@pytest.mark.asyncio
@pytest.mark.parametrize("scope_type", ["http", "websocket"])
async def test_other_scopes_go_to_django(scope_type):
    wrapped = RecordingApp()
    server = ScriptedServer()

    await with_lifespan(wrapped)({"type": scope_type}, server.receive, server.send)

    assert wrapped.scopes == [{"type": scope_type}]
    assert server.received == []


def test_asgi_module_exposes_app_and_application():
    from asyncproj import asgi

    assert asgi.app is asgi.application
