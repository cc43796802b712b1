"""The scoring stage on a simulated fleet run through Bronze, Silver and Gold: predictions, emissions, re-runs."""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from altaviz.errors import UsageError
from altaviz.lakehouse.paths import resolve_paths
from altaviz.ml import registry
from altaviz.ml.features import FEATURES, utc
from altaviz.ml.fit import fit_bundle
from altaviz.runtime.context import RunContext
from altaviz.stages import ml
from altaviz.tables import EMISSIONS_DAILY, ML_PREDICTIONS

pytestmark = pytest.mark.slow
START = date(2026, 5, 4)
DAYS = 5



@pytest.fixture(scope="module", autouse=True)
def per_lakehouse_store():
    """These tests use each lakehouse's own MLflow store: the run-wide `$MLFLOW_TRACKING_URI` is unset here."""
    previous = os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    if previous is not None:
        os.environ["MLFLOW_TRACKING_URI"] = previous

def _labelled(features: pd.DataFrame) -> pd.DataFrame:
    """Plumbing labels (the model's quality is measured by `altaviz evaluate`, not here): the two units furthest
    from their baselines are 'degrading' with two modes, the rest healthy."""
    rows = features.copy()
    worst = rows.groupby("compressor_id")["zl_temperature"].apply(lambda z: z.abs().max()).nlargest(2).index
    rows["state"] = np.where(rows["compressor_id"].isin(worst), "degrading", "healthy")
    rows["failure_mode"] = np.where(rows["compressor_id"] == worst[0], "fouling",
                                    np.where(rows["compressor_id"] == worst[1], "bearing_wear", None))
    rows["hours_to_critical"] = np.where(rows["state"] == "degrading", np.linspace(200, 0, len(rows)), np.nan)
    rows["episode_id"] = np.where(rows["state"] == "degrading", rows["compressor_id"].map({w: i for i, w in
                                                                                            enumerate(worst)}), -1)
    return rows


@pytest.fixture(scope="module")
def fleet(spark, tmp_path_factory):
    """A 20-unit, 5-day fleet through Bronze/Silver/Gold (kept unscored) and a model registered in its store."""
    from altaviz.ml.training import labelled_features, run_fleet

    root = tmp_path_factory.mktemp("ml-fleet")
    ctx = RunContext.create(spark, resolve_paths(root))
    end = run_fleet(ctx, compressors=20, days=DAYS, seed=77, start=START)
    rows = _labelled(labelled_features(ctx))
    bundle, metrics = fit_bundle(rows, ctx.ml, ctx.thresholds)
    example = rows[["model", "temp_level_f", "discharge_deficit_psi", *FEATURES]].head(5)
    registry.register(bundle, name=ctx.ml.model.name, experiment=ctx.ml.model.experiment, input_example=example,
                      params={}, metrics=metrics, tags={"training_seeds": "77"}, uri=registry.tracking_uri(ctx.paths))
    return root, end


def _copy(spark, fleet, tmp_path) -> RunContext:
    root, _ = fleet
    shutil.copytree(root, tmp_path / "lh", symlinks=True)
    return RunContext.create(spark, resolve_paths(tmp_path / "lh"))


def _predictions(ctx: RunContext) -> pd.DataFrame:
    frame = ctx.lakehouse.read(ML_PREDICTIONS).drop("scored_at").toPandas()
    frame["prediction_timestamp"] = utc(frame["prediction_timestamp"])
    return frame.sort_values(["compressor_id", "prediction_timestamp"]).reset_index(drop=True)


