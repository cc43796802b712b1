"""Unit-hour features: deviations against the unit's own baseline, computed from earlier days only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from altaviz.ml.baselines import day_baselines
from altaviz.ml.features import ANOMALY_FEATURES, FEATURES, PEER_TIER, peer_fit, unit_hour_features
from altaviz.ml.settings import FeatureSettings

CFG = FeatureSettings(baseline_days=3, gap_days=1, min_baseline_hours=18, reset_after_silence_hours=12)
START = pd.Timestamp("2026-11-01", tz="UTC")


def windows(units: int = 2, days: int = 8, seed: int = 3, drift: dict | None = None,
            silent: tuple[int, int] | None = None) -> pd.DataFrame:
    """Hourly Gold windows of healthy units following a daily load cycle; `drift` adds {signal: per-hour ramp}
    to unit CMP-0 from day 5; `silent` removes hours [a, b) of CMP-0."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(units):
        for h in range(days * 24):
            load = 0.6 + 0.2 * np.sin(2 * np.pi * (h % 24) / 24)
            hp = 1000 + 500 * load + rng.normal(0, 3)
            ramp = max(0, h - 5 * 24) if u == 0 else 0
            d = drift or {}
            rows.append({
                "compressor_id": f"CMP-{u}", "agg_timestamp": START + pd.Timedelta(hours=h), "model": "Ariel JGK/4",
                "station_id": "ST-1", "basin": "Permian", "reading_count": 12,
                "vibration_mms_mean": 3 + 0.5 * load + rng.normal(0, 0.03) + d.get("vibration", 0) * ramp,
                "discharge_temp_f_mean": 200 + 10 * load + rng.normal(0, 0.4) + d.get("temperature", 0) * ramp,
                "suction_pressure_psi_mean": 60 - 5 * load + rng.normal(0, 0.3),
                "discharge_pressure_psi_mean": 1050 + 40 * load + rng.normal(0, 1.5) + d.get("discharge", 0) * ramp,
                "discharge_pressure_psi_std": 4 + rng.normal(0, 0.3),
                "horsepower_consumption_mean": hp,
                "gas_flow_mcf_mean": hp * 6.5 * (1 + rng.normal(0, 0.002)) * (1 - d.get("efficiency", 0) * ramp)})
    frame = pd.DataFrame(rows)
    if silent:
        hour = (frame["agg_timestamp"] - START) // pd.Timedelta(hours=1)
        frame = frame[~((frame["compressor_id"] == "CMP-0") & (hour >= silent[0]) & (hour < silent[1]))]
    return frame.reset_index(drop=True)


def test_healthy_units_stay_within_a_few_spreads_of_their_baseline():
    features = unit_hour_features(windows(), CFG)

    assert len(features) > 0 and set(FEATURES) <= set(features.columns)
    assert features[list(ANOMALY_FEATURES)].abs().max().max() < 4


@pytest.mark.parametrize(("signal", "ramp", "feature", "sign"), [
    ("temperature", 0.5, "zl_temperature", 1), ("vibration", 0.02, "zl_vibration", 1),
    ("efficiency", 0.001, "zl_efficiency", -1), ("discharge", -2.0, "zl_discharge", -1)])
def test_a_drifting_signal_moves_its_own_deviation_and_not_the_others(signal, ramp, feature, sign):
    features = unit_hour_features(windows(drift={signal: ramp}), CFG)
    last = features[features["hour"] == features["hour"].max()].set_index("compressor_id")

    assert sign * last.loc["CMP-0", feature] > 8
    others = [f for f in ANOMALY_FEATURES if not f.endswith(signal)]
    assert last.loc["CMP-0", others].abs().max() < 4
    assert last.loc["CMP-1", list(ANOMALY_FEATURES)].abs().max() < 4


