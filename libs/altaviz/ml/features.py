"""Unit-hour features for the models: every signal against the unit's own baseline, smoothed, and its trend.

Input: the hourly Gold windows (`sensor_readings_agg`, `window_type = '1hr'`) of many units, as one pandas frame
(the Spark side hands each partition of units to `unit_hour_features`). Everything is computed on dense
(unit x hour) grids with numpy, so a frame of thousands of units costs a few array passes.

For each unit and day D the baseline is a least-squares fit of each signal on horsepower (load) and time of day
(sin, cos) over the unit's hours of days [D - gap - baseline_days, D - gap), never earlier than the day after the
unit last came back from a long silence (a shutdown or repair) before D; from a return during D on, the rest of
D is judged against its peers (below). A signal's deviation in an hour is its residual against that fit divided
by the fit's residual spread (a z-score). The fit uses only data from before day D, so it can be fitted once and
stored (`altaviz.ml.baselines`, the `ml_baselines` table) and an hour's features are the same whether it is scored in
its hourly run, from the stored baselines and two days of windows, or in a backfill.

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

from altaviz.ml.baselines import (
    HOUR_NS,
    REGRESSORS,
    dense_grid,
    fit_grid,
    restarted_today,
    signals,
    stored_fits,
    utc,
)
from altaviz.ml.settings import SIGNALS, FeatureSettings

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
#: hour's deviations (the weakest of its long window): 0 the unit's own, 1 provisional (see `altaviz.ml.baselines`), 2 its peers'.
FEATURES = tuple(f"{kind}_{s}" for s in SIGNALS for kind in ("z1", "zs", "zl", "trend")) + (
    "temp_slope_f_per_hour", "baseline_provisional")
#: What the anomaly model reads: the smoothed deviations.
ANOMALY_FEATURES = tuple(f"{kind}_{s}" for s in SIGNALS for kind in ("zs", "zl"))
#: Per signal, per compressor model ("" for any model not listed): the peer baseline's coefficients (one per
#: regressor) and residual spread.
PeerReference = dict[str, dict[str, tuple[tuple[float, ...], float]]]
PROVISIONAL_TIER, PEER_TIER = 1.0, 2.0


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
    missing = ((np.nan,) * REGRESSORS, np.nan)
    picked = [reference.get(m, reference.get("", missing)) for m in models]
    return (np.array([b for b, _ in picked], dtype=float).reshape(len(models), REGRESSORS),
            np.array([s for _, s in picked], dtype=float))


def peer_fit(frame: pd.DataFrame, cfg: FeatureSettings, healthy: np.ndarray) -> PeerReference:
    """The peer reference from hourly Gold windows (`INPUT_COLUMNS`, e.g. of training fleets) and which rows are
    healthy: per signal and compressor model ("" for all of them) the least-squares fit on the same regressors as a
    unit's own baseline, with a robust spread (1.4826 x the median absolute residual, floored as a unit's own
    baseline's spread is)."""
    if frame.empty:
        return {}
    sig = signals(frame)
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
            if rows.sum() < 10 * REGRESSORS:
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
                       since: pd.Timestamp | None = None, baselines: pd.DataFrame | None = None) -> pd.DataFrame:
    """The features of every hour in `frame` that has a baseline (its own, provisional or its peers') and enough
    readings.

    Args:
        frame: Hourly Gold windows (`INPUT_COLUMNS`) of any number of units and hours.
        cfg: Feature settings (`config/ml.yaml` `features:`).
        peer: The peer reference (`peer_fit`) for unit-days with no baseline of their own; None: not scored.
        since: Only rows of hours starting at or after this (the earlier ones are the lookback); None: every hour.
        baselines: The stored baselines (`day_baselines` rows) of the days of the hours scored and of the
            `long_hours` before them; `frame` then needs only those hours and the `reset_after_silence_hours`
            before them. None: fitted here, from `frame`, which then holds the `lookback_days` before them.

    Returns:
        One row per scored unit-hour: `compressor_id`, `hour` (start, UTC), `model`, `station_id`, `basin`,
        `operating_minutes`, `temp_level_f` (24-hour mean discharge temperature), `discharge_deficit_psi` (how far
        discharge pressure sits below its baseline, 24-hour mean, >= 0), and `FEATURES`.
    """
    if frame.empty:
        return pd.DataFrame(columns=[*_identity(), "operating_minutes", "temp_level_f", "discharge_deficit_psi",
                                     *FEATURES])
    grid = dense_grid(frame, cfg)
    unit, hour, shape = grid.unit, grid.hour, grid.count.shape
    fits = fit_grid(grid, cfg) if baselines is None else stored_fits(baselines, grid)
    restarted = restarted_today(grid.restart)
    out: dict[str, np.ndarray] = {}
    residuals: dict[str, np.ndarray] = {}
    scored = grid.enough.copy()
    provisional = np.zeros(shape, dtype=bool)
    from_peers = np.zeros(shape, dtype=bool)
    unit_models = (pd.Series(frame["model"].fillna("").astype(str).to_numpy()).groupby(unit).first()
                   .reindex(range(len(grid.units)), fill_value="").to_numpy())
    for name in SIGNALS:
        ok = grid.enough & ~np.isnan(grid.sig[name])
        resid, sigma_hourly, provisional_hours, peer_hours = _signal_residuals(
            grid.sig[name], grid.x, ok, fits[name], restarted, peer.get(name) if peer else None, unit_models)
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
    out["temp_level_f"] = _trailing_mean(grid.sig["temperature"], cfg.long_hours)
    out["discharge_deficit_psi"] = np.maximum(-_trailing_mean(residuals["discharge"], cfg.long_hours), 0.0)
    out["operating_minutes"] = np.minimum(grid.count * 5.0, 60.0)
    keep = scored[unit, hour] & np.all([~np.isnan(out[f][unit, hour]) for f in ANOMALY_FEATURES], axis=0)
    if since is not None:
        keep &= grid.first + hour >= pd.Timestamp(since).value // HOUR_NS  # .value: ns since the epoch
    return _scored_rows(frame, keep, unit[keep], hour[keep], grid.first, out)


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


def _signal_residuals(y: np.ndarray, x: np.ndarray, ok: np.ndarray,
                      fit: tuple[np.ndarray, np.ndarray, np.ndarray], restarted: np.ndarray,
                      peer: dict[str, tuple[tuple[float, ...], float]] | None, unit_models: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One signal's residuals against each unit-hour's baseline: its day's own (or provisional) fit, or, with
    none (or after a restart that day), its peers'.

    Returns (residual, baseline sigma, provisional, from peers), each per unit-hour.
    """
    day_of_hour = np.arange(y.shape[1]) // 24
    beta, sigma, provisional = (part[:, day_of_hour] for part in fit)
    beta = np.where(restarted[..., None], np.nan, beta)
    sigma = np.where(restarted, np.nan, sigma)
    provisional = provisional & ~restarted
    from_peers = np.zeros(sigma.shape, dtype=bool)
    if peer:
        peer_beta, peer_sigma = _peer_arrays(peer, unit_models)
        from_peers = np.isnan(sigma) & ~np.isnan(peer_sigma)[:, None]
        beta = np.where(from_peers[..., None], peer_beta[:, None, :], beta)
        sigma = np.where(from_peers, peer_sigma[:, None], sigma)
    expected = np.einsum("uhi,uhi->uh", x, beta)
    return np.where(ok, y - expected, np.nan), sigma, provisional, from_peers


def _identity() -> tuple[str, ...]:
    return ("compressor_id", "hour", "model", "station_id", "basin")
