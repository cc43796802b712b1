"""The alert lifecycle: open on a breach, escalate, auto-resolve, data-freshness alerts, close when stale.

Pure functions over driver-side rows (no I/O). The Gold stage feeds them the complete hours not yet
evaluated, in time order, and the alerts still open; they return every alert that is new or changed.
Time in the lifecycle is event time: an alert opens at the start of the first breaching hour, resolves at
the end of the hour that completes `resolve_after` of normal readings, and time-based transitions
(escalation, stale close) happen at the exact moment they fall due, not at the time the stage runs.

Rules (one active alert per compressor and sensor; its severity only rises):
- a `warning` or `critical` 1-hour status opens a `threshold` alert, or updates the open one;
  a `critical` status on an open `warning` alert escalates it at once (`critical_breach`);
- an open, unacknowledged `warning` alert escalates to `critical` `escalate_after` after it opened
  (`unacknowledged`); an acknowledged one never escalates by time;
- an open alert resolves when its sensor's 1-hour status is `normal` and the last breach began at least
  `resolve_after` earlier;
- a unit that sends nothing for `stale_after` gets a `data_freshness` alert (severity `warning`, sensor
  null), resolved by its next reading;
- any alert still open `close_after` after it opened is `closed` (stale), acknowledged or not.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta

from altaviz.thresholds import Thresholds

HOUR = timedelta(hours=1)
#: (model, station_id, basin) of a compressor.
UnitInfo = tuple[str | None, str | None, str | None]
THRESHOLD = "threshold"
FRESHNESS = "data_freshness"
#: Raised by the ML scoring stage (`altaviz.ml.alerts`), never by Gold's threshold lifecycle.
PREDICTIVE = "predictive"


@dataclass(frozen=True)
class AlertPolicy:
    """Lifecycle timings (config/pipeline.yaml `gold:`)."""

    escalate_after: timedelta = timedelta(hours=4)
    resolve_after: timedelta = timedelta(hours=2)
    stale_after: timedelta = timedelta(hours=3)
    close_after: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class HourStatus:
    """One compressor's complete hour: when its readings began and ended, and each sensor's (status, mean)."""

    compressor_id: str
    hour: datetime
    first_ts: datetime
    last_ts: datetime
    sensors: Mapping[str, tuple[str | None, float | None]]
    model: str | None = None
    station_id: str | None = None
    basin: str | None = None


@dataclass(frozen=True)
class Gap:
    """A silence in a unit's readings: nothing between `silent_from` and `resumed_at`."""

    compressor_id: str
    silent_from: datetime
    resumed_at: datetime


@dataclass(frozen=True)
class Alert:
    """One row of `lh_gold_curated.alerts`."""

    alert_id: str
    alert_type: str
    compressor_id: str
    sensor: str | None
    severity: str
    status: str
    opened_at: datetime
    last_breach_at: datetime | None = None
    peak_value: float | None = None
    threshold_value: float | None = None
    escalated_at: datetime | None = None
    escalation_reason: str | None = None
    acknowledged: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    message: str = ""
    model: str | None = None
    station_id: str | None = None
    basin: str | None = None
    updated_at: datetime | None = None
    # Predictive alerts only (`alert_type` predictive, raised by the ML scoring stage).
    failure_mode: str | None = None
    rul_hours: float | None = None
    rul_low_hours: float | None = None
    rul_high_hours: float | None = None
    contributing_sensors: str | None = None

    def as_row(self) -> dict[str, object]:
        return {c: getattr(self, c) for c in ALERT_COLUMNS}


#: The alert columns, in `alerts` table order (the table adds its partition column `date`).
ALERT_COLUMNS = tuple(f.name for f in fields(Alert))


def alert_id(alert_type: str, compressor_id: str, sensor: str | None, opened_at: datetime) -> str:
    """A stable id: the same breach opening at the same time always gets the same id (idempotent re-runs)."""
    key = f"{alert_type}|{compressor_id}|{sensor or ''}|{opened_at.isoformat()}"
    return hashlib.sha1(key.encode()).hexdigest()[:20]


