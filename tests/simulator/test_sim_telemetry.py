"""One generated day: cadence and row counts, determinism, physical coherence and failure signatures."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from altaviz.schemas import SENSOR_COLUMNS
from altaviz.simulator import DAY_SCHEMA, DAY_SCHEMA_DICTIONARY, build_fleet, build_plan, generate_day
from altaviz.simulator.failures import US_PER_DAY, day_us

SLOT_US = 300_000_000
DAY = date(2025, 6, 1)


def _np(table: pa.Table, column: str) -> np.ndarray:
    """A column as numpy: timestamps as int64 microseconds, nulls as NaN."""
    values = table[column].combine_chunks()
    if pa.types.is_timestamp(values.type):
        return values.cast(pa.int64()).to_numpy()
    if pa.types.is_string(values.type):
        return np.array(values.to_pylist())
    return values.to_numpy(zero_copy_only=False)


def _plausible(values: np.ndarray) -> np.ndarray:
    """Mask of values that are neither null nor garbage."""
    return np.isfinite(values) & (values > 0) & (values < 50_000)


def test_day_table_has_the_day_schema(demo_day):
    """generate_day returns the contract columns plus arrival_time."""
    assert demo_day.schema.equals(DAY_SCHEMA)


def test_dictionary_encoded_day_holds_the_same_readings(demo_fleet, demo_plan, demo_day):
    """The dictionary-encoded form simulate uses decodes to the same table."""
    encoded = generate_day(demo_fleet, demo_plan, DAY, 42, dictionary_encoded=True)
    assert encoded.schema.equals(DAY_SCHEMA_DICTIONARY)
    assert encoded.cast(DAY_SCHEMA).equals(demo_day)


def test_readings_sit_on_five_minute_slots_of_the_day(demo_day):
    """Every timestamp is an exact 5-minute boundary inside the simulated UTC day."""
    ts = _np(demo_day, "timestamp")
    assert (ts % SLOT_US == 0).all()
    assert ts.min() >= day_us(DAY) and ts.max() < day_us(DAY) + US_PER_DAY
    assert len(np.unique(ts)) == 288


def test_rows_are_288_per_unit_minus_gaps_plus_duplicates(demo_day, demo_fleet, demo_plan, profile):
    """Rows = 288 per unit, minus shut-down slots and a small share of dropouts, plus a few duplicates."""
    ids, ts = _np(demo_day, "compressor_id"), _np(demo_day, "timestamp")
    distinct = len({(i, t) for i, t in zip(ids.tolist(), ts.tolist(), strict=True)})
    duplicates = demo_day.num_rows - distinct
    start = day_us(DAY)
    slots = start + np.arange(288) * SLOT_US
    active = demo_plan.overlapping(start, start + US_PER_DAY)
    down = sum(int(((slots >= demo_plan.failure_us[e]) & (slots < demo_plan.repaired_us[e])).sum())
               for e in active)
    missing = 288 * demo_fleet.size - down - distinct
    dirt = profile.dirt
    outage_share = dirt.outage_rate * np.mean(dirt.outage_slots) / 288
    expected_missing = 288 * demo_fleet.size * (dirt.dropout_rate + outage_share)
    assert 0.3 * expected_missing < missing < 3 * expected_missing
    assert 0 < duplicates < 4 * dirt.duplicate_rate * demo_day.num_rows


def test_rows_are_ordered_by_arrival_after_reading(demo_day):
    """Rows come in arrival order, each arriving after it was read; late rows break timestamp order."""
    arrival, ts = _np(demo_day, "arrival_time"), _np(demo_day, "timestamp")
    assert (np.diff(arrival) >= 0).all()
    assert (arrival >= ts).all()
    assert (np.diff(ts) < 0).any()


def test_generate_day_is_deterministic(demo_fleet, demo_plan, demo_day):
    """The same fleet, day and seed give the same table; another seed gives other readings."""
    assert generate_day(demo_fleet, demo_plan, DAY, 42).equals(demo_day)
    assert not generate_day(demo_fleet, demo_plan, DAY, 43).equals(demo_day)


def test_pressures_are_coherent(demo_day):
    """Discharge pressure is above suction pressure in every clean reading."""
    suction, discharge = _np(demo_day, "suction_pressure_psi"), _np(demo_day, "discharge_pressure_psi")
    clean = _plausible(suction) & _plausible(discharge)
    assert (discharge[clean] > suction[clean] + 500).all()


def test_healthy_readings_stay_in_the_domain_ranges(demo_day, demo_plan):
    """Healthy units' readings stay near the fleet-wide normal ranges of the domain."""
    healthy = ~np.isin(_np(demo_day, "compressor_id"), _failing_ids(demo_day, demo_plan))
    bands = {"vibration_mms": (1.0, 5.5), "discharge_temp_f": (165, 235), "suction_pressure_psi": (35, 85),
             "discharge_pressure_psi": (880, 1220), "horsepower_consumption": (1090, 1760),
             "gas_flow_mcf": (7500, 12900)}
    for sensor, (low, high) in bands.items():
        values = _np(demo_day, sensor)[healthy]
        values = values[_plausible(values)]
        assert np.quantile(values, 0.001) > low and np.quantile(values, 0.999) < high, sensor


