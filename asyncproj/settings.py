"""Settings for the lab, read once from ASYNCPROJ_* environment variables.

Safe local defaults: DEBUG off, only loopback host names, no database.
"""

import os
import secrets

from django.core.exceptions import ImproperlyConfigured

PREFIX = "ASYNCPROJ_"
LOOPBACK_HOSTS = "127.0.0.1,localhost,[::1]"


def _env(name: str, default: str) -> str:
    return os.environ.get(PREFIX + name, default).strip()


def _env_bool(name: str, default: bool) -> bool:
    text = _env(name, "1" if default else "0").lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{PREFIX}{name} must be a boolean (1/0, true/false), got {text!r}")


def _env_int(name: str, default: int, minimum: int) -> int:
    text = _env(name, str(default))
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ImproperlyConfigured(f"{PREFIX}{name} must be an integer >= {minimum}, got {text!r}")
    return value


def _available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


DEBUG = _env_bool("DEBUG", False)
# Nothing is signed or stored, so a key made fresh per process is harmless
# when none is given; give one to keep it stable.
SECRET_KEY = _env("SECRET_KEY", "") or secrets.token_urlsafe(50)
ALLOWED_HOSTS = [host for host in _env("ALLOWED_HOSTS", LOOPBACK_HOSTS).split(",") if host]

# Offload pools, per server worker process; reported by the benchmark.
ASYNCPROJ_THREAD_POOL_SIZE = _env_int("THREAD_POOL_SIZE", 4, minimum=1)
ASYNCPROJ_PROCESS_POOL_SIZE = _env_int("PROCESS_POOL_SIZE", _available_cpus(), minimum=1)
# Offloaded jobs in flight per process before answering 503; 0: no bound.
ASYNCPROJ_MAX_IN_FLIGHT = _env_int("MAX_IN_FLIGHT", 0, minimum=0)

INSTALLED_APPS = [
    "sorts",
    "bench",
]

# Kept lean on purpose: every sync-only middleware costs ASGI requests a
# hop to a thread and back. This one is sync and async capable.
MIDDLEWARE = [
    "sorts.middleware.refuse_bad_requests",
]

ROOT_URLCONF = "asyncproj.urls"
WSGI_APPLICATION = "asyncproj.wsgi.application"
ASGI_APPLICATION = "asyncproj.asgi.application"

DATABASES = {}
TEMPLATES = []
USE_I18N = False
USE_TZ = True
TIME_ZONE = "UTC"
APPEND_SLASH = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
