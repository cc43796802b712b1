"""`altaviz evaluate`: judge a registered model on a fresh simulated fleet it never saw, against failure labels.

The fleet (seed S, never a training seed) is simulated into a temporary lakehouse and runs through Bronze, Silver,
Gold and scoring exactly as the hourly pipeline would; predictive alerts and predictions are then compared with
the simulator's labels. Failures counted: those whose failure time falls in the simulated window after at least
`min_degradation_hours` of degradation inside it. Per failure mode and overall:

- recall: failures with a predictive alert opened between onset and failure; lead time: failure minus that
  alert's opening (median and 10th percentile);
- false alarms: predictive alerts opened outside every degradation (onset to failure), per 100 compressor-days of
  healthy operation;
- RUL: mean absolute error of the median estimate of hours until critical, and how often the truth falls inside
  the 80 % interval, over every degrading hour before critical that has an estimate.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from altaviz.lakehouse.paths import LakehousePaths
    from altaviz.simulator.profiles import FleetProfile

MIN_DEGRADATION_HOURS = 24.0
HOUR_S = 3600.0


@dataclass(frozen=True)
class Evaluation:
    evaluation_id: str
    model: str
    model_version: str
    seed: int
    compressors: int
    days: int
    rows: list[dict[str, Any]]  # per failure mode, then "all"
    seconds: float


def failures_in(labels: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Episodes that fail inside [start, end) after at least a day of degradation inside it."""
    seen_from = labels["onset_time"].where(labels["onset_time"] > start, start)
    observed = (labels["failure_time"] - seen_from).dt.total_seconds() / HOUR_S
    return labels[(labels["failure_time"] >= start) & (labels["failure_time"] < end)
                  & (observed >= MIN_DEGRADATION_HOURS)].copy()


def detections(failures: pd.DataFrame, alerts: pd.DataFrame) -> pd.DataFrame:
    """Per failure, the first predictive alert opened on its unit between onset and failure, and the lead time."""
    out = failures.copy()
    opened = []
    for row in failures.itertuples():
        mine = alerts[(alerts["compressor_id"] == row.compressor_id) & (alerts["opened_at"] >= row.onset_time)
                      & (alerts["opened_at"] < row.failure_time)]
        opened.append(mine["opened_at"].min() if len(mine) else pd.NaT)
    out["alert_opened_at"] = pd.to_datetime(pd.Series(opened, index=out.index, dtype="datetime64[ns, UTC]"))
    out["lead_hours"] = (out["failure_time"] - out["alert_opened_at"]).dt.total_seconds() / HOUR_S
    return out


def false_alarms(alerts: pd.DataFrame, labels: pd.DataFrame) -> pd.Series:
    """Mask of alerts opened outside every degradation of their unit (onset to failure)."""
    false = np.ones(len(alerts), dtype=bool)
    for i, a in enumerate(alerts.itertuples()):
        mine = labels[labels["compressor_id"] == a.compressor_id]
        false[i] = not ((mine["onset_time"] <= a.opened_at) & (a.opened_at < mine["failure_time"])).any()
    return pd.Series(false, index=alerts.index)


