"""Evaluate declared checks: every Column metric in one aggregation over the clean rows, then judge each."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column

from altaviz.quality.config import CheckConfig, QualityConfig
from altaviz.quality.registry import CheckSpec, QualityInputs, Skipped, describe, get_check


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


def _judge(pending: _Pending, value: Any) -> CheckResult:
    """Compare one metric with its threshold and say what happened."""
    declared, spec = pending.declared, pending.spec

    def result(metric: float | None, passed: bool, message: str) -> CheckResult:
        return CheckResult(pending.name, declared.check, metric, declared.threshold, spec.comparison, passed,
                           declared.level, message)

    if isinstance(value, Skipped):
        return result(None, True, value.reason)
    metric = _as_float(value)
    if metric is None:
        return result(None, False, spec.when_null)
    passed = spec.compare(metric, declared.threshold)
    return result(metric, passed, describe(metric, spec.comparison, declared.threshold, passed))


def evaluate(inputs: QualityInputs, config: QualityConfig) -> list[CheckResult]:
    """Run every declared check against one run's inputs.

    Checks that return aggregate Columns are computed together in a single `inputs.clean.agg(...)` (one
    Spark action however many checks there are); checks computed from the counts run no Spark at all.

    Args:
        inputs: The run's clean rows, counts, expected units, `as_of` and trailing history.
        config: The declared checks, e.g. from `load_quality_config()`.

    Returns:
        One result per check (per item for multi-result checks), in config order.
    """
    pending = [item for declared in config.checks for item in _expand(declared, inputs)]
    aggregates = {f"_q{i}": p.value for i, p in enumerate(pending) if isinstance(p.value, Column)}
    collected: Mapping[str, Any] = {}
    if aggregates:
        row = inputs.clean.agg(*[column.alias(alias) for alias, column in aggregates.items()]).collect()[0]
        collected = row.asDict()
    return [_judge(p, collected[f"_q{i}"] if f"_q{i}" in aggregates else p.value) for i, p in enumerate(pending)]
