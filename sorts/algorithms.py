"""The three ways to find the largest value, and the list they search.

Plain Python with no Django imports, so the algorithms can be tested and
timed without a request.
"""

from collections.abc import Callable, Sequence
from queue import PriorityQueue

import numpy as np

Algorithm = Callable[[Sequence[int]], int]


def builtin_max(values: Sequence[int]) -> int:
    """Sort with Python's built-in sort (largest first), take the first."""
    _require_values(values)
    return sorted(values, reverse=True)[0]


def bubble_max(values: Sequence[int]) -> int:
    """Bubble-sort a copy with no early exit, take the last (largest)."""
    _require_values(values)
    items = list(values)
    # No early exit on a pass without swaps: the lab wants the full O(n²)
    # cost whatever the input's order, so every request costs the same.
    for end in range(len(items) - 1, 0, -1):
        for i in range(end):
            if items[i] > items[i + 1]:
                items[i], items[i + 1] = items[i + 1], items[i]
    return items[-1]


def priority_queue_max(values: Sequence[int]) -> int:
    """Push every value into a queue.PriorityQueue, pop the top one."""
    _require_values(values)
    queue: PriorityQueue[int] = PriorityQueue()
    # PriorityQueue pops the smallest item first, so store negated values.
    for value in values:
        queue.put(-value)
    return -queue.get()


ALGORITHMS: dict[str, Algorithm] = {
    "builtin": builtin_max,
    "bubble": bubble_max,
    "priority_queue": priority_queue_max,
}


def random_values(n: int, max_value: int, seed: int | None = None) -> list[int]:
    """Draw n integers uniform in 1..max_value inclusive, in one call.

    One vectorised draw keeps generation well below the cost of even the
    cheapest algorithm, so the algorithm is what a request measures.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if max_value < 1:
        raise ValueError(f"max_value must be >= 1, got {max_value}")
    generator = np.random.default_rng(seed)
    return generator.integers(1, max_value, size=n, endpoint=True).tolist()


def _require_values(values: Sequence[int]) -> None:
    if len(values) == 0:
        raise ValueError("cannot find the largest value of an empty list")
