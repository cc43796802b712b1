"""Data dirt: dropouts and outages, stuck sensors, garbage values, nulls, duplicates and late arrival."""

from __future__ import annotations

import numpy as np

from altaviz.schemas import SENSOR_COLUMNS
from altaviz.simulator.failures import US_PER_SECOND
from altaviz.simulator.profiles import DirtSpec
from altaviz.simulator.signals import US_PER_HOUR

# On-time readings arrive within one 5-minute slot, so they always land in their own hour's file.
MAX_ON_TIME_LATENCY_SECONDS = 290.0


def _sparse(rng: np.random.Generator, size: int, rate: float) -> np.ndarray:
    """Sorted distinct positions in [0, size), each hit with probability about `rate`.

    Drawing a binomial count and that many positions costs O(hits), not O(size) uniform draws.
    """
    return np.unique(rng.integers(0, size, rng.binomial(size, rate))) if size else np.empty(0, np.int64)


def _runs(rng: np.random.Generator, slots: int, count: int, length: tuple[int, int]
          ) -> tuple[np.ndarray, np.ndarray]:
    """`count` random runs of slots as (run mask slots x count, run starts)."""
    start = rng.integers(0, slots, count)
    end = start + rng.integers(length[0], length[1] + 1, count)
    slot = np.arange(slots)[:, None]
    return (slot >= start) & (slot < end), start


def drop_readings(present: np.ndarray, dirt: DirtSpec, rng: np.random.Generator) -> None:
    """Clear `present` (slots x units) in place for readings lost in transit and for communication outages."""
    slots, units = present.shape
    present.reshape(-1)[_sparse(rng, present.size, dirt.dropout_rate)] = False
    out = np.flatnonzero(rng.random(units) < dirt.outage_rate)
    if len(out):
        outage, _ = _runs(rng, slots, len(out), dirt.outage_slots)
        present[:, out] &= ~outage


def stick_sensors(readings: dict[str, np.ndarray], dirt: DirtSpec, rng: np.random.Generator) -> None:
    """Freeze sensors in place: a run of readings repeats the exact value read at the run's start."""
    for name in SENSOR_COLUMNS:
        values = readings[name]
        slots, units = values.shape
        stuck = np.flatnonzero(rng.random(units) < dirt.stuck_rate)
        if not len(stuck):
            continue
        frozen, start = _runs(rng, slots, len(stuck), dirt.stuck_slots)
        source = np.where(frozen, start, np.arange(slots)[:, None])
        values[:, stuck] = np.take_along_axis(values[:, stuck], source, axis=0)


def spoil_values(readings: dict[str, np.ndarray], dirt: DirtSpec, rng: np.random.Generator) -> None:
    """Replace rare values in place with physically impossible ones: sentinels or the reading negated."""
    sentinels = np.array(dirt.garbage_values)
    for name in SENSOR_COLUMNS:
        flat = readings[name].reshape(-1)
        at = _sparse(rng, flat.size, dirt.garbage_rate)
        pick = rng.integers(0, len(sentinels) + 1, len(at))
        negated = -np.abs(flat[at]) - 1.0  # every sensor here is positive on a running unit
        flat[at] = np.where(pick < len(sentinels), sentinels[np.minimum(pick, len(sentinels) - 1)], negated)


def null_masks(shape: tuple[int, int], dirt: DirtSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per sensor, a flat boolean mask (slots x units, row-major) of values the gateway sent blank."""
    masks = {}
    for name in SENSOR_COLUMNS:
        mask = np.zeros(shape[0] * shape[1], dtype=bool)
        mask[_sparse(rng, mask.size, dirt.null_rate)] = True
        masks[name] = mask
    return masks


def arrival_times(reading_us: np.ndarray, dirt: DirtSpec, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """When each reading reaches the landing zone, and which readings are sent twice.

    On-time readings arrive after a short transport delay (under 5 minutes); late ones are held back
    `dirt.late_hours`; a duplicate copy arrives `dirt.duplicate_delay_hours` whole hours after the hour
    its original arrived in, so it always lands in a later hour's file.

    Args:
        reading_us: Reading timestamps, microseconds since the epoch.
        dirt: Dirt rates.
        rng: The day's dirt stream.

    Returns:
        (arrival_us per reading, positions of duplicated readings, arrival_us of each duplicate copy).
    """
    n = len(reading_us)
    latency = np.minimum(rng.exponential(dirt.latency_seconds, n), MAX_ON_TIME_LATENCY_SECONDS)
    arrival = reading_us + (latency * US_PER_SECOND).astype(np.int64)
    late = _sparse(rng, n, dirt.late_rate)
    held = rng.uniform(dirt.late_hours[0], dirt.late_hours[1], len(late))
    arrival[late] += (held * US_PER_HOUR).astype(np.int64)
    dup = _sparse(rng, n, dirt.duplicate_rate)
    hours = rng.integers(dirt.duplicate_delay_hours[0], dirt.duplicate_delay_hours[1] + 1, len(dup))
    dup_arrival = (arrival[dup] // US_PER_HOUR + hours) * US_PER_HOUR + rng.integers(0, US_PER_HOUR, len(dup))
    return arrival, dup, dup_arrival
