"""ASGI entry point: `uvicorn asyncproj.asgi:app`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "asyncproj.settings")

django_application = get_asgi_application()

from sorts.lifespan import with_lifespan  # noqa: E402  (needs Django set up)

application = with_lifespan(django_application)
app = application
