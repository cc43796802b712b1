"""The simulated fleet: units spread over basins and stations, each with a model and its own signal traits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from altaviz.errors import UsageError
from altaviz.schemas import SENSOR_COLUMNS
from altaviz.simulator.profiles import FleetProfile, load_profile

# SeedSequence spawn keys: fleet, plan and day draws come from independent streams of one seed.
FLEET_STREAM, PLAN_STREAM, DAY_STREAM = 1, 2, 3
# Slow load wander; periods incommensurate with a day so the pattern never repeats daily.
WANDER_PERIODS_HOURS = np.array([7.3, 31.0, 103.0])
SENSOR_INDEX = {name: i for i, name in enumerate(SENSOR_COLUMNS)}


@dataclass(frozen=True, eq=False)
class UnitTraits:
    """Per-unit constants that give each compressor its own signals (arrays over units, sensors last)."""

    load_base: np.ndarray
    load_swing: np.ndarray
    peak_hour_utc: np.ndarray
    wander_amp: np.ndarray
    wander_phase: np.ndarray
    setpoint: np.ndarray
    flow_per_hp: np.ndarray
    diurnal_swing_f: np.ndarray
    seasonal_swing_f: np.ndarray
    range_low: np.ndarray
    range_span: np.ndarray


@dataclass(frozen=True, eq=False)
class Fleet:
    """A fleet of compressors: identity, place and model per unit, plus stations and signal traits.

    Unit arrays are indexed by unit position 0..size-1 (unit i is `compressor_ids[i]`); `model` and `basin`
    index `profile.models` and `profile.basins`, `station` indexes the station arrays.
    """

    seed: int
    profile: FleetProfile
    compressor_ids: pa.Array
    model: np.ndarray
    basin: np.ndarray
    station: np.ndarray
    install_date: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    station_ids: pa.Array
    station_names: pa.Array
    station_basin: np.ndarray
    station_latitude: np.ndarray
    station_longitude: np.ndarray
    traits: UnitTraits

    @property
    def size(self) -> int:
        """Number of compressors."""
        return len(self.model)

    @property
    def basins_used(self) -> np.ndarray:
        """Indexes into `profile.basins` of the basins that hold at least one unit, in config order."""
        return np.unique(self.basin)


def apportion(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split `total` into integer parts proportional to `weights` (largest remainder), each >= `minimum`.

    Args:
        total: The integer to split; at least `minimum * len(weights)`.
        weights: Non-negative weights, not all zero.
        minimum: Smallest part.

    Returns:
        int64 parts summing to `total`.
    """
    weights = np.asarray(weights, dtype=np.float64)
    rest = total - minimum * len(weights)
    raw = weights / weights.sum() * rest
    parts = np.floor(raw).astype(np.int64)
    short = rest - int(parts.sum())
    # Stable sort on the remainders keeps ties deterministic (earlier entries win).
    parts[np.argsort(-(raw - parts), kind="stable")[:short]] += 1
    return parts + minimum


