"""`altaviz train`: simulate training fleets, run them through Bronze, Silver and Gold, fit and register the model.

Training never sees the fleet it is judged on: each training fleet is simulated with one of `training.seeds` into a
temporary lakehouse, runs through the same stages the hourly pipeline runs, and its Gold windows become features
through the same grouped UDF scoring uses. The seeds are recorded on the registered version, and
`altaviz evaluate` refuses them.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from altaviz.ml.features import FEATURES

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

    from altaviz.lakehouse.paths import LakehousePaths
    from altaviz.ml.features import PeerReference
    from altaviz.ml.registry import ModelVersionRef
    from altaviz.ml.settings import FleetVariation, MlSettings
    from altaviz.runtime.context import RunContext
    from altaviz.simulator.profiles import FleetProfile

SEEDS_TAG = "training_seeds"
#: Training fleets start on different days of the year (seasons shift the temperature baseline).
_FIRST_START = date(2025, 1, 5)


def training_start(seed: int, days: int) -> date:
    """The first simulated day of a training fleet: spread over the year by seed."""
    return _FIRST_START + timedelta(days=(seed * 53) % max(1, 330 - days))


def varied(profile: FleetProfile, variation: FleetVariation) -> FleetProfile:
    """`profile` with every failure mode's durations and the sensor noise scaled by `variation`."""
    from dataclasses import replace

    scale = variation.duration_scale
    modes = tuple(replace(m, duration_days=(m.duration_days[0] * scale, m.duration_days[1] * scale))
                  for m in profile.failure_modes)
    return replace(profile, failure_modes=modes,
                   noise=replace(profile.noise, scale=profile.noise.scale * variation.noise_scale))


def run_fleet(ctx: RunContext, *, compressors: int, days: int, seed: int, start: date,
              profile: FleetProfile | None = None) -> datetime:
    """Simulate a fleet into `ctx`'s (local, empty) lakehouse and run Bronze, Silver and Gold over all of it;
    the end of its data (the as-of time of the run)."""
    from altaviz.simulator import simulate
    from altaviz.stages import bronze, gold, silver

    simulate(ctx.paths, compressors=compressors, days=days, start=start, seed=seed, profile=profile)
    end = datetime.combine(start + timedelta(days=days), datetime.min.time(), UTC)
    for stage, call in (("bronze", lambda: bronze.run(ctx)), ("silver", lambda: silver.run(ctx, as_of=end)),
                        ("gold", lambda: gold.run(ctx, as_of=end))):
        began = time.perf_counter()
        call()
        ctx.progress(f"{stage} done in {time.perf_counter() - began:.0f}s")
    return end


def labelled_features(ctx: RunContext, peer: PeerReference | None = None) -> pd.DataFrame:
    """Every scored unit-hour of the lakehouse's Gold windows with its failure label (training rows)."""
    from altaviz.ml.labels import label_hours, read_labels
    from altaviz.ml.scoring import features_frame
    from altaviz.simulator.landing import labels_file

    features = features_frame(ctx, peer).toPandas()
    return label_hours(features, read_labels(labels_file(ctx.paths)))


def labelled_windows(ctx: RunContext) -> pd.DataFrame:
    """Every stored 1-hour window with its failure label (`state`: what the peer reference is fitted on)."""
    from altaviz.ml.features import utc
    from altaviz.ml.labels import label_hours, read_labels
    from altaviz.ml.scoring import windows_frame
    from altaviz.simulator.landing import labels_file

    windows = windows_frame(ctx).toPandas()
    windows["hour"] = utc(windows["agg_timestamp"])
    return label_hours(windows, read_labels(labels_file(ctx.paths)))


@dataclass(frozen=True)
class TrainResult:
    ref: ModelVersionRef
    metrics: dict[str, float]
    mode_episodes: dict[str, int]
    seconds: float


def _training_fleet(spark: SparkSession, seed: int, *, compressors: int, days: int, workdir: str,
                    profile: FleetProfile, variation: FleetVariation, progress: Callable[[str], None]) -> RunContext:
    """Simulate one training fleet into a lakehouse under `workdir` and run Bronze, Silver and Gold on it."""
    from altaviz.lakehouse.paths import resolve_paths
    from altaviz.runtime.context import RunContext

    root = Path(tempfile.mkdtemp(prefix=f"train-{seed}-", dir=workdir))
    ctx = RunContext.create(spark, resolve_paths(root), progress=progress)
    start = training_start(seed, days)
    progress(f"train: fleet seed {seed}: {compressors} compressors x {days} days from {start} (failure "
             f"durations x{variation.duration_scale:g}, sensor noise x{variation.noise_scale:g})")
    run_fleet(ctx, compressors=compressors, days=days, seed=seed, start=start, profile=varied(profile, variation))
    return ctx