def test_scoring_writes_an_hour_per_scored_unit_hour_and_a_day_of_emissions_per_unit(spark, fleet, tmp_path):
    ctx = _copy(spark, fleet, tmp_path)
    result = ml.run(ctx, as_of=fleet[1])

    predictions = _predictions(ctx)
    report = result.report
    assert report.predictions == len(predictions) > 0 and report.model_version == "1"
    # Day 0 is the first (provisional) baseline: hours are scored from day 1, once the long window is half full.
    assert predictions["prediction_timestamp"].min() > pd.Timestamp(START + timedelta(days=1, hours=11), tz="UTC")
    assert predictions["compressor_id"].nunique() == 20
    assert predictions["model_version"].eq("1").all() and predictions["anomaly_score"].notna().all()
    emissions = ctx.lakehouse.read(EMISSIONS_DAILY).toPandas()
    assert len(emissions) == 20 * DAYS and (emissions["co2e_kg"] > 0).all()


def test_a_rerun_writes_nothing_and_hourly_runs_give_what_one_backfill_gives(spark, fleet, tmp_path):
    hourly, backfill = _copy(spark, fleet, tmp_path / "a"), _copy(spark, fleet, tmp_path / "b")
    end = fleet[1]
    for hours in (30, 2, 1, 0):
        ml.run(hourly, as_of=end - timedelta(hours=hours))
    ml.run(backfill, as_of=end)
    versions = hourly.lakehouse.version(ML_PREDICTIONS), hourly.lakehouse.version(EMISSIONS_DAILY)

    again = ml.run(hourly, as_of=end)

    assert again.report.predictions == 0 and "no complete hour" in again.report.message
    assert (hourly.lakehouse.version(ML_PREDICTIONS), hourly.lakehouse.version(EMISSIONS_DAILY)) == versions
    pd.testing.assert_frame_equal(_predictions(hourly), _predictions(backfill), check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(_emissions(hourly), _emissions(backfill), check_exact=False, rtol=1e-9)


def _emissions(ctx: RunContext) -> pd.DataFrame:
    frame = ctx.lakehouse.read(EMISSIONS_DAILY).drop("computed_at").toPandas()
    return frame.sort_values(["compressor_id", "date"]).reset_index(drop=True)


def test_emissions_are_written_once_per_day_by_the_run_that_completes_it(spark, fleet, tmp_path):
    ctx = _copy(spark, fleet, tmp_path)
    end = fleet[1]  # a UTC midnight: the end of the fleet's last day
    ml.run(ctx, as_of=end - timedelta(hours=3))
    written = _emissions(ctx)
    version = ctx.lakehouse.version(EMISSIONS_DAILY)

    within_the_day = ml.run(ctx, as_of=end - timedelta(hours=1))
    assert within_the_day.report.emission_rows == 0 and ctx.lakehouse.version(EMISSIONS_DAILY) == version
    assert pd.to_datetime(written["date"]).max() == pd.Timestamp(end.date() - timedelta(days=2))

    completing = ml.run(ctx, as_of=end)
    assert completing.report.emission_rows == 20
    assert pd.to_datetime(_emissions(ctx)["date"]).max() == pd.Timestamp(end.date() - timedelta(days=1))


def test_scoring_with_a_version_that_does_not_exist_fails_in_one_line(spark, fleet, tmp_path):
    ctx = _copy(spark, fleet, tmp_path)

    with pytest.raises(UsageError, match="no version 9"):
        ml.run(ctx, as_of=fleet[1], model_version="9")


def test_a_run_killed_before_its_run_record_is_scored_again_without_duplicates(spark, fleet, tmp_path, monkeypatch):
    crashed, backfill = _copy(spark, fleet, tmp_path / "a"), _copy(spark, fleet, tmp_path / "b")
    end = fleet[1]
    ml.run(crashed, as_of=end - timedelta(hours=5))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed after the predictions were written")

    with monkeypatch.context() as patched:
        patched.setattr(ml, "record_run", killed)
        with pytest.raises(KeyboardInterrupt):
            ml.run(crashed, as_of=end)
    ml.run(crashed, as_of=end)
    ml.run(backfill, as_of=end)

    scored = _predictions(crashed)
    assert not scored.duplicated(["compressor_id", "prediction_timestamp", "model"]).any()
    pd.testing.assert_frame_equal(scored, _predictions(backfill), check_exact=False, rtol=1e-9)
