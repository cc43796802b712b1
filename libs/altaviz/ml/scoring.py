"""The Spark side of scoring: features and predictions in a grouped pandas UDF, and the writes that follow.

Units are hashed into buckets (one per shuffle partition) and each bucket's hourly windows go to one pandas call (`unit_hour_features`, then
the model), so the work spreads over the cluster while numpy handles thousands of units per call. What returns
to the driver is per unit and hour of the scored window only (for the alert lifecycle), never the windows read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from altaviz.ml.alerts import HourPrediction, advance, streaks_before
from altaviz.ml.baselines import day_baselines, settings_key
from altaviz.ml.features import FEATURES, INPUT_COLUMNS, PeerReference, unit_hour_features
from altaviz.ml.schemas import ml_baselines_schema, ml_predictions_schema
from altaviz.runtime.frames import as_utc, dates_through
from altaviz.tables import ALERTS, EMISSIONS_DAILY, ML_BASELINES, ML_PREDICTIONS, SENSOR_READINGS_AGG
from altaviz.transforms.alerts import PREDICTIVE, Alert

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

    from altaviz.ml.model import MaintenanceBundle
    from altaviz.ml.registry import ModelVersionRef
    from altaviz.ml.settings import FeatureSettings
    from altaviz.runtime.context import RunContext

HOUR = timedelta(hours=1)


def _scorer(bundle: MaintenanceBundle, ref: ModelVersionRef, start: datetime, end: datetime,
            scored_at: datetime) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    import pandas as pd

    columns = [f.name for f in ml_predictions_schema().fields]
    settings = bundle.settings.features
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)

    def score(frame: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
        features = unit_hour_features(frame, settings, getattr(bundle, "peer", None), since=lo, baselines=baselines)
        features = features[features["hour"] < hi].reset_index(drop=True)
        predicted = bundle.predict(features)
        at = features["hour"] + pd.Timedelta(hours=1)
        out = pd.DataFrame({
            "compressor_id": features["compressor_id"], "prediction_timestamp": at, "model": ref.name,
            "model_version": ref.version, "compressor_model": features["model"],
            "station_id": features["station_id"], "basin": features["basin"],
            **{c: predicted[c] for c in predicted.columns if c in columns},
            "temp_slope_f_per_hour": features["temp_slope_f_per_hour"],
            "operating_minutes": features["operating_minutes"], "scored_at": pd.Timestamp(scored_at),
            "date": at.dt.date,
        })
        out["anomaly_flag"] = out["anomaly_flag"].astype(bool)
        return out[columns]

    return score


def baseline_days(settings: FeatureSettings, start: datetime, end: datetime) -> list[date]:
    """The days whose baselines the features of [start, end) use: theirs and the long window's before them."""
    return dates_through((start - settings.long_hours * HOUR).date(), (end - HOUR).date())


def stored_baseline_days(ctx: RunContext, settings: FeatureSettings, start: datetime, end: datetime) -> set[date]:
    """The days of `baseline_days` whose baselines `ml_baselines` holds under these settings.

    Each run stores every day it needs in one commit, and runs move forward in time: when the last day needed is
    stored, all are, and one partition's `limit(1)` answers (the hours of a day after its first); otherwise the
    stored days are listed."""
    if not ctx.lakehouse.exists(ML_BASELINES):
        return set()
    needed = baseline_days(settings, start, end)
    key = settings_key(settings)
    if _stored_baselines(ctx, key, needed[-1:]).limit(1).count():
        return set(needed)
    return {r.date for r in _stored_baselines(ctx, key, needed).select("date").distinct().collect()}


def ensure_baselines(ctx: RunContext, settings: FeatureSettings, start: datetime, end: datetime) -> list[date]:
    """Fit and store the baselines (`ml_baselines`) the window needs that the table does not hold yet; those days.

    A day's baseline reads only the `lookback_days` before it, so it is fitted once, by the first run that scores
    an hour of it (or of the day after): an hourly run within a day reads it back instead of refitting from nine
    days of windows.
    """
    from pyspark.sql import functions as F

    stored = stored_baseline_days(ctx, settings, start, end)
    missing = [d for d in baseline_days(settings, start, end) if d not in stored]
    if missing:
        ctx.progress(f"ml: fitting the baselines of {len(missing):,} day(s) from {missing[0]}")
        windows = _windows(ctx, missing[0] - timedelta(days=settings.lookback_days), None).where(
            F.col("date") < F.lit(missing[-1]))
        fitted = _bucketed(ctx, windows).applyInPandas(lambda frame: day_baselines(frame, settings, missing),
                                                       ml_baselines_schema())
        ctx.lakehouse.write(ML_BASELINES, fitted, partition_by=ML_BASELINES.partition_by)
    return missing