def _fleet_rows(ctx: RunContext, seed: int, peer: PeerReference) -> pd.DataFrame:
    rows = labelled_features(ctx, peer)
    rows["compressor_id"] = f"{seed}:" + rows["compressor_id"].astype(str)  # units of fleets stay apart
    rows["episode_id"] = rows["episode_id"].where(rows["episode_id"] < 0, rows["episode_id"] + seed * 10**7)
    return rows


def training_peer(fleets: Sequence[RunContext], settings: MlSettings) -> PeerReference:
    """The peer reference fitted on the healthy hourly windows of the training fleets."""
    import pandas as pd

    from altaviz.ml.features import peer_fit

    windows = pd.concat([labelled_windows(ctx) for ctx in fleets], ignore_index=True)
    return peer_fit(windows, settings.features, (windows["state"] == "healthy").to_numpy())


def train(spark: SparkSession, paths: LakehousePaths, *, seeds: Sequence[int] | None = None,
          compressors: int | None = None, days: int | None = None, profile: FleetProfile | None = None,
          progress: Callable[[str], None] = lambda _: None) -> TrainResult:
    """Fit the maintenance model on simulated training fleets and register it in `paths`' MLflow store.

    Raises:
        ConfigError: A config file is invalid.
        ValueError: The training fleets hold too few failures to fit (simulate more or longer fleets).
    """
    import pandas as pd

    from altaviz.ml import registry
    from altaviz.ml.fit import fit_bundle, mode_counts
    from altaviz.ml.settings import load_ml_settings
    from altaviz.simulator.profiles import load_profile
    from altaviz.thresholds import load_thresholds

    began = time.perf_counter()
    settings, thresholds = load_ml_settings(), load_thresholds()
    cfg = settings.training
    seeds, compressors, days = tuple(seeds or cfg.seeds), compressors or cfg.compressors, days or cfg.days
    base = profile or load_profile()
    with tempfile.TemporaryDirectory(prefix="altaviz-train-") as workdir:
        fleets = [_training_fleet(spark, s, compressors=compressors, days=days, workdir=workdir, profile=base,
                                  variation=cfg.variation(i), progress=progress) for i, s in enumerate(seeds)]
        progress("train: fitting the peer baselines on the training fleets' healthy hours")
        peer = training_peer(fleets, settings)
        rows = pd.concat([_fleet_rows(ctx, s, peer) for ctx, s in zip(fleets, seeds, strict=True)],
                         ignore_index=True)
    progress(f"train: fitting on {len(rows):,} unit-hours ({(rows['state'] == 'degrading').sum():,} degrading)")
    bundle, metrics = fit_bundle(rows, settings, thresholds, peer)
    episodes = {str(k): int(v) for k, v in mode_counts(rows).items()}
    example = rows[["model", "temp_level_f", "discharge_deficit_psi", *FEATURES]].head(20).reset_index(drop=True)
    ref = registry.register(
        bundle, name=settings.model.name, experiment=settings.model.experiment, input_example=example,
        params={"seeds": ",".join(map(str, seeds)), "compressors": compressors, "days": days,
                "variations": ";".join(f"{cfg.variation(i).duration_scale:g}/{cfg.variation(i).noise_scale:g}"
                                       for i in range(len(seeds))),
                "n_estimators": settings.anomaly.n_estimators, "flag_quantile": settings.anomaly.flag_quantile},
        metrics={**metrics, **{f"episodes_{k}": float(v) for k, v in episodes.items()}},
        tags={SEEDS_TAG: ",".join(map(str, seeds)), "compressors": str(compressors), "days": str(days)},
        uri=registry.tracking_uri(paths))
    return TrainResult(ref, metrics, episodes, round(time.perf_counter() - began, 1))


def training_seeds(paths: LakehousePaths, name: str, version: str) -> set[int]:
    """The seeds the registered version was trained on."""
    from altaviz.ml import registry

    tags = registry.version_tags(name, version, uri=registry.tracking_uri(paths))
    return {int(s) for s in tags.get(SEEDS_TAG, "").split(",") if s.strip()}
