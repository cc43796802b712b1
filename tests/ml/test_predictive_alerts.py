"""The predictive alert lifecycle: sustained flags open one alert per unit, RUL escalates it, quiet hours resolve it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from altaviz.ml.alerts import HourPrediction, Streak, advance, streaks_before
from altaviz.ml.settings import PredictiveAlertSettings

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SETTINGS = PredictiveAlertSettings(sustain_hours=3, warning_rul_hours=168, critical_rul_hours=48,
                                   resolve_after_hours=4)


def hours(unit: str, flags: str, rul: float | None = 100.0, start: int = 1) -> list[HourPrediction]:
    """One prediction per character: '1' flagged, '0' not, the i-th at T0 + (start + i) hours."""
    return [HourPrediction(unit, T0 + timedelta(hours=start + i), c == "1", 3.0 + i, rul if c == "1" else None,
                           rul and rul * 0.5, rul and rul * 1.5, "bearing_wear" if c == "1" else None,
                           ("vibration_mms",), "Ariel JGK/4", "ST-1", "Permian")
            for i, c in enumerate(flags)]


def walk(preds, active=None, streaks=None, end=None):
    return advance(preds, active=active or {}, streaks=streaks or {}, settings=SETTINGS, threshold=2.7, end=end)


def test_three_flagged_hours_open_one_warning_alert_carrying_mode_rul_and_sensors():
    changed, _ = walk(hours("A", "01101110"))

    assert len(changed) == 1
    alert = changed[0]
    assert (alert.alert_type, alert.status, alert.severity) == ("predictive", "open", "warning")
    assert alert.opened_at == T0 + timedelta(hours=7)  # the end of the third flagged hour in a row
    assert (alert.failure_mode, alert.rul_hours, alert.contributing_sensors) == ("bearing_wear", 100.0, "vibration_mms")
    assert alert.last_breach_at == T0 + timedelta(hours=7)


def test_two_flagged_hours_open_nothing_and_streaks_carry_over_between_runs():
    first, streaks = walk(hours("A", "0011"))
    assert first == []

    second, _ = walk(hours("A", "1", start=5), streaks=streaks)
    assert len(second) == 1 and second[0].opened_at == T0 + timedelta(hours=5)


def test_rul_at_the_critical_horizon_escalates_the_open_alert_even_when_acknowledged():
    opened, streaks = walk(hours("A", "111"))
    acked = replace(opened[0], acknowledged=True, acknowledged_by="ops")

    changed, _ = walk(hours("A", "1", rul=40.0, start=4), active={"A": acked}, streaks=streaks)

    assert changed[0].alert_id == acked.alert_id
    assert (changed[0].severity, changed[0].escalation_reason) == ("critical", "rul_below_48h")
    assert changed[0].acknowledged and changed[0].escalated_at == T0 + timedelta(hours=4)


def test_an_alert_opening_with_a_short_rul_is_critical_at_once():
    changed, _ = walk(hours("A", "111", rul=20.0))

    assert changed[0].severity == "critical"


def test_quiet_hours_resolve_the_alert_and_a_new_streak_opens_a_new_one():
    changed, _ = walk(hours("A", "111" + "0000" + "111"))

    first, second = sorted(changed, key=lambda a: a.opened_at)
    assert first.status == "resolved" and first.resolved_at == T0 + timedelta(hours=7)
    assert second.status == "open" and second.alert_id != first.alert_id


def test_a_unit_that_goes_silent_resolves_its_alert_and_its_next_degradation_opens_a_new_one():
    # Flagged hours 1-3, then the unit fails and sends nothing for a day; back in service, it degrades again.
    changed, _ = walk(hours("A", "111") + hours("A", "0111", start=30))

    first, second = sorted(changed, key=lambda a: a.opened_at)
    assert first.status == "resolved" and first.resolved_at == T0 + timedelta(hours=3 + 4)
    assert second.status == "open" and second.opened_at == T0 + timedelta(hours=33)


def test_an_alert_of_a_silent_unit_resolves_at_the_end_of_the_window_as_it_would_in_a_later_hour():
    opened, streaks = walk(hours("A", "111"))

    still, _ = walk([], active={"A": opened[0]}, streaks=streaks, end=T0 + timedelta(hours=6))
    assert still == []
    resolved, _ = walk([], active={"A": opened[0]}, streaks=streaks, end=T0 + timedelta(hours=9))
    assert resolved[0].status == "resolved" and resolved[0].resolved_at == T0 + timedelta(hours=7)


def test_a_missing_hour_breaks_a_flagged_streak():
    changed, _ = walk(hours("A", "11") + hours("A", "11", start=4))

    assert changed == []


def test_one_alert_per_unit_and_units_are_independent():
    changed, _ = walk(hours("A", "111111") + hours("B", "011100"))

    assert sorted(a.compressor_id for a in changed) == ["A", "B"]


def test_a_rerun_of_the_same_hours_gives_the_same_alert_id():
    first, _ = walk(hours("A", "0111"))
    again, _ = walk(hours("A", "0111"))

    assert first[0].alert_id == again[0].alert_id


def test_streaks_before_counts_the_trailing_run_of_each_unit():
    history = [("A", T0 + timedelta(hours=i), f) for i, f in enumerate([True, False, True, True])]

    assert streaks_before(history) == {"A": Streak(2, T0 + timedelta(hours=3))}
