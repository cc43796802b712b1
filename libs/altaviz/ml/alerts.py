"""Predictive alerts: the lifecycle of `alert_type = 'predictive'` rows in Gold `alerts`, from hourly predictions.

Pure functions over driver-side rows (the scoring stage feeds them the new hours' predictions, the flags of the
hours just before, and each unit's active predictive alert). Rules, per unit, one active predictive alert at a
time, walked hour by hour in event time (an hour's moment is its end, when its prediction is made):

- `sustain_hours` consecutive flagged hours open an alert: `warning`, or `critical` when the RUL estimate is at or
  below `critical_rul_hours` already;
- while open, a flagged hour updates the predicted failure mode, RUL, interval and contributing sensors (and the
  peak score); the alert escalates to `critical` (`rul_below_<n>h`) as soon as the RUL estimate reaches
  `critical_rul_hours` — acknowledged or not, since a shrinking RUL is new information;
- it resolves `resolve_after_hours` after its last flagged hour, whether the hours since were scored and quiet or
  not scored at all: a unit that failed and went silent, or was shut down for repair, does not keep an alert open
  into its next life (a new degradation after the repair opens a new alert).
Acknowledging works as for every alert (`altaviz alerts ack`): the alert stays open and is marked acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

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


HOUR = timedelta(hours=1)


class Streak(NamedTuple):
    """A unit's run of consecutive flagged hours ending at its last scored hour `last_at`."""

    flagged: int
    last_at: datetime

    def then(self, at: datetime, flag: bool) -> Streak:
        """The streak after the unit's next scored hour (a missing hour between breaks the run)."""
        run = self.flagged + 1 if at - self.last_at <= HOUR else 1
        return Streak(run if flag else 0, at)


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


def _resolve_due(alert: Alert, now: datetime, quiet: timedelta) -> Alert | None:
    """The alert resolved, if `quiet` has passed since its last flagged hour by `now`."""
    last = alert.last_breach_at or alert.opened_at
    if now - last < quiet:
        return None
    return replace(alert, status="resolved", resolved_at=last + quiet, updated_at=last + quiet)


def advance(hours: Iterable[HourPrediction], *, active: Mapping[str, Alert], streaks: Mapping[str, Streak],
            settings: PredictiveAlertSettings, threshold: float, end: datetime | None = None
            ) -> tuple[list[Alert], dict[str, Streak]]:
    """Walk new hours (any order; sorted here) from each unit's active alert and flagged streak.

    Args:
        hours: The new hours' predictions.
        active: Each unit's open predictive alert.
        streaks: Each unit's streak at its last scored hour before the new hours.
        settings: Lifecycle settings (`config/ml.yaml` `alerts:`).
        threshold: The model's flag threshold (stored with each alert).
        end: The end of the walked window: open alerts whose quiet time has passed by then resolve (a unit that
            stopped reporting); None: only at new hours.

    Returns:
        Every alert opened or changed (its latest state), and the streaks after the last hour.
    """
    current = dict(active)
    streak = dict(streaks)
    changed: dict[str, Alert] = {}
    critical = settings.critical_rul_hours
    quiet = settings.resolve_after_hours * HOUR

    def put(alert: Alert) -> None:
        changed[alert.alert_id] = alert
        if alert.status == "open":
            current[alert.compressor_id] = alert
        else:
            current.pop(alert.compressor_id, None)

    for p in sorted(hours, key=lambda h: (h.compressor_id, h.at)):
        before = streak.get(p.compressor_id)
        now = Streak(1 if p.flag else 0, p.at) if before is None else before.then(p.at, p.flag)
        streak[p.compressor_id] = now
        alert = current.get(p.compressor_id)
        if alert is not None and (resolved := _resolve_due(alert, p.at, quiet)) is not None:
            put(resolved)
            alert = None
        if alert is not None and p.flag:
            put(_update(alert, p, threshold, critical))
        elif alert is None and now.flagged >= settings.sustain_hours:
            severity = "critical" if p.rul_hours is not None and p.rul_hours <= critical else "warning"
            put(_update(Alert(alert_id(PREDICTIVE, p.compressor_id, None, p.at), PREDICTIVE, p.compressor_id,
                              None, severity, "open", p.at, model=p.model, station_id=p.station_id,
                              basin=p.basin), p, threshold, critical))
    if end is not None:
        for alert in list(current.values()):
            if (resolved := _resolve_due(alert, end, quiet)) is not None:
                put(resolved)
    return list(changed.values()), streak


def streaks_before(history: Sequence[tuple[str, datetime, bool]]) -> dict[str, Streak]:
    """Each unit's streak at the end of `history` rows (unit, time, flag)."""
    streak: dict[str, Streak] = {}
    for unit, at, flag in sorted(history, key=lambda r: (r[0], r[1])):
        before = streak.get(unit)
        streak[unit] = Streak(1 if flag else 0, at) if before is None else before.then(at, flag)
    return streak
