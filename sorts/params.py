"""Turn a request's query string into a Job, or say exactly what is wrong."""

import re
from collections.abc import Iterable

from sorts.algorithms import ALGORITHMS
from sorts.jobs import Job

# Scenario 1 of the classroom exercise: what a request without parameters runs.
DEFAULT_N = 1_000
DEFAULT_MAX = 5_000

MIN_N = 1
# Per-algorithm caps keep one request from holding a worker for minutes:
# bubble sort of 10,000 values already takes seconds.
N_CAPS = {
    "builtin": 1_000_000,
    "priority_queue": 200_000,
    "bubble": 10_000,
}
MIN_MAX = 1
MAX_MAX = 1_000_000_000
MIN_SEED = 0
MAX_SEED = 2**63 - 1

KNOWN_PARAMETERS = ("n", "max", "seed")
DIGITS = re.compile(r"[0-9]{1,30}")


class BadParameter(ValueError):
    """A query parameter that cannot be used, with the reason to show."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class UnknownAlgorithm(LookupError):
    def __init__(self, algorithm: str) -> None:
        allowed = ", ".join(ALGORITHMS)
        super().__init__(f"unknown algorithm {algorithm[:40]!r}; expected one of: {allowed}")


def check_algorithm(algorithm: str) -> str:
    if algorithm not in ALGORITHMS:
        raise UnknownAlgorithm(algorithm)
    return algorithm


def parse_job(algorithm: str, query: Iterable[tuple[str, list[str]]]) -> Job:
    """Build a Job from (name, values) pairs such as `QueryDict.lists()`."""
    check_algorithm(algorithm)
    given = _single_values(query)

    n_cap = N_CAPS[algorithm]
    n = _parse_int(given, "n", DEFAULT_N, MIN_N, n_cap, f" for {algorithm}")
    max_value = _parse_int(given, "max", DEFAULT_MAX, MIN_MAX, MAX_MAX)
    seed = _parse_int(given, "seed", None, MIN_SEED, MAX_SEED)
    return Job(algorithm=algorithm, n=n, max_value=max_value, seed=seed)


def _single_values(query: Iterable[tuple[str, list[str]]]) -> dict[str, str]:
    given = {}
    for name, values in query:
        if name not in KNOWN_PARAMETERS:
            allowed = ", ".join(KNOWN_PARAMETERS)
            raise BadParameter(name[:40], f"unknown parameter {name[:40]!r}; allowed: {allowed}")
        if len(values) != 1:
            raise BadParameter(name, f"parameter {name!r} given {len(values)} times; give it once")
        given[name] = values[0]
    return given


def _parse_int(
    given: dict[str, str],
    name: str,
    default: int | None,
    low: int,
    high: int,
    context: str = "",
) -> int | None:
    expected = f"an integer from {low:,} to {high:,}{context}"
    if name not in given:
        return default

    text = given[name]
    if not DIGITS.fullmatch(text):
        shown = given[name][:40]
        raise BadParameter(name, f"parameter {name!r} must be {expected}, got {shown!r}")
    value = int(text)
    if not low <= value <= high:
        raise BadParameter(name, f"parameter {name!r} must be {expected}, got {value:,}")
    return value
