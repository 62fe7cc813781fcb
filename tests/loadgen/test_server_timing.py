"""Parsing the Server-Timing header the views send."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st


def test_parse_reads_every_metric_in_ms(recorder):
    header = "wait;dur=0.123, generate;dur=0.05, sort;dur=31.2"

    assert recorder.parse_server_timing(header) == {"wait": 0.123, "generate": 0.05, "sort": 31.2}


def test_parse_reads_the_views_own_format(recorder):
    header = "wait;dur=0.000, generate;dur=0.412, sort;dur=4612.500"

    assert recorder.parse_server_timing(header) == {"wait": 0.0, "generate": 0.412, "sort": 4612.5}


@pytest.mark.parametrize("header", [None, "", [], "   "])
def test_parse_of_a_missing_header_is_empty(recorder, header):
    assert recorder.parse_server_timing(header) == {}


@pytest.mark.parametrize(
    "header",
    [
        "sort",
        "sort;dur=",
        "sort;dur=abc",
        "sort;dur=-1",
        "sort;dur=nan",
        "sort;dur=inf",
        ";dur=3",
        "so rt;dur=3",
        ",,,;;;===",
        "sort;desc=fast",
    ],
)
def test_parse_skips_malformed_entries(recorder, header):
    assert recorder.parse_server_timing(header) == {}


def test_parse_keeps_good_entries_next_to_bad_ones(recorder):
    header = "wait;dur=oops, sort;dur=12.5, ;dur=1"

    assert recorder.parse_server_timing(header) == {"sort": 12.5}


def test_parse_accepts_other_params_spacing_and_case(recorder):
    header = ' sort ; desc="bubble" ; DUR = 7 ,wait;dur="0.5"'

    assert recorder.parse_server_timing(header) == {"sort": 7.0, "wait": 0.5}


def test_parse_keeps_the_first_of_repeated_metrics(recorder):
    assert recorder.parse_server_timing("sort;dur=1, sort;dur=2") == {"sort": 1.0}


def test_parse_joins_a_header_sent_more_than_once(recorder):
    header = ["wait;dur=1", "sort;dur=2"]

    assert recorder.parse_server_timing(header) == {"wait": 1.0, "sort": 2.0}


@given(header=st.text())
def test_parse_never_raises_and_gives_finite_durations(recorder, header):
    timings = recorder.parse_server_timing(header)

    assert all(math.isfinite(value) and value >= 0 for value in timings.values())
