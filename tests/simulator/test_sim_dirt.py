"""Data dirt at about the configured rates: nulls, stuck sensors, garbage values and dropouts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from altaviz.schemas import SENSOR_COLUMNS
from altaviz.simulator import build_fleet, build_plan, generate_day

SLOT_US = 300_000_000


@pytest.fixture(scope="module")
def series(landed) -> dict:
    """Landed readings deduplicated and ordered by (unit, timestamp), as numpy arrays."""
    keys = [("compressor_id", "ascending"), ("timestamp", "ascending")]
    table = landed.drop_columns(["file"]).sort_by(keys)
    ids = np.array(table["compressor_id"].to_pylist())
    ts = table["timestamp"].cast(pa.int64()).to_numpy()
    first = np.concatenate(([True], (ids[1:] != ids[:-1]) | (ts[1:] != ts[:-1])))
    columns = {name: table[name].to_numpy(zero_copy_only=False)[first] for name in SENSOR_COLUMNS}
    return {"ids": ids[first], "ts": ts[first], **columns}


def _value_count(series: dict) -> int:
    return len(series["ts"]) * len(SENSOR_COLUMNS)


def test_single_sensor_nulls_at_the_configured_rate(series, profile):
    """About `null_rate` of sensor values are null, and a null blanks one sensor, not the whole reading."""
    nulls = np.stack([np.isnan(series[name]) for name in SENSOR_COLUMNS])
    rate = nulls.sum() / _value_count(series)
    assert 0.5 * profile.dirt.null_rate < rate < 2 * profile.dirt.null_rate
    assert (nulls.sum(axis=0) <= 2).all()


def test_garbage_values_at_the_configured_rate(series, profile):
    """About 1 in 20,000 values is physically impossible: a sentinel like 99999 or a negative reading."""
    sentinels = list(profile.dirt.garbage_values)
    garbage = sum(int((np.isin(series[n], sentinels) | (series[n] < 0)).sum()) for n in SENSOR_COLUMNS)
    expected = profile.dirt.garbage_rate * _value_count(series)
    assert 0.3 * expected < garbage < 3 * expected


def _stuck_runs(values: np.ndarray, ids: np.ndarray, ts: np.ndarray, minimum: int) -> int:
    """Runs of at least `minimum` consecutive readings of one unit repeating the exact same value."""
    same = (values[1:] == values[:-1]) & (ids[1:] == ids[:-1]) & (ts[1:] - ts[:-1] <= 3 * SLOT_US)
    edges = np.diff(np.concatenate(([0], same.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(((ends - starts + 1) >= minimum).sum())


def test_stuck_sensors_repeat_one_value(series, profile):
    """Stuck sensors show runs of an hour or more of one exact value, at about the configured rate."""
    minimum = profile.dirt.stuck_slots[0] - 2  # a dropout or null inside a run may shorten it
    runs = sum(_stuck_runs(series[n], series["ids"], series["ts"], minimum) for n in SENSOR_COLUMNS)
    unit_days = len(np.unique(series["ids"])) * 2
    expected = profile.dirt.stuck_rate * unit_days * len(SENSOR_COLUMNS)
    assert 1 <= runs < 4 * expected + 3


def test_healthy_signals_are_never_stuck_by_chance(profile):
    """Without stuck-sensor dirt no sensor repeats a value for an hour: the runs above are the dirt."""
    clean = replace(profile, dirt=replace(profile.dirt, stuck_rate=0.0))
    fleet = build_fleet(50, 42, clean)
    table = generate_day(fleet, build_plan(fleet), date(2025, 6, 1)).sort_by(
        [("compressor_id", "ascending"), ("timestamp", "ascending")])
    ids = np.array(table["compressor_id"].to_pylist())
    ts = table["timestamp"].cast(pa.int64()).to_numpy()
    for name in SENSOR_COLUMNS:
        assert _stuck_runs(table[name].to_numpy(zero_copy_only=False), ids, ts, 12) == 0, name


def test_dropouts_leave_gaps(series, profile):
    """Some expected 5-minute readings never arrive (rows absent), a small share of all."""
    units = len(np.unique(series["ids"]))
    expected_rows = units * 288 * 2
    missing = expected_rows - len(series["ts"])
    assert 0 < missing < 0.05 * expected_rows
