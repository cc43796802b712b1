"""One simulated day of fleet telemetry as an Arrow table: readings, dirt and when each row arrives."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from altaviz.schemas import SENSOR_COLUMNS, TELEMETRY_CONTRACT_VERSION
from altaviz.simulator.dirt import arrival_times, drop_readings, null_masks, spoil_values, stick_sensors
from altaviz.simulator.failures import US_PER_SECOND, FailurePlan, day_us
from altaviz.simulator.fleet import DAY_STREAM, Fleet
from altaviz.simulator.signals import apply_failures, healthy_readings

SLOT_SECONDS = 300
SLOTS_PER_DAY = 86_400 // SLOT_SECONDS
ARRIVAL_COLUMN = "arrival_time"
TIMESTAMP = pa.timestamp("us", tz="UTC")
#: The landing-file contract, in order.
TELEMETRY_SCHEMA = pa.schema(
    [pa.field("compressor_id", pa.string()), pa.field("timestamp", TIMESTAMP)]
    + [pa.field(name, pa.float64()) for name in SENSOR_COLUMNS]
    + [pa.field("schema_version", pa.string()), pa.field("station_id", pa.string())]
)
#: What `generate_day` returns: the contract plus the arrival time that decides the landing file.
DAY_SCHEMA = TELEMETRY_SCHEMA.append(pa.field(ARRIVAL_COLUMN, TIMESTAMP))
#: The same with string columns dictionary-encoded (`generate_day(..., dictionary_encoded=True)`).
DAY_SCHEMA_DICTIONARY = pa.schema(
    [pa.field(f.name, pa.dictionary(pa.int32(), pa.string())) if f.type == pa.string() else f
     for f in DAY_SCHEMA])


def _timestamps(values: np.ndarray) -> pa.Array:
    return pa.array(values.view("datetime64[us]"), type=TIMESTAMP)


def _arrival_order(arrival: np.ndarray, day_start_us: int) -> np.ndarray:
    """Row order by arrival time, ties kept in row order.

    Packing (arrival, row) into one unique key lets the fast unstable sort give the same order on every
    machine and numpy build; the stable sort is the fallback when the key would overflow.
    """
    bits = max(1, (len(arrival) - 1).bit_length())
    relative = arrival - day_start_us
    if len(arrival) and relative.min() >= 0 and relative.max() < 2 ** (62 - bits):
        return np.argsort((relative << bits) | np.arange(len(arrival), dtype=np.int64))
    return np.argsort(arrival, kind="stable")


def _dictionary(indices: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32, copy=False)), values)


def day_rngs(seed: int, day: date) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent (signal, failure, dirt) random streams of one day; they depend only on (seed, day)."""
    children = np.random.SeedSequence(seed, spawn_key=(DAY_STREAM, day.toordinal())).spawn(3)
    signal, failure, dirt = (np.random.default_rng(child) for child in children)
    return signal, failure, dirt


def generate_day(fleet: Fleet, plan: FailurePlan, day: date, seed: int | None = None, *,
                 dictionary_encoded: bool = False) -> pa.Table:
    """Simulate every reading of `fleet` on `day` (UTC), with dirt, sorted by arrival time.

    Every unit reads every 5 minutes (288 slots), minus dropouts, outages and failed units shut down,
    plus duplicate copies. Values carry sensor nulls, stuck runs and rare garbage. The result depends only
    on (`fleet`, `plan`, `day`, `seed`), so days simulated one at a time match a multi-day run.

    Args:
        fleet: The fleet from `build_fleet`.
        plan: Its failure plan from `build_plan`.
        day: The UTC day to simulate.
        seed: Seed of the day's random streams; default the fleet's seed.
        dictionary_encoded: Keep the string columns dictionary-encoded (`DAY_SCHEMA_DICTIONARY`): indexes into
            the fleet's ids, cheaper to build and to write. `simulate` uses this; files still hold strings.

    Returns:
        A table with the landing contract's columns plus `arrival_time` (`DAY_SCHEMA`), ordered by arrival;
        arrivals run past the day's end for late and duplicate rows.
    """
    seed = fleet.seed if seed is None else seed
    signal_rng, failure_rng, dirt_rng = day_rngs(seed, day)
    dirt = fleet.profile.dirt
    slot_us = day_us(day) + np.arange(SLOTS_PER_DAY, dtype=np.int64) * SLOT_SECONDS * US_PER_SECOND
    readings = healthy_readings(fleet, slot_us, signal_rng)
    present = ~apply_failures(fleet, plan, readings, slot_us, failure_rng)
    drop_readings(present, dirt, dirt_rng)
    stick_sensors(readings, dirt, dirt_rng)
    # Round like a SCADA gateway before spoiling, so garbage sentinels stay exact.
    for values in readings.values():
        np.round(values, 2, out=values)
    spoil_values(readings, dirt, dirt_rng)
    nulls = null_masks(present.shape, dirt, dirt_rng)

    units = fleet.size
    rows = np.flatnonzero(present.reshape(-1))  # slot-major: row = slot * units + unit
    arrival, dup, dup_arrival = arrival_times(slot_us[rows // units], dirt, dirt_rng)
    arrival = np.concatenate((arrival, dup_arrival))
    order = _arrival_order(arrival, int(slot_us[0]))
    rows = np.concatenate((rows, rows[dup]))[order]
    unit = rows % units
    columns = {
        "compressor_id": _dictionary(unit, fleet.compressor_ids),
        "timestamp": _timestamps(slot_us[rows // units]),
    }
    for name in SENSOR_COLUMNS:
        mask = nulls[name][rows]
        columns[name] = pa.array(readings[name].reshape(-1)[rows], mask=mask if mask.any() else None)
    columns["schema_version"] = _dictionary(np.zeros(len(rows), dtype=np.int32),
                                            pa.array([TELEMETRY_CONTRACT_VERSION], pa.string()))
    columns["station_id"] = _dictionary(fleet.station[unit], fleet.station_ids)
    columns[ARRIVAL_COLUMN] = _timestamps(arrival[order])
    table = pa.Table.from_pydict(columns, schema=DAY_SCHEMA_DICTIONARY)
    return table if dictionary_encoded else table.cast(DAY_SCHEMA)
