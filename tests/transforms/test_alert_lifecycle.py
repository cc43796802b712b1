"""The alert lifecycle on its own: severity only rises, stale alerts close, re-evaluation is stable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from altaviz.errors import ConfigError
from altaviz.thresholds import load_thresholds, parse_thresholds
from altaviz.transforms.alerts import AlertPolicy, HourStatus, evaluate_alerts

T0 = datetime(2026, 5, 1, tzinfo=UTC)
H = timedelta(hours=1)


def _hours(unit: str, temps: list[float | None]) -> list[HourStatus]:
    thresholds = load_thresholds().for_model("Ariel JGK/4")["discharge_temp_f"]
    return [HourStatus(unit, T0 + i * H, T0 + i * H, T0 + i * H + timedelta(minutes=55),
                       {"discharge_temp_f": (thresholds.status(t), t)}, model="Ariel JGK/4")
            for i, t in enumerate(temps)]


def _run(hours, active=(), as_of=None, last_seen=None):
    return evaluate_alerts(active=list(active), hours=hours, gaps=[], last_seen=last_seen or {},
                           thresholds=load_thresholds(), policy=AlertPolicy(), as_of=as_of or T0 + 24 * H)


def test_a_critical_breach_escalates_the_open_warning_at_once_and_one_alert_is_kept():
    (alert,) = _run(_hours("U1", [245.0, 250.0, 265.0, 262.0]), as_of=T0 + 4 * H)
    assert (alert.severity, alert.escalation_reason, alert.escalated_at) == ("critical", "critical_breach", T0 + 2 * H)
    assert alert.peak_value == 265.0 and alert.threshold_value == 260.0 and alert.status == "open"


def test_an_alert_still_open_after_seven_days_is_closed_as_stale_and_re_evaluation_changes_nothing():
    (alert,) = _run(_hours("U1", [245.0]), as_of=T0 + H)
    assert alert.status == "open"
    (closed,) = _run([], active=[alert], as_of=T0 + timedelta(days=8))
    assert (closed.status, closed.closed_at, closed.severity) == ("closed", T0 + timedelta(days=7), "critical")
    assert _run([], active=[], as_of=T0 + timedelta(days=8)) == []


def test_a_sensor_without_readings_neither_breaches_nor_resolves():
    (alert,) = _run(_hours("U1", [245.0, None, None, None, 200.0]), as_of=T0 + 5 * H)
    assert alert.status == "resolved" and alert.resolved_at == T0 + 5 * H  # normal at 04:00, 4 h after the breach
    (still_open,) = _run(_hours("U1", [245.0, None, None, None]), as_of=T0 + 3 * H)
    assert still_open.status == "open"


def test_thresholds_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="critical .* must be above warning"):
        parse_thresholds({"sensors": {s: {} for s in ("vibration_mms", "discharge_temp_f", "suction_pressure_psi",
                                                       "discharge_pressure_psi", "horsepower_consumption")}
                          | {"gas_flow_mcf": {"warning": 5.0, "critical": 4.0}}})
    with pytest.raises(ConfigError, match="missing"):
        parse_thresholds({"sensors": {"vibration_mms": {}}})
    with pytest.raises(ConfigError, match="unknown sensor 'rpm'"):
        parse_thresholds({"sensors": {s: {} for s in load_thresholds().defaults}, "models": {"X": {"rpm": {}}}})
    low = load_thresholds().defaults["suction_pressure_psi"]
    assert [low.status(v) for v in (35.0, 25.0, 15.0, None)] == ["normal", "warning", "critical", None]