def test_an_hour_s_features_never_depend_on_later_hours():
    frame = windows(drift={"temperature": 0.5})
    full = unit_hour_features(frame, CFG)
    cut = START + pd.Timedelta(hours=6 * 24 + 5)
    early = unit_hour_features(frame[frame["agg_timestamp"] <= cut], CFG)

    expected = full[full["hour"] <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(early[expected.columns], expected, check_exact=False, rtol=1e-9)


def test_a_unit_is_watched_from_its_second_day_on_a_provisional_baseline_until_its_own_has_the_gap():
    features = unit_hour_features(windows(), CFG)
    day = (features["hour"] - START) // pd.Timedelta(days=1)

    # Day 0 has no baseline; day 1 is scored against day 0 without the gap (provisional) once its long window
    # holds half its hours; day 2 has the gapped baseline, its long window still mixing in day 1's hours.
    assert features["hour"].min() == START + pd.Timedelta(days=1, hours=11)
    assert (features.loc[day == 1, "baseline_provisional"] == 1).all()
    assert (features.loc[day >= 3, "baseline_provisional"] == 0).all()
    assert features.loc[day == 1, list(ANOMALY_FEATURES)].abs().max().max() < 6


def test_a_drift_already_under_way_on_the_first_day_is_flagged_on_the_second():
    frame = windows(drift={"temperature": 0.5})
    frame["discharge_temp_f_mean"] += np.where(frame["compressor_id"] == "CMP-0",
                                               0.5 * ((frame["agg_timestamp"] - START) // pd.Timedelta(hours=1)), 0)
    features = unit_hour_features(frame, CFG)
    second_day = features[(features["hour"] < START + pd.Timedelta(days=2))].set_index("compressor_id")

    # The provisional fit over day 0 absorbs part of that day's ramp and spreads wider, yet day 1 stands out.
    assert second_day.loc["CMP-0", "zl_temperature"].max() > 4.5
    assert second_day.loc["CMP-1", "zl_temperature"].abs().max() < 2


def test_a_long_silence_starts_a_new_baseline_after_the_day_it_ended():
    features = unit_hour_features(windows(days=10, silent=(4 * 24, 5 * 24 + 6)), CFG)
    day = (features["hour"] - START) // pd.Timedelta(days=1)

    # Back on day 5 at 06:00: the new baseline starts on day 6, so day 7 is the first scored again (on a
    # provisional baseline, day 8 on the gapped one); the other unit is scored throughout.
    mine = features[features["compressor_id"] == "CMP-0"]
    assert sorted(set(day[features["compressor_id"] == "CMP-0"])) == [1, 2, 3, 7, 8, 9]
    assert mine["hour"][mine["hour"] >= START + pd.Timedelta(days=5)].min() == START + pd.Timedelta(days=7, hours=11)
    assert sorted(set(day[features["compressor_id"] == "CMP-1"])) == list(range(1, 10))


def test_hours_with_too_few_readings_are_not_scored():
    frame = windows()
    frame.loc[frame.index[-1], "reading_count"] = 2
    features = unit_hour_features(frame, CFG)

    assert frame.iloc[-1]["agg_timestamp"] not in set(features[features["compressor_id"] == "CMP-1"]["hour"])


def _peers() -> dict:
    fleet = windows(units=6, seed=11)
    return peer_fit(fleet, CFG, np.ones(len(fleet), dtype=bool))


def test_a_unit_already_failing_when_its_data_begins_stands_out_from_its_peers_on_its_first_day():
    frame = windows(seed=3)
    frame["discharge_temp_f_mean"] += np.where(frame["compressor_id"] == "CMP-0", 15.0, 0.0)
    features = unit_hour_features(frame, CFG, _peers())
    first_day = features[features["hour"] < START + pd.Timedelta(days=1)].set_index("compressor_id")

    # Scored from the hour the long window holds half its hours, against the peers (tier 2); without them not
    # before the second day.
    assert features["hour"].min() == START + pd.Timedelta(hours=11)
    assert (first_day["baseline_provisional"] == PEER_TIER).all()
    assert first_day.loc["CMP-0", "zl_temperature"].min() > 8
    assert first_day.loc["CMP-1", list(ANOMALY_FEATURES)].abs().max().max() < 4
    # Once the unit has a baseline of its own the peers are no longer used (day 1 provisional, day 3 its own).
    day = (features["hour"] - START) // pd.Timedelta(days=1)
    assert (features.loc[day >= 3, "baseline_provisional"] == 0).all()


def test_a_unit_of_a_model_the_peers_never_saw_is_judged_against_the_whole_fleet():
    frame = windows(seed=3)
    frame["model"] = "Waukesha 7044"
    features = unit_hour_features(frame, CFG, _peers())

    assert (features.loc[features["hour"] < START + pd.Timedelta(days=1), "baseline_provisional"] == PEER_TIER).all()
    assert features[list(ANOMALY_FEATURES)].abs().max().max() < 4


def test_peer_features_never_depend_on_later_hours():
    frame = windows(drift={"temperature": 0.5})
    peers = _peers()
    full = unit_hour_features(frame, CFG, peers)
    cut = START + pd.Timedelta(hours=20)
    early = unit_hour_features(frame[frame["agg_timestamp"] <= cut], CFG, peers)

    expected = full[full["hour"] <= cut].reset_index(drop=True)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(early[expected.columns], expected, check_exact=False, rtol=1e-9)


def _hour_of(frame: pd.DataFrame) -> pd.Series:
    return (frame["agg_timestamp"] - START) // pd.Timedelta(hours=1)


@pytest.mark.parametrize("silent", [None, (6 * 24 + 1, 6 * 24 + 13)], ids=["steady", "restart on the scored day"])
def test_stored_baselines_and_a_short_window_give_what_the_whole_history_gives(silent):
    frame = windows(days=8, drift={"temperature": 0.5}, silent=silent)
    reference = peer_fit(frame, CFG, np.ones(len(frame), dtype=bool))
    full = unit_hour_features(frame, CFG, reference)
    day = START + pd.Timedelta(days=6)
    since = day if silent else day + pd.Timedelta(hours=5)
    # A day's baseline reads only the days before it; the hours read are the day before and its last 12 hours'
    # margin (for restarts), no more.
    stored = day_baselines(frame[frame["agg_timestamp"] < day], CFG, [(day - pd.Timedelta(days=1)).date(), day.date()])
    stamps, end = frame["agg_timestamp"], day + pd.Timedelta(days=1)
    recent = frame[(stamps >= day - pd.Timedelta(hours=36)) & (stamps < end)]

    short = unit_hour_features(recent, CFG, reference, since=since, baselines=stored)

    expected = full[(full["hour"] >= since) & (full["hour"] < end)].reset_index(drop=True)
    assert set(expected["compressor_id"]) == {"CMP-0", "CMP-1"}
    pd.testing.assert_frame_equal(short[expected.columns], expected, check_exact=False, rtol=1e-9)


def test_a_restart_during_the_day_sends_the_rest_of_the_day_to_the_peers_and_keeps_its_earlier_hours():
    frame = windows(days=8, silent=(6 * 24 + 1, 6 * 24 + 13))  # back at 13:00 after 12 silent hours
    reference = peer_fit(frame, CFG, np.ones(len(frame), dtype=bool))
    features = unit_hour_features(frame, CFG, reference).set_index(["compressor_id", "hour"])
    at = START + pd.Timedelta(days=6)

    assert features.loc[("CMP-0", at), "baseline_provisional"] == 0
    assert features.loc[("CMP-0", at + pd.Timedelta(hours=23)), "baseline_provisional"] == PEER_TIER
    assert features.loc[("CMP-1", at + pd.Timedelta(hours=23)), "baseline_provisional"] == 0


def test_day_baselines_give_a_row_per_unit_and_day_and_none_before_the_data():
    frame = windows(units=3, days=5)
    first = START.date()

    stored = day_baselines(frame, CFG, [first - pd.Timedelta(days=1), first, first + pd.Timedelta(days=4)])

    assert sorted(set(stored["date"])) == [first, first + pd.Timedelta(days=4)]
    assert len(stored) == 6 and stored.loc[stored["date"] == first, "temperature_sigma"].isna().all()
    assert stored.loc[stored["date"] == first + pd.Timedelta(days=4), "temperature_sigma"].notna().all()
