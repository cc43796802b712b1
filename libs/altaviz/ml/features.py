"""Unit-hour features for the models: every signal against the unit's own baseline, smoothed, and its trend.

Input: the hourly Gold windows (`sensor_readings_agg`, `window_type = '1hr'`) of many units, as one pandas frame
(the Spark side hands each partition of units to `unit_hour_features`). Everything is computed on dense
(unit x hour) grids with numpy, so a frame of thousands of units costs a few array passes.

For each unit and day D the baseline is a least-squares fit of each signal on horsepower (load) and time of day
(sin, cos) over the unit's hours of days [D - gap - baseline_days, D - gap), never earlier than the day after the
unit last came back from a long silence (a shutdown or repair). A signal's deviation in an hour is its residual
against that fit divided by the fit's residual spread (a z-score). The fit uses only data from before day D, so
an hour's features are the same whether it is scored in its hourly run or in a backfill.

A unit-day with no baseline of its own yet (its first day of data, or the day after a restart) is judged against
its peers instead: a fit of each signal per compressor model over the training fleets' healthy hours, its spread
pooled across units (`PeerReference`, stored in the model bundle). A unit that is already failing when its data
begins stands out from its peers long before it has a baseline of its own.

Signals: vibration, discharge temperature, suction and discharge pressure (hourly means), efficiency (gas flow
per horsepower: falls as rings wear) and oscillation (log of the hour's discharge-pressure spread: grows as a valve
fails).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from altaviz.ml.settings import SIGNALS, FeatureSettings

HOUR_NS = 3_600_000_000_000
#: The sensor each signal is read from (what an operator is shown as contributing).
SIGNAL_SENSOR = {"vibration": "vibration_mms", "temperature": "discharge_temp_f", "suction": "suction_pressure_psi",
                 "discharge": "discharge_pressure_psi", "efficiency": "gas_flow_mcf",
                 "oscillation": "discharge_pressure_psi"}
#: The Gold columns the features are computed from.
INPUT_COLUMNS = ("compressor_id", "agg_timestamp", "model", "station_id", "basin", "reading_count",
                 "vibration_mms_mean", "discharge_temp_f_mean", "suction_pressure_psi_mean",
                 "discharge_pressure_psi_mean", "discharge_pressure_psi_std", "horsepower_consumption_mean",
                 "gas_flow_mcf_mean")
#: Model inputs, in order: per signal the 1-hour, short- and long-window deviations and the long-window trend of
#: the deviation (per hour); then the discharge temperature trend in °F per hour, and the baseline tier of the
#: hour's deviations (the weakest of its long window): 0 the unit's own, 1 provisional (see `_fit`), 2 its peers'.
FEATURES = tuple(f"{kind}_{s}" for s in SIGNALS for kind in ("z1", "zs", "zl", "trend")) + (
    "temp_slope_f_per_hour", "baseline_provisional")
#: What the anomaly model reads: the smoothed deviations.
ANOMALY_FEATURES = tuple(f"{kind}_{s}" for s in SIGNALS for kind in ("zs", "zl"))
_REGRESSORS = 4  # 1, horsepower / 1000, sin and cos of the hour of day
#: Per signal, per compressor model ("" for any model not listed): the peer baseline's coefficients (one per
#: regressor) and residual spread.
PeerReference = dict[str, dict[str, tuple[tuple[float, ...], float]]]
PROVISIONAL_TIER, PEER_TIER = 1.0, 2.0


def utc(stamps: pd.Series) -> pd.Series:
    """Timestamps as UTC, nanoseconds. Spark hands pandas naive timestamps in the session time zone (UTC);
    Arrow readers give aware ones."""
    stamps = pd.to_datetime(stamps)
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return stamps.astype("datetime64[ns, UTC]")


def _grid(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(unit index, hour index) of every row, the units in order, and the first hour (ns, a UTC midnight)."""
    hours = utc(frame["agg_timestamp"]).astype("int64").to_numpy() // HOUR_NS
    first = int(hours.min()) // 24 * 24
    units, unit_index = np.unique(frame["compressor_id"].to_numpy(dtype=object), return_inverse=True)
    return unit_index, hours - first, units, first


