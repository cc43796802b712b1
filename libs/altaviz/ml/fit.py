"""Fitting the maintenance bundle from labelled unit-hour features (`altaviz.ml.labels.label_hours`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from altaviz.ml.features import ANOMALY_FEATURES, FEATURES, PEER_TIER, PeerReference
from altaviz.ml.model import MaintenanceBundle, deviation_score
from altaviz.ml.settings import MlSettings
from altaviz.thresholds import Thresholds

SEED = 20261202


def temp_levels(thresholds: Thresholds) -> dict[str, tuple[float, float]]:
    """(warning, critical) discharge temperature per compressor model, "" for the fleet default."""
    def levels(model: str | None) -> tuple[float, float]:
        t = thresholds.for_model(model)["discharge_temp_f"]
        return float(t.warning), float(t.critical)  # type: ignore[arg-type]

    return {"": levels(None), **{m: levels(m) for m in thresholds.overrides}}


def fit_bundle(rows: pd.DataFrame, settings: MlSettings, thresholds: Thresholds, peer: PeerReference | None = None
               ) -> tuple[MaintenanceBundle, dict[str, float]]:
    """Fit every estimator on labelled rows; return the bundle and training metrics (counts, healthy flag rate).

    Healthy hours train the anomaly model and set its flag thresholds (one per baseline tier); degrading hours
    train RUL and the failure-mode classifier. `peer`: the peer reference the rows' features were computed with.

    Raises:
        ValueError: The rows hold no healthy or no degrading hours (the training fleets are too small).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, IsolationForest

    healthy = rows[rows["state"] == "healthy"]
    degrading = rows[rows["state"] == "degrading"]
    if len(healthy) < 500 or degrading["failure_mode"].nunique() < 2:
        raise ValueError(f"training needs healthy hours and degrading hours of two failure modes or more "
                         f"(got {len(healthy)} healthy, {len(degrading)} degrading): simulate more or longer fleets")
    cfg = settings.anomaly
    forest = IsolationForest(n_estimators=cfg.n_estimators, max_samples=min(cfg.max_samples, len(healthy)),
                             random_state=SEED, n_jobs=1)
    healthy_x = healthy[list(ANOMALY_FEATURES)].to_numpy(dtype=float)
    forest.fit(healthy_x)
    healthy_scores = deviation_score(healthy_x)
    tier = healthy["baseline_provisional"].to_numpy(dtype=float)
    threshold = _threshold(healthy_scores[tier == 0], cfg.flag_quantile, cfg.min_flag_score)
    provisional_threshold = max(threshold, _threshold(healthy_scores[(tier > 0) & (tier < PEER_TIER)],
                                                      cfg.flag_quantile, cfg.min_flag_score))
    peer_threshold = max(provisional_threshold, _threshold(healthy_scores[tier >= PEER_TIER], cfg.flag_quantile,
                                                           cfg.min_flag_score))
    x = degrading[list(FEATURES)].to_numpy(dtype=float)
    target = np.log1p(degrading["hours_to_critical"].to_numpy(dtype=float))

    def quantile_model(q: float) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(loss="quantile", quantile=q, max_iter=settings.rul.max_iter,
                                             learning_rate=settings.rul.learning_rate, random_state=SEED)

    quantiles = {"low": settings.rul.low_quantile, "mid": 0.5, "high": settings.rul.high_quantile}
    rul = {key: quantile_model(q).fit(x, target) for key, q in quantiles.items()}
    mode = HistGradientBoostingClassifier(max_iter=settings.rul.max_iter, learning_rate=settings.rul.learning_rate,
                                          random_state=SEED)
    mode.fit(x, degrading["failure_mode"].astype(str).to_numpy())
    bundle = MaintenanceBundle(forest=forest, threshold=threshold, rul=rul, mode=mode,
                               modes=tuple(str(m) for m in mode.classes_), temp_levels=temp_levels(thresholds),
                               settings=settings, provisional_threshold=provisional_threshold, peer=peer,
                               peer_threshold=peer_threshold if peer else None)
    bundle.rul_margin = rul_margin(degrading, x, target, bundle, lambda q: quantile_model(q), quantiles)
    degrading_scores = deviation_score(degrading[list(ANOMALY_FEATURES)].to_numpy(dtype=float))
    healthy_flags = healthy_scores > bundle.thresholds(healthy)
    degrading_flags = degrading_scores > bundle.thresholds(degrading)
    metrics = {"rul_margin_log": bundle.rul_margin, "healthy_hours": float(len(healthy)), "degrading_hours": float(len(degrading)),
               "episodes": float(degrading["episode_id"].nunique()), "flag_threshold": threshold,
               "provisional_flag_threshold": provisional_threshold, "peer_flag_threshold": peer_threshold,
               "peer_healthy_hours": float((tier >= PEER_TIER).sum()),
               "healthy_flag_rate": float(healthy_flags.mean()), "degrading_flag_rate": float(degrading_flags.mean())}
    return bundle, metrics


def rul_margin(degrading: pd.DataFrame, x: np.ndarray, target: np.ndarray, bundle: MaintenanceBundle,
               model: Callable[[float], Any], quantiles: Mapping[str, float], folds: int = 4) -> float:
    """How far to widen the RUL interval (log1p hours, each side) so it covers its nominal share of new failures.

    Conformalised quantile regression, cross-fitted by failure episode: the low and high models are refitted
    without each fold's episodes and scored on that fold's flagged hours before critical (the hours an interval
    is reported for); the margin is the conformity quantile at the interval's nominal level. Quantile models
    fitted on a few dozen episodes are overconfident on the next fleet; this widens them by what held-out
    episodes show (it may also narrow them). 0 when there are too few episodes to hold any out.
    """
    episodes = degrading["episode_id"].to_numpy()
    unique = np.unique(episodes)
    if len(unique) < 2 * folds:
        return 0.0
    order = np.random.default_rng(SEED).permutation(unique)
    fold_of = dict(zip(order, np.arange(len(order)) % folds, strict=True))
    fold = np.array([fold_of[e] for e in episodes])
    reported = ((deviation_score(degrading[list(ANOMALY_FEATURES)].to_numpy(dtype=float))
                 > bundle.thresholds(degrading)) & (degrading["hours_to_critical"].to_numpy(dtype=float) > 0))
    scores = []
    for k in range(folds):
        held = (fold == k) & reported
        if not held.any():
            continue
        train = fold != k
        low = model(quantiles["low"]).fit(x[train], target[train]).predict(x[held])
        high = model(quantiles["high"]).fit(x[train], target[train]).predict(x[held])
        scores.append(np.maximum(low - target[held], target[held] - high))
    if not scores:
        return 0.0
    conformity = np.concatenate(scores)
    level = min(1.0, (quantiles["high"] - quantiles["low"]) * (1 + 1 / len(conformity)))
    return float(np.quantile(conformity, level))


def _threshold(scores: np.ndarray, quantile: float, floor: float) -> float:
    """The `quantile` of healthy scores, never below `floor` (the floor alone when there are no scores)."""
    return max(float(np.quantile(scores, quantile)), floor) if len(scores) else floor


def mode_counts(rows: pd.DataFrame) -> Mapping[str, int]:
    """Degrading episodes per failure mode in labelled rows."""
    degrading = rows[rows["state"] == "degrading"]
    return degrading.groupby("failure_mode")["episode_id"].nunique().to_dict()
