"""Each built-in check: its metric, and pass/fail on either side of its threshold."""

from __future__ import annotations

import pytest
from quality_data import reading

from altaviz.quality import get_check
from altaviz.quality.checks import SensorCompletenessParams
from altaviz.schemas import SENSOR_COLUMNS


@pytest.mark.parametrize(("reporting", "metric", "passed"), [
    (17, 0.85, True),
    (16, 0.80, False),
], ids=["at_threshold", "below_threshold"])
def test_fleet_completeness_counts_units_with_a_clean_reading(make_inputs, run_check, reporting, metric, passed):
    """Share of 20 expected units with a clean reading; a unit's repeated readings count once."""
    rows = [reading(f"C{i:03d}") for i in range(reporting)] + [reading("C000", minutes_before=30)]
    (result,) = run_check(make_inputs(rows, expected_units=20), "fleet_completeness", 0.85, "block")
    assert (result.metric, result.passed, result.comparison) == (pytest.approx(metric), passed, ">=")


@pytest.mark.parametrize(("newest_minutes_ago", "passed"), [
    (15.0, True),
    (16.0, False),
], ids=["at_threshold", "stale"])
def test_freshness_is_minutes_from_newest_reading_to_as_of(make_inputs, run_check, newest_minutes_ago, passed):
    """Minutes between the newest clean timestamp and as_of, compared with <= 15."""
    rows = [reading("C001", minutes_before=90), reading("C002", minutes_before=newest_minutes_ago)]
    (result,) = run_check(make_inputs(rows), "freshness", 15)
    assert (result.metric, result.passed) == (pytest.approx(newest_minutes_ago), passed)


@pytest.mark.parametrize(("null_vibrations", "passed"), [
    (1, True),
    (2, False),
], ids=["at_threshold", "below_threshold"])
def test_sensor_completeness_yields_one_result_per_sensor(make_inputs, run_check, null_vibrations, passed):
    """Six results named sensor_completeness.<sensor>; only the sensor with nulls moves."""
    rows = [reading(f"C{i:03d}", vibration_mms=None if i < null_vibrations else 3.0) for i in range(20)]
    results = run_check(make_inputs(rows), "sensor_completeness", 0.95)
    assert [r.name for r in results] == [f"sensor_completeness.{s}" for s in SENSOR_COLUMNS]
    by_name = {r.name: r for r in results}
    vibration = by_name.pop("sensor_completeness.vibration_mms")
    assert (vibration.metric, vibration.passed) == (pytest.approx(1 - null_vibrations / 20), passed)
    assert all(r.metric == 1.0 and r.passed and r.check == "sensor_completeness" for r in by_name.values())


def test_sensor_completeness_params_narrow_the_sensors(make_inputs, run_check):
    """params.sensors limits the results to the sensors listed."""
    params = SensorCompletenessParams(sensors=("gas_flow_mcf",))
    results = run_check(make_inputs([reading()]), "sensor_completeness", 0.95, params=params)
    assert [r.name for r in results] == ["sensor_completeness.gas_flow_mcf"]


@pytest.mark.parametrize(("clean_rows", "passed"), [
    (100, True),
    (150, True),
    (151, False),
    (50, True),
    (49, False),
], ids=["steady", "high_at_threshold", "too_high", "low_at_threshold", "too_low"])
def test_volume_consistency_compares_with_trailing_average(make_inputs, run_check, clean_rows, passed):
    """Ratio to the trailing average passes while |ratio - 1| <= 0.5."""
    inputs = make_inputs(clean_rows=clean_rows, trailing_clean_counts=(100,) * 7)
    (result,) = run_check(inputs, "volume_consistency", 0.5)
    assert (result.metric, result.passed, result.comparison) == (pytest.approx(clean_rows / 100), passed, "abs_dev<=")


def test_volume_consistency_averages_only_the_last_seven_runs(make_inputs, run_check):
    """Runs older than the last seven do not move the average."""
    inputs = make_inputs(clean_rows=100, trailing_clean_counts=(1_000_000, *(100,) * 7))
    (result,) = run_check(inputs, "volume_consistency", 0.5)
    assert (result.metric, result.passed) == (1.0, True)


def test_volume_consistency_without_history_passes_with_null_metric(make_inputs, run_check):
    """With no trailing runs there is nothing to compare: pass, null metric, a message saying so."""
    (result,) = run_check(make_inputs(clean_rows=100), "volume_consistency", 0.5)
    assert (result.metric, result.passed) == (None, True)
    assert "no trailing runs" in result.message


@pytest.mark.parametrize(("inverted", "passed"), [
    (1, True),
    (2, False),
], ids=["at_threshold", "below_threshold"])
def test_pressure_consistency_ignores_rows_missing_a_pressure(make_inputs, run_check, inverted, passed):
    """Share of rows with both pressures where discharge > suction; equal pressures count as inconsistent."""
    rows = [reading(f"C{i % 20:03d}", discharge_pressure_psi=80.0 if i < inverted else 950.0) for i in range(100)]
    rows += [reading("C900", discharge_pressure_psi=None), reading("C901", suction_pressure_psi=None)]
    (result,) = run_check(make_inputs(rows), "pressure_consistency", 0.99)
    assert (result.metric, result.passed) == (pytest.approx(1 - inverted / 100), passed)


@pytest.mark.parametrize(("raw", "rejected", "metric", "passed"), [
    (100, 5, 0.05, True),
    (100, 6, 0.06, False),
    (0, 0, 0.0, True),
], ids=["at_threshold", "above_threshold", "zero_raw_rows"])
def test_reject_rate_is_rejected_over_raw(make_inputs, run_check, raw, rejected, metric, passed):
    """Rejected / raw rows, passing while <= 0.05; a window with no raw rows has rate 0."""
    (result,) = run_check(make_inputs(raw_rows=raw, rejected_rows=rejected), "reject_rate", 0.05)
    assert (result.metric, result.passed) == (pytest.approx(metric), passed)


@pytest.mark.parametrize(("check", "rows", "overrides"), [
    ("fleet_completeness", [reading()], {"expected_units": 0}),
    ("freshness", [], {}),
    ("sensor_completeness", [], {}),
    ("pressure_consistency", [reading(discharge_pressure_psi=None)], {}),
    ("volume_consistency", [], {"clean_rows": 10, "trailing_clean_counts": (0, 0)}),
], ids=["no_expected_units", "no_clean_rows", "no_rows_for_sensors", "no_rows_with_both_pressures",
        "zero_trailing_average"])
def test_undefined_metric_fails_with_a_message(make_inputs, run_check, check, rows, overrides):
    """A metric that divides by zero is null, and the check fails saying why."""
    results = run_check(make_inputs(rows, **overrides), check, 0.5)
    assert results and all(r.metric is None and not r.passed for r in results)
    assert all(r.message == get_check(check).when_null for r in results)
