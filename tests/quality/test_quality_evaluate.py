"""evaluate: every declared check in config order, with all Column metrics from one aggregation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from quality_data import AS_OF, reading

from altaviz.quality import CheckConfig, QualityConfig, QualityInputs, evaluate, load_quality_config
from altaviz.schemas import SENSOR_COLUMNS


class RecordingFrame:
    """Stands in for the clean DataFrame, recording each attribute the engine uses before delegating."""

    def __init__(self, frame) -> None:
        self._frame = frame
        self.used: list[str] = []

    def __getattr__(self, name: str):
        self.used.append(name)
        return getattr(self._frame, name)


def test_evaluate_runs_the_runs_metrics_in_one_aggregation_and_judges_the_fleet_on_what_is_stored(
        make_inputs, clean_frame):
    """With the shipped config, the run's clean rows are touched once, by a single agg; completeness and
    freshness are judged on the fleet's stored readings in event time, not on what this run happened to bring."""
    rows = [reading("C001", minutes_before=2)]  # this run: one unit's file
    stored = [reading(f"C{i:03d}", minutes_before=2 + i) for i in range(19)] + [reading("C019", minutes_before=61)]
    spy = RecordingFrame(clean_frame(rows))
    inputs = make_inputs(rows, clean=spy, raw_rows=2, rejected_rows=1, trailing_clean_counts=(1, 1),
                         fleet=clean_frame(stored))
    results = evaluate(inputs, load_quality_config())
    assert spy.used == ["agg"]
    assert [r.name for r in results] == [
        "fleet_completeness", "freshness", *[f"sensor_completeness.{s}" for s in SENSOR_COLUMNS],
        "volume_consistency", "pressure_consistency", "reject_rate"]
    metrics = {r.name: r.metric for r in results}
    assert metrics["fleet_completeness"] == pytest.approx(19 / 20)  # C019's reading is outside the hour
    assert metrics["freshness"] == pytest.approx(2.0)
    assert metrics["volume_consistency"] == pytest.approx(1.0)
    assert metrics["reject_rate"] == pytest.approx(1 / 2)
    by_name = {r.name: r for r in results}
    assert by_name["fleet_completeness"].message == (
        "0.950 >= 0.85: 19 of 20 units in service sent a clean reading between 2024-06-01 11:00 UTC and "
        "2024-06-01 12:00 UTC")
    assert by_name["freshness"].message.endswith("newest stored clean reading at 2024-06-01 11:58 UTC, "
                                                 "as of 2024-06-01 12:00 UTC")
    assert [r.name for r in results if not r.passed] == ["reject_rate"]


def test_evaluate_without_column_checks_runs_no_spark(make_inputs, clean_frame):
    """Checks computed from the counts alone never touch the clean DataFrame."""
    spy = RecordingFrame(clean_frame([]))
    config = QualityConfig((CheckConfig("reject_rate", "reject_rate", 0.05, "block"),
                            CheckConfig("volume", "volume_consistency", 0.5, "warn")))
    results = evaluate(make_inputs(clean=spy, raw_rows=10, rejected_rows=1), config)
    assert spy.used == []
    assert [(r.name, r.passed, r.level) for r in results] == [("reject_rate", False, "block"),
                                                             ("volume", True, "warn")]


def test_failed_result_carries_a_message_naming_metric_and_threshold(make_inputs, run_check):
    """A failing check says how its metric missed the threshold."""
    (result,) = run_check(make_inputs(raw_rows=100, rejected_rows=8), "reject_rate", 0.05, "block")
    assert (result.passed, result.level, result.message) == (False, "block", "0.080 is above the maximum 0.05")


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"as_of": datetime(2024, 6, 1, 12)}, "as_of must be timezone-aware"),
    ({"raw_rows": -1}, "raw_rows must be a non-negative integer"),
    ({"trailing_clean_counts": (10, -2)}, "trailing_clean_counts must be non-negative integers"),
], ids=["naive_as_of", "negative_count", "negative_trailing_count"])
def test_quality_inputs_reject_impossible_values(overrides, fragment):
    """QualityInputs refuses a naive as_of and negative counts."""
    fields = {"clean": None, "raw_rows": 0, "clean_rows": 0, "rejected_rows": 0, "duplicate_rows": 0,
              "expected_units": 1, "as_of": AS_OF, **overrides}
    with pytest.raises(ValueError, match=fragment):
        QualityInputs(**fields)


def test_quality_inputs_store_as_of_in_utc():
    """An as_of in another zone is kept as the same instant in UTC."""
    local = datetime(2024, 6, 1, 7, 0, tzinfo=timezone(timedelta(hours=-5)))
    inputs = QualityInputs(clean=None, raw_rows=0, clean_rows=0, rejected_rows=0, duplicate_rows=0,
                           expected_units=1, as_of=local)
    assert inputs.as_of == AS_OF and inputs.as_of.tzinfo is not None and inputs.as_of.utcoffset() == timedelta(0)