def _stations(profile: FleetProfile, counts: np.ndarray, chosen: np.ndarray, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Station count per basin, units per station, and station ids and names (basin-major order)."""
    sizing = profile.fleet
    n = int(counts.sum())
    total = max(min(sizing.min_stations, n), round(n / sizing.units_per_station))
    per_basin = np.minimum(apportion(total, counts, minimum=1), counts)
    units_per_station, ids, names = [], [], []
    for b, basin_index in enumerate(chosen):  # at most ten basins
        basin = profile.basins[basin_index]
        # Gamma weights give a realistic mix of small and large stations, at least one unit each.
        units_per_station.append(apportion(int(counts[b]), rng.gamma(2.0, size=per_basin[b]), minimum=1))
        for k in range(per_basin[b]):
            place, number = basin.places[k % len(basin.places)], k // len(basin.places) + 1
            ids.append(f"ST-{basin.code}-{k + 1:03d}")
            names.append(f"{place} Compressor Station {number}")
    return per_basin, np.concatenate(units_per_station), ids, names


def _traits(profile: FleetProfile, model: np.ndarray, basin: np.ndarray, rng: np.random.Generator
            ) -> UnitTraits:
    """Load shape, set points and ranges per unit, drawn once so a unit keeps its character every day."""
    n = len(model)
    # (models, sensors, low/high)
    ranges = np.array([[getattr(m.ranges, s) for s in SENSOR_COLUMNS] for m in profile.models])
    low, span = ranges[:, :, 0], ranges[:, :, 1] - ranges[:, :, 0]
    mid = low + span / 2
    hp, flow = SENSOR_INDEX["horsepower_consumption"], SENSOR_INDEX["gas_flow_mcf"]
    utc_offset = np.array([b.utc_offset_hours for b in profile.basins])[basin]
    # Gas demand and ambient heat peak mid-afternoon local time; offsets move that peak into UTC.
    peak_local = np.clip(rng.normal(15.0, 1.2, n), 11.0, 19.0)
    setpoint = rng.uniform(0.3, 0.7, (n, len(SENSOR_COLUMNS)))
    setpoint[:, SENSOR_INDEX["discharge_temp_f"]] = rng.uniform(0.3, 0.6, n)  # leaves room for ambient swings
    return UnitTraits(
        load_base=rng.uniform(0.42, 0.6, n),
        load_swing=rng.uniform(0.08, 0.18, n),
        peak_hour_utc=(peak_local - utc_offset) % 24.0,
        wander_amp=rng.uniform(0.01, 0.05, (n, len(WANDER_PERIODS_HOURS))),
        wander_phase=rng.uniform(0.0, 2 * np.pi, (n, len(WANDER_PERIODS_HOURS))),
        setpoint=setpoint,
        flow_per_hp=(mid[:, flow] / mid[:, hp])[model] * (1 + np.clip(rng.normal(0, 0.03, n), -0.08, 0.08)),
        diurnal_swing_f=np.array([b.diurnal_swing_f for b in profile.basins])[basin],
        seasonal_swing_f=np.array([b.seasonal_swing_f for b in profile.basins])[basin],
        range_low=low[model],
        range_span=span[model],
    )


def _models(profile: FleetProfile, stations: int, station: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each unit's model: its station's primary model with the profile's affinity, else any by share."""
    shares = np.array([m.share for m in profile.models])
    shares = shares / shares.sum()
    units = len(station)
    primary = rng.choice(len(shares), size=stations, p=shares)
    anywhere = rng.choice(len(shares), size=units, p=shares)
    at_primary = rng.random(units) < profile.fleet.station_model_affinity
    return np.where(at_primary, primary[station], anywhere).astype(np.int16)


def _install_dates(profile: FleetProfile, compressors: int, rng: np.random.Generator) -> np.ndarray:
    """Install dates drawn uniformly over the profile's install years."""
    first_year, last_year = profile.fleet.install_years
    first, last = np.datetime64(f"{first_year}-01-01"), np.datetime64(f"{last_year}-12-31")
    install_days = rng.integers(0, int((last - first).astype(int)) + 1, compressors)
    return first + install_days.astype("timedelta64[D]")


def build_fleet(compressors: int, seed: int = 42, profile: FleetProfile | None = None) -> Fleet:
    """Lay out a fleet of `compressors` units over basins and stations.

    The largest basins join first (one per `fleet.units_per_basin` units, so under 300 units the fleet is all
    Permian); stations hold about `fleet.units_per_station` units. The result depends only on
    (`compressors`, `seed`, `profile`).

    Args:
        compressors: Fleet size, 1 or more.
        seed: Non-negative random seed.
        profile: Fleet profile; default `load_profile()`.

    Returns:
        The fleet, units ordered by basin then station, ids CMP-00001 upwards.

    Raises:
        UsageError: `compressors` < 1 or `seed` < 0.
    """
    if compressors < 1:
        raise UsageError(f"compressors must be >= 1 (got {compressors})")
    if seed < 0:
        raise UsageError(f"seed must be >= 0 (got {seed})")
    profile = profile or load_profile()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(FLEET_STREAM, compressors)))
    shares = np.array([b.share for b in profile.basins])
    basin_count = int(np.clip(compressors // profile.fleet.units_per_basin, 1, len(shares)))
    chosen = np.sort(np.argsort(-shares, kind="stable")[:basin_count])
    counts = apportion(compressors, shares[chosen], minimum=1)

    stations_per_basin, units_per_station, station_ids, station_names = _stations(
        profile, counts, chosen, rng)
    station_basin = np.repeat(chosen, stations_per_basin).astype(np.int16)
    centers = np.array([profile.basins[b].center for b in chosen])
    spreads = np.array([profile.basins[b].spread for b in chosen])
    at = np.repeat(np.arange(len(chosen)), stations_per_basin)
    jitter = np.clip(rng.normal(0.0, 0.5, (len(at), 2)), -1.0, 1.0)
    station_xy = centers[at] + spreads[at] * jitter

    station = np.repeat(np.arange(len(units_per_station)), units_per_station).astype(np.int32)
    basin = station_basin[station]
    model = _models(profile, len(units_per_station), station, rng)
    install = _install_dates(profile, compressors, rng)
    unit_xy = station_xy[station] + rng.normal(0.0, 0.01, (compressors, 2))
    return Fleet(
        seed=seed,
        profile=profile,
        compressor_ids=pa.array(np.char.mod("CMP-%05d", np.arange(1, compressors + 1)), type=pa.string()),
        model=model,
        basin=basin,
        station=station,
        install_date=install,
        latitude=np.round(unit_xy[:, 0], 5),
        longitude=np.round(unit_xy[:, 1], 5),
        station_ids=pa.array(station_ids, type=pa.string()),
        station_names=pa.array(station_names, type=pa.string()),
        station_basin=station_basin,
        station_latitude=np.round(station_xy[:, 0], 5),
        station_longitude=np.round(station_xy[:, 1], 5),
        traits=_traits(profile, model, basin, rng),
    )
