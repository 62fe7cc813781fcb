"""Tests for sorts.algorithms: the three ways to find the largest value."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sorts.algorithms import ALGORITHMS, random_values

ALGORITHM_NAMES = sorted(ALGORITHMS)

CASES = {
    "one item": ([7], 7),
    "all equal": ([4, 4, 4, 4], 4),
    "duplicates": ([3, 9, 1, 9, 3, 1], 9),
    "sorted": ([1, 2, 3, 4, 5, 6], 6),
    "reversed": ([6, 5, 4, 3, 2, 1], 6),
    "negative numbers": ([-5, -1, -12, -3], -1),
    "negative and positive": ([-2, 0, 5, -9], 5),
    "largest in the middle": ([2, 8, 40, 3, 1], 40),
    "large values": ([10**18, 3, 2**70, 10**9], 2**70),
}


@pytest.fixture(params=ALGORITHM_NAMES)
def algorithm(request):
    return ALGORITHMS[request.param]


def test_every_algorithm_of_the_design_is_registered():
    assert set(ALGORITHMS) == {"builtin", "bubble", "priority_queue"}


@pytest.mark.parametrize(("values", "expected"), CASES.values(), ids=CASES.keys())
def test_algorithm_finds_the_largest_value(algorithm, values, expected):
    assert algorithm(values) == expected


def test_algorithm_accepts_a_tuple(algorithm):
    assert algorithm((5, 11, 2)) == 11


def test_algorithm_refuses_an_empty_list(algorithm):
    with pytest.raises(ValueError, match="cannot find the largest value of an empty list"):
        algorithm([])


def test_algorithm_leaves_its_input_unchanged(algorithm):
    values = [5, 3, 9, 1, 9, -2]
    algorithm(values)
    assert values == [5, 3, 9, 1, 9, -2]


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
@given(values=st.lists(st.integers(), min_size=1, max_size=60))
def test_algorithm_agrees_with_max_on_any_list(name, values):
    original = list(values)
    assert ALGORITHMS[name](values) == max(original)
    assert values == original


def test_random_values_gives_n_values():
    assert len(random_values(250, 10)) == 250


def test_random_values_gives_plain_ints():
    values = random_values(5, 100, seed=1)
    assert all(type(value) is int for value in values)


@given(
    n=st.integers(min_value=0, max_value=200),
    max_value=st.integers(min_value=1, max_value=50),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_random_values_stay_within_one_and_max(n, max_value, seed):
    values = random_values(n, max_value, seed)
    assert len(values) == n
    assert all(1 <= value <= max_value for value in values)


def test_random_values_reach_both_ends_of_the_inclusive_range():
    values = random_values(1000, 3, seed=2024)
    assert set(values) == {1, 2, 3}


def test_random_values_with_max_one_are_all_one():
    assert random_values(20, 1, seed=5) == [1] * 20


def test_random_values_repeat_for_the_same_seed():
    assert random_values(500, 5000, seed=42) == random_values(500, 5000, seed=42)


def test_random_values_differ_for_different_seeds():
    assert random_values(500, 5000, seed=1) != random_values(500, 5000, seed=2)


def test_random_values_without_a_seed_differ_between_calls():
    # 10**9 possible values per item: two equal lists of 100 would be a
    # fixed seed in disguise, not chance.
    assert random_values(100, 10**9) != random_values(100, 10**9)


def test_random_values_of_zero_items_is_empty():
    assert random_values(0, 10) == []


@pytest.mark.parametrize("n", [-1, -1000])
def test_random_values_refuses_a_negative_n(n):
    with pytest.raises(ValueError, match=f"n must be >= 0, got {n}"):
        random_values(n, 10)


@pytest.mark.parametrize("max_value", [0, -3])
def test_random_values_refuses_a_max_below_one(max_value):
    with pytest.raises(ValueError, match=f"max_value must be >= 1, got {max_value}"):
        random_values(10, max_value)