def _failing_ids(table: pa.Table, plan) -> list[str]:
    start = int(pc.min(table["timestamp"]).cast(pa.int64()).as_py())
    units = np.unique(plan.unit[plan.overlapping(start, start + US_PER_DAY)])
    return [f"CMP-{u + 1:05d}" for u in units]


def test_flow_and_temperature_follow_load(demo_day):
    """Per unit, gas flow tracks horsepower closely and discharge temperature rises with it."""
    ids = _np(demo_day, "compressor_id")
    hp, flow, temp = (_np(demo_day, c)
                      for c in ("horsepower_consumption", "gas_flow_mcf", "discharge_temp_f"))
    flow_corr, temp_corr = [], []
    for unit in np.unique(ids)[:40]:
        rows = (ids == unit) & _plausible(hp) & _plausible(flow) & _plausible(temp)
        flow_corr.append(np.corrcoef(hp[rows], flow[rows])[0, 1])
        temp_corr.append(np.corrcoef(hp[rows], temp[rows])[0, 1])
    assert np.median(flow_corr) > 0.8
    assert np.median(temp_corr) > 0.5


def test_load_peaks_in_the_local_afternoon(demo_day):
    """Permian units (UTC-6) draw more horsepower at 15:00 local than at 03:00 local."""
    ts, hp = _np(demo_day, "timestamp"), _np(demo_day, "horsepower_consumption")
    hour = (ts % US_PER_DAY) // 3_600_000_000
    afternoon, night = hp[(hour == 21) & _plausible(hp)], hp[(hour == 9) & _plausible(hp)]
    assert np.median(afternoon) > np.median(night) + 50


@pytest.fixture(scope="module")
def mid_fleet(profile):
    """A 600-unit fleet and its plan, large enough to hold every failure mode in 2025."""
    fleet = build_fleet(600, 11, profile)
    return fleet, build_plan(fleet)


@pytest.mark.parametrize("mode", ["bearing_wear", "cooling_degradation", "valve_failure", "piston_ring_wear",
                                  "rod_packing_leak", "fouling"])
def test_failing_unit_primary_signal_moves(mid_fleet, profile, mode):
    """Near failure, the primary signal is past every healthy unit of the model, in the mode's direction."""
    fleet, plan = mid_fleet
    m = [f.name for f in profile.failure_modes].index(mode)
    spec = profile.failure_modes[m]
    critical = plan.onset_us + (0.8 * (plan.failure_us - plan.onset_us)).astype(np.int64)
    middle = (critical + plan.failure_us) // 2
    e = np.flatnonzero((plan.mode == m) & (middle >= day_us(date(2025, 1, 1))))[0]
    day = date(1970, 1, 1) + timedelta(days=int(middle[e] // US_PER_DAY))
    table = generate_day(fleet, plan, day)
    ids, ts = _np(table, "compressor_id"), _np(table, "timestamp")
    values = _np(table, spec.primary_signal)
    if spec.primary_signal == "gas_flow_mcf":  # piston rings: less gas at the same horsepower
        values = values / _np(table, "horsepower_consumption")
    window = (ts >= critical[e]) & (ts < plan.failure_us[e]) & _plausible(values)
    failing = values[window & (ids == f"CMP-{plan.unit[e] + 1:05d}")]
    sick = np.unique(plan.unit[plan.overlapping(day_us(day), day_us(day) + US_PER_DAY)])
    healthy_units = [u for u in np.flatnonzero(fleet.model == fleet.model[plan.unit[e]]) if u not in sick]
    assert len(failing) >= 20 and len(healthy_units) >= 10
    healthy = [values[window & (ids == f"CMP-{u + 1:05d}")] for u in healthy_units]
    if spec.direction == "up":
        assert np.median(failing) > max(np.median(h) for h in healthy)
    elif spec.direction == "down":
        assert np.median(failing) < min(np.median(h) for h in healthy)
    else:
        assert np.std(failing) > 5 * max(np.std(h) for h in healthy)


def test_production_day_has_the_full_volume(profile):
    """A 4,700-unit day holds about 1,353,600 readings from every unit."""
    fleet = build_fleet(4700, 7, profile)
    table = generate_day(fleet, build_plan(fleet), DAY)
    assert 0.985 * 1_353_600 < table.num_rows < 1_353_600
    assert pc.count_distinct(table["compressor_id"]).as_py() >= 4690
    assert all(name in table.column_names for name in SENSOR_COLUMNS)
