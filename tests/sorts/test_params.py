"""Tests for sorts.params: a query string becomes a Job or a clear error."""

import pytest

from sorts.algorithms import ALGORITHMS
from sorts.jobs import Job
from sorts.params import (
    DEFAULT_MAX,
    DEFAULT_N,
    MAX_MAX,
    MAX_SEED,
    N_CAPS,
    BadParameter,
    UnknownAlgorithm,
    parse_job,
)

ALGORITHM_NAMES = sorted(ALGORITHMS)
NOT_INTEGERS = [
    "abc",
    "1.5",
    "",
    " ",
    " 5",
    "5 ",
    "1e3",
    "-0",
    "+5",
    "0x10",
    "1_000",
    "1,000",
    "５",
]


def parse(algorithm="builtin", **query: str | list[str]) -> Job:
    """Call parse_job with query values given as keywords."""
    pairs = [(name, value if isinstance(value, list) else [value]) for name, value in query.items()]
    return parse_job(algorithm, pairs)


def refusal(algorithm="builtin", **query: str | list[str]) -> BadParameter:
    with pytest.raises(BadParameter) as caught:
        parse(algorithm, **query)
    return caught.value


def test_design_fixes_scenario_one_and_the_bubble_cap():
    assert (DEFAULT_N, DEFAULT_MAX) == (1_000, 5_000)
    assert N_CAPS["bubble"] == 10_000
    assert set(N_CAPS) == set(ALGORITHMS)


@pytest.mark.parametrize("algorithm", ALGORITHM_NAMES)
def test_no_parameters_give_scenario_one_without_a_seed(algorithm):
    assert parse(algorithm) == Job(algorithm=algorithm, n=1_000, max_value=5_000, seed=None)


def test_given_parameters_are_used():
    job = parse("bubble", n="20", max="300", seed="9")
    assert job == Job(algorithm="bubble", n=20, max_value=300, seed=9)


def test_leading_zeros_are_accepted():
    assert parse(n="007").n == 7


@pytest.mark.parametrize("algorithm", ALGORITHM_NAMES)
def test_n_exactly_at_the_cap_is_accepted(algorithm):
    assert parse(algorithm, n=str(N_CAPS[algorithm])).n == N_CAPS[algorithm]


@pytest.mark.parametrize("algorithm", ALGORITHM_NAMES)
def test_n_above_the_cap_is_refused_with_the_algorithms_range(algorithm):
    cap = N_CAPS[algorithm]
    error = refusal(algorithm, n=str(cap + 1))
    assert error.parameter == "n"
    assert str(error) == (
        f"parameter 'n' must be an integer from 1 to {cap:,} for {algorithm}, got {cap + 1:,}"
    )


def test_bubble_above_ten_thousand_is_refused():
    error = refusal("bubble", n="10001")
    assert "from 1 to 10,000 for bubble" in str(error)


def test_n_below_one_is_refused():
    error = refusal(n="0")
    assert error.parameter == "n"
    assert str(error) == ("parameter 'n' must be an integer from 1 to 1,000,000 for builtin, got 0")


def test_n_of_one_is_accepted():
    assert parse(n="1").n == 1


def test_max_of_zero_is_refused():
    error = refusal(max="0")
    assert error.parameter == "max"
    assert str(error) == ("parameter 'max' must be an integer from 1 to 1,000,000,000, got 0")


def test_max_exactly_at_the_limit_is_accepted():
    assert parse(max=str(MAX_MAX)).max_value == MAX_MAX


def test_max_of_one_is_accepted():
    assert parse(max="1").max_value == 1


def test_max_above_the_limit_is_refused():
    error = refusal(max=str(MAX_MAX + 1))
    assert error.parameter == "max"
    assert "from 1 to 1,000,000,000" in str(error)
    assert "got 1,000,000,001" in str(error)


def test_seed_of_zero_and_the_largest_seed_are_accepted():
    assert parse(seed="0").seed == 0
    assert parse(seed=str(MAX_SEED)).seed == MAX_SEED


def test_negative_seed_is_refused():
    error = refusal(seed="-1")
    assert error.parameter == "seed"
    assert str(error) == (f"parameter 'seed' must be an integer from 0 to {MAX_SEED:,}, got '-1'")


def test_seed_above_the_largest_is_refused():
    error = refusal(seed=str(MAX_SEED + 1))
    assert error.parameter == "seed"
    assert f"from 0 to {MAX_SEED:,}" in str(error)
    assert f"got {MAX_SEED + 1:,}" in str(error)


@pytest.mark.parametrize("name", ["n", "max", "seed"])
@pytest.mark.parametrize("text", NOT_INTEGERS)
def test_non_integer_is_refused_naming_the_parameter_and_range(name, text):
    error = refusal(**{name: text})
    assert error.parameter == name
    assert str(error).startswith(f"parameter {name!r} must be an integer from ")
    assert str(error).endswith(f", got {text!r}")


def test_a_very_long_value_is_shown_shortened():
    error = refusal(n="9" * 500)
    assert str(error).endswith(f"got {'9' * 40!r}")


def test_unknown_parameter_is_refused_with_the_allowed_ones():
    error = refusal(colour="red")
    assert error.parameter == "colour"
    assert str(error) == "unknown parameter 'colour'; allowed: n, max, seed"


def test_unknown_parameter_name_is_shortened():
    error = refusal(**{"x" * 300: "1"})
    assert str(error) == f"unknown parameter {'x' * 40!r}; allowed: n, max, seed"


@pytest.mark.parametrize("name", ["n", "max", "seed"])
def test_repeated_parameter_is_refused(name):
    error = refusal(**{name: ["5", "5"]})
    assert error.parameter == name
    assert str(error) == f"parameter {name!r} given 2 times; give it once"


def test_bad_parameter_is_a_value_error():
    assert isinstance(refusal(n="x"), ValueError)


def test_unknown_algorithm_is_refused_with_the_known_ones():
    with pytest.raises(UnknownAlgorithm) as caught:
        parse("quicksort")
    assert str(caught.value) == (
        "unknown algorithm 'quicksort'; expected one of: builtin, bubble, priority_queue"
    )


def test_unknown_algorithm_is_named_before_the_parameters_are_read():
    with pytest.raises(UnknownAlgorithm):
        parse("quicksort", n="abc")


def test_unknown_algorithm_name_is_shortened():
    with pytest.raises(UnknownAlgorithm) as caught:
        parse("q" * 300)
    assert f"{'q' * 40!r};" in str(caught.value)
    assert "q" * 41 not in str(caught.value)
