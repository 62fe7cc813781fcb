"""Run cells more than once, and fold the repeats of a cell into one row.

A cell run K times leaves K records with the same id and `repeat` 1..K.
The runner runs every cell once, then all of them again, so slow drift of
the machine (heat, a neighbour's job) spreads over all cells instead of
landing on the last ones. The report then shows one row per cell: the
median over its repeats of each number, and how far the repeats' RPS
disagree, flagged when the spread is too wide to trust.
"""

import functools
import logging
import statistics
from collections.abc import Sequence
from dataclasses import fields, make_dataclass

from bench.analysis import DEFAULT_RULES, Rules, Spread, is_too_wide, spread
from bench.arms import Cell
from bench.reference import MISSING, Column

logger = logging.getLogger(__name__)

# Dicts in a record that are not measurements; every other dict (stats,
# probe, server_timing, and any a kind adds) gets medians key by key.
NOT_MEASURED = frozenset({"flags", "files", "server_env", "failure_causes", "repeats"})
SPREAD_KEY = "rps_spread"  # (max - min) / median of the repeats' RPS, in merged stats
SPREAD_FLAG = "spread_too_wide"
REPEAT_FAILED_FLAG = "repeat_failed"
MERGED_MARK = "repeats_merged"  # set on results whose cells are already merged


class Repeated:
    """What a cell gains in one round of a repeated run: its repeat and a label.

    Mixed into a subclass of the cell's own class (see `repeated`), so the
    cell keeps its id, path, tag and user class, whatever kind of cell it is.
    """

    repeat: int
    repeats: int

    @property
    def label(self) -> str:
        if self.repeats == 1:
            return super().label
        return f"{super().label} (repeat {self.repeat}/{self.repeats})"


def round_robin(cells: Sequence[Cell], repeats: int) -> list[Cell]:
    """Every cell once per round, `repeats` rounds; the cells as they are for one."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if repeats == 1:
        return list(cells)
    return [repeated(cell, repeat, repeats) for repeat in range(1, repeats + 1) for cell in cells]


def repeated(cell: Cell, repeat: int, repeats: int) -> Cell:
    """The cell, as the `repeat`-th of `repeats` rounds."""
    values = {item.name: getattr(cell, item.name) for item in fields(cell) if item.init}
    return _repeated_class(type(cell))(**values, repeat=repeat, repeats=repeats)


@functools.cache
def _repeated_class(cell_class: type) -> type:
    return make_dataclass(
        f"Repeated{cell_class.__name__}",
        [("repeat", int, 1), ("repeats", int, 1)],
        bases=(Repeated, cell_class),
        frozen=True,
    )


def repeat_number(cell: Cell) -> int:
    return cell.repeat if isinstance(cell, Repeated) else 1


def folder_name(cell: Cell) -> str:
    """The cell's folder in the run folder; each repeat gets its own below it."""
    name = cell.id.replace("/", "_")
    if isinstance(cell, Repeated) and cell.repeats > 1:
        return f"{name}/repeat{cell.repeat}"
    return name


# Merging --------------------------------------------------------------------


def merge_repeats(results: dict, rules: Rules = DEFAULT_RULES) -> dict:
    """The results with one record per cell id, medians over its repeats.

    Results of a run without repeats come back unchanged, so its report
    looks exactly as before. Merged results are marked and also come back
    unchanged, so merging twice is harmless.
    """
    if results.get(MERGED_MARK) or not has_repeats(results):
        return results
    groups: dict[str, list[dict]] = {}
    for record in results.get("cells") or []:
        groups.setdefault(record.get("id"), []).append(record)
    merged = [merge_cell(records, rules) for records in groups.values()]
    return {**results, "cells": merged, MERGED_MARK: True, "max_spread": rules.max_spread}


def has_repeats(results: dict) -> bool:
    ids = [record.get("id") for record in results.get("cells") or []]
    return (results.get("repeats") or 1) > 1 or len(ids) != len(set(ids))


def merge_cell(records: list[dict], rules: Rules = DEFAULT_RULES) -> dict:
    """One cell's repeats as one record: medians, RPS spread, every flag."""
    records = sorted(records, key=lambda record: record.get("repeat") or 1)
    ok = [record for record in records if record.get("status") == "ok"]
    merged = {key: value for key, value in (ok or records)[0].items() if key != "repeat"}
    merged["flags"] = merged_flags(records)
    merged["repeats"] = {"count": len(records), "ok": len(ok), "rps": None}
    if not ok:
        merged["error"] = "; ".join(f"{_repeat_name(r)}: {r.get('error')}" for r in records)
        return merged

    for key in measured_keys(ok):
        merged[key] = median_values([record.get(key) for record in ok])
    if any("failure_causes" in record for record in ok):
        merged["failure_causes"] = summed_causes(ok)
    _add_rps_spread(merged, ok, rules)
    if len(ok) < len(records):
        merged["flags"][REPEAT_FAILED_FLAG] = _failed_repeats_reason(records, len(ok))
    return merged