def healthy_days(labels: pd.DataFrame, compressors: int, start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Compressor-days in [start, end) outside every episode (onset to back in service)."""
    lo = labels["onset_time"].clip(lower=start, upper=end)
    hi = labels["repaired_time"].clip(lower=start, upper=end)
    busy = float(((hi - lo).dt.total_seconds() / 86_400.0).sum())
    return compressors * (end - start).total_seconds() / 86_400.0 - busy


def _rul(predictions: pd.DataFrame) -> tuple[float | None, float | None, int]:
    rows = predictions[(predictions["state"] == "degrading") & (predictions["hours_to_critical"] > 0)
                       & predictions["rul_hours"].notna()]
    if rows.empty:
        return None, None, 0
    truth = rows["hours_to_critical"]
    mae = float((rows["rul_hours"] - truth).abs().mean())
    coverage = float(((rows["rul_low_hours"] <= truth) & (truth <= rows["rul_high_hours"])).mean())
    return mae, coverage, len(rows)


def metric_rows(found: pd.DataFrame, alerts: pd.DataFrame, predictions: pd.DataFrame, labels: pd.DataFrame,
                *, compressors: int, start: pd.Timestamp, end: pd.Timestamp) -> list[dict[str, Any]]:
    """The metrics per failure mode (modes with failures or labels) and overall (`all`)."""
    false = false_alarms(alerts, labels) if len(alerts) else pd.Series([], dtype=bool)
    days = healthy_days(labels, compressors, start, end)
    modes = sorted(set(found["failure_mode"]) | set(labels["failure_mode"]))
    rows = []
    for mode in [*modes, "all"]:
        f = found if mode == "all" else found[found["failure_mode"] == mode]
        p = predictions if mode == "all" else predictions[predictions["failure_mode_label"] == mode]
        lead = f["lead_hours"].dropna()
        mae, coverage, n_rul = _rul(p)
        n_false = int(false.sum()) if mode == "all" else 0
        rows.append({
            "failure_mode": mode, "failures": len(f), "detected": int(f["alert_opened_at"].notna().sum()),
            "recall": float(f["alert_opened_at"].notna().mean()) if len(f) else None,
            "median_lead_hours": float(lead.median()) if len(lead) else None,
            "p10_lead_hours": float(lead.quantile(0.1)) if len(lead) else None,
            "false_alarms": n_false, "healthy_compressor_days": days if mode == "all" else None,
            "false_alarms_per_100_days": 100.0 * n_false / days if mode == "all" and days > 0 else None,
            "rul_mae_hours": mae, "rul_interval_coverage": coverage, "rul_predictions": n_rul})
    return rows


def evaluate(spark: SparkSession, paths: LakehousePaths, *, compressors: int, days: int, seed: int,
             version: str | None = None, start: date | None = None, profile: FleetProfile | None = None,
             progress: Callable[[str], None] = lambda _: None) -> Evaluation:
    """Simulate a fresh fleet, run the whole pipeline on it with the registered model, and measure.

    Raises:
        UsageError: No registered model, or `seed` is one the model was trained on.
    """
    import time

    from altaviz.errors import UsageError
    from altaviz.lakehouse.paths import resolve_paths
    from altaviz.ml.labels import label_hours, read_labels
    from altaviz.ml.training import run_fleet, training_seeds
    from altaviz.runtime.context import RunContext
    from altaviz.simulator.landing import labels_file
    from altaviz.stages import ml
    from altaviz.tables import ALERTS, ML_PREDICTIONS
    from altaviz.transforms.alerts import PREDICTIVE

    began = time.perf_counter()
    home = RunContext.create(spark, paths, progress=progress)
    bundle, ref = ml.load_model(home, version)
    used = training_seeds(paths, ref.name, ref.version)
    if seed in used:
        raise UsageError(f"seed {seed} trained {ref.name} v{ref.version} (training seeds "
                         f"{', '.join(map(str, sorted(used)))}): evaluate on a seed the model never saw")
    first = start or (datetime.now(UTC).date() - timedelta(days=days))
    root = Path(tempfile.mkdtemp(prefix=f"altaviz-evaluate-{seed}-"))
    try:
        ctx = RunContext.create(spark, resolve_paths(root), progress=progress)
        progress(f"evaluate: fleet seed {seed}: {compressors} compressors x {days} days from {first}")
        end = run_fleet(ctx, compressors=compressors, days=days, seed=seed, start=first, profile=profile)
        ml.run(ctx, as_of=end, model=(bundle, ref))
        labels = read_labels(labels_file(ctx.paths))
        alerts = (ctx.lakehouse.read(ALERTS).where(f"alert_type = '{PREDICTIVE}'")
                  .select("compressor_id", "opened_at", "severity").toPandas()
                  if ctx.lakehouse.exists(ALERTS) else pd.DataFrame(columns=["compressor_id", "opened_at"]))
        from altaviz.ml.features import utc

        alerts["opened_at"] = utc(alerts["opened_at"]) if len(alerts) else alerts["opened_at"]
        scored = (ctx.lakehouse.read(ML_PREDICTIONS).where("rul_hours IS NOT NULL")
                  .selectExpr("compressor_id", "prediction_timestamp - INTERVAL 1 HOUR AS hour", "rul_hours",
                              "rul_low_hours", "rul_high_hours").toPandas())
        predictions = label_hours(scored, labels).rename(columns={"failure_mode": "failure_mode_label"})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lo, hi = pd.Timestamp(first, tz="UTC"), pd.Timestamp(end)
    found = detections(failures_in(labels, lo, hi), alerts)
    rows = metric_rows(found, alerts, predictions, labels, compressors=compressors, start=lo, end=hi)
    evaluation = Evaluation(f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}", ref.name, ref.version,
                            seed, compressors, days, rows, round(time.perf_counter() - began, 1))
    _record(home, evaluation)
    return evaluation


def _record(ctx: Any, evaluation: Evaluation) -> None:
    from altaviz.runtime.frames import small_frame
    from altaviz.tables import MODEL_EVALUATIONS

    now = datetime.now(UTC)
    rows = [{"evaluation_id": evaluation.evaluation_id, "evaluated_at": now, "model": evaluation.model,
             "model_version": evaluation.model_version, "seed": evaluation.seed,
             "compressors": evaluation.compressors, "days": evaluation.days, **r} for r in evaluation.rows]
    frame = small_frame(ctx.spark, rows, MODEL_EVALUATIONS.columns())
    (ctx.lakehouse.merge(MODEL_EVALUATIONS, frame, on=MODEL_EVALUATIONS.merge_keys)
     .when_matched_update_all().when_not_matched_insert_all().execute())