@dataclass
class _Book:
    """Working state: alerts by id, and which ids changed."""

    alerts: dict[str, Alert] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)

    def put(self, alert: Alert) -> Alert:
        if self.alerts.get(alert.alert_id) != alert:
            self.alerts[alert.alert_id] = alert
            self.changed.add(alert.alert_id)
        return alert


def _due(alert: Alert, until: datetime, policy: AlertPolicy) -> Alert:
    """Apply the time-based transitions that fall due at or before `until`."""
    if alert.status != "open":
        return alert
    escalate_at = alert.opened_at + policy.escalate_after
    if (alert.alert_type == THRESHOLD and alert.severity == "warning" and not alert.acknowledged
            and escalate_at <= until):
        alert = replace(alert, severity="critical", escalated_at=escalate_at, escalation_reason="unacknowledged",
                        updated_at=escalate_at,
                        message=f"{alert.message}; escalated: unacknowledged for {policy.escalate_after}")
    close_at = alert.opened_at + policy.close_after
    if close_at <= until:
        alert = replace(alert, status="closed", closed_at=close_at, updated_at=close_at,
                        message=f"{alert.message}; closed: still open after {policy.close_after}")
    return alert


def _worse(comparison: str, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b) if comparison in (">=", ">") else min(a, b)


def _threshold_track(book: _Book, alert: Alert | None, rows: Sequence[HourStatus], sensor: str,
                     thresholds: Thresholds, policy: AlertPolicy) -> Alert | None:
    """Walk one unit's hours for one sensor, opening, escalating and resolving its alert."""
    for row in rows:
        status, value = row.sensors.get(sensor, (None, None))
        if alert is not None:
            alert = book.put(_due(alert, row.hour, policy))
        limits = thresholds.for_model(row.model)[sensor]
        if status in ("warning", "critical"):
            if alert is None or alert.status != "open":
                opened = row.hour
                alert = book.put(Alert(
                    alert_id=alert_id(THRESHOLD, row.compressor_id, sensor, opened), alert_type=THRESHOLD,
                    compressor_id=row.compressor_id, sensor=sensor, severity=status, status="open",
                    opened_at=opened, last_breach_at=opened, peak_value=value,
                    threshold_value=limits.level(status), model=row.model, station_id=row.station_id,
                    basin=row.basin, updated_at=opened,
                    message=f"{sensor} 1-hour mean {value:.2f} {limits.comparison} {limits.level(status):g} "
                            f"({status})"))
            else:
                changes: dict[str, object] = {"last_breach_at": row.hour, "updated_at": row.hour,
                                              "peak_value": _worse(limits.comparison, alert.peak_value, value)}
                if status == "critical" and alert.severity == "warning":
                    changes.update(severity="critical", escalated_at=row.hour, escalation_reason="critical_breach",
                                   threshold_value=limits.critical,
                                   message=f"{alert.message}; escalated: 1-hour mean {value:.2f} "
                                           f"{limits.comparison} {limits.critical:g} (critical)")
                alert = book.put(replace(alert, **changes))
        elif (status == "normal" and alert is not None and alert.status == "open"
              and alert.last_breach_at is not None and row.hour - alert.last_breach_at >= policy.resolve_after):
            resolved = row.hour + HOUR
            alert = book.put(replace(alert, status="resolved", resolved_at=resolved, updated_at=resolved,
                                     message=f"{alert.message}; resolved: normal since "
                                             f"{(alert.last_breach_at + HOUR).isoformat()}"))
    return alert


