"""Judge load-test and stress-test runs from their request logs.

Everything here is a pure function over plain records: the runner measures
first, this module judges afterwards, and a report can be re-rendered from
stored JSON without re-running. No Django imports, so the analysis can be
tested and reused without a configured project.

Times follow one convention: ``Request.start`` and ``Schedule.t0`` are epoch
seconds on the load generator's clock; step and phase bounds are seconds
from ``t0``; latencies are milliseconds.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The request log's columns, in order. Readers require all of them.
REQUEST_LOG_FIELDS = (
    "start",
    "response_time_ms",
    "name",
    "ok",
    "users",
    "wait_ms",
    "generate_ms",
    "sort_ms",
)

DEFAULT_SETTLE_FRACTION = 0.20  # share of each step skipped as ramp-up
DEFAULT_SETTLE_S = None  # seconds; when set, replaces the fraction
DEFAULT_PLATEAU_TOLERANCE = 0.10  # share of the peak throughput
DEFAULT_MIN_GAIN = 0.10  # relative throughput gain to the next step
DEFAULT_MAX_FAILURE_RATIO = 0.01  # failed / completed requests
DEFAULT_P95_TARGET_MS = None  # latency SLO; None switches the rule off
DEFAULT_RECOVERY_BIN_S = 1.0
DEFAULT_MIN_BIN_REQUESTS = 3  # a p95 of fewer requests is noise
DEFAULT_RECOVERY_CONFIRM_BINS = 3  # consecutive good bins
DEFAULT_RECOVERY_FACTOR = 1.5  # times the baseline p95
DEFAULT_RECOVERY_SLACK_MS = 0.0  # ms allowed on top of the factor; 0: the factor alone
DEFAULT_LOAD_BIN_S = 5.0
DEFAULT_MAX_SPREAD = 0.15  # (max - min) / median of repeated cells

RULE_FAILURES = "failures"
RULE_LATENCY = "latency"
RULE_NO_RESPONSES = "no_responses"

_TRUE_WORDS = frozenset({"1", "true"})
_FALSE_WORDS = frozenset({"0", "false"})

# Bin counts come from float division; round first so that 10.0 / 0.1
# counts 100 bins, not 101 or 99.
_BIN_COUNT_DIGITS = 6


class _AsDict:
    """Give result dataclasses a JSON-ready view."""

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as plain dicts, tuples, numbers, str and None."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rules(_AsDict):
    """Every limit the analysis applies, so a report can print them."""

    settle_fraction: float = DEFAULT_SETTLE_FRACTION
    settle_s: float | None = DEFAULT_SETTLE_S
    plateau_tolerance: float = DEFAULT_PLATEAU_TOLERANCE
    min_gain: float = DEFAULT_MIN_GAIN
    max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO
    p95_target_ms: float | None = DEFAULT_P95_TARGET_MS
    recovery_bin_s: float = DEFAULT_RECOVERY_BIN_S
    min_bin_requests: int = DEFAULT_MIN_BIN_REQUESTS
    recovery_confirm_bins: int = DEFAULT_RECOVERY_CONFIRM_BINS
    recovery_factor: float = DEFAULT_RECOVERY_FACTOR
    recovery_slack_ms: float = DEFAULT_RECOVERY_SLACK_MS
    load_bin_s: float = DEFAULT_LOAD_BIN_S
    max_spread: float = DEFAULT_MAX_SPREAD

    def __post_init__(self) -> None:
        problems = [message for ok, message in self._checks() if not ok]
        if problems:
            raise ValueError("invalid rules: " + "; ".join(problems))

    def _checks(self) -> list[tuple[bool, str]]:
        return [
            (
                0 <= self.settle_fraction < 1,
                f"settle_fraction must be in [0, 1), got {self.settle_fraction}",
            ),
            (
                self.settle_s is None or self.settle_s >= 0,
                f"settle_s must be >= 0 or None, got {self.settle_s}",
            ),
            (
                0 <= self.plateau_tolerance < 1,
                f"plateau_tolerance must be in [0, 1), got {self.plateau_tolerance}",
            ),
            (self.min_gain >= 0, f"min_gain must be >= 0, got {self.min_gain}"),
            (
                0 <= self.max_failure_ratio < 1,
                f"max_failure_ratio must be in [0, 1), got {self.max_failure_ratio}",
            ),
            (
                self.p95_target_ms is None or self.p95_target_ms > 0,
                f"p95_target_ms must be > 0 or None, got {self.p95_target_ms}",
            ),
            (self.recovery_bin_s > 0, f"recovery_bin_s must be > 0, got {self.recovery_bin_s}"),
            (
                self.min_bin_requests >= 1,
                f"min_bin_requests must be >= 1, got {self.min_bin_requests}",
            ),
            (
                self.recovery_confirm_bins >= 1,
                f"recovery_confirm_bins must be >= 1, got {self.recovery_confirm_bins}",
            ),
            (
                self.recovery_factor >= 1,
                f"recovery_factor must be >= 1, got {self.recovery_factor}",
            ),
            (
                self.recovery_slack_ms >= 0,
                f"recovery_slack_ms must be >= 0, got {self.recovery_slack_ms}",
            ),
            (self.load_bin_s > 0, f"load_bin_s must be > 0, got {self.load_bin_s}"),
            (self.max_spread >= 0, f"max_spread must be >= 0, got {self.max_spread}"),
        ]


DEFAULT_RULES = Rules()


# ---------------------------------------------------------------- request log


@dataclass(frozen=True)
class Request(_AsDict):
    """One completed request, as the load generator logged it.

    ``start`` is when it was sent (epoch seconds); ``users`` how many users
    ran when it completed; the ``*_ms`` timings come from the server and are
    None when the response did not carry them (failures, pings).
    """

    start: float
    response_time_ms: float
    name: str
    ok: bool
    users: int
    wait_ms: float | None = None
    generate_ms: float | None = None
    sort_ms: float | None = None


PathLike = str | os.PathLike[str]


def read_request_log(paths: PathLike | Iterable[PathLike]) -> list[Request]:
    """Read one or more request-log CSV files, merged and sorted by start.

    Each file starts with the header in ``REQUEST_LOG_FIELDS``:
    ``start,response_time_ms,name,ok,users,wait_ms,generate_ms,sort_ms``.
    ``ok`` is ``1``/``0`` or ``True``/``False`` (any case); an empty timing
    field means None. Extra columns are ignored. A bad row raises ValueError
    naming the file and line.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    requests: list[Request] = []
    for path in paths:
        requests.extend(_read_one_log(path))
    # A stable sort keeps each file's order for equal start times.
    requests.sort(key=lambda request: request.start)
    return requests


