"""The maintenance model: anomaly score and flag, contributing sensors, temperature drift, RUL and failure mode.

One bundle of scikit-learn estimators, registered in MLflow as one model (`altaviz.ml.registry`), whose
`predict` turns unit-hour features (`altaviz.ml.features`) into predictions:

- anomaly: `anomaly_score` is the largest smoothed deviation of any signal from the unit's own baseline (in
  baseline spreads), flagged above a quantile of the training fleets' healthy hours. `isolation_score` is an
  Isolation Forest's (negated) score over the same deviations, fitted on healthy hours: it sees combinations of
  moderate deviations, but a failure that moves one signal hides among twelve dimensions (on a 100-unit training
  fleet it flagged none of the degrading hours at the healthy 99.9 % quantile; the deviation score, 84 %), so it is
  reported, not alerted on;
- contributing sensors: the signals furthest from their baseline (short-window deviation), strongest first;
- temperature drift: hours until discharge temperature reaches the unit's warning and critical thresholds at its
  trailing trend (null when it is not rising);
- RUL: quantile gradient boosting of the hours until the unit turns critical (an 80 % interval and a median),
  fitted on degrading hours; null for hours not flagged, never negative;
- failure mode: a gradient-boosted classifier over the same features, fitted on degrading hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from altaviz.ml.features import ANOMALY_FEATURES, FEATURES, PEER_TIER, SIGNAL_SENSOR, PeerReference
from altaviz.ml.settings import SIGNALS, MlSettings

#: The prediction columns `MaintenanceBundle.predict` returns, in order.
PREDICTION_COLUMNS = ("anomaly_score", "isolation_score", "anomaly_flag", "contributing_sensors", "top_deviation",
                      "hours_to_temp_warning", "hours_to_temp_critical", "rul_hours", "rul_low_hours",
                      "rul_high_hours", "failure_mode", "failure_mode_probability", "packing_vent_scfm")
PACKING_MODE = "rod_packing_leak"


@dataclass
class MaintenanceBundle:
    """The fitted estimators and the settings scoring needs (pickled into the registered model)."""

    forest: object
    threshold: float
    rul: Mapping[str, object]  # "low", "mid", "high" -> a regressor of log1p(hours to critical)
    mode: object
    modes: tuple[str, ...]
    temp_levels: Mapping[str, tuple[float, float]]  # model (or "") -> (warning, critical) discharge temp, °F
    settings: MlSettings
    baseline_vent_scfm: float = 0.41
    #: The flag threshold of hours on a provisional baseline (None: `threshold`); fitted apart, since a baseline of
    #: a day or two spreads healthy deviations wider.
    provisional_threshold: float | None = None
    #: Log1p hours each side of the RUL interval is widened by (conformal calibration, `altaviz.ml.fit`).
    rul_margin: float = 0.0
    #: The peer baselines of unit-days without one of their own (`altaviz.ml.features.peer_fit`; None: such days
    #: are not scored), and the flag threshold of hours judged against them (None: the provisional one).
    peer: PeerReference | None = None
    peer_threshold: float | None = None

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for feature rows (`FEATURES`, plus `model`, `temp_level_f`, `discharge_deficit_psi`)."""
        n = len(frame)
        if n == 0:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in PREDICTION_COLUMNS})
        features = frame.reindex(columns=list(FEATURES)).to_numpy(dtype=float)
        deviations = frame[list(ANOMALY_FEATURES)].to_numpy(dtype=float)
        score = deviation_score(deviations)
        isolation = -self.forest.score_samples(deviations)
        flag = score > self.thresholds(frame)
        sensors, top = contributing(frame, self.settings.anomaly.top_sensors,
                                    self.settings.anomaly.min_contribution_z)
        to_warning, to_critical = self._drift(frame)
        low, mid, high, mode, probability = self._degradation(features, flag)
        deficit = pd.to_numeric(frame.get("discharge_deficit_psi"), errors="coerce").to_numpy(dtype=float)
        vent = np.where(flag & (mode == PACKING_MODE),
                        self.baseline_vent_scfm + self.settings.packing.vent_scfm_per_psi_lost * np.nan_to_num(deficit),
                        np.nan)
        return pd.DataFrame({
            "anomaly_score": score, "isolation_score": isolation, "anomaly_flag": flag, "contributing_sensors": sensors,
            "top_deviation": top, "hours_to_temp_warning": to_warning, "hours_to_temp_critical": to_critical,
            "rul_hours": mid, "rul_low_hours": low, "rul_high_hours": high,
            "failure_mode": mode, "failure_mode_probability": probability, "packing_vent_scfm": vent,
        })

    def _degradation(self, features: np.ndarray, flag: np.ndarray) -> tuple[np.ndarray, ...]:
        """RUL (low, median, high hours) and the most likely failure mode with its probability, for the flagged
        rows only (null elsewhere): the boosted models cost most of scoring and answer only for a flagged hour."""
        n = len(flag)
        low, mid, high, probability = (np.full(n, np.nan) for _ in range(4))
        mode = np.full(n, None, dtype=object)
        if not flag.any():
            return low, mid, high, mode, probability
        rows = features[flag]
        lo, md, hi = (self.rul[k].predict(rows) for k in ("low", "mid", "high"))
        lo, hi = lo - self.rul_margin, hi + self.rul_margin
        lo, md, hi = (np.maximum(np.expm1(v), 0.0) for v in (lo, md, hi))
        low[flag], mid[flag], high[flag] = np.minimum(lo, md), md, np.maximum(hi, md)
        proba = self.mode.predict_proba(rows)
        mode[flag] = np.asarray(self.modes, dtype=object)[proba.argmax(axis=1)]
        probability[flag] = proba.max(axis=1)
        return low, mid, high, mode, probability

    def thresholds(self, frame: pd.DataFrame) -> np.ndarray:
        """The flag threshold of each feature row."""
        tier = pd.to_numeric(frame.get("baseline_provisional", 0.0), errors="coerce")
        tier = np.broadcast_to(np.nan_to_num(np.asarray(tier, dtype=float)), (len(frame),))
        provisional = self.threshold if self.provisional_threshold is None else self.provisional_threshold
        peer = provisional if self.peer_threshold is None else self.peer_threshold
        return np.select([tier >= PEER_TIER, tier > 0], [peer, provisional], self.threshold)

    def _drift(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Hours until the warning and critical discharge temperatures at the trailing trend (null: not rising)."""
        slope = frame["temp_slope_f_per_hour"].to_numpy(dtype=float)
        # The 24-hour mean lags the present by half its window.
        level = frame["temp_level_f"].to_numpy(dtype=float) + slope * self.settings.features.long_hours / 2
        default = self.temp_levels[""]
        levels = np.array([self.temp_levels.get(m, default) for m in frame["model"].fillna("")], dtype=float)
        rising = slope >= self.settings.drift.min_slope_f_per_hour
        with np.errstate(invalid="ignore", divide="ignore"):
            hours = [np.where(rising, np.maximum((levels[:, i] - level) / slope, 0.0), np.nan) for i in (0, 1)]
        return hours[0], hours[1]


def deviation_score(deviations: np.ndarray) -> np.ndarray:
    """The largest absolute smoothed deviation per row (baseline spreads)."""
    return np.abs(deviations).max(axis=1)


def contributing(frame: pd.DataFrame, top: int, min_z: float) -> tuple[list[list[str]], np.ndarray]:
    """Per row, the sensors whose signal sits at least `min_z` spreads from its baseline (short or long window;
    strongest first, at most `top`, each sensor once), and the largest such deviation."""
    z = np.fmax(np.abs(frame[[f"zs_{s}" for s in SIGNALS]].to_numpy(dtype=float)),
                np.abs(frame[[f"zl_{s}" for s in SIGNALS]].to_numpy(dtype=float)))
    order = np.argsort(-np.nan_to_num(z, nan=0.0), axis=1)
    names = []
    for row, ranks in zip(z, order, strict=True):
        picked: list[str] = []
        for i in ranks:
            sensor = SIGNAL_SENSOR[SIGNALS[i]]
            if len(picked) < top and row[i] >= min_z and sensor not in picked:
                picked.append(sensor)
        names.append(picked)
    return names, np.nanmax(z, axis=1)