def _stored_baselines(ctx: RunContext, key: str, days: list[date]) -> DataFrame:
    from pyspark.sql import functions as F

    return ctx.lakehouse.read(ML_BASELINES).where(
        (F.col("date") >= F.lit(days[0])) & (F.col("date") <= F.lit(days[-1])) & (F.col("feature_settings") == key))


def predictions_frame(ctx: RunContext, bundle: MaintenanceBundle, ref: ModelVersionRef, start: datetime,
                      end: datetime, *, scored_at: datetime) -> DataFrame:
    """Predictions for the hours in [start, end), from the stored baselines of their days (`ensure_baselines`
    first) and the 1-hour windows of those hours, the long window before them and a restart's silence before
    that: about two days of windows for an hour, whatever the lookback."""
    from pyspark.sql import functions as F

    settings = bundle.settings.features
    days = baseline_days(settings, start, end)
    first = (datetime.combine(days[0], datetime.min.time(), start.tzinfo)
             - settings.reset_after_silence_hours * HOUR)
    windows = _windows(ctx, first.date(), end).where(F.col("agg_timestamp") >= F.lit(first))
    baselines = _stored_baselines(ctx, settings_key(settings), days)
    return (_bucketed(ctx, windows).cogroup(_bucketed(ctx, baselines))
            .applyInPandas(_scorer(bundle, ref, start, end, scored_at), ml_predictions_schema()))


def _windows(ctx: RunContext, first_day: object | None, end: datetime | None) -> DataFrame:
    from pyspark.sql import functions as F

    where = F.col("window_type") == "1hr"
    if first_day is not None:
        where &= F.col("date") >= F.lit(first_day)
    if end is not None:
        where &= (F.col("date") <= F.lit((end - HOUR).date())) & (F.col("agg_timestamp") < F.lit(end))
    return ctx.lakehouse.read(SENSOR_READINGS_AGG).where(where).select(*INPUT_COLUMNS)


def _bucketed(ctx: RunContext, windows: DataFrame) -> Any:
    """Group the windows into buckets of units by hash: one per shuffle partition (no Spark action to size them;
    a unit's features never depend on which bucket it lands in)."""
    from pyspark.sql import functions as F

    buckets = max(1, int(ctx.spark.conf.get("spark.sql.shuffle.partitions", "8")))
    return windows.withColumn("_bucket", F.abs(F.xxhash64("compressor_id")) % buckets).groupBy("_bucket")


