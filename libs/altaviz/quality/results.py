"""What happens with check results: the quality gate, a human report, and rows for the quality_checks table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from altaviz.errors import AltavizError
from altaviz.quality.engine import CheckResult
from altaviz.quality.registry import format_number
from altaviz.schemas import quality_checks_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _requirement(result: CheckResult) -> str:
    """`0.812 >= 0.85`: the metric, the comparison and the threshold."""
    return f"{format_number(result.metric)} {result.comparison} {result.threshold:g}"


class QualityGateError(AltavizError):
    """One or more `block` checks failed: the run must not publish its output."""

    def __init__(self, failures: Sequence[CheckResult]) -> None:
        self.failures = tuple(failures)
        listed = "; ".join(f"{r.name} failed {_requirement(r)}" + (f" ({r.message})" if r.metric is None else "")
                           for r in self.failures)
        super().__init__(f"quality gate blocked the run ({len(self.failures)} block check"
                         f"{'' if len(self.failures) == 1 else 's'} failed): {listed}")


def failed_blocks(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The results that failed and are at level `block`, in order."""
    return [r for r in results if not r.passed and r.level == "block"]


def enforce(results: Iterable[CheckResult]) -> None:
    """Stop the run when any `block` check failed; failed `warn` checks never raise.

    Raises:
        QualityGateError: Naming each failed block check with its metric, comparison and threshold.
    """
    failures = failed_blocks(results)
    if failures:
        raise QualityGateError(failures)


def format_report(results: Iterable[CheckResult]) -> list[str]:
    """One human line per result, e.g. ``PASS  fleet_completeness  0.973 >= 0.85  (block)``.

    A null metric is shown as `null` and followed by the result's message, which says why; a result with a
    note (how its metric came about) is followed by the note.
    """
    lines = []
    for r in results:
        line = f"{'PASS' if r.passed else 'FAIL'}  {r.name}  {_requirement(r)}  ({r.level})"
        lines.append(f"{line}  {r.message}" if r.metric is None else f"{line}  {r.note}" if r.note else line)
    return lines


def results_frame(spark: SparkSession, results: Sequence[CheckResult], *, run_id: str,
                  checked_at: datetime) -> DataFrame:
    """Rows for the `quality_checks` table, with exactly `quality_checks_schema()`.

    Built from an Arrow table (a local relation: no Python workers start).

    Args:
        spark: The session to build the DataFrame in.
        results: The results of `evaluate`.
        run_id: The run the results belong to.
        checked_at: When the checks ran (tz-aware); `check_date` is its UTC date.

    Raises:
        ValueError: `checked_at` has no time zone.
    """
    if checked_at.tzinfo is None or checked_at.utcoffset() is None:
        raise ValueError(f"checked_at must be timezone-aware (got naive {checked_at.isoformat()})")
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = quality_checks_schema()
    at = checked_at.astimezone(UTC)
    columns = {
        "run_id": [run_id] * len(results),
        "check_name": [r.name for r in results],
        "check": [r.check for r in results],
        "metric": [r.metric for r in results],
        "threshold": [r.threshold for r in results],
        "comparison": [r.comparison for r in results],
        "passed": [r.passed for r in results],
        "level": [r.level for r in results],
        "message": [r.message for r in results],
        "checked_at": [at] * len(results),
        "check_date": [at.date()] * len(results),
    }
    table = pa.table(columns, schema=to_arrow_schema(schema))
    return spark.createDataFrame(table, schema=schema)
