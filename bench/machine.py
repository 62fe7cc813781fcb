"""What the numbers were measured on: machine, versions, CPU sets."""

import os
import platform
from importlib import metadata

import psutil

PACKAGES = ("django", "asgiref", "uvicorn", "uvloop", "httptools", "gunicorn", "locust", "psutil")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def split_cpus(cpus: list[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Give Locust one CPU and the server the rest, when there are two or more.

    With one CPU there is nothing to split; both share it and the report
    says so.
    """
    if len(cpus) < 2:
        return (), ()
    return tuple(cpus[:-1]), (cpus[-1],)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def describe_machine() -> dict:
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": available_cpus(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(),
    }


def _memory_gib() -> float:
    return round(psutil.virtual_memory().total / 2**30, 1)
