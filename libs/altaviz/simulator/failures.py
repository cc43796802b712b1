"""The failure plan: when each unit starts degrading, fails and is back in service, and its label table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from altaviz.simulator.fleet import PLAN_STREAM, Fleet

US_PER_SECOND = 1_000_000
SECONDS_PER_DAY = 86_400
US_PER_DAY = SECONDS_PER_DAY * US_PER_SECOND
DAYS_PER_MONTH = 365.25 / 12
_EPOCH = date(1970, 1, 1)
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def day_us(day: date) -> int:
    """Microseconds since the Unix epoch at 00:00 UTC of `day`."""
    return (day - _EPOCH).days * US_PER_DAY


@dataclass(frozen=True, eq=False)
class FailurePlan:
    """Every failure episode of a fleet over the planning horizon (arrays over episodes, sorted by onset).

    Times are microseconds since the Unix epoch, UTC. A unit degrades over [onset, failure), is shut down
    (sends no readings) over [failure, repaired) and is healthy again from `repaired`. A unit has at most
    one episode at any instant.
    """

    unit: np.ndarray
    mode: np.ndarray
    onset_us: np.ndarray
    failure_us: np.ndarray
    repaired_us: np.ndarray
    intensity: np.ndarray
    phase: np.ndarray
    horizon: tuple[date, date]

    def __len__(self) -> int:
        return len(self.unit)

    def overlapping(self, start_us: int, end_us: int) -> np.ndarray:
        """Indexes of episodes whose [onset, repaired) overlaps [start_us, end_us)."""
        return np.flatnonzero((self.onset_us < end_us) & (self.repaired_us > start_us))

    def severity(self, index: np.ndarray, t_us: np.ndarray | int) -> np.ndarray:
        """Progress from onset (0) to failure (1) of episodes `index` at times `t_us` (broadcast), clipped."""
        onset, failure = self.onset_us[index], self.failure_us[index]
        return np.clip((np.asarray(t_us) - onset) / (failure - onset), 0.0, 1.0)


def _mode_arrays(fleet: Fleet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    modes = fleet.profile.failure_modes
    return (np.array([m.rate_per_month for m in modes]),
            np.array([m.duration_days for m in modes]) * SECONDS_PER_DAY,
            np.array([m.downtime_days for m in modes]) * SECONDS_PER_DAY)


def _lanes(rng: np.random.Generator, fleet: Fleet, lanes: int, h0: int, h1: int) -> tuple[np.ndarray, ...]:
    """Back-to-back episodes on `lanes` disjoint sets of units, so `lanes` units degrade at every instant.

    Each lane cycles through its own units (about 1/min_failing_fraction of them), so a lane unit fails
    again only after all its lane-mates have; modes are drawn in proportion to their rates.
    """
    rates, duration, _ = _mode_arrays(fleet)
    p = rates / rates.sum()
    mean = float((p * duration.mean(axis=1)).sum())
    per_lane = math.ceil(1.5 * (h1 - h0) / mean) + 4
    while True:  # 1.5x the expected count covers the horizon except with vanishing probability
        mode = rng.choice(len(p), size=(lanes, per_lane), p=p)
        length = rng.uniform(duration[mode, 0], duration[mode, 1])
        ends = h0 - rng.uniform(0.0, mean, (lanes, 1)) + np.cumsum(length, axis=1)
        if (ends[:, -1] >= h1).all():
            break
        per_lane *= 2
    n = fleet.size
    perm = rng.permutation(n)
    lane = np.arange(lanes)
    members = (n - lane + lanes - 1) // lanes  # lane j owns perm[j::lanes]
    position = (np.arange(per_lane)[None, :] + rng.integers(0, members)[:, None]) % members[:, None]
    unit = perm[lane[:, None] + lanes * position]
    onset = ends - length
    keep = onset < h1
    return unit[keep], mode[keep], onset[keep], ends[keep]


def _background(rng: np.random.Generator, fleet: Fleet, scale: float, h0: int, h1: int
                ) -> tuple[np.ndarray, ...]:
    """Independent episodes per (unit, mode) at the configured monthly rates times `scale`."""
    rates, duration, _ = _mode_arrays(fleet)
    first = h0 - duration[:, 1].max()  # episodes already under way when the horizon opens
    months = (h1 - first) / (DAYS_PER_MONTH * SECONDS_PER_DAY)
    counts = rng.poisson(rates * scale * months, size=(fleet.size, len(rates)))
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    unit, mode = cell // len(rates), cell % len(rates)
    onset = rng.uniform(first, h1, len(cell))
    return unit, mode, onset, onset + rng.uniform(duration[mode, 0], duration[mode, 1])


Intervals = tuple[np.ndarray, np.ndarray, np.ndarray]  # (unit, start, end), integer seconds


def _clear_of(mine: Intervals, others: Intervals, span: int) -> np.ndarray:
    """Mask of `mine` that overlap none of `others` on the same unit (`others` disjoint per unit)."""
    unit, start, end = mine
    other_unit, other_start, other_end = others
    order = np.lexsort((other_start, other_unit))
    key_start = other_unit[order] * span + other_start[order]
    key_end = other_unit[order] * span + other_end[order]
    # Others are disjoint per unit, so their end keys are sorted too: the first one ending after our start
    # is the only candidate for overlap.
    i = np.searchsorted(key_end, unit * span + start, side="right")
    j = np.minimum(i, len(key_end) - 1)
    hit = (i < len(key_end)) & (key_start[j] < unit * span + end)
    return ~hit


def _first_come(unit: np.ndarray, start: np.ndarray, end: np.ndarray, span: int) -> np.ndarray:
    """Mask keeping intervals that start after every earlier interval of the same unit has ended."""
    order = np.lexsort((start, unit))
    key_start, key_end = unit[order] * span + start[order], unit[order] * span + end[order]
    ended = np.concatenate(([np.iinfo(np.int64).min], np.maximum.accumulate(key_end)[:-1]))
    keep = np.empty(len(unit), dtype=bool)
    keep[order] = key_start >= ended
    return keep


def build_plan(fleet: Fleet) -> FailurePlan:
    """Plan every failure of `fleet` over the profile's horizon, from the fleet's seed, size and profile only.

    Background failures arrive at each mode's monthly rate. For fleets of `plan.guaranteed_from_units` or
    more, `ceil(plan.min_failing_fraction * size)` units (at least one) are degrading at every instant; the
    background rate is reduced by the same share so the fleet still shows about 5% degrading overall.

    Args:
        fleet: The fleet from `build_fleet`.

    Returns:
        The plan, sorted by onset time.
    """
    profile = fleet.profile
    spec = profile.plan
    rng = np.random.default_rng(np.random.SeedSequence(fleet.seed, spawn_key=(PLAN_STREAM, fleet.size)))
    h0 = day_us(spec.horizon[0]) // US_PER_SECOND
    h1 = day_us(spec.horizon[1]) // US_PER_SECOND + SECONDS_PER_DAY
    rates, duration, downtime = _mode_arrays(fleet)
    n = fleet.size
    guaranteed = n >= spec.guaranteed_from_units and spec.min_failing_fraction > 0 and rates.sum() > 0
    lanes = max(1, math.ceil(spec.min_failing_fraction * n)) if guaranteed else 0
    degrading = float((rates * duration.mean(axis=1)).sum()) / (DAYS_PER_MONTH * SECONDS_PER_DAY)
    scale = max(0.0, 1.0 - lanes / n / degrading) if degrading > 0 else 0.0

    parts = [_lanes(rng, fleet, lanes, h0, h1)] if lanes else []
    bg_unit, bg_mode, bg_onset, bg_failure = _background(rng, fleet, scale, h0, h1)
    bg_repaired = bg_failure + rng.uniform(downtime[bg_mode, 0], downtime[bg_mode, 1])
    # Integer seconds relative to a base before any onset, so (unit, time) packs into one sortable key.
    base = h0 - int(duration[:, 1].max()) - SECONDS_PER_DAY
    span = h1 - base + 2 * int(duration[:, 1].max() + downtime[:, 1].max()) + SECONDS_PER_DAY
    rel = [np.floor(x - base).astype(np.int64) for x in (bg_onset, bg_failure, bg_repaired)]
    keep = _first_come(bg_unit, rel[0], rel[2], span)
    if parts:
        l_unit, l_mode, l_onset, l_failure = parts[0]
        l_repaired = l_failure + rng.uniform(downtime[l_mode, 0], downtime[l_mode, 1])
        l_rel = [np.floor(x - base).astype(np.int64) for x in (l_onset, l_failure, l_repaired)]
        # Lane episodes carry the guarantee, so background episodes give way to them.
        keep &= _clear_of((bg_unit, rel[0], rel[2]), (l_unit, l_rel[0], l_rel[2]), span)
        parts = [(l_unit, l_mode, *l_rel)]
    parts.append((bg_unit[keep], bg_mode[keep], *[r[keep] for r in rel]))
    unit, mode, onset, failure, repaired = (np.concatenate(cols) for cols in zip(*parts, strict=True))
    order = np.lexsort((unit, onset))

    def to_us(rel_s: np.ndarray) -> np.ndarray:
        return (rel_s[order] + base) * US_PER_SECOND

    return FailurePlan(
        unit=unit[order].astype(np.int32),
        mode=mode[order].astype(np.int16),
        onset_us=to_us(onset),
        failure_us=to_us(failure),
        repaired_us=to_us(repaired),
        intensity=rng.uniform(0.85, 1.15, len(order)),
        phase=rng.uniform(0.0, 2 * np.pi, len(order)),
        horizon=spec.horizon,
    )


def failing_units(plan: FailurePlan, start_us: int, end_us: int) -> np.ndarray:
    """Units (sorted) with a failure episode, degrading or shut down, overlapping [start_us, end_us)."""
    return np.unique(plan.unit[plan.overlapping(start_us, end_us)])


def labels_table(fleet: Fleet, plan: FailurePlan, start_us: int, end_us: int) -> pa.Table:
    """The failure labels of every episode overlapping [start_us, end_us), with state at the window's end.

    Columns: episode_id, compressor/station/basin/model, failure_mode, primary_signal, onset_time,
    critical_time (severity reaches `plan.critical_severity`), failure_time, repaired_time (back in
    service), failed_in_window, state_at_window_end (degrading, critical, shut_down or repaired),
    severity_at_window_end (0..1) and vent_scfm_at_window_end (packing vent rate, modes with `vent_scfm`).
    """
    profile = fleet.profile
    idx = plan.overlapping(start_us, end_us)
    unit, mode = plan.unit[idx], plan.mode[idx]
    onset, failure, repaired = plan.onset_us[idx], plan.failure_us[idx], plan.repaired_us[idx]
    severity = plan.severity(idx, end_us)
    critical_at = onset + np.round(profile.plan.critical_severity * (failure - onset)).astype(np.int64)
    running = end_us < failure
    state = np.select([running & (severity < profile.plan.critical_severity), running, end_us < repaired],
                      [0, 1, 2], default=3)
    vent_range = np.array([m.vent_scfm or (np.nan, np.nan) for m in profile.failure_modes])[mode]
    # A shut-down or repaired unit is depressurised: its packing no longer vents.
    vent = np.where(running, vent_range[:, 0] + (vent_range[:, 1] - vent_range[:, 0]) * severity, 0.0)
    vent = np.where(np.isnan(vent_range[:, 0]), np.nan, np.round(vent, 3))

    def names(values: list[str], at: np.ndarray) -> pa.Array:
        return pa.array(values, type=pa.string()).take(pa.array(at))

    def stamp(values: np.ndarray) -> pa.Array:
        return pa.array(values.astype("datetime64[us]"), type=_TIMESTAMP)

    return pa.table({
        "episode_id": pa.array(idx, type=pa.int64()),
        "compressor_id": fleet.compressor_ids.take(pa.array(unit)),
        "station_id": fleet.station_ids.take(pa.array(fleet.station[unit])),
        "basin": names([b.name for b in profile.basins], fleet.basin[unit]),
        "model": names([m.name for m in profile.models], fleet.model[unit]),
        "failure_mode": names([m.name for m in profile.failure_modes], mode),
        "primary_signal": names([m.primary_signal for m in profile.failure_modes], mode),
        "onset_time": stamp(onset),
        "critical_time": stamp(critical_at),
        "failure_time": stamp(failure),
        "repaired_time": stamp(repaired),
        "failed_in_window": pa.array((failure >= start_us) & (failure < end_us)),
        "state_at_window_end": names(["degrading", "critical", "shut_down", "repaired"], state),
        "severity_at_window_end": pa.array(np.round(severity, 4), type=pa.float64()),
        "vent_scfm_at_window_end": pa.array(vent, type=pa.float64(), from_pandas=True),
    })
