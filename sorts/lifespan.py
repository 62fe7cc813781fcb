"""ASGI lifespan support, so pools are shut down with the server."""

from sorts.offload import shutdown_pools


def with_lifespan(django_app):
    """Wrap Django's ASGI app: answer lifespan events, pass the rest on.

    Django itself refuses lifespan scopes. Answering them lets uvicorn tell
    the app that it is stopping, and the pools then stop with it.
    """

    async def app(scope, receive, send):
        if scope["type"] != "lifespan":
            await django_app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                shutdown_pools()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app
