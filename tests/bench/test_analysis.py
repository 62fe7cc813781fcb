"""Tests for bench.analysis on synthetic runs with known answers."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.analysis import (
    DEFAULT_RULES,
    REQUEST_LOG_FIELDS,
    Request,
    Rules,
    Schedule,
    Step,
    StepStats,
    baseline_p95,
    find_breaking_point,
    find_recovery,
    find_saturation,
    fit_exponent,
    is_too_wide,
    load_test_summary,
    percentile,
    read_request_log,
    schedule_from_json,
    spread,
    step_stats,
    summarize,
    write_request_log,
)

T0 = 1_700_000_000.0  # an epoch start, so offsets are exercised


def requests_at_rate(
    from_s: float,
    to_s: float,
    rps: float,
    latency_ms: float = 10.0,
    ok: bool = True,
    users: int = 1,
    origin: float = T0,
) -> list[Request]:
    """Send requests evenly at ``rps`` from ``from_s`` to ``to_s`` after origin."""
    count = round((to_s - from_s) * rps)
    return [
        Request(
            start=origin + from_s + index / rps,
            response_time_ms=latency_ms,
            name="/sync/bubble/",
            ok=ok,
            users=users,
        )
        for index in range(count)
    ]


def make_step(
    index: int,
    users: int,
    rps: float,
    p95_ms: float = 10.0,
    failure_ratio: float = 0.0,
    count: int = 100,
) -> StepStats:
    return StepStats(
        index=index,
        users=users,
        start_s=index * 10.0,
        end_s=index * 10.0 + 10.0,
        window_start_s=index * 10.0 + 2.0,
        window_s=8.0,
        count=count,
        failures=round(failure_ratio * count),
        failure_ratio=failure_ratio,
        throughput_rps=rps,
        mean_ms=p95_ms,
        p50_ms=p95_ms,
        p95_ms=p95_ms if count else None,
        p99_ms=p95_ms,
    )


def steps_with_throughput(*rps: float) -> list[StepStats]:
    return [make_step(index, users=index + 1, rps=value) for index, value in enumerate(rps)]


def schedule_of(steps: list[tuple[float, float, int]], recovery=None) -> Schedule:
    return Schedule(
        t0=T0,
        steps=tuple(Step(start, end, users) for start, end, users in steps),
        recovery=None if recovery is None else Step(*recovery),
        stop_reason="ceiling",
    )


# ---------------------------------------------------------------- percentile


def test_percentile_interpolates_between_neighbours():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(range(10, 101, 10), 95) == pytest.approx(95.5)


def test_percentile_ends_are_min_and_max():
    values = [7.0, 3.0, 9.0, 1.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 9.0


def test_percentile_of_one_value_is_that_value():
    assert [percentile([42.0], q) for q in (0, 50, 95, 100)] == [42.0] * 4


def test_percentile_of_no_values_raises():
    with pytest.raises(ValueError, match="percentile of no values"):
        percentile([], 50)


def test_percentile_rejects_q_outside_0_to_100():
    with pytest.raises(ValueError, match="q must be in 0..100, got 101"):
        percentile([1.0], 101)


latencies = st.lists(
    st.floats(min_value=0, max_value=1e7, allow_nan=False), min_size=1, max_size=50
)
quantiles = st.floats(min_value=0, max_value=100)


@given(latencies, quantiles, quantiles)
def test_percentile_grows_with_q_and_stays_within_the_values(values, q1, q2):
    low_q, high_q = sorted((q1, q2))
    low, high = percentile(values, low_q), percentile(values, high_q)
    assert min(values) <= low <= high <= max(values)


# ---------------------------------------------------------------- summarize


def test_summarize_uses_the_given_window_for_throughput():
    requests = requests_at_rate(5, 10, rps=4)  # 20 requests, but in a 10 s window
    summary = summarize(requests, window_s=10.0)
    assert summary.count == 20
    assert summary.throughput_rps == 2.0


def test_summarize_counts_failures_and_averages_server_timings():
    requests = [
        Request(T0, 10.0, "a", True, 1, wait_ms=1.0, generate_ms=2.0, sort_ms=5.0),
        Request(T0 + 1, 30.0, "a", True, 1, wait_ms=3.0, generate_ms=None, sort_ms=7.0),
        Request(T0 + 2, 50.0, "a", False, 1),
        Request(T0 + 3, 70.0, "a", True, 1),
    ]
    summary = summarize(requests, window_s=4.0)
    assert (summary.failures, summary.failure_ratio) == (1, 0.25)
    assert (summary.min_ms, summary.mean_ms, summary.max_ms) == (10.0, 40.0, 70.0)
    assert summary.p50_ms == 40.0
    assert summary.mean_wait_ms == 2.0
    assert summary.mean_generate_ms == 2.0
    assert summary.mean_sort_ms == 6.0


def test_summarize_of_no_requests_has_no_latency():
    summary = summarize([], window_s=5.0)
    assert (summary.count, summary.failure_ratio) == (0, 0.0)
    assert summary.throughput_rps == 0.0
    assert summary.p95_ms is None and summary.mean_sort_ms is None


def test_summarize_of_a_zero_window_has_no_throughput():
    assert summarize(requests_at_rate(0, 1, rps=5), window_s=0.0).throughput_rps is None


# ---------------------------------------------------------------- request log


def test_read_request_log_accepts_both_ok_spellings_and_empty_timings(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        ",".join(REQUEST_LOG_FIELDS) + "\n"
        "10.5,12.0,/sync/bubble/,1,3,0.5,1.0,10.0\n"
        "11.0,900.0,/sync/bubble/,False,4,,,\n"
        "12.0,15.0,/sync/bubble/,True,4,0.1,,9.0\n"
    )
    first, second, third = read_request_log(path)
    assert first == Request(10.5, 12.0, "/sync/bubble/", True, 3, 0.5, 1.0, 10.0)
    assert second.ok is False and second.wait_ms is None and second.sort_ms is None
    assert third.ok is True and third.generate_ms is None and third.sort_ms == 9.0


def test_read_request_log_merges_files_by_start(tmp_path):
    early = requests_at_rate(0, 2, rps=2, users=1)
    late = requests_at_rate(0.25, 2.25, rps=2, users=2)
    write_request_log(tmp_path / "one.csv", late)
    write_request_log(tmp_path / "two.csv", early)
    merged = read_request_log([tmp_path / "one.csv", str(tmp_path / "two.csv")])
    assert merged == sorted(early + late, key=lambda request: request.start)


def test_read_request_log_names_file_and_line_of_a_bad_ok(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(",".join(REQUEST_LOG_FIELDS) + "\n1.0,2.0,x,yes,1,,,\n")
    message = r"bad\.csv, line 2: ok must be 1/0 or True/False"
    with pytest.raises(ValueError, match=message):
        read_request_log(path)


def test_read_request_log_rejects_a_missing_column(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("start,response_time_ms,name,ok,users\n1.0,2.0,x,1,1\n")
    message = r"lacks column\(s\) wait_ms, generate_ms, sort_ms"
    with pytest.raises(ValueError, match=message):
        read_request_log(path)


# ---------------------------------------------------------------- schedule


SCHEDULE_JSON = {
    "t0": T0,
    "steps": [
        {"start_s": 0, "end_s": 10, "users": 1},
        {"start_s": 10, "end_s": 20, "users": 2},
    ],
    "recovery": {"start_s": 20, "end_s": 40, "users": 1},
    "stop_reason": "ceiling",
}


def test_schedule_from_json_reads_steps_and_recovery():
    schedule = schedule_from_json(SCHEDULE_JSON)
    assert schedule.t0 == T0
    assert schedule.steps == (Step(0.0, 10.0, 1), Step(10.0, 20.0, 2))
    assert schedule.recovery == Step(20.0, 40.0, 1)
    assert schedule.stop_reason == "ceiling"


def test_schedule_round_trips_through_json():
    schedule = schedule_from_json(SCHEDULE_JSON)
    assert schedule_from_json(json.loads(json.dumps(schedule.as_dict()))) == schedule


def test_schedule_from_json_allows_no_recovery_and_no_stop_reason():
    data = {"t0": T0, "steps": SCHEDULE_JSON["steps"], "recovery": None}
    schedule = schedule_from_json(data)
    assert schedule.recovery is None and schedule.stop_reason == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"t0": None}, r"schedule.t0 must be a number, got None"),
        ({"steps": {}}, r"schedule 'steps' must be a list, got dict"),
        (
            {"steps": [{"start_s": 0, "end_s": 10}]},
            r"steps\[0\] is missing 'users'",
        ),
        (
            {"steps": [{"start_s": 5, "end_s": 5, "users": 1}]},
            r"steps\[0\]: end_s must be after start_s",
        ),
        (
            {"steps": [{"start_s": 0, "end_s": 10, "users": 1.5}]},
            r"steps\[0\].users must be an integer, got 1.5",
        ),
        (
            {
                "steps": [
                    {"start_s": 0, "end_s": 10, "users": 1},
                    {"start_s": 9, "end_s": 20, "users": 2},
                ]
            },
            r"steps\[1\] starts at 9.0 s, before the previous step ends at 10.0 s",
        ),
        (
            {"recovery": {"start_s": 15, "end_s": 30, "users": 1}},
            r"recovery starts at 15.0 s",
        ),
    ],
)
def test_schedule_from_json_names_the_bad_field(change, message):
    with pytest.raises(ValueError, match=message):
        schedule_from_json({**SCHEDULE_JSON, **change})


def test_schedule_from_json_reports_a_missing_t0():
    data = {key: value for key, value in SCHEDULE_JSON.items() if key != "t0"}
    with pytest.raises(ValueError, match="schedule is missing 't0'"):
        schedule_from_json(data)


# ---------------------------------------------------------------- rules


def test_rules_reject_bad_limits_by_name():
    with pytest.raises(ValueError, match="min_gain must be >= 0, got -0.1"):
        Rules(min_gain=-0.1)


def test_rules_print_as_plain_data():
    assert DEFAULT_RULES.as_dict()["max_failure_ratio"] == 0.01
    json.dumps(DEFAULT_RULES.as_dict())


# ---------------------------------------------------------------- step stats


def test_step_stats_skip_the_settle_time_of_each_step():
    schedule = schedule_of([(0, 10, 1), (10, 20, 2)])
    ramp = requests_at_rate(0, 2, rps=5, latency_ms=1000.0)  # first 20 % of step 0
    steady = requests_at_rate(2, 10, rps=5, latency_ms=10.0)
    second = requests_at_rate(10, 20, rps=8, latency_ms=20.0)
    first_step, second_step = step_stats(ramp + steady + second, schedule)

    assert (first_step.window_start_s, first_step.window_s) == (2.0, 8.0)
    assert first_step.count == 40
    assert first_step.throughput_rps == 5.0
    assert first_step.p95_ms == 10.0
    assert second_step.throughput_rps == pytest.approx(8.0)
    assert second_step.users == 2


def test_step_stats_honour_a_fixed_settle_time():
    schedule = schedule_of([(0, 10, 1)])
    (step,) = step_stats(requests_at_rate(0, 10, rps=5), schedule, Rules(settle_s=5.0))
    assert (step.window_s, step.count, step.throughput_rps) == (5.0, 25, 5.0)


def test_step_stats_reject_a_settle_time_longer_than_the_step():
    schedule = schedule_of([(0, 10, 1)])
    with pytest.raises(ValueError, match="leaves nothing to count of step 0"):
        step_stats([], schedule, Rules(settle_s=10.0))


def test_step_stats_count_failures_in_the_window():
    schedule = schedule_of([(0, 10, 1)])
    requests = requests_at_rate(2, 10, rps=5) + requests_at_rate(2, 10, rps=1, ok=False)
    (step,) = step_stats(requests, schedule)
    assert (step.count, step.failures) == (48, 8)
    assert step.failure_ratio == pytest.approx(8 / 48)


def test_baseline_p95_is_the_first_step_with_requests():
    steps = [make_step(0, 1, 0.0, count=0), make_step(1, 2, 5.0, p95_ms=12.0)]
    assert baseline_p95(steps) == 12.0
    assert baseline_p95([]) is None


# ---------------------------------------------------------------- saturation


def test_saturation_on_a_clean_plateau_is_its_first_step():
    threshold = find_saturation(steps_with_throughput(10, 20, 30, 30, 30))
    assert threshold.reached
    assert (threshold.users, threshold.throughput_rps) == (3, 30)
    assert threshold.step_index == 2


def test_saturation_on_a_noisy_plateau_ignores_the_noise():
    threshold = find_saturation(steps_with_throughput(10, 20, 30, 31, 28.5, 32, 30))
    assert threshold.reached
    assert threshold.users == 3
    assert threshold.peak_rps == 32


def test_saturation_skips_a_candidate_whose_next_step_still_grows():
    # 40 is within 10 % of the peak 44, but the next step still gains 10 %.
    threshold = find_saturation(steps_with_throughput(10, 20, 30, 40, 44, 44))
    assert threshold.reached
    assert threshold.users == 5


def test_saturation_not_reached_reports_the_last_step_as_a_lower_bound():
    threshold = find_saturation(steps_with_throughput(10, 20, 30, 40, 50))
    assert not threshold.reached
    assert (threshold.users, threshold.throughput_rps) == (5, 50)


def test_saturation_before_a_throughput_fall_is_the_peak():
    threshold = find_saturation(steps_with_throughput(10, 20, 30, 20, 10))
    assert threshold.reached
    assert (threshold.users, threshold.throughput_rps) == (3, 30)


def test_saturation_of_a_single_step_is_not_reached():
    threshold = find_saturation(steps_with_throughput(12))
    assert not threshold.reached and threshold.users == 1


def test_saturation_of_zero_throughput_or_no_steps_is_none():
    assert find_saturation(steps_with_throughput(0, 0, 0)) is None
    assert find_saturation([]) is None


def test_saturation_orders_steps_by_users():
    steps = steps_with_throughput(10, 20, 30, 30)
    assert find_saturation(list(reversed(steps))).users == 3


def test_saturation_threshold_carries_its_p95():
    steps = [make_step(0, 1, 10.0, p95_ms=5.0), make_step(1, 2, 10.0, p95_ms=9.0)]
    threshold = find_saturation(steps)
    assert threshold.p95_ms == 5.0
    assert json.loads(json.dumps(threshold.as_dict()))["reached"] is True


@given(
    st.floats(min_value=0.1, max_value=1e4),
    st.lists(st.floats(min_value=0.11, max_value=3.0), min_size=1, max_size=10),
)
def test_saturation_is_never_reached_while_every_step_gains_more_than_min_gain(first_rps, gains):
    rps = [first_rps]
    for gain in gains:
        rps.append(rps[-1] * (1 + gain))
    threshold = find_saturation(steps_with_throughput(*rps))
    assert not threshold.reached
    assert threshold.users == len(rps)


# ---------------------------------------------------------------- breaking point


def test_breaking_point_by_failures():
    steps = [
        make_step(0, 1, 10, failure_ratio=0.0),
        make_step(1, 2, 20, failure_ratio=0.01),  # at the limit: not broken
        make_step(2, 4, 25, failure_ratio=0.05),
        make_step(3, 8, 5, failure_ratio=0.5),
    ]
    broken = find_breaking_point(steps)
    assert (broken.users, broken.rule, broken.failure_ratio) == (4, "failures", 0.05)


def test_breaking_point_by_latency_needs_a_target():
    steps = [
        make_step(0, 1, 10, p95_ms=50),
        make_step(1, 2, 20, p95_ms=400),
        make_step(2, 4, 20, p95_ms=900),
    ]
    assert find_breaking_point(steps) is None
    broken = find_breaking_point(steps, Rules(p95_target_ms=500))
    assert (broken.users, broken.rule, broken.p95_ms) == (4, "latency", 900)


def test_breaking_point_names_both_rules_when_both_break():
    steps = [make_step(0, 1, 10, p95_ms=900, failure_ratio=0.2)]
    broken = find_breaking_point(steps, Rules(p95_target_ms=500))
    assert broken.rule == "failures+latency"


def test_breaking_point_not_reached_is_none():
    steps = [make_step(index, 2**index, 10 * index) for index in range(5)]
    assert find_breaking_point(steps, Rules(p95_target_ms=100)) is None


def test_breaking_point_flags_a_step_without_responses():
    steps = [make_step(0, 1, 10), make_step(1, 2, 0.0, count=0)]
    broken = find_breaking_point(steps)
    assert (broken.users, broken.rule) == (2, "no_responses")


# ---------------------------------------------------------------- recovery


RECOVERY_SCHEDULE = schedule_of([(0, 10, 1), (10, 20, 50)], recovery=(20, 40, 1))


def test_recovery_after_five_seconds():
    slow = requests_at_rate(20, 25, rps=2, latency_ms=800.0)
    fast = requests_at_rate(25, 40, rps=10, latency_ms=12.0)
    recovery = find_recovery(slow + fast, RECOVERY_SCHEDULE, baseline_p95_ms=10.0)
    assert recovery.recovered
    assert recovery.seconds == 5.0
    assert recovery.limit_ms == 15.0
    assert len(recovery.bins) == 20


def test_recovery_ignores_requests_sent_before_the_drop():
    overload = requests_at_rate(10, 20, rps=5, latency_ms=5000.0)
    fast = requests_at_rate(20, 40, rps=10, latency_ms=10.0)
    recovery = find_recovery(overload + fast, RECOVERY_SCHEDULE, baseline_p95_ms=10.0)
    assert recovery.seconds == 0.0


def test_no_recovery_when_latency_stays_high():
    slow = requests_at_rate(20, 40, rps=10, latency_ms=100.0)
    recovery = find_recovery(slow, RECOVERY_SCHEDULE, baseline_p95_ms=10.0)
    assert not recovery.recovered
    assert recovery.seconds is None


def test_recovery_needs_consecutive_good_bins():
    # One good second at 2 s, then slow again, then good for good from 6 s.
    requests = (
        requests_at_rate(20, 22, rps=10, latency_ms=100.0)
        + requests_at_rate(22, 23, rps=10, latency_ms=10.0)
        + requests_at_rate(23, 26, rps=10, latency_ms=100.0)
        + requests_at_rate(26, 40, rps=10, latency_ms=10.0)
    )
    recovery = find_recovery(requests, RECOVERY_SCHEDULE, baseline_p95_ms=10.0)
    assert recovery.seconds == 6.0


def test_recovery_waits_out_failures_and_sparse_bins():
    requests = (
        requests_at_rate(20, 23, rps=10, latency_ms=10.0, ok=False)
        + requests_at_rate(23, 26, rps=2, latency_ms=10.0)  # too few per bin
        + requests_at_rate(26, 40, rps=10, latency_ms=10.0)
    )
    recovery = find_recovery(requests, RECOVERY_SCHEDULE, baseline_p95_ms=10.0)
    assert recovery.seconds == 6.0
    assert [item.good for item in recovery.bins[:7]] == [False] * 6 + [True]


def test_no_recovery_when_the_phase_ends_before_confirmation():
    slow = requests_at_rate(20, 38, rps=10, latency_ms=100.0)
    requests = slow + requests_at_rate(38, 40, rps=10, latency_ms=10.0)
    recovery = find_recovery(requests, RECOVERY_SCHEDULE, baseline_p95_ms=10.0)
    assert not recovery.recovered


def test_recovery_needs_a_recovery_phase():
    schedule = schedule_of([(0, 10, 1)])
    with pytest.raises(ValueError, match="schedule has no recovery phase"):
        find_recovery([], schedule, baseline_p95_ms=10.0)


def test_recovery_needs_a_positive_baseline():
    with pytest.raises(ValueError, match="baseline_p95_ms must be > 0, got 0"):
        find_recovery([], RECOVERY_SCHEDULE, baseline_p95_ms=0)


def test_recovery_is_json_ready():
    recovery = find_recovery([], RECOVERY_SCHEDULE, baseline_p95_ms=10.0)
    assert json.loads(json.dumps(recovery.as_dict()))["recovered"] is False


# ---------------------------------------------------------------- load test


def varying_hold() -> list[Request]:
    """A 60 s hold from T0 + 10: bins alternate 8 and 12 rps, p95 10 → 20 ms."""
    requests = []
    for index in range(12):
        start = 10 + 5 * index
        rate = 8 if index % 2 == 0 else 12
        latency = 10.0 if start < 30 else 15.0 if start < 50 else 20.0
        requests += requests_at_rate(start, start + 5, rps=rate, latency_ms=latency)
    return requests


def test_load_test_summary_measures_throughput_spread():
    summary = load_test_summary(varying_hold(), T0 + 10, T0 + 70)
    assert summary.bin_rps == (8.0, 12.0) * 6
    assert summary.mean_rps == 10.0
    assert summary.stdev_rps == pytest.approx(math.sqrt(12 * 4 / 11))
    assert summary.cv == pytest.approx(math.sqrt(12 * 4 / 11) / 10)
    assert summary.hold.throughput_rps == 10.0


def test_load_test_summary_measures_p95_drift_between_thirds():
    summary = load_test_summary(varying_hold(), T0 + 10, T0 + 70)
    assert (summary.p95_first_third_ms, summary.p95_last_third_ms) == (10.0, 20.0)
    assert summary.p95_drift_ratio == 2.0
    assert summary.p95_drift_ms == 10.0


def test_load_test_summary_counts_the_ramp_up_apart():
    ramp = requests_at_rate(0, 10, rps=3, latency_ms=500.0, ok=False)
    after = requests_at_rate(70, 75, rps=10)  # ramp-down: ignored
    summary = load_test_summary(ramp + varying_hold() + after, T0 + 10, T0 + 70, run_start=T0)
    assert (summary.ramp.count, summary.ramp.failures) == (30, 30)
    assert summary.ramp.throughput_rps == 3.0
    assert summary.hold.count == 600
    assert summary.hold.failures == 0


def test_load_test_summary_without_run_start_has_no_ramp_throughput():
    summary = load_test_summary(varying_hold(), T0 + 10, T0 + 70)
    assert summary.ramp.count == 0 and summary.ramp.throughput_rps is None


def test_load_test_summary_drops_a_partial_last_bin():
    summary = load_test_summary(requests_at_rate(0, 12, rps=4), T0, T0 + 12)
    assert summary.bin_rps == (4.0, 4.0)


def test_load_test_summary_of_a_hold_shorter_than_a_bin_has_no_spread():
    summary = load_test_summary(requests_at_rate(0, 3, rps=4), T0, T0 + 3)
    assert summary.bin_rps == () and summary.mean_rps is None and summary.cv is None


def test_load_test_summary_rejects_an_empty_hold():
    with pytest.raises(ValueError, match="must be after hold_start"):
        load_test_summary([], T0, T0)


def test_load_test_summary_is_json_ready():
    summary = load_test_summary(varying_hold(), T0 + 10, T0 + 70)
    assert json.loads(json.dumps(summary.as_dict()))["hold"]["count"] == 600


# ---------------------------------------------------------------- fit_exponent


NS = [1_000, 2_000, 5_000, 10_000]


def test_fit_exponent_of_linear_times_is_one():
    fit = fit_exponent(NS, [3e-6 * n for n in NS])
    assert fit.exponent == pytest.approx(1.0)
    assert fit.intercept == pytest.approx(math.log(3e-6))
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.points == 4


def test_fit_exponent_of_quadratic_times_is_two():
    assert fit_exponent(NS, [4.6e-8 * n * n for n in NS]).exponent == pytest.approx(2.0)


def test_fit_exponent_of_n_log_n_is_a_little_above_one():
    fit = fit_exponent(NS, [n * math.log(n) for n in NS])
    assert fit.exponent == pytest.approx(1.12, abs=0.02)
    assert fit.r_squared > 0.999


def test_fit_exponent_of_constant_times_is_zero_with_a_perfect_fit():
    fit = fit_exponent([10, 100], [5.0, 5.0])
    assert fit.exponent == pytest.approx(0.0) and fit.r_squared == 1.0


@pytest.mark.parametrize(
    ("ns", "times", "message"),
    [
        ([1000], [1.0], r"at least two distinct n, got \[1000\]"),
        ([1000, 1000], [1.0, 2.0], r"at least two distinct n, got \[1000\]"),
        ([10, 100], [1.0, 0.0], r"positive, finite values; time at index 1 is 0.0"),
        ([0, 100], [1.0, 2.0], r"positive, finite values; n at index 0 is 0"),
        ([10, 100], [1.0, math.nan], r"time at index 1 is nan"),
        ([10, 100], [1.0], r"one time per n, got 2 n and 1 times"),
    ],
)
def test_fit_exponent_rejects_bad_input(ns, times, message):
    with pytest.raises(ValueError, match=message):
        fit_exponent(ns, times)


@given(
    st.floats(min_value=1e-6, max_value=1e3),
    st.floats(min_value=0.0, max_value=3.0),
    st.lists(st.integers(min_value=1, max_value=10**6), min_size=2, max_size=8, unique=True),
)
def test_fit_exponent_recovers_the_exponent_of_a_power_law(scale, exponent, ns):
    fit = fit_exponent(ns, [scale * n**exponent for n in ns])
    assert fit.exponent == pytest.approx(exponent, abs=1e-6)
    assert fit.intercept == pytest.approx(math.log(scale), abs=1e-5)


# ---------------------------------------------------------------- spread


def test_spread_of_repeated_values_is_zero():
    result = spread([5.0, 5.0, 5.0])
    assert (result.median, result.minimum, result.maximum) == (5.0, 5.0, 5.0)
    assert result.relative == 0.0
    assert not is_too_wide(result)


def test_spread_is_range_over_median():
    result = spread([9.0, 11.0, 10.0])
    assert result.relative == pytest.approx(0.2)
    assert is_too_wide(result)
    assert not is_too_wide(result, Rules(max_spread=0.25))


def test_spread_within_the_default_limit_is_not_too_wide():
    assert not is_too_wide(spread([100.0, 104.0, 110.0]))


def test_spread_of_zeros_is_zero_and_around_a_zero_median_is_undefined():
    assert spread([0.0, 0.0]).relative == 0.0
    around_zero = spread([0.0, 0.0, 1.0])
    assert around_zero.relative is None
    assert is_too_wide(around_zero)


def test_spread_of_no_values_raises():
    with pytest.raises(ValueError, match="spread of no values"):
        spread([])


@given(st.lists(st.floats(min_value=0.001, max_value=1e6), min_size=1, max_size=10))
def test_spread_brackets_the_median(values):
    result = spread(values)
    assert result.minimum <= result.median <= result.maximum
    assert result.relative >= 0
