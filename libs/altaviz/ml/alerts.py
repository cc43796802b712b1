"""Predictive alerts: the lifecycle of `alert_type = 'predictive'` rows in Gold `alerts`, from hourly predictions.

Pure functions over driver-side rows (the scoring stage feeds them the new hours' predictions, the flags of the
hours just before, and each unit's active predictive alert). Rules, per unit, one active predictive alert at a
time, walked hour by hour in event time (an hour's moment is its end, when its prediction is made):

- `sustain_hours` consecutive flagged hours open an alert: `warning`, or `critical` when the RUL estimate is at or
  below `critical_rul_hours` already;
- while open, a flagged hour updates the predicted failure mode, RUL, interval and contributing sensors (and the
  peak score); the alert escalates to `critical` (`rul_below_<n>h`) as soon as the RUL estimate reaches
  `critical_rul_hours` — acknowledged or not, since a shrinking RUL is new information;
- `resolve_after_hours` consecutive unflagged hours resolve it.
Acknowledging works as for every alert (`altaviz alerts ack`): the alert stays open and is marked acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from altaviz.ml.settings import PredictiveAlertSettings
from altaviz.transforms.alerts import PREDICTIVE, Alert, alert_id


@dataclass(frozen=True)
class HourPrediction:
    """One unit's prediction at the end of an hour (what the lifecycle reads of `ml_predictions`)."""

    compressor_id: str
    at: datetime
    flag: bool
    score: float | None = None
    rul_hours: float | None = None
    rul_low_hours: float | None = None
    rul_high_hours: float | None = None
    failure_mode: str | None = None
    contributing: tuple[str, ...] = ()
    model: str | None = None
    station_id: str | None = None
    basin: str | None = None


def _message(p: HourPrediction) -> str:
    rul = (f"critical in about {p.rul_hours:.0f} h (80 %: {p.rul_low_hours:.0f}-{p.rul_high_hours:.0f} h)"
           if p.rul_hours is not None else "RUL unknown")
    sensors = ", ".join(p.contributing) or "no single sensor"
    return f"predicted {p.failure_mode or 'failure'}: {rul}; driven by {sensors}"


def _update(alert: Alert, p: HourPrediction, threshold: float, critical_rul: float) -> Alert:
    peak = max(v for v in (alert.peak_value, p.score) if v is not None) if p.score is not None else alert.peak_value
    changed = replace(alert, last_breach_at=p.at, peak_value=peak, threshold_value=threshold,
                      failure_mode=p.failure_mode, rul_hours=p.rul_hours, rul_low_hours=p.rul_low_hours,
                      rul_high_hours=p.rul_high_hours, contributing_sensors=",".join(p.contributing) or None,
                      message=_message(p), updated_at=p.at)
    if alert.severity != "critical" and p.rul_hours is not None and p.rul_hours <= critical_rul:
        changed = replace(changed, severity="critical", escalated_at=p.at,
                          escalation_reason=f"rul_below_{critical_rul:g}h")
    return changed


def advance(hours: Iterable[HourPrediction], *, active: Mapping[str, Alert], streaks: Mapping[str, tuple[int, int]],
            settings: PredictiveAlertSettings, threshold: float) -> tuple[list[Alert], dict[str, tuple[int, int]]]:
    """Walk new hours (any order; sorted here) from each unit's active alert and (flagged, clear) streaks.

    Args:
        hours: The new hours' predictions.
        active: Each unit's open predictive alert.
        streaks: Each unit's consecutive flagged and unflagged hours ending just before the new hours.
        settings: Lifecycle settings (`config/ml.yaml` `alerts:`).
        threshold: The model's flag threshold (stored with each alert).

    Returns:
        Every alert opened or changed (its latest state), and the streaks after the last hour.
    """
    current = dict(active)
    streak = dict(streaks)
    changed: dict[str, Alert] = {}
    critical = settings.critical_rul_hours
    for p in sorted(hours, key=lambda h: (h.compressor_id, h.at)):
        flagged, clear = streak.get(p.compressor_id, (0, 0))
        flagged, clear = (flagged + 1, 0) if p.flag else (0, clear + 1)
        streak[p.compressor_id] = (flagged, clear)
        alert = current.get(p.compressor_id)
        if alert is not None and p.flag:
            alert = _update(alert, p, threshold, critical)
        elif alert is not None and clear >= settings.resolve_after_hours:
            alert = replace(alert, status="resolved", resolved_at=p.at, updated_at=p.at)
        elif alert is None and flagged >= settings.sustain_hours:
            severity = "critical" if p.rul_hours is not None and p.rul_hours <= critical else "warning"
            alert = _update(Alert(alert_id(PREDICTIVE, p.compressor_id, None, p.at), PREDICTIVE, p.compressor_id,
                                  None, severity, "open", p.at, model=p.model, station_id=p.station_id,
                                  basin=p.basin), p, threshold, critical)
        else:
            continue
        changed[alert.alert_id] = alert
        if alert.status == "open":
            current[p.compressor_id] = alert
        else:
            current.pop(p.compressor_id, None)
    return list(changed.values()), streak


def streaks_before(history: Sequence[tuple[str, datetime, bool]]) -> dict[str, tuple[int, int]]:
    """(flagged, clear) streaks per unit at the end of `history` rows (unit, time, flag)."""
    streak: dict[str, tuple[int, int]] = {}
    for unit, _, flag in sorted(history, key=lambda r: (r[0], r[1])):
        flagged, clear = streak.get(unit, (0, 0))
        streak[unit] = (flagged + 1, 0) if flag else (0, clear + 1)
    return streak
