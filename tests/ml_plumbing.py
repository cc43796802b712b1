"""A plumbing model for tests that run the whole pipeline: fitted in a second on synthetic feature rows.

Its quality means nothing (that is `altaviz evaluate`'s job); it lets `altaviz run` score without first training
on simulated fleets for minutes in every test that runs the pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from altaviz.ml.features import FEATURES


def synthetic_rows(seed: int = 5, healthy: int = 3000, degrading: int = 600) -> pd.DataFrame:
    """Labelled rows: healthy deviations around 0; two failure modes, each pushing one signal's deviations up."""
    rng = np.random.default_rng(seed)
    n = healthy + degrading
    rows = pd.DataFrame(rng.normal(0, 0.6, (n, len(FEATURES))), columns=list(FEATURES))
    rows["temp_level_f"] = 205.0
    rows["discharge_deficit_psi"] = 0.0
    rows["model"] = "Ariel JGK/4"
    mode = np.where(np.arange(degrading) % 2 == 0, "bearing_wear", "cooling_degradation")
    hours = rng.uniform(0, 240, degrading)
    signal = np.where(mode == "bearing_wear", "vibration", "temperature")
    for kind in ("zs", "zl"):
        for s in ("vibration", "temperature"):
            column = rows.columns.get_loc(f"{kind}_{s}")
            push = np.where(signal == s, 3 + 6 * (1 - hours / 240), 0.0)
            rows.iloc[healthy:, column] += push
    rows["state"] = ["healthy"] * healthy + ["degrading"] * degrading
    rows["failure_mode"] = [None] * healthy + list(mode)
    rows["hours_to_critical"] = [np.nan] * healthy + list(hours)
    rows["episode_id"] = [-1] * healthy + list(np.arange(degrading) % 6)
    return rows


def register_plumbing_model(uri: str) -> str:
    """Fit on `synthetic_rows` and register under the configured model name in `uri`; the version."""
    from altaviz.ml import registry
    from altaviz.ml.fit import fit_bundle
    from altaviz.ml.settings import load_ml_settings
    from altaviz.thresholds import load_thresholds

    settings = load_ml_settings()
    rows = synthetic_rows()
    bundle, metrics = fit_bundle(rows, settings, load_thresholds())
    example = rows[["model", "temp_level_f", "discharge_deficit_psi", *FEATURES]].head(5)
    ref = registry.register(bundle, name=settings.model.name, experiment=settings.model.experiment,
                            input_example=example, params={"plumbing": True}, metrics=metrics,
                            tags={"training_seeds": "1,2,3", "plumbing": "true"}, uri=uri)
    return ref.version
