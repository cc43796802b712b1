"""What results turn into: the block gate, the human report, and rows for the quality_checks table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from altaviz.errors import AltavizError
from altaviz.quality import CheckResult, QualityGateError, enforce, failed_blocks, format_report, results_frame
from altaviz.schemas import quality_checks_schema

FLEET_OK = CheckResult("fleet_completeness", "fleet_completeness", 0.973, 0.85, ">=", True, "block", "0.973 >= 0.85")
FLEET_LOW = CheckResult("fleet_completeness", "fleet_completeness", 0.8125, 0.85, ">=", False, "block",
                        "0.812 is below the minimum 0.85")
FRESHNESS_NULL = CheckResult("freshness", "freshness", None, 15.0, "<=", False, "block",
                             "no clean readings with a timestamp in this run")
STALE_WARN = CheckResult("freshness", "freshness", 22.5, 15.0, "<=", False, "warn", "22.500 is above the maximum 15")
VOLUME_SKIPPED = CheckResult("volume_consistency", "volume_consistency", None, 0.5, "abs_dev<=", True, "warn",
                             "no trailing runs to compare this run's volume with")


@pytest.mark.parametrize("results", [
    [],
    [FLEET_OK, VOLUME_SKIPPED],
    [FLEET_OK, STALE_WARN],
], ids=["no_results", "all_passed", "only_warn_failed"])
def test_enforce_lets_runs_without_failed_block_checks_through(results):
    """Passing checks and failed warn checks never stop the run."""
    enforce(results)
    assert failed_blocks(results) == []


def test_enforce_raises_naming_each_failed_block_check():
    """The gate error is an AltavizError listing each failed block check's metric, comparison and threshold."""
    results = [FLEET_LOW, STALE_WARN, FRESHNESS_NULL]
    assert failed_blocks(results) == [FLEET_LOW, FRESHNESS_NULL]
    with pytest.raises(QualityGateError) as raised:
        enforce(results)
    message = str(raised.value)
    assert isinstance(raised.value, AltavizError) and raised.value.failures == (FLEET_LOW, FRESHNESS_NULL)
    assert "\n" not in message
    assert "fleet_completeness failed 0.812 >= 0.85" in message
    assert "freshness failed null <= 15 (no clean readings with a timestamp in this run)" in message
    assert "22.500" not in message


def test_format_report_has_one_line_per_result():
    """PASS/FAIL, name, metric, comparison, threshold and level; a null metric also says why."""
    assert format_report([FLEET_OK, STALE_WARN, VOLUME_SKIPPED]) == [
        "PASS  fleet_completeness  0.973 >= 0.85  (block)",
        "FAIL  freshness  22.500 <= 15  (warn)",
        "PASS  volume_consistency  null abs_dev<= 0.5  (warn)  no trailing runs to compare this run's volume with",
    ]


def test_format_report_says_how_a_noted_metric_came_about():
    """A check that explains its metric (fleet completeness: which units, over which hour) shows the note."""
    noted = CheckResult("fleet_completeness", "fleet_completeness", 0.25, 0.85, ">=", False, "block",
                        "0.250 is below the minimum 0.85: 1 of 4 units in service sent a clean reading",
                        "1 of 4 units in service sent a clean reading")
    assert format_report([noted]) == [
        "FAIL  fleet_completeness  0.250 >= 0.85  (block)  1 of 4 units in service sent a clean reading"]


def test_results_frame_has_the_quality_checks_schema(spark):
    """Rows carry the run id, each result, checked_at in UTC and its UTC date, with exactly the table schema."""
    checked_at = datetime(2024, 6, 1, 21, 30, tzinfo=timezone(timedelta(hours=-5)))  # 02:30 UTC next day
    frame = results_frame(spark, [FLEET_OK, FRESHNESS_NULL], run_id="run-42", checked_at=checked_at)
    assert frame.schema == quality_checks_schema()
    rows = [r.asDict() for r in frame.collect()]
    assert [(r["check_name"], r["metric"], r["passed"], r["level"]) for r in rows] == [
        ("fleet_completeness", 0.973, True, "block"), ("freshness", None, False, "block")]
    assert {(r["run_id"], r["checked_at"].replace(tzinfo=UTC), r["check_date"]) for r in rows} == {
        ("run-42", checked_at.astimezone(UTC), date(2024, 6, 2))}


def test_results_frame_of_no_results_is_empty_with_the_schema(spark):
    """No results still gives a frame with the table schema (so a write creates the right table)."""
    frame = results_frame(spark, [], run_id="run-0", checked_at=datetime(2024, 6, 1, tzinfo=UTC))
    assert frame.schema == quality_checks_schema()
    assert frame.isEmpty()


def test_results_frame_refuses_a_naive_checked_at(spark):
    """checked_at must carry a time zone: the table stores UTC instants."""
    with pytest.raises(ValueError, match="timezone-aware"):
        results_frame(spark, [FLEET_OK], run_id="run-1", checked_at=datetime(2024, 6, 1))
