"""Fitting the maintenance bundle from labelled unit-hour features (`altaviz.ml.labels.label_hours`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from altaviz.ml.features import ANOMALY_FEATURES, FEATURES
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


def fit_bundle(rows: pd.DataFrame, settings: MlSettings, thresholds: Thresholds
               ) -> tuple[MaintenanceBundle, dict[str, float]]:
    """Fit every estimator on labelled rows; return the bundle and training metrics (counts, healthy flag rate).

    Healthy hours train the anomaly model and set its flag threshold; degrading hours train RUL and the
    failure-mode classifier.

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
    threshold = max(float(np.quantile(healthy_scores, cfg.flag_quantile)), cfg.min_flag_score)
    x = degrading[list(FEATURES)].to_numpy(dtype=float)
    target = np.log1p(degrading["hours_to_critical"].to_numpy(dtype=float))
    rul = {}
    for key, q in (("low", settings.rul.low_quantile), ("mid", 0.5), ("high", settings.rul.high_quantile)):
        rul[key] = HistGradientBoostingRegressor(loss="quantile", quantile=q, max_iter=settings.rul.max_iter,
                                                 learning_rate=settings.rul.learning_rate, random_state=SEED)
        rul[key].fit(x, target)
    mode = HistGradientBoostingClassifier(max_iter=settings.rul.max_iter, learning_rate=settings.rul.learning_rate,
                                          random_state=SEED)
    mode.fit(x, degrading["failure_mode"].astype(str).to_numpy())
    bundle = MaintenanceBundle(forest=forest, threshold=threshold, rul=rul, mode=mode,
                               modes=tuple(str(m) for m in mode.classes_), temp_levels=temp_levels(thresholds),
                               settings=settings)
    degrading_scores = deviation_score(degrading[list(ANOMALY_FEATURES)].to_numpy(dtype=float))
    metrics = {"healthy_hours": float(len(healthy)), "degrading_hours": float(len(degrading)),
               "episodes": float(degrading["episode_id"].nunique()), "flag_threshold": threshold,
               "healthy_flag_rate": float((healthy_scores > threshold).mean()),
               "degrading_flag_rate": float((degrading_scores > threshold).mean())}
    return bundle, metrics


def mode_counts(rows: pd.DataFrame) -> Mapping[str, int]:
    """Degrading episodes per failure mode in labelled rows."""
    degrading = rows[rows["state"] == "degrading"]
    return degrading.groupby("failure_mode")["episode_id"].nunique().to_dict()