def write_request_log(path: PathLike, requests: Iterable[Request]) -> None:
    """Write requests in the format ``read_request_log`` reads."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REQUEST_LOG_FIELDS)
        writer.writerows(_row_of(request) for request in requests)


def _row_of(request: Request) -> list[str]:
    return [
        repr(request.start),
        repr(request.response_time_ms),
        request.name,
        "1" if request.ok else "0",
        str(request.users),
        _format_optional(request.wait_ms),
        _format_optional(request.generate_ms),
        _format_optional(request.sort_ms),
    ]


def _format_optional(value: float | None) -> str:
    return "" if value is None else repr(value)


def _read_one_log(path: PathLike) -> list[Request]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        _check_header(reader.fieldnames, path)
        # line_num is read after each row is consumed, so it is that row's line.
        return [_parse_row(row, path, reader.line_num) for row in reader]


def _check_header(fieldnames: Sequence[str] | None, path: PathLike) -> None:
    missing = [name for name in REQUEST_LOG_FIELDS if name not in (fieldnames or ())]
    if missing:
        raise ValueError(
            f"{path}: request log lacks column(s) {', '.join(missing)}; "
            f"expected header {','.join(REQUEST_LOG_FIELDS)}"
        )


def _parse_row(row: Mapping[str, str | None], path: PathLike, line: int) -> Request:
    try:
        return Request(
            start=float(_field(row, "start")),
            response_time_ms=float(_field(row, "response_time_ms")),
            name=_field(row, "name"),
            ok=_parse_ok(_field(row, "ok")),
            users=int(_field(row, "users")),
            wait_ms=_optional_float(row.get("wait_ms")),
            generate_ms=_optional_float(row.get("generate_ms")),
            sort_ms=_optional_float(row.get("sort_ms")),
        )
    except ValueError as error:
        raise ValueError(f"{path}, line {line}: {error}") from None


def _field(row: Mapping[str, str | None], name: str) -> str:
    # DictReader fills the cells of a short row with None.
    value = row.get(name)
    if value is None:
        raise ValueError(f"missing value for {name!r}")
    return value


def _parse_ok(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"ok must be 1/0 or True/False, got {text!r}")


def _optional_float(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    return float(text)


# ---------------------------------------------------------------- schedule


@dataclass(frozen=True)
class Step(_AsDict):
    """A phase of constant users, bounded in seconds from the run's t0."""

    start_s: float
    end_s: float
    users: int

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s:
            raise ValueError(
                f"end_s must be after start_s, got start_s={self.start_s}, end_s={self.end_s}"
            )
        if self.users < 0:
            raise ValueError(f"users must be >= 0, got {self.users}")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Schedule(_AsDict):
    """What a step stress run did: its steps, then the recovery phase.

    ``as_dict()`` gives the JSON format that ``schedule_from_json`` reads.
    """

    t0: float
    steps: tuple[Step, ...]
    recovery: Step | None = None
    stop_reason: str = ""

    def __post_init__(self) -> None:
        for index in range(1, len(self.steps)):
            previous = self.steps[index - 1]
            _check_not_before(self.steps[index], f"steps[{index}]", previous)
        if self.recovery is not None and self.steps:
            _check_not_before(self.recovery, "recovery", self.steps[-1])


