"""WSGI entry point: `gunicorn asyncproj.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "asyncproj.settings")

application = get_wsgi_application()
