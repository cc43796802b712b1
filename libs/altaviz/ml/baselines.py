"""Each unit-day's baseline: every signal's least-squares fit on load and time of day over the days before it.

The numpy side of `altaviz.ml.features`: hourly Gold windows on a dense (unit x hour) grid, the restarts found on
it (a return after a long silence), and per (unit, day) the fit of each signal over the baseline window
`[D - gap - baseline_days, D - gap)` cut at the last restart before D, or a provisional fit without the gap. A
day's fit reads nothing of the day itself, so it can be fitted once and stored (`day_baselines`, the
`ml_baselines` table) and read back (`stored_fits`) by every hour of the day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from altaviz.ml.settings import SIGNALS, FeatureSettings

HOUR_NS = 3_600_000_000_000
REGRESSORS = 4  # 1, horsepower / 1000, sin and cos of the hour of day
#: Per signal, a stored baseline's columns (`ml_baselines`): the fit's coefficients, residual spread, provisional.
BASELINE_COLUMNS = tuple(f"{s}_{part}" for s in SIGNALS for part in ("b0", "b1", "b2", "b3", "sigma", "provisional"))
#: Per signal: the baseline coefficients (units, days, 4), residual spread and provisional flag (units, days).
Fits = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def utc(stamps: pd.Series) -> pd.Series:
    """Timestamps as UTC, nanoseconds. Spark hands pandas naive timestamps in the session time zone (UTC);
    Arrow readers give aware ones."""
    stamps = pd.to_datetime(stamps)
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return stamps.astype("datetime64[ns, UTC]")


def unit_hours(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(unit index, hour index) of every row, the units in order, and the first hour (ns, a UTC midnight)."""
    hours = utc(frame["agg_timestamp"]).astype("int64").to_numpy() // HOUR_NS
    first = int(hours.min()) // 24 * 24
    units, unit_index = np.unique(frame["compressor_id"].to_numpy(dtype=object), return_inverse=True)
    return unit_index, hours - first, units, first


def signals(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    def col(name: str) -> np.ndarray:
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)

    hp = col("horsepower_consumption_mean")
    with np.errstate(divide="ignore", invalid="ignore"):
        efficiency = np.where(hp > 0, col("gas_flow_mcf_mean") / hp, np.nan)
    return {"vibration": col("vibration_mms_mean"), "temperature": col("discharge_temp_f_mean"),
            "suction": col("suction_pressure_psi_mean"), "discharge": col("discharge_pressure_psi_mean"),
            "efficiency": efficiency, "oscillation": np.log1p(np.maximum(col("discharge_pressure_psi_std"), 0.0)),
            "hp": hp}


