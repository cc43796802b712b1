"""Evaluate declared checks: every Column metric in one aggregation over the clean rows, then judge each."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column

from altaviz.quality.config import CheckConfig, QualityConfig
from altaviz.quality.registry import Aggregate, CheckSpec, QualityInputs, Skipped, describe, get_check


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check result (a multi-result check yields one per item, named `<name>.<item>`)."""

    name: str
    check: str
    metric: float | None
    threshold: float
    comparison: str
    passed: bool
    level: str
    message: str
    note: str | None = None


@dataclass(frozen=True)
class _Pending:
    """A result whose metric may still be an unevaluated aggregate Column."""

    name: str
    declared: CheckConfig
    spec: CheckSpec
    value: Any


def _expand(declared: CheckConfig, inputs: QualityInputs) -> list[_Pending]:
    """Call the check function and flatten a dict of results into `<name>.<key>` entries."""
    spec = get_check(declared.check)
    out = spec.function(inputs, declared.params)
    if isinstance(out, Mapping):
        return [_Pending(f"{declared.name}.{key}", declared, spec, value) for key, value in out.items()]
    return [_Pending(declared.name, declared, spec, out)]


def _as_float(value: Any) -> float | None:
    """A collected metric as a float; null and NaN both mean "undefined"."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _judge(pending: _Pending, value: Any, note: str | None = None) -> CheckResult:
    """Compare one metric with its threshold and say what happened (and, with a `note`, how it came about)."""
    declared, spec = pending.declared, pending.spec

    def result(metric: float | None, passed: bool, message: str) -> CheckResult:
        return CheckResult(pending.name, declared.check, metric, declared.threshold, spec.comparison, passed,
                           declared.level, f"{message}: {note}" if note else message, note)

    if isinstance(value, Skipped):
        return result(None, True, value.reason)
    metric = _as_float(value)
    if metric is None:
        return result(None, False, spec.when_null)
    passed = spec.compare(metric, declared.threshold)
    return result(metric, passed, describe(metric, spec.comparison, declared.threshold, passed))


def _aggregated(pending: list[_Pending], inputs: QualityInputs) -> dict[int, tuple[Any, str | None]]:
    """Per pending index with an aggregate metric: its collected value and note, one Spark action per frame."""
    frames: dict[int, tuple[Any, list[tuple[int, Aggregate]]]] = {}
    for i, p in enumerate(pending):
        if isinstance(p.value, Column | Aggregate):
            aggregate = p.value if isinstance(p.value, Aggregate) else Aggregate(p.value)
            frame = inputs.clean if aggregate.over is None else aggregate.over
            frames.setdefault(id(frame), (frame, []))[1].append((i, aggregate))
    collected: dict[int, tuple[Any, str | None]] = {}
    for frame, items in frames.values():
        columns = [a.value.alias(f"_q{i}") for i, a in items]
        columns += [a.note.alias(f"_n{i}") for i, a in items if a.note is not None]
        row = frame.agg(*columns).collect()[0].asDict()
        collected.update({i: (row[f"_q{i}"], row.get(f"_n{i}")) for i, _ in items})
    return collected


def evaluate(inputs: QualityInputs, config: QualityConfig) -> list[CheckResult]:
    """Run every declared check against one run's inputs.

    Checks that return aggregate Columns are computed together in a single `inputs.clean.agg(...)` (one
    Spark action however many checks there are), those aggregating another frame in one action per frame;
    checks computed from the counts run no Spark at all.

    Args:
        inputs: The run's clean rows, the stored fleet, counts, expected units, `as_of` and trailing history.
        config: The declared checks, e.g. from `load_quality_config()`.

    Returns:
        One result per check (per item for multi-result checks), in config order.
    """
    pending = [item for declared in config.checks for item in _expand(declared, inputs)]
    collected = _aggregated(pending, inputs)
    return [_judge(p, *collected[i]) if i in collected else _judge(p, p.value) for i, p in enumerate(pending)]
