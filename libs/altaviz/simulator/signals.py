"""Sensor physics: healthy readings that follow load and weather, and the marks failures leave on them."""

from __future__ import annotations

import numpy as np

from altaviz.schemas import SENSOR_COLUMNS
from altaviz.simulator.failures import US_PER_DAY, FailurePlan
from altaviz.simulator.fleet import SENSOR_INDEX, WANDER_PERIODS_HOURS, Fleet
from altaviz.simulator.profiles import EffectSpec

US_PER_HOUR = 3_600_000_000
US_PER_MINUTE = 60_000_000
_SEASON_PEAK_DAY = 200  # mid-July: hottest ambient, hottest discharge


def _outer_cos(angle: np.ndarray, unit_angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time and unit factors with cos(angle - unit_angle) = time @ unit: no trig over slots x units."""
    time_factor = np.stack((np.cos(angle), np.sin(angle)), axis=1)
    return time_factor, np.stack((np.cos(unit_angle), np.sin(unit_angle)))


def load_factor(fleet: Fleet, slot_us: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Load factor (slots x units), about 0.2-0.9: a daily cycle peaking mid-afternoon local time, slow
    wander and noise.

    The deterministic part is one matrix product of time terms and per-unit coefficients. Wander is a
    function of absolute time, so it runs on smoothly across midnight and across day-by-day runs.
    """
    traits = fleet.traits
    hour_utc = (slot_us % US_PER_DAY) / US_PER_HOUR
    day_time, day_unit = _outer_cos(2 * np.pi * hour_utc / 24.0, 2 * np.pi * traits.peak_hour_utc / 24.0)
    wander = 2 * np.pi * (slot_us / US_PER_HOUR)[:, None] / WANDER_PERIODS_HOURS
    # amp * sin(w + phase) = amp * (sin w cos phase + cos w sin phase)
    time_terms = np.hstack((np.ones((len(slot_us), 1)), day_time, np.sin(wander), np.cos(wander)))
    unit_terms = np.vstack((traits.load_base[None, :], traits.load_swing * day_unit,
                            (traits.wander_amp * np.cos(traits.wander_phase)).T,
                            (traits.wander_amp * np.sin(traits.wander_phase)).T))
    load = time_terms @ unit_terms
    load += rng.normal(0.0, 0.015, load.shape)
    return np.clip(load, 0.05, 1.0, out=load)


def _ambient_f(fleet: Fleet, slot_us: np.ndarray) -> np.ndarray:
    """Ambient heat added to discharge temperature (slots x units): daily swing an hour after peak load,
    and a seasonal swing peaking mid-July."""
    traits = fleet.traits
    hour_utc = (slot_us % US_PER_DAY) / US_PER_HOUR
    day_time, day_unit = _outer_cos(2 * np.pi * hour_utc / 24.0,
                                    2 * np.pi * (traits.peak_hour_utc + 1.0) / 24.0)
    day_of_year = (slot_us // US_PER_DAY) % 365.25  # days since 1970-01-01 fold onto the calendar year
    season = np.cos(2 * np.pi * (day_of_year - _SEASON_PEAK_DAY) / 365.25)[:, None]
    return np.hstack((day_time, season)) @ np.vstack((traits.diurnal_swing_f * day_unit,
                                                      traits.seasonal_swing_f[None, :]))


def _noise(shape: tuple[int, ...], mean: np.ndarray | float, sigma: np.ndarray | float,
           rng: np.random.Generator) -> np.ndarray:
    """N(mean, sigma) with per-unit mean and sigma (broadcast over slots), computed in place."""
    out = rng.standard_normal(shape)
    out *= sigma
    out += mean
    return out


def _linear(load: np.ndarray, scale: np.ndarray, offset: np.ndarray, sigma: np.ndarray | None,
            rng: np.random.Generator) -> np.ndarray:
    """`load * scale + offset + N(0, sigma)` with per-unit coefficients, computed in place."""
    out = load * scale
    out += offset
    if sigma is not None:
        out += _noise(load.shape, 0.0, sigma, rng)
    return out


def healthy_readings(fleet: Fleet, slot_us: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Readings of a healthy fleet at `slot_us` (slots x units per sensor), inside each model's ranges.

    Horsepower and gas flow follow load; flow is horsepower times the unit's efficiency; discharge
    pressure rises and suction pressure sags with throughput; discharge temperature follows load and
    ambient (daily and seasonal); vibration rises a little with load.
    """
    traits = fleet.traits
    low, span, setpoint = traits.range_low, traits.range_span, traits.setpoint
    load = load_factor(fleet, slot_us, rng)
    noise = fleet.profile.noise.scale

    def around_setpoint(sensor: str, load_gain: float, sigma_share: float | None) -> np.ndarray:
        s = SENSOR_INDEX[sensor]
        # low + span * (setpoint + gain * (load - 0.5)) + noise
        sigma = None if sigma_share is None else span[:, s] * sigma_share * noise
        offset = low[:, s] + span[:, s] * (setpoint[:, s] - 0.5 * load_gain)
        return _linear(load, span[:, s] * load_gain, offset, sigma, rng)

    s = SENSOR_INDEX["horsepower_consumption"]
    hp = _linear(load, span[:, s] * 0.8, low[:, s] + span[:, s] * 0.1, span[:, s] * 0.006 * noise, rng)
    efficiency = _noise(load.shape, traits.flow_per_hp, traits.flow_per_hp * 0.008 * noise, rng)
    suction = around_setpoint("suction_pressure_psi", -0.12, 0.012)
    discharge = around_setpoint("discharge_pressure_psi", 0.18, 0.008)
    temp = around_setpoint("discharge_temp_f", 0.3, 0.012)
    temp += _ambient_f(fleet, slot_us)
    vibration = around_setpoint("vibration_mms", 0.12, None)
    vibration *= _noise(load.shape, 1.0, 0.05 * noise, rng)  # multiplicative: spread grows with the level
    return {
        "vibration_mms": vibration,
        "discharge_temp_f": temp,
        "suction_pressure_psi": suction,
        "discharge_pressure_psi": discharge,
        "horsepower_consumption": hp,
        "gas_flow_mcf": np.multiply(hp, efficiency, out=efficiency),
    }


def _shape(effect: EffectSpec, severity: np.ndarray, slot_us: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """How far along its full effect a failure is, per slot and episode."""
    if effect.shape == "linear":
        return severity
    if effect.shape == "power":
        return severity ** effect.growth
    if effect.shape == "exponential":
        return np.expm1(effect.growth * severity) / np.expm1(effect.growth)
    minutes = (slot_us // US_PER_MINUTE)[:, None]
    return severity * np.sin(2 * np.pi * (minutes % effect.period_minutes) / effect.period_minutes + phase)


def apply_failures(fleet: Fleet, plan: FailurePlan, readings: dict[str, np.ndarray], slot_us: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Add each active failure's effects to `readings` in place and return the shut-down mask.

    Args:
        fleet: The fleet.
        plan: Its failure plan.
        readings: Healthy readings (slots x units per sensor), changed in place.
        slot_us: Reading times, microseconds since the epoch.
        rng: The day's failure stream (spikes).

    Returns:
        Boolean mask (slots x units), True where a failed unit is shut down and sends nothing.
    """
    down = np.zeros(readings[SENSOR_COLUMNS[0]].shape, dtype=bool)
    active = plan.overlapping(int(slot_us[0]), int(slot_us[-1]) + 1)
    t = slot_us[:, None]
    for m, mode in enumerate(fleet.profile.failure_modes):
        idx = active[plan.mode[active] == m]
        if not len(idx):
            continue
        units = plan.unit[idx]
        degrading = t < plan.failure_us[idx]
        # Severity is zero before onset and after repair; the shut-down interval is masked out below.
        severity = np.where(degrading, plan.severity(idx, t), 0.0)
        for effect in mode.effects:
            delta = _shape(effect, severity, slot_us, plan.phase[idx])
            delta *= effect.magnitude * plan.intensity[idx]
            if effect.spike_rate > 0:
                spiking = (severity >= max(effect.spike_after, 1e-9)) & (rng.random(severity.shape)
                                                                          < effect.spike_rate * severity)
                delta += spiking * effect.spike_size * rng.uniform(0.5, 1.5, severity.shape)
            values = readings[effect.signal]
            if effect.kind == "scale":
                delta *= values[:, units]
            # add.at, not +=: a unit can have two short episodes on one day, and fancy += would drop one.
            np.add.at(values, (slice(None), units), delta)
        np.logical_or.at(down, (slice(None), units), ~degrading & (t < plan.repaired_us[idx]))
    return down