def _dense(values: np.ndarray, unit: np.ndarray, hour: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    grid = np.full(shape, np.nan)
    grid[unit, hour] = values
    return grid


def _regressors(hp: np.ndarray, hours: int) -> np.ndarray:
    """(units, hours, 4): 1, horsepower / 1000, sin and cos of the UTC hour of day."""
    angle = 2 * np.pi * (np.arange(hours) % 24) / 24.0
    x = np.empty((*hp.shape, REGRESSORS))
    x[..., 0] = 1.0
    x[..., 1] = hp / 1000.0
    x[..., 2] = np.sin(angle)[None, :]
    x[..., 3] = np.cos(angle)[None, :]
    return x


def _restarts(present: np.ndarray, cfg: FeatureSettings) -> np.ndarray:
    """Per (unit, hour): the unit comes back after a silence of `reset_after_silence_hours` or more."""
    units, hours = present.shape
    # A unit first seen well after the grid's first midnight counts as restarting too, so a window read for an
    # hourly run and a backfill over all history find the same restarts (from the grid's second day on).
    idx = np.where(present, np.arange(hours)[None, :], 0)
    last_seen = np.maximum.accumulate(idx, axis=1)
    previous = np.concatenate([np.zeros((units, 1), dtype=int), last_seen[:, :-1]], axis=1)
    return present & (np.arange(hours)[None, :] - previous >= cfg.reset_after_silence_hours)


def _baseline_bounds(restart: np.ndarray, days: int, cfg: FeatureSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per (unit, day) the first and one-past-last baseline day: the window, cut at the last restart before the
    day (one during the day ends the day's baseline at that hour: `restarted_today`)."""
    units = restart.shape[0]
    restart_day = np.where(restart, np.arange(restart.shape[1])[None, :] // 24, -1).reshape(units, days, 24).max(axis=2)
    before = np.concatenate([np.full((units, 1), -1), np.maximum.accumulate(restart_day, axis=1)[:, :-1]], axis=1)
    day = np.arange(days)[None, :]
    hi = np.clip(day - cfg.gap_days, 0, days)
    lo = np.clip(np.maximum(day - cfg.gap_days - cfg.baseline_days, before + 1), 0, days)
    return lo, np.maximum(lo, hi)


def restarted_today(restart: np.ndarray) -> np.ndarray:
    """Per (unit, hour): the unit restarted earlier in the hour's day, or at that hour (its day's baseline is
    from before the silence: the rest of the day is judged against its peers)."""
    units, hours = restart.shape
    return np.logical_or.accumulate(restart.reshape(units, hours // 24, 24), axis=2).reshape(units, hours)


class _DailySums:
    """Per (unit, day) sums of one signal's least-squares terms, so any window of whole days costs a subtraction."""

    def __init__(self, y: np.ndarray, x: np.ndarray, ok: np.ndarray) -> None:
        units, hours = y.shape
        self.units, self.days = units, hours // 24
        y0 = np.where(ok, y, 0.0)
        x0 = np.where(ok[..., None], x, 0.0)
        shape = (units, self.days, 24)
        self.xx = self._cumulative(np.einsum("uhi,uhj->uhij", x0, x0).reshape(*shape, REGRESSORS, REGRESSORS)
                                   .sum(axis=2))
        self.xy = self._cumulative((x0 * y0[..., None]).reshape(*shape, REGRESSORS).sum(axis=2))
        self.yy = self._cumulative((y0 * y0).reshape(shape).sum(axis=2))
        self.n = self._cumulative(ok.astype(float).reshape(shape).sum(axis=2))

    def _cumulative(self, daily: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((self.units, 1, *daily.shape[2:])), np.cumsum(daily, axis=1)], axis=1)

    def window(self, cum: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        def pick(b: np.ndarray) -> np.ndarray:
            return np.take_along_axis(cum, b.reshape(self.units, self.days, *([1] * (cum.ndim - 2))), axis=1)

        return pick(hi) - pick(lo)

    def fit(self, lo: np.ndarray, hi: np.ndarray, floor: float, relative: bool, min_hours: int
            ) -> tuple[np.ndarray, np.ndarray]:
        """Per (unit, day): the coefficients (units, days, 4) and residual spread (units, days) of the fit over
        days [lo, hi); NaN where the window holds fewer than `min_hours` hours."""
        xx, xy, yy, n = (self.window(c, lo, hi) for c in (self.xx, self.xy, self.yy, self.n))
        enough = n >= min_hours
        ridge = np.eye(REGRESSORS)[None, None] * (1e-6 + 1e-3 * n[..., None, None])
        ridge[..., 0, 0] = 1e-9  # never shrink the level
        beta = np.linalg.solve(np.where(enough[..., None, None], xx + ridge, np.eye(REGRESSORS)),
                               np.where(enough[..., None], xy, 0.0)[..., None])[..., 0]
        sse = yy - 2 * np.einsum("udi,udi->ud", beta, xy) + np.einsum("udi,udij,udj->ud", beta, xx, beta)
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma = np.sqrt(np.maximum(sse, 0.0) / np.maximum(n - REGRESSORS, 1.0))
            level = np.abs(xy[..., 0] / np.maximum(n, 1.0))
        sigma = np.maximum(sigma, floor * level if relative else floor)
        return np.where(enough[..., None], beta, np.nan), np.where(enough, sigma, np.nan)


def _fit(y: np.ndarray, x: np.ndarray, ok: np.ndarray, lo: np.ndarray, hi: np.ndarray, floor: float,
         relative: bool, cfg: FeatureSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (unit, day): the baseline coefficients, residual spread and whether the baseline is provisional.

    The baseline is the fit over days [lo, hi) when it holds `min_baseline_hours`; failing that (the first days
    of a unit's data or after a restart), a provisional fit over [lo, day) without the gap, when that holds
    `provisional_min_hours`, so a unit is watched from its second day on instead of its fourth."""
    sums = _DailySums(y, x, ok)
    beta, sigma = sums.fit(lo, hi, floor, relative, cfg.min_baseline_hours)
    today = np.broadcast_to(np.arange(sums.days)[None, :], lo.shape)
    beta_p, sigma_p = sums.fit(lo, np.maximum(lo, today), floor, relative, cfg.provisional_min_hours)
    standard = ~np.isnan(sigma)
    provisional = ~standard & ~np.isnan(sigma_p)
    return (np.where(standard[..., None], beta, beta_p), np.where(standard, sigma, sigma_p), provisional)


@dataclass(frozen=True)
class Grid:
    """A frame of hourly windows on a dense (unit x hour) grid from the first day's midnight (see `unit_hours`)."""

    unit: np.ndarray
    hour: np.ndarray
    units: np.ndarray
    first: int
    days: int
    sig: dict[str, np.ndarray]
    count: np.ndarray
    enough: np.ndarray
    x: np.ndarray
    restart: np.ndarray


def dense_grid(frame: pd.DataFrame, cfg: FeatureSettings, days: int = 0) -> Grid:
    """The grid of a non-empty frame, of at least `days` days."""
    unit, hour, units, first = unit_hours(frame)
    days = max(days, int(hour.max()) // 24 + 1)
    shape = (len(units), days * 24)
    sig = {name: _dense(v, unit, hour, shape) for name, v in signals(frame).items()}
    count = _dense(pd.to_numeric(frame["reading_count"]).to_numpy(dtype=float), unit, hour, shape)
    present = ~np.isnan(count)
    enough = present & (count >= cfg.min_readings_per_hour) & ~np.isnan(sig["hp"])
    return Grid(unit, hour, units, first, days, sig, count, enough, _regressors(sig["hp"], shape[1]),
                 _restarts(present, cfg))


def fit_grid(grid: Grid, cfg: FeatureSettings) -> Fits:
    """Every signal's baseline for every (unit, day) of the grid, fitted from the grid's earlier days."""
    lo, hi = _baseline_bounds(grid.restart, grid.days, cfg)
    return {name: _fit(grid.sig[name], grid.x, grid.enough & ~np.isnan(grid.sig[name]), lo, hi,
                       getattr(cfg.sigma_floor, name), relative=name != "oscillation", cfg=cfg)
            for name in SIGNALS}


def settings_key(cfg: FeatureSettings) -> str:
    """A short name of the feature settings (stored baselines are valid only under the settings they had)."""
    return hashlib.sha256(repr(cfg).encode()).hexdigest()[:12]


def day_baselines(frame: pd.DataFrame, cfg: FeatureSettings, days: Sequence[date]) -> pd.DataFrame:
    """Each unit's baseline for each of `days`: one row per unit of `frame` and day (`BASELINE_COLUMNS`; NaN
    spreads where a signal has none), what `unit_hour_features` reads back through `baselines=`.

    `frame` holds the hourly windows of the `lookback_days` before each day (a day's baseline reads nothing of the
    day itself, so it can be computed, and stored, as soon as the day before is complete). Days before the
    frame's first day get no rows.
    """
    columns = ["compressor_id", "date", "feature_settings", *BASELINE_COLUMNS]
    if frame.empty or not days:
        return pd.DataFrame(columns=columns)
    first_day = unit_hours(frame)[3] // 24  # days since the epoch
    index = {d: (np.datetime64(d, "D").astype(np.int64) - first_day) for d in days}
    grid = dense_grid(frame, cfg, days=int(max(index.values())) + 1)
    fits = fit_grid(grid, cfg)
    parts = []
    for d, i in sorted(index.items()):
        if i < 0:
            continue
        part: dict[str, object] = {"compressor_id": grid.units, "date": d, "feature_settings": settings_key(cfg)}
        for name, (beta, sigma, provisional) in fits.items():
            part.update({f"{name}_b{k}": beta[:, i, k] for k in range(REGRESSORS)})
            part.update({f"{name}_sigma": sigma[:, i], f"{name}_provisional": provisional[:, i]})
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def stored_fits(baselines: pd.DataFrame, grid: Grid) -> Fits:
    """`day_baselines` rows on the grid's (unit, day) cells; NaN where a unit-day has none."""
    units, days = len(grid.units), grid.days
    fits: Fits = {name: (np.full((units, days, REGRESSORS), np.nan), np.full((units, days), np.nan),
                         np.zeros((units, days), dtype=bool)) for name in SIGNALS}
    if baselines.empty:
        return fits
    ids = baselines["compressor_id"].to_numpy(dtype=object)
    pos = np.minimum(np.searchsorted(grid.units, ids), units - 1)
    day = (pd.to_datetime(baselines["date"]).to_numpy().astype("datetime64[D]").astype(np.int64)
           - grid.first // 24)
    ok = (grid.units[pos] == ids) & (day >= 0) & (day < days)
    pos, day = pos[ok], day[ok]
    for name, (beta, sigma, provisional) in fits.items():
        beta[pos, day] = baselines.loc[ok, [f"{name}_b{k}" for k in range(REGRESSORS)]].to_numpy(dtype=float)
        sigma[pos, day] = pd.to_numeric(baselines.loc[ok, f"{name}_sigma"]).to_numpy(dtype=float)
        provisional[pos, day] = baselines.loc[ok, f"{name}_provisional"].fillna(False).to_numpy(dtype=bool)
    return fits
