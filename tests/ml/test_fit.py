"""Fitting the bundle: one flag threshold per baseline tier (own, provisional, peers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from ml_plumbing import synthetic_rows

from altaviz.ml.features import ANOMALY_FEATURES, PEER_TIER, PROVISIONAL_TIER
from altaviz.ml.fit import fit_bundle
from altaviz.ml.settings import load_ml_settings
from altaviz.thresholds import load_thresholds


def _tiered_rows() -> pd.DataFrame:
    rows = synthetic_rows()
    healthy = np.flatnonzero(rows["state"] == "healthy")
    rng = np.random.default_rng(8)
    rows["baseline_provisional"] = 0.0
    provisional, peer = healthy[:1000], healthy[1000:2000]
    rows.loc[provisional, "baseline_provisional"] = PROVISIONAL_TIER
    rows.loc[peer, "baseline_provisional"] = PEER_TIER
    # Healthy hours spread wider the weaker their baseline.
    for column in ANOMALY_FEATURES:
        rows.loc[provisional, column] = rng.normal(0, 1.5, len(provisional))
        rows.loc[peer, column] = rng.normal(0, 3.0, len(peer))
    return rows


def test_each_baseline_tier_gets_its_own_flag_threshold():
    rows = _tiered_rows()
    bundle, metrics = fit_bundle(rows, load_ml_settings(), load_thresholds(), peer={"vibration": {}})

    assert bundle.threshold < bundle.provisional_threshold < bundle.peer_threshold
    assert metrics["peer_flag_threshold"] == bundle.peer_threshold
    tiers = pd.DataFrame({"baseline_provisional": [0.0, PROVISIONAL_TIER, PEER_TIER]})
    assert list(bundle.thresholds(tiers)) == [bundle.threshold, bundle.provisional_threshold, bundle.peer_threshold]


def test_a_bundle_without_peers_judges_peer_hours_by_the_provisional_threshold():
    bundle, _ = fit_bundle(_tiered_rows(), load_ml_settings(), load_thresholds())

    assert bundle.peer is None and bundle.peer_threshold is None
    tiers = pd.DataFrame({"baseline_provisional": [PEER_TIER]})
    assert list(bundle.thresholds(tiers)) == [bundle.provisional_threshold]