def measured_keys(records: list[dict]) -> list[str]:
    """The keys whose values are dicts of measurements in any of the records."""
    keys = dict.fromkeys(key for record in records for key in record)
    return [
        key
        for key in keys
        if key not in NOT_MEASURED and any(isinstance(record.get(key), dict) for record in records)
    ]


def summed_causes(records: list[dict]) -> dict[str, dict[str, int]]:
    """Failure counts by side and kind, added up over the repeats."""
    total: dict[str, dict[str, int]] = {}
    for record in records:
        for side, kinds in (record.get("failure_causes") or {}).items():
            counts = total.setdefault(side, {})
            for kind, count in kinds.items():
                counts[kind] = counts.get(kind, 0) + count
    return total


def median_values(groups: list[dict | None]) -> dict | None:
    """Key by key, the median of the numbers the dicts hold; None when none has one."""
    present = [group for group in groups if group]
    if not present:
        return groups[0] if groups else None
    keys = list(dict.fromkeys(key for group in present for key in group))
    return {key: _median_of(group.get(key) for group in present) for key in keys}


def merged_flags(records: list[dict]) -> dict[str, str]:
    """Every repeat's flags; with several repeats, each reason says which one."""
    reasons: dict[str, list[str]] = {}
    for record in records:
        for name, reason in (record.get("flags") or {}).items():
            shown = reason if len(records) == 1 else f"{_repeat_name(record)}: {reason}"
            reasons.setdefault(name, []).append(shown)
    return {name: "; ".join(texts) for name, texts in reasons.items()}


def rps_spread(records: list[dict]) -> Spread | None:
    values = [
        record["stats"]["rps"]
        for record in records
        if (record.get("stats") or {}).get("rps") is not None
    ]
    return spread(values) if values else None


def _add_rps_spread(merged: dict, ok: list[dict], rules: Rules) -> None:
    result = rps_spread(ok)
    if result is None:
        return
    merged["repeats"]["rps"] = result.as_dict()
    if merged.get("stats") is not None:
        # One value has no spread to show; a dash says so better than 0 %.
        merged["stats"][SPREAD_KEY] = result.relative if result.count > 1 else None
    if result.count > 1 and is_too_wide(result, rules):
        merged["flags"][SPREAD_FLAG] = spread_reason(result, rules)
        logger.warning("%s: %s", merged.get("id"), merged["flags"][SPREAD_FLAG])


def spread_reason(result: Spread, rules: Rules = DEFAULT_RULES) -> str:
    span = (
        "around a median of 0"
        if result.relative is None
        else f"by {format_spread(result.relative)} of the median"
    )
    return (
        f"RPS varied {span} across {result.count} repeats (min {result.minimum:,.1f}, "
        f"median {result.median:,.1f}, max {result.maximum:,.1f}); more than the "
        f"{format_spread(rules.max_spread)} a cell may vary to be trusted"
    )


def _failed_repeats_reason(records: list[dict], ok_count: int) -> str:
    failed = [record for record in records if record.get("status") != "ok"]
    errors = "; ".join(f"{_repeat_name(r)} failed: {r.get('error')}" for r in failed)
    return f"{errors}; the numbers are medians of the other {ok_count}"


def _median_of(values) -> float | int | str | None:
    present = [value for value in values if value is not None]
    numbers = [
        value for value in present if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    if numbers:
        return statistics.median(numbers)
    return present[0] if present else None


def _repeat_name(record: dict) -> str:
    return f"repeat {record.get('repeat') or 1}"


# Rendering --------------------------------------------------------------------


def format_spread(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1%}"


SPREAD_COLUMN = Column(SPREAD_KEY, "RPS spread", format_spread)


def is_merged(results: dict) -> bool:
    return bool(results.get(MERGED_MARK))


def with_spread_column(columns: Sequence[Column]) -> list[Column]:
    """The columns with the RPS spread right after the RPS."""
    chosen: list[Column] = []
    for column in columns:
        chosen.append(column)
        if column.key == "rps":
            chosen.append(SPREAD_COLUMN)
    return chosen


def repeats_note(results: dict) -> str:
    """What a merged table's numbers are, for the line under it."""
    return (
        f"Each number is the median over the cell's {results.get('repeats') or 'several'} "
        "repeats, which ran round-robin (every cell once, then all again) so that slow "
        "drift of the machine spreads over all cells. *RPS spread* is (max − min) / "
        "median of the repeats' RPS."
    )


def spread_rule(results: dict) -> str:
    limit = results.get("max_spread", DEFAULT_RULES.max_spread)
    return (
        f"**Spread**: a repeated cell whose RPS spread is above {format_spread(limit)} "
        f"is flagged `{SPREAD_FLAG}`: its repeats disagree too much for the median to "
        f"stand for the cell. A repeat that failed is flagged `{REPEAT_FAILED_FLAG}`, "
        "and the medians are then of the others."
    )


def load_item(results: dict) -> str | None:
    """The repeats line for the load generator's settings, when there were repeats."""
    count = results.get("repeats") or 1
    if count == 1:
        return None
    return f"repeats: each cell ran {count} times, round-robin over the cells"