def _check_not_before(step: Step, where: str, previous: Step) -> None:
    # Overlapping phases would count the same requests twice.
    if step.start_s < previous.end_s:
        raise ValueError(
            f"{where} starts at {step.start_s} s, before the previous step "
            f"ends at {previous.end_s} s"
        )


def schedule_from_json(data: Mapping[str, Any]) -> Schedule:
    """Build a Schedule from the load generator's JSON.

    The format, all times in seconds::

        {
          "t0": 1733241600.25,
          "steps": [
            {"start_s": 0, "end_s": 30, "users": 1},
            {"start_s": 30, "end_s": 60, "users": 2}
          ],
          "recovery": {"start_s": 60, "end_s": 120, "users": 1},
          "stop_reason": "ceiling"
        }

    ``t0`` is the run start in epoch seconds, on the same clock as the
    request log's ``start``. Step and recovery bounds are offsets from
    ``t0``; a phase covers ``start_s <= t < end_s``, phases run in order and
    must not overlap (gaps are allowed). ``users`` is a non-negative int.
    ``recovery`` is the phase after the load drops, or null when the run
    ended without one. ``stop_reason`` is free text saying why the steps
    stopped (for example "ceiling" or "failures"); it may be omitted.
    Unknown keys are ignored. Bad input raises ValueError naming the field.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"schedule must be a JSON object, got {type(data).__name__}")
    steps_data = _required(data, "steps", "schedule")
    if not isinstance(steps_data, (list, tuple)):
        kind = type(steps_data).__name__
        raise ValueError(f"schedule 'steps' must be a list, got {kind}")
    steps = tuple(_step_from_json(item, f"steps[{index}]") for index, item in enumerate(steps_data))
    recovery_data = data.get("recovery")
    recovery = None if recovery_data is None else _step_from_json(recovery_data, "recovery")
    stop_reason = data.get("stop_reason")
    return Schedule(
        t0=_number(data, "t0", "schedule"),
        steps=steps,
        recovery=recovery,
        stop_reason="" if stop_reason is None else str(stop_reason),
    )


def _step_from_json(data: Any, where: str) -> Step:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a JSON object, got {type(data).__name__}")
    users = _required(data, "users", where)
    if isinstance(users, bool) or not isinstance(users, int):
        raise ValueError(f"{where}.users must be an integer, got {users!r}")
    try:
        return Step(
            start_s=_number(data, "start_s", where),
            end_s=_number(data, "end_s", where),
            users=users,
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _required(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ValueError(f"{where} is missing {key!r}")
    return data[key]


def _number(data: Mapping[str, Any], key: str, where: str) -> float:
    value = _required(data, key, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}.{key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}.{key} must be finite, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- statistics


def percentile(values: Iterable[float], q: float) -> float:
    """Return the q-th percentile (0 <= q <= 100) by linear interpolation.

    The values are sorted and the rank ``q / 100 * (n - 1)`` is interpolated
    between its two neighbours (numpy's default "linear" method), so p0 is
    the minimum, p50 the median and p100 the maximum. No values, or q
    outside 0..100, raise ValueError. Locust's own percentiles round times
    into buckets, so small differences from its report are expected.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values is undefined")
    return _percentile_of_sorted(ordered, q)


def _percentile_of_sorted(ordered: Sequence[float], q: float) -> float:
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in 0..100, got {q}")
    rank = q / 100 * (len(ordered) - 1)
    below = math.floor(rank)
    fraction = rank - below
    low = ordered[below]
    if fraction == 0:
        return low
    high = ordered[below + 1]
    # Clamp: float rounding could land a hair outside the pair and break
    # monotonicity in q.
    return min(max(low + (high - low) * fraction, low), high)


def _percentile_or_none(ordered: Sequence[float], q: float) -> float | None:
    return _percentile_of_sorted(ordered, q) if ordered else None


def _mean_or_none(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.fmean(present) if present else None


def _ratio(part: int, whole: int) -> float:
    # No requests means nothing failed; the count says there was no evidence.
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class Summary(_AsDict):
    """Counts, throughput and latency of a set of requests.

    Latency covers every completed request, failed or not, as Locust's own
    statistics do. ``throughput_rps`` is None for a zero-length window;
    latency fields are None without requests; the server-side means are
    None when no request reported that timing.
    """

    count: int
    failures: int
    failure_ratio: float
    window_s: float
    throughput_rps: float | None
    mean_ms: float | None
    min_ms: float | None
    max_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_wait_ms: float | None
    mean_generate_ms: float | None
    mean_sort_ms: float | None


def summarize(requests: Sequence[Request], window_s: float) -> Summary:
    """Summarize requests that completed over a window of ``window_s`` seconds.

    The window is given by the caller, never inferred from the first and
    last request, so that a quiet start or end lowers the throughput.
    """
    if window_s < 0:
        raise ValueError(f"window_s must be >= 0, got {window_s}")
    times = sorted(request.response_time_ms for request in requests)
    failures = sum(1 for request in requests if not request.ok)
    return Summary(
        count=len(times),
        failures=failures,
        failure_ratio=_ratio(failures, len(times)),
        window_s=window_s,
        throughput_rps=len(times) / window_s if window_s > 0 else None,
        mean_ms=statistics.fmean(times) if times else None,
        min_ms=times[0] if times else None,
        max_ms=times[-1] if times else None,
        p50_ms=_percentile_or_none(times, 50),
        p95_ms=_percentile_or_none(times, 95),
        p99_ms=_percentile_or_none(times, 99),
        mean_wait_ms=_mean_or_none(request.wait_ms for request in requests),
        mean_generate_ms=_mean_or_none(request.generate_ms for request in requests),
        mean_sort_ms=_mean_or_none(request.sort_ms for request in requests),
    )


def _started_between(
    requests: Iterable[Request], origin: float, low_s: float, high_s: float
) -> list[Request]:
    """Return requests sent in ``[origin + low_s, origin + high_s)``."""
    return [r for r in requests if low_s <= r.start - origin < high_s]


def _bin_count(span_s: float, bin_s: float, full_only: bool) -> int:
    bins = round(span_s / bin_s, _BIN_COUNT_DIGITS)
    return math.floor(bins) if full_only else math.ceil(bins)


def _bin_by_start(
    requests: Iterable[Request], origin: float, bin_s: float, bins: int
) -> list[list[Request]]:
    """Group requests into ``bins`` bins of ``bin_s`` from ``origin`` by start."""
    grouped: list[list[Request]] = [[] for _ in range(bins)]
    for request in requests:
        offset = request.start - origin
        if offset < 0:
            continue
        index = int(offset // bin_s)
        if index < bins:
            grouped[index].append(request)
    return grouped


# ---------------------------------------------------------------- steps


@dataclass(frozen=True)
class StepStats(_AsDict):
    """What one step delivered in its counted window.

    ``start_s``/``end_s`` are the step's bounds from t0; requests sent in
    ``[window_start_s, end_s)`` are counted, the settle time before that
    is left out as ramp-up.
    """

    index: int
    users: int
    start_s: float
    end_s: float
    window_start_s: float
    window_s: float
    count: int
    failures: int
    failure_ratio: float
    throughput_rps: float
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def step_stats(
    requests: Sequence[Request], schedule: Schedule, rules: Rules = DEFAULT_RULES
) -> list[StepStats]:
    """Summarize each step by the requests sent in its counted window.

    A request belongs to the step in which it was sent. The first
    ``rules.settle_s`` seconds of a step (or ``rules.settle_fraction`` of
    its length when settle_s is None) are skipped, because users are still
    being spawned and queues still filling; throughput is the requests sent
    in the rest of the step divided by that rest's length.
    """
    return [
        _one_step_stats(index, step, requests, schedule.t0, rules)
        for index, step in enumerate(schedule.steps)
    ]


def _one_step_stats(
    index: int, step: Step, requests: Sequence[Request], t0: float, rules: Rules
) -> StepStats:
    window_start_s = step.start_s + _settle_s(index, step, rules)
    window_s = step.end_s - window_start_s
    chosen = _started_between(requests, t0, window_start_s, step.end_s)
    summary = summarize(chosen, window_s)
    return StepStats(
        index=index,
        users=step.users,
        start_s=step.start_s,
        end_s=step.end_s,
        window_start_s=window_start_s,
        window_s=window_s,
        count=summary.count,
        failures=summary.failures,
        failure_ratio=summary.failure_ratio,
        throughput_rps=summary.count / window_s,
        mean_ms=summary.mean_ms,
        p50_ms=summary.p50_ms,
        p95_ms=summary.p95_ms,
        p99_ms=summary.p99_ms,
    )


def _settle_s(index: int, step: Step, rules: Rules) -> float:
    if rules.settle_s is None:
        return rules.settle_fraction * step.duration_s
    if rules.settle_s >= step.duration_s:
        raise ValueError(
            f"settle_s of {rules.settle_s} s leaves nothing to count of "
            f"step {index}, which lasts {step.duration_s} s"
        )
    return rules.settle_s


def baseline_p95(steps: Sequence[StepStats]) -> float | None:
    """Return the p95 of the first step that has requests, the calm reference."""
    for step in steps:
        if step.p95_ms is not None:
            return step.p95_ms
    return None


# ---------------------------------------------------------------- threshold


@dataclass(frozen=True)
class Threshold(_AsDict):
    """The saturation point, or with ``reached=False`` a lower bound for it."""

    reached: bool
    users: int
    throughput_rps: float
    p95_ms: float | None
    step_index: int
    peak_rps: float


def find_saturation(steps: Sequence[StepStats], rules: Rules = DEFAULT_RULES) -> Threshold | None:
    """Find the smallest load at which throughput stops growing.

    With steps ordered by users and ``peak`` the highest step throughput, the
    threshold is the first step that (1) delivers at least
    ``(1 - plateau_tolerance) * peak`` and (2) is confirmed by the next step,
    whose throughput grows by less than ``min_gain`` relative to it (a fall
    counts). A candidate that fails (2) is passed over for the next one.
    Comparing with the peak rather than with the neighbour keeps a noisy
    plateau from stopping the search too early or too late; a throughput
    that falls after the peak still yields the peak region as threshold.

    If no step qualifies, typically because throughput was still growing at
    the last step, or there is only one step, the result has
    ``reached=False`` and describes the last step: a lower bound. None
    means there is nothing to judge: no steps, or zero throughput in all.
    """
    ordered = sorted(steps, key=lambda step: step.users)
    if not ordered:
        return None
    peak = max(step.throughput_rps for step in ordered)
    if peak <= 0:
        return None

    floor_rps = (1 - rules.plateau_tolerance) * peak
    for current, following in zip(ordered, ordered[1:]):
        near_peak = current.throughput_rps >= floor_rps
        if near_peak and _gain(current, following) < rules.min_gain:
            return _threshold(current, peak, reached=True)
    return _threshold(ordered[-1], peak, reached=False)


def _gain(current: StepStats, following: StepStats) -> float:
    # Only called for a step near a positive peak, so the divisor is > 0.
    return (following.throughput_rps - current.throughput_rps) / current.throughput_rps


def _threshold(step: StepStats, peak: float, reached: bool) -> Threshold:
    return Threshold(
        reached=reached,
        users=step.users,
        throughput_rps=step.throughput_rps,
        p95_ms=step.p95_ms,
        step_index=step.index,
        peak_rps=peak,
    )


# ---------------------------------------------------------------- breaking point


@dataclass(frozen=True)
class Break(_AsDict):
    """The first broken step and the rule(s) it broke, joined by '+'."""

    step_index: int
    users: int
    rule: str
    failure_ratio: float
    p95_ms: float | None
    throughput_rps: float


def find_breaking_point(steps: Sequence[StepStats], rules: Rules = DEFAULT_RULES) -> Break | None:
    """Return the first step, in the order run, that broke a rule.

    A step breaks when its failure ratio exceeds ``max_failure_ratio``
    ("failures"), when its p95 exceeds ``p95_target_ms`` ("latency", only
    when a target is set), or when it had users but not one request sent in
    its counted window completed ("no_responses": a hung server). Both of
    the first two may hold at once ("failures+latency"). None means the
    breaking point was not reached up to the last step.
    """
    for step in steps:
        broken = _broken_rules(step, rules)
        if broken:
            return Break(
                step_index=step.index,
                users=step.users,
                rule="+".join(broken),
                failure_ratio=step.failure_ratio,
                p95_ms=step.p95_ms,
                throughput_rps=step.throughput_rps,
            )
    return None


def _broken_rules(step: StepStats, rules: Rules) -> list[str]:
    if step.users > 0 and step.count == 0:
        return [RULE_NO_RESPONSES]
    broken = []
    if step.failure_ratio > rules.max_failure_ratio:
        broken.append(RULE_FAILURES)
    target = rules.p95_target_ms
    if target is not None and step.p95_ms is not None and step.p95_ms > target:
        broken.append(RULE_LATENCY)
    return broken


# ---------------------------------------------------------------- recovery


@dataclass(frozen=True)
class RecoveryBin(_AsDict):
    """One bin of the recovery phase; ``start_s`` counts from the drop."""

    start_s: float
    count: int
    failures: int
    p95_ms: float | None
    good: bool


@dataclass(frozen=True)
class Recovery(_AsDict):
    """How long after the drop latency came back; ``seconds`` None if never."""

    recovered: bool
    seconds: float | None
    baseline_p95_ms: float
    limit_ms: float
    phase_s: float
    bins: tuple[RecoveryBin, ...]


def find_recovery(
    requests: Sequence[Request],
    schedule: Schedule,
    baseline_p95_ms: float,
    rules: Rules = DEFAULT_RULES,
) -> Recovery:
    """Measure the time from the load drop until the server serves well again.

    Requests sent during the recovery phase are binned by start time into
    ``recovery_bin_s`` bins from the drop (the phase's start; a last,
    shorter bin ends with the phase). A bin is good when it holds at least
    ``min_bin_requests`` requests, none failed, and its p95 is at most
    ``recovery_factor * baseline_p95_ms + recovery_slack_ms``. The server
    recovered at the first good bin that begins ``recovery_confirm_bins``
    consecutive good bins; ``seconds`` is from the drop to that bin's
    start. If no such run completes before the phase ends, ``recovered`` is
    False.

    Raise ValueError when the schedule has no recovery phase or the
    baseline is not positive.
    """
    phase = schedule.recovery
    if phase is None:
        raise ValueError("schedule has no recovery phase: the run ended before the drop")
    if not baseline_p95_ms > 0:
        raise ValueError(f"baseline_p95_ms must be > 0, got {baseline_p95_ms}")

    limit_ms = rules.recovery_factor * baseline_p95_ms + rules.recovery_slack_ms
    bins = _recovery_bins(requests, schedule.t0 + phase.start_s, phase, limit_ms, rules)
    first = _first_run_start([item.good for item in bins], rules.recovery_confirm_bins)
    return Recovery(
        recovered=first is not None,
        seconds=None if first is None else bins[first].start_s,
        baseline_p95_ms=baseline_p95_ms,
        limit_ms=limit_ms,
        phase_s=phase.duration_s,
        bins=tuple(bins),
    )


def _recovery_bins(
    requests: Sequence[Request], drop: float, phase: Step, limit_ms: float, rules: Rules
) -> list[RecoveryBin]:
    count = _bin_count(phase.duration_s, rules.recovery_bin_s, full_only=False)
    grouped = _bin_by_start(requests, drop, rules.recovery_bin_s, count)
    return [
        _recovery_bin(index * rules.recovery_bin_s, members, limit_ms, rules)
        for index, members in enumerate(grouped)
    ]


def _recovery_bin(
    start_s: float, members: Sequence[Request], limit_ms: float, rules: Rules
) -> RecoveryBin:
    summary = summarize(members, rules.recovery_bin_s)
    good = (
        summary.count >= rules.min_bin_requests
        and summary.failures == 0
        and summary.p95_ms is not None
        and summary.p95_ms <= limit_ms
    )
    return RecoveryBin(
        start_s=start_s,
        count=summary.count,
        failures=summary.failures,
        p95_ms=summary.p95_ms,
        good=good,
    )


def _first_run_start(flags: Sequence[bool], length: int) -> int | None:
    """Return where the first run of ``length`` True flags starts."""
    run = 0
    for index, flag in enumerate(flags):
        run = run + 1 if flag else 0
        if run == length:
            return index - length + 1
    return None


# ---------------------------------------------------------------- load test


@dataclass(frozen=True)
class LoadSummary(_AsDict):
    """A held load: its steadiness, its drift, and the ramp-up apart.

    ``bin_rps`` holds the throughput of each full ``bin_s`` bin of the hold
    (a trailing partial bin is dropped, it would read low). ``stdev_rps`` is
    the sample standard deviation of those bins and ``cv`` is stdev / mean;
    both need two bins. The p95 drift compares requests sent in the first
    third of the hold with those sent in the last third.
    """

    hold: Summary
    ramp: Summary
    bin_s: float
    bin_rps: tuple[float, ...]
    mean_rps: float | None
    stdev_rps: float | None
    cv: float | None
    p95_first_third_ms: float | None
    p95_last_third_ms: float | None
    p95_drift_ratio: float | None
    p95_drift_ms: float | None


def load_test_summary(
    requests: Sequence[Request],
    hold_start: float,
    hold_end: float,
    rules: Rules = DEFAULT_RULES,
    run_start: float | None = None,
) -> LoadSummary:
    """Summarize a load test held from ``hold_start`` to ``hold_end`` (epoch s).

    Requests sent before ``hold_start`` form the ramp-up, summarized apart
    over ``hold_start - run_start`` seconds when ``run_start`` is given
    (without it the ramp's throughput is None). Requests sent after
    ``hold_end`` are ignored.
    """
    if not hold_end > hold_start:
        raise ValueError(f"hold_end ({hold_end}) must be after hold_start ({hold_start})")
    duration_s = hold_end - hold_start
    held = _started_between(requests, hold_start, 0.0, duration_s)
    ramp = [r for r in requests if r.start < hold_start]
    ramp_window_s = 0.0 if run_start is None else max(hold_start - run_start, 0.0)

    bin_rps = _bin_throughputs(held, hold_start, duration_s, rules.load_bin_s)
    first_p95, last_p95 = _third_p95s(held, hold_start, duration_s)
    mean_rps = statistics.fmean(bin_rps) if bin_rps else None
    stdev_rps = statistics.stdev(bin_rps) if len(bin_rps) >= 2 else None
    return LoadSummary(
        hold=summarize(held, duration_s),
        ramp=summarize(ramp, ramp_window_s),
        bin_s=rules.load_bin_s,
        bin_rps=bin_rps,
        mean_rps=mean_rps,
        stdev_rps=stdev_rps,
        cv=_cv(mean_rps, stdev_rps),
        p95_first_third_ms=first_p95,
        p95_last_third_ms=last_p95,
        p95_drift_ratio=_drift_ratio(first_p95, last_p95),
        p95_drift_ms=_drift_ms(first_p95, last_p95),
    )


def _bin_throughputs(
    held: Sequence[Request], hold_start: float, duration_s: float, bin_s: float
) -> tuple[float, ...]:
    count = _bin_count(duration_s, bin_s, full_only=True)
    grouped = _bin_by_start(held, hold_start, bin_s, count)
    return tuple(len(members) / bin_s for members in grouped)


def _third_p95s(
    held: Sequence[Request], hold_start: float, duration_s: float
) -> tuple[float | None, float | None]:
    third_s = duration_s / 3
    first = _started_between(held, hold_start, 0.0, third_s)
    last = _started_between(held, hold_start, duration_s - third_s, duration_s)
    return (
        _percentile_or_none(sorted(r.response_time_ms for r in first), 95),
        _percentile_or_none(sorted(r.response_time_ms for r in last), 95),
    )


def _cv(mean: float | None, stdev: float | None) -> float | None:
    if mean is None or stdev is None or mean <= 0:
        return None
    return stdev / mean


def _drift_ms(first: float | None, last: float | None) -> float | None:
    if first is None or last is None:
        return None
    return last - first


def _drift_ratio(first: float | None, last: float | None) -> float | None:
    if first is None or last is None or first <= 0:
        return None
    return last / first


# ---------------------------------------------------------------- growth fit


@dataclass(frozen=True)
class Fit(_AsDict):
    """``time ~= exp(intercept) * n ** exponent``, fitted in log-log space.

    ``intercept`` is the natural log of the time at n = 1, in the unit of the
    times given; ``r_squared`` is of the log-log fit.
    """

    exponent: float
    intercept: float
    r_squared: float
    points: int


def fit_exponent(ns: Sequence[float], times: Sequence[float]) -> Fit:
    """Fit the growth exponent: the least-squares slope of log(time) on log(n).

    An O(n) algorithm gives about 1, O(n^2) about 2, O(n log n) a little
    above 1 (about 1.1 for n from 1,000 to 10,000). Raise ValueError for
    unequal lengths, non-positive or non-finite values, or fewer than two
    distinct n.
    """
    _check_fit_input(ns, times)
    xs = [math.log(n) for n in ns]
    ys = [math.log(t) for t in times]
    slope, intercept = statistics.linear_regression(xs, ys)
    return Fit(
        exponent=slope,
        intercept=intercept,
        r_squared=_r_squared(xs, ys, slope, intercept),
        points=len(xs),
    )


def _check_fit_input(ns: Sequence[float], times: Sequence[float]) -> None:
    if len(ns) != len(times):
        raise ValueError(
            f"fit_exponent needs one time per n, got {len(ns)} n and {len(times)} times"
        )
    for label, values in (("n", ns), ("time", times)):
        for index, value in enumerate(values):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"fit_exponent needs positive, finite values; "
                    f"{label} at index {index} is {value!r}"
                )
    if len(set(ns)) < 2:
        raise ValueError(f"fit_exponent needs at least two distinct n, got {sorted(set(ns))}")


def _r_squared(xs: Sequence[float], ys: Sequence[float], slope: float, intercept: float) -> float:
    mean_y = statistics.fmean(ys)
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys))
    # Constant times are fitted exactly by a flat line.
    if total == 0:
        return 1.0
    return 1 - residual / total


# ---------------------------------------------------------------- repeats


@dataclass(frozen=True)
class Spread(_AsDict):
    """How far repeated measurements of one cell disagree.

    ``relative`` is ``(maximum - minimum) / median``: with the three to five
    repeats a cell gets, quartiles would rest on one or two values, while
    the full range shows the worst disagreement. It is 0 for equal values
    and None when the median is 0 but the values differ.
    """

    count: int
    median: float
    minimum: float
    maximum: float
    relative: float | None


def spread(values: Sequence[float]) -> Spread:
    """Describe the spread of repeated measurements; no values raise ValueError."""
    if not values:
        raise ValueError("spread of no values is undefined")
    median = statistics.median(values)
    low, high = min(values), max(values)
    return Spread(
        count=len(values),
        median=median,
        minimum=low,
        maximum=high,
        relative=_relative_range(low, high, median),
    )


def _relative_range(low: float, high: float, median: float) -> float | None:
    if high == low:
        return 0.0
    if median == 0:
        return None
    return (high - low) / abs(median)


def is_too_wide(result: Spread, rules: Rules = DEFAULT_RULES) -> bool:
    """Tell whether repeats disagree by more than ``rules.max_spread``."""
    if result.relative is None:
        return True
    return result.relative > rules.max_spread