def _freshness_alert(unit: str, silent_from: datetime, policy: AlertPolicy, where: UnitInfo | None) -> Alert:
    opened = silent_from + policy.stale_after
    model, station_id, basin = where or (None, None, None)
    return Alert(alert_id=alert_id(FRESHNESS, unit, None, opened), alert_type=FRESHNESS, compressor_id=unit,
                 sensor=None, severity="warning", status="open", opened_at=opened, last_breach_at=None,
                 model=model, station_id=station_id, basin=basin, updated_at=opened,
                 message=f"no readings since {silent_from.isoformat()} ({policy.stale_after} or more)")


def evaluate_alerts(*, active: Iterable[Alert], hours: Iterable[HourStatus], gaps: Iterable[Gap],
                    last_seen: Mapping[str, datetime], thresholds: Thresholds, policy: AlertPolicy,
                    as_of: datetime, units: Mapping[str, UnitInfo] | None = None) -> list[Alert]:
    """Advance the lifecycle through `hours` (complete, not yet evaluated) to `as_of`.

    Args:
        active: alerts currently `open` (as stored, acknowledgement included).
        hours: 1-hour statuses of the units worth walking (any breach, or an open alert).
        gaps: silences of at least `stale_after` that ended inside the evaluated hours.
        last_seen: each unit's newest reading (for the freshness check at `as_of`).
        thresholds: sensor thresholds (for messages and threshold values).
        policy: lifecycle timings.
        as_of: the time the run evaluates to.
        units: model, station and basin per compressor, copied onto new freshness alerts.

    Returns:
        Every alert that is new or whose row changed, in no particular order.
    """
    units = units or {}
    book = _Book()
    for alert in active:
        book.alerts[alert.alert_id] = alert
    by_unit: dict[str, list[HourStatus]] = defaultdict(list)
    for row in sorted(hours, key=lambda r: (r.compressor_id, r.hour)):
        by_unit[row.compressor_id].append(row)
    open_threshold = {(a.compressor_id, a.sensor): a for a in book.alerts.values()
                      if a.alert_type == THRESHOLD and a.status == "open"}
    for unit, rows in by_unit.items():
        for sensor in thresholds.alerting_sensors:
            _threshold_track(book, open_threshold.get((unit, sensor)), rows, sensor, thresholds, policy)

    open_fresh = {a.compressor_id: a for a in book.alerts.values() if a.alert_type == FRESHNESS and a.status == "open"}
    for gap in sorted(gaps, key=lambda g: (g.compressor_id, g.silent_from)):
        if gap.resumed_at - gap.silent_from < policy.stale_after:
            continue
        current = open_fresh.pop(gap.compressor_id, None)
        alert = current if current is not None and current.opened_at <= gap.resumed_at else \
            _freshness_alert(gap.compressor_id, gap.silent_from, policy, units.get(gap.compressor_id))
        alert = _due(alert, gap.resumed_at, policy)
        if alert.status == "open":
            alert = replace(alert, status="resolved", resolved_at=gap.resumed_at, updated_at=gap.resumed_at,
                            message=f"{alert.message}; resolved: readings resumed {gap.resumed_at.isoformat()}")
        book.put(alert)
    for unit, alert in open_fresh.items():  # open freshness alerts whose silence ended without a recorded gap
        seen = last_seen.get(unit)
        if seen is not None and seen > alert.opened_at - policy.stale_after:
            silent_from = alert.opened_at - policy.stale_after
            resumed = min((r.first_ts for r in by_unit.get(unit, ()) if r.first_ts > silent_from), default=seen)
            book.put(replace(_due(alert, resumed, policy), status="resolved", resolved_at=resumed, updated_at=resumed,
                             message=f"{alert.message}; resolved: readings resumed {resumed.isoformat()}"))
    still_silent = {a.compressor_id for a in book.alerts.values() if a.alert_type == FRESHNESS and a.status == "open"}
    for unit, seen in last_seen.items():
        if as_of - seen >= policy.stale_after and unit not in still_silent:
            book.put(_freshness_alert(unit, seen, policy, units.get(unit)))

    for alert in list(book.alerts.values()):
        book.put(_due(alert, as_of, policy))
    return [book.alerts[i] for i in sorted(book.changed)]