def features_schema() -> Any:
    """The Spark schema of `unit_hour_features` rows."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType, TimestampType

    return StructType([StructField(c, StringType(), c == "compressor_id") for c in ("compressor_id",)]
                      + [StructField("hour", TimestampType(), False)]
                      + [StructField(c, StringType(), True) for c in ("model", "station_id", "basin")]
                      + [StructField(c, DoubleType(), True) for c in ("operating_minutes", "temp_level_f",
                                                                      "discharge_deficit_psi", *FEATURES)])


def features_frame(ctx: RunContext, peer: PeerReference | None = None) -> DataFrame:
    """The features of every stored hour (training): the same grouped UDF as scoring, without a model."""
    settings = ctx.ml.features
    columns = [f.name for f in features_schema().fields]
    return _bucketed(ctx, _windows(ctx, None, None)).applyInPandas(
        lambda frame: unit_hour_features(frame, settings, peer)[columns], features_schema())


def windows_frame(ctx: RunContext) -> DataFrame:
    """Every stored 1-hour window, with the columns the features read (training's peer reference)."""
    return _windows(ctx, None, None)


@dataclass(frozen=True)
class Written:
    """What the predictions write left for the window: its rows (as the alert lifecycle reads them)."""

    hours: list[HourPrediction]

    @property
    def rows(self) -> int:
        return len(self.hours)

    @property
    def flagged_units(self) -> int:
        return len({h.compressor_id for h in self.hours if h.flag})


def _scored(ctx: RunContext, start: datetime, end: datetime) -> DataFrame:
    from pyspark.sql import functions as F

    at = F.col("prediction_timestamp")
    return ctx.lakehouse.read(ML_PREDICTIONS).where(
        (F.col("date") >= F.lit((start + HOUR).date())) & (F.col("date") <= F.lit(end.date()))
        & (at > F.lit(start)) & (at <= F.lit(end)))


_HOUR_COLUMNS = ("compressor_id", "prediction_timestamp", "anomaly_flag", "anomaly_score", "rul_hours",
                 "rul_low_hours", "rul_high_hours", "failure_mode", "contributing_sensors", "compressor_model",
                 "station_id", "basin")


def write_predictions(ctx: RunContext, predictions: DataFrame, start: datetime, end: datetime, *,
                      already_scored: bool) -> Written:
    """Write the predictions of [start, end): appended, or MERGEd on their keys when the table already holds
    some of those hours (`already_scored`, from `scored_before`: a window scored again, its run record lost to a
    crash after the write).

    An hourly run appends (a fraction of a MERGE's cost: no join with the stored rows); checking first reads
    only the window's partitions and hours. `predictions` is computed once (persisted): the write and the
    window's rows returned to the driver for the alert lifecycle (one small row per unit-hour scored) read the
    same result.
    """
    from altaviz.lakehouse.backend import Bounds

    predictions = predictions.persist()
    try:
        if already_scored:
            dates = dates_through((start + HOUR).date(), end.date())  # stamped at their hour's end
            (ctx.lakehouse.merge(ML_PREDICTIONS, predictions, on=ML_PREDICTIONS.merge_keys,
                                 partition_by=ML_PREDICTIONS.partition_by, target_partitions={"date": dates},
                                 target_ranges={"prediction_timestamp": Bounds(start + HOUR, end)})
             .when_matched_update_all().when_not_matched_insert_all().execute())
        else:
            ctx.lakehouse.write(ML_PREDICTIONS, predictions, partition_by=ML_PREDICTIONS.partition_by)
        hours = _hours(predictions.select(*_HOUR_COLUMNS).toLocalIterator())
    finally:
        predictions.unpersist()
    return Written(hours)


def scored_before(ctx: RunContext, start: datetime, end: datetime) -> bool:
    """Whether `ml_predictions` holds any prediction of the hours in [start, end)."""
    return ctx.lakehouse.exists(ML_PREDICTIONS) and bool(_scored(ctx, start, end).limit(1).count())


def complete_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days whose last hour lies in the scored window [start, end): those it completes."""
    return dates_through(start.date(), end.date() - timedelta(days=1))


def write_emissions(ctx: RunContext, start: datetime, end: datetime) -> int:
    """Compute `emissions_daily` for the days the window completes (all their hours), MERGEd on their keys; rows
    written. A day is written once, by the run that scores its last hour: an hourly run within a day writes
    nothing, so emissions cost one computation per day, not one per hour."""
    from pyspark.sql import functions as F

    from altaviz.ml.emissions import daily_emissions

    days = complete_days(start, end)
    if not days:
        return 0
    first, last = days[0], days[-1]
    hours = (ctx.lakehouse.read(SENSOR_READINGS_AGG)
             .where((F.col("date") >= F.lit(first)) & (F.col("date") <= F.lit(last)) & (F.col("window_type") == "1hr"))
             .select("compressor_id", F.col("agg_timestamp").alias("hour"), "model", "station_id", "basin",
                     F.least(F.col("reading_count") * F.lit(5.0), F.lit(60.0)).alias("operating_minutes")))
    vents = (ctx.lakehouse.read(ML_PREDICTIONS)
             .where((F.col("date") >= F.lit(first)) & (F.col("date") <= F.lit(last + timedelta(days=1))))
             .select("compressor_id", (F.col("prediction_timestamp") - F.expr("INTERVAL 1 HOUR")).alias("hour"),
                     "packing_vent_scfm"))
    daily = daily_emissions(hours.join(vents, ["compressor_id", "hour"], "left"), ctx.emissions,
                            computed_at=ctx.clock())
    metrics = (ctx.lakehouse.merge(EMISSIONS_DAILY, daily, on=EMISSIONS_DAILY.merge_keys, partition_by=EMISSIONS_DAILY.partition_by,
                                   target_partitions={"date": days})
               .when_matched_update_all().when_not_matched_insert_all().execute())
    return int(getattr(metrics, "rows_inserted", 0) or 0) + int(getattr(metrics, "rows_updated", 0) or 0)


@dataclass(frozen=True)
class Advanced:
    changed: list[Alert]
    known: frozenset[str]
    since: datetime

    @property
    def opened(self) -> int:
        return sum(1 for a in self.changed if a.alert_id not in self.known)

    def report_rows(self) -> list[dict[str, Any]]:
        """What monitoring reads of each alert opened or changed (as Gold reports its alerts)."""
        return [{"alert_id": a.alert_id, "compressor_id": a.compressor_id, "basin": a.basin,
                 "alert_type": a.alert_type, "sensor": f"predicted {a.failure_mode or 'failure'} (RUL h)",
                 "severity": a.severity, "status": a.status, "value": a.rul_hours, "opened_at": a.opened_at.isoformat(), "failure_mode": a.failure_mode,
                 "contributing_sensors": a.contributing_sensors, "new": a.alert_id not in self.known,
                 "newly_critical": a.severity == "critical" and (a.alert_id not in self.known or (
                     a.escalated_at is not None and a.escalated_at > self.since))}
                for a in self.changed]


def _hours(rows: Iterator[Any]) -> list[HourPrediction]:
    def num(v: Any) -> float | None:
        return None if v is None or math.isnan(v) else float(v)

    return [HourPrediction(r.compressor_id, as_utc(r.prediction_timestamp), bool(r.anomaly_flag),
                           num(r.anomaly_score), num(r.rul_hours), num(r.rul_low_hours), num(r.rul_high_hours),
                           r.failure_mode, tuple(r.contributing_sensors or ()), r.compressor_model, r.station_id,
                           r.basin) for r in rows]


@dataclass(frozen=True)
class AlertState:
    """What the lifecycle starts from: each unit's flagged hours before the window and its open predictive alert."""

    history: list[tuple[str, datetime, bool]]
    active: dict[str, Alert]


def alert_state(ctx: RunContext, bundle: MaintenanceBundle, start: datetime) -> AlertState:
    """The flags of the `sustain_hours` before `start` and the open predictive alerts (read before the window's
    predictions are written: neither depends on them)."""
    from pyspark.sql import functions as F

    from altaviz.stages.gold_alerts import read_alerts

    lookback = bundle.settings.alerts.sustain_hours * HOUR
    history = ([(r.compressor_id, as_utc(r.prediction_timestamp), bool(r.anomaly_flag))
                for r in _scored(ctx, start - lookback, start).select(*_HOUR_COLUMNS[:3]).collect()]
               if ctx.lakehouse.exists(ML_PREDICTIONS) else [])
    active = ({a.compressor_id: a for a in read_alerts(ctx, (F.col("alert_type") == PREDICTIVE)
                                                        & (F.col("status") == "open"))}
              if ctx.lakehouse.exists(ALERTS) else {})
    return AlertState(history, active)


def advance_alerts(ctx: RunContext, bundle: MaintenanceBundle, new: list[HourPrediction], state: AlertState,
                   start: datetime, end: datetime) -> Advanced:
    """Walk the predictive alert lifecycle over the window's hours (`new`) from `state`, and MERGE what changed
    into Gold `alerts`."""
    from altaviz.stages.gold_alerts import alert_table

    changed, _ = advance(new, active=state.active, streaks=streaks_before(state.history), settings=bundle.settings.alerts,
                         threshold=bundle.threshold, end=end)
    if changed:
        ctx.progress(f"ml: {len(changed):,} predictive alert(s) opened or changed")
        (ctx.lakehouse.merge(ALERTS, alert_table(changed), on=ALERTS.merge_keys, partition_by=ALERTS.partition_by,
                             target_partitions={"date": sorted({a.opened_at.date() for a in changed})})
         .with_schema_evolution().when_matched_update_all().when_not_matched_insert_all().execute())
    return Advanced(changed, frozenset(a.alert_id for a in state.active.values()), start)


def at_risk(hours: list[HourPrediction], end: datetime, limit: int = 5) -> list[dict[str, Any]]:
    """The units flagged at the window's last hour (`end`), shortest RUL first."""
    last = [h for h in hours if h.flag and h.at == end]
    last.sort(key=lambda h: (h.rul_hours is None, h.rul_hours or 0.0, h.compressor_id))
    return [{"compressor_id": h.compressor_id, "basin": h.basin, "failure_mode": h.failure_mode,
             "rul_hours": h.rul_hours, "rul_low_hours": h.rul_low_hours, "rul_high_hours": h.rul_high_hours,
             "contributing_sensors": list(h.contributing), "anomaly_score": h.score}
            for h in last[:limit]]
