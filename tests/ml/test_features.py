"""Unit-hour features: deviations against the unit's own baseline, computed from earlier days only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from altaviz.ml.features import ANOMALY_FEATURES, FEATURES, unit_hour_features
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


def test_the_first_days_have_no_baseline_and_are_not_scored():
    features = unit_hour_features(windows(), CFG)

    # Day 0 is the first baseline day; with a one-day gap, day 2 is the first scored.
    assert features["hour"].min() >= START + pd.Timedelta(days=2)


def test_a_long_silence_starts_a_new_baseline_after_the_day_it_ended():
    features = unit_hour_features(windows(days=10, silent=(4 * 24, 5 * 24 + 6)), CFG)
    day = (features["hour"] - START) // pd.Timedelta(days=1)

    # Back on day 5 at 06:00: the new baseline starts on day 6, and with the one-day gap day 8 is the first
    # scored again; the other unit is scored throughout.
    assert sorted(set(day[features["compressor_id"] == "CMP-0"])) == [2, 3, 8, 9]
    assert sorted(set(day[features["compressor_id"] == "CMP-1"])) == list(range(2, 10))


def test_hours_with_too_few_readings_are_not_scored():
    frame = windows()
    frame.loc[frame.index[-1], "reading_count"] = 2
    features = unit_hour_features(frame, CFG)

    assert frame.iloc[-1]["agg_timestamp"] not in set(features[features["compressor_id"] == "CMP-1"]["hour"])