def _signals(frame: pd.DataFrame) -> dict[str, np.ndarray]:
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
    x = np.empty((*hp.shape, _REGRESSORS))
    x[..., 0] = 1.0
    x[..., 1] = hp / 1000.0
    x[..., 2] = np.sin(angle)[None, :]
    x[..., 3] = np.cos(angle)[None, :]
    return x


def _baseline_bounds(present: np.ndarray, days: int, cfg: FeatureSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per (unit, day) the first and one-past-last baseline day: the window, cut at the last restart."""
    units, hours = present.shape
    # A unit first seen well after the grid's first midnight counts as restarting too, so a window read for an
    # hourly run and a backfill over all history find the same restarts.
    idx = np.where(present, np.arange(hours)[None, :], 0)
    last_seen = np.maximum.accumulate(idx, axis=1)
    previous = np.concatenate([np.zeros((units, 1), dtype=int), last_seen[:, :-1]], axis=1)
    restart = present & (np.arange(hours)[None, :] - previous >= cfg.reset_after_silence_hours)
    restart_day = np.where(restart, np.arange(hours)[None, :] // 24, -1).reshape(units, days, 24).max(axis=2)
    restart_day = np.maximum.accumulate(restart_day, axis=1)  # the last restart on or before each day
    day = np.arange(days)[None, :]
    hi = np.clip(day - cfg.gap_days, 0, days)
    lo = np.clip(np.maximum(day - cfg.gap_days - cfg.baseline_days, restart_day + 1), 0, days)
    return lo, np.maximum(lo, hi)


class _DailySums:
    """Per (unit, day) sums of one signal's least-squares terms, so any window of whole days costs a subtraction."""

    def __init__(self, y: np.ndarray, x: np.ndarray, ok: np.ndarray) -> None:
        units, hours = y.shape
        self.units, self.days = units, hours // 24
        y0 = np.where(ok, y, 0.0)
        x0 = np.where(ok[..., None], x, 0.0)
        shape = (units, self.days, 24)
        self.xx = self._cumulative(np.einsum("uhi,uhj->uhij", x0, x0).reshape(*shape, _REGRESSORS, _REGRESSORS)
                                   .sum(axis=2))
        self.xy = self._cumulative((x0 * y0[..., None]).reshape(*shape, _REGRESSORS).sum(axis=2))
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
        ridge = np.eye(_REGRESSORS)[None, None] * (1e-6 + 1e-3 * n[..., None, None])
        ridge[..., 0, 0] = 1e-9  # never shrink the level
        beta = np.linalg.solve(np.where(enough[..., None, None], xx + ridge, np.eye(_REGRESSORS)),
                               np.where(enough[..., None], xy, 0.0)[..., None])[..., 0]
        sse = yy - 2 * np.einsum("udi,udi->ud", beta, xy) + np.einsum("udi,udij,udj->ud", beta, xx, beta)
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma = np.sqrt(np.maximum(sse, 0.0) / np.maximum(n - _REGRESSORS, 1.0))
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


def _trailing_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Mean of the non-missing values of each row's trailing `width` hours (half of them at least)."""
    ok = ~np.isnan(values)
    cs = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(np.where(ok, values, 0.0), axis=1)], axis=1)
    cn = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(ok, axis=1)], axis=1)
    end = np.arange(1, values.shape[1] + 1)
    start = np.maximum(end - width, 0)
    count = cn[:, end] - cn[:, start]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= max(1, width // 2), (cs[:, end] - cs[:, start]) / count, np.nan)


def _trailing_slope(values: np.ndarray, width: int) -> np.ndarray:
    """Least-squares slope per hour over each row's trailing `width` hours (half of them at least)."""
    t = np.broadcast_to(np.arange(values.shape[1], dtype=float), values.shape)
    ok = ~np.isnan(values)
    parts = [np.where(ok, v, 0.0) for v in (np.ones_like(values), t, values, t * t, t * values)]
    sums = []
    for p in parts:
        cs = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(p, axis=1)], axis=1)
        end = np.arange(1, values.shape[1] + 1)
        sums.append(cs[:, end] - cs[:, np.maximum(end - width, 0)])
    n, st, sv, stt, stv = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (n * stv - st * sv) / (n * stt - st * st)
    return np.where(n >= max(3, width // 2), slope, np.nan)


def _peer_arrays(reference: dict[str, tuple[tuple[float, ...], float]], models: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per unit (its compressor model): the peer coefficients (units, 4) and spread (units,); NaN without one."""
    missing = ((np.nan,) * _REGRESSORS, np.nan)
    picked = [reference.get(m, reference.get("", missing)) for m in models]
    return (np.array([b for b, _ in picked], dtype=float).reshape(len(models), _REGRESSORS),
            np.array([s for _, s in picked], dtype=float))


def peer_fit(frame: pd.DataFrame, cfg: FeatureSettings, healthy: np.ndarray) -> PeerReference:
    """The peer reference from hourly Gold windows (`INPUT_COLUMNS`, e.g. of training fleets) and which rows are
    healthy: per signal and compressor model ("" for all of them) the least-squares fit on the same regressors as a
    unit's own baseline, with a robust spread (1.4826 x the median absolute residual, floored as in `_fit`)."""
    if frame.empty:
        return {}
    sig = _signals(frame)
    angle = 2 * np.pi * utc(frame["agg_timestamp"]).dt.hour.to_numpy() / 24.0
    x = np.stack([np.ones(len(frame)), sig["hp"] / 1000.0, np.sin(angle), np.cos(angle)], axis=1)
    count = pd.to_numeric(frame["reading_count"], errors="coerce").to_numpy(dtype=float)
    base = healthy & (count >= cfg.min_readings_per_hour) & np.isfinite(sig["hp"])
    models = frame["model"].fillna("").astype(str).to_numpy()
    out: PeerReference = {}
    for name in SIGNALS:
        y = sig[name]
        floor = getattr(cfg.sigma_floor, name)
        fits: dict[str, tuple[tuple[float, ...], float]] = {}
        for model in ["", *sorted(set(models) - {""})]:
            rows = base & np.isfinite(y) & ((models == model) if model else True)
            if rows.sum() < 10 * _REGRESSORS:
                continue
            beta, *_ = np.linalg.lstsq(x[rows], y[rows], rcond=None)
            resid = y[rows] - x[rows] @ beta
            spread = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
            level = abs(float(np.mean(y[rows])))
            fits[model] = (tuple(float(b) for b in beta), max(spread, floor * level if name != "oscillation"
                                                                 else floor))
        out[name] = fits
    return out


def unit_hour_features(frame: pd.DataFrame, cfg: FeatureSettings, peer: PeerReference | None = None,
                       since: pd.Timestamp | None = None) -> pd.DataFrame:
    """The features of every hour in `frame` that has a baseline (its own, provisional or its peers') and enough
    readings.

    Args:
        frame: Hourly Gold windows (`INPUT_COLUMNS`) of any number of units and hours.
        cfg: Feature settings (`config/ml.yaml` `features:`).
        peer: The peer reference (`peer_fit`) for unit-days with no baseline of their own; None: not scored.
        since: Only rows of hours starting at or after this (the earlier ones are the lookback); None: every hour.

    Returns:
        One row per scored unit-hour: `compressor_id`, `hour` (start, UTC), `model`, `station_id`, `basin`,
        `operating_minutes`, `temp_level_f` (24-hour mean discharge temperature), `discharge_deficit_psi` (how far
        discharge pressure sits below its baseline, 24-hour mean, >= 0), and `FEATURES`.
    """
    if frame.empty:
        return pd.DataFrame(columns=[*_identity(), "operating_minutes", "temp_level_f", "discharge_deficit_psi",
                                     *FEATURES])
    unit, hour, units, first = _grid(frame)
    days = int(hour.max()) // 24 + 1
    shape = (len(units), days * 24)
    sig = {name: _dense(v, unit, hour, shape) for name, v in _signals(frame).items()}
    count = _dense(pd.to_numeric(frame["reading_count"]).to_numpy(dtype=float), unit, hour, shape)
    present = ~np.isnan(count)
    enough_readings = present & (count >= cfg.min_readings_per_hour) & ~np.isnan(sig["hp"])
    lo, hi = _baseline_bounds(present, days, cfg)
    x = _regressors(sig["hp"], shape[1])
    out: dict[str, np.ndarray] = {}
    residuals: dict[str, np.ndarray] = {}
    scored = enough_readings.copy()
    provisional = np.zeros(shape, dtype=bool)
    from_peers = np.zeros(shape, dtype=bool)
    unit_models = (pd.Series(frame["model"].fillna("").astype(str).to_numpy()).groupby(unit).first()
                   .reindex(range(len(units)), fill_value="").to_numpy())
    for name in SIGNALS:
        ok = enough_readings & ~np.isnan(sig[name])
        resid, sigma_hourly, provisional_hours, peer_hours = _signal_residuals(
            name, sig[name], x, ok, (lo, hi), cfg, peer, unit_models)
        provisional |= provisional_hours
        from_peers |= peer_hours
        z = resid / sigma_hourly
        residuals[name] = resid
        scored &= ~np.isnan(sigma_hourly)
        out[f"z1_{name}"] = z
        out[f"zs_{name}"] = _trailing_mean(z, cfg.short_hours)
        out[f"zl_{name}"] = _trailing_mean(z, cfg.long_hours)
        out[f"trend_{name}"] = _trailing_slope(z, cfg.long_hours)
    out["temp_slope_f_per_hour"] = _trailing_slope(residuals["temperature"], cfg.long_hours)
    # The weakest baseline any signal had at any hour of the long window (its deviations mix in).
    out["baseline_provisional"] = np.select(
        [_trailing_mean(from_peers.astype(float), cfg.long_hours) > 0,
         _trailing_mean(provisional.astype(float), cfg.long_hours) > 0], [PEER_TIER, PROVISIONAL_TIER], 0.0)
    out["temp_level_f"] = _trailing_mean(sig["temperature"], cfg.long_hours)
    out["discharge_deficit_psi"] = np.maximum(-_trailing_mean(residuals["discharge"], cfg.long_hours), 0.0)
    out["operating_minutes"] = np.minimum(count * 5.0, 60.0)
    keep = scored[unit, hour] & np.all([~np.isnan(out[f][unit, hour]) for f in ANOMALY_FEATURES], axis=0)
    if since is not None:
        keep &= first + hour >= pd.Timestamp(since).value // HOUR_NS  # .value: ns since the epoch
    return _scored_rows(frame, keep, unit[keep], hour[keep], first, out)


def _scored_rows(frame: pd.DataFrame, keep: np.ndarray, unit: np.ndarray, hour: np.ndarray, first: int,
                 out: dict[str, np.ndarray]) -> pd.DataFrame:
    """The kept rows of `frame` with their features (`out`, dense per unit-hour), sorted by unit and hour."""
    rows = {c: frame[c].to_numpy()[keep] for c in ("compressor_id", "model", "station_id", "basin")}
    result = pd.DataFrame({
        "compressor_id": rows["compressor_id"],
        "hour": pd.to_datetime((first + hour) * HOUR_NS, utc=True),
        "model": rows["model"], "station_id": rows["station_id"], "basin": rows["basin"],
        **{name: out[name][unit, hour]
           for name in ("operating_minutes", "temp_level_f", "discharge_deficit_psi", *FEATURES)},
    })
    return result.sort_values(["compressor_id", "hour"], kind="stable").reset_index(drop=True)


def _signal_residuals(name: str, y: np.ndarray, x: np.ndarray, ok: np.ndarray, bounds: tuple[np.ndarray, np.ndarray],
                      cfg: FeatureSettings, peer: PeerReference | None, unit_models: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One signal's residuals against each unit-day's baseline (its own, provisional or, with none, its peers').

    Returns (residual, baseline sigma, provisional, from peers), each per unit-hour.
    """
    day_of_hour = np.arange(y.shape[1]) // 24
    beta, sigma, provisional_days = _fit(y, x, ok, *bounds, getattr(cfg.sigma_floor, name),
                                         relative=name != "oscillation", cfg=cfg)
    from_peers = np.zeros(sigma.shape, dtype=bool)
    if peer and peer.get(name):
        peer_beta, peer_sigma = _peer_arrays(peer[name], unit_models)
        from_peers = np.isnan(sigma) & ~np.isnan(peer_sigma)[:, None]
        beta = np.where(from_peers[..., None], peer_beta[:, None, :], beta)
        sigma = np.where(from_peers, peer_sigma[:, None], sigma)
    expected = np.einsum("uhi,uhi->uh", x, beta[:, day_of_hour])
    resid = np.where(ok, y - expected, np.nan)
    return resid, sigma[:, day_of_hour], provisional_days[:, day_of_hour], from_peers[:, day_of_hour]


def _identity() -> tuple[str, ...]:
    return ("compressor_id", "hour", "model", "station_id", "basin")
