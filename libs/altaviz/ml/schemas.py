"""Explicit schemas of the `lh_ml_serving` tables (timestamps are UTC `TIMESTAMP`, never `TIMESTAMP_NTZ`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


def ml_predictions_schema() -> StructType:
    """`lh_ml_serving.ml_predictions`: one row per (compressor_id, prediction_timestamp, model).

    `prediction_timestamp` is the end of the scored hour (the prediction uses data up to then only).
    """
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DateType,
        DoubleType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    text, num, ts = StringType(), DoubleType(), TimestampType()
    return StructType([
        StructField("compressor_id", text, False), StructField("prediction_timestamp", ts, False),
        StructField("model", text, False), StructField("model_version", text, False),
        StructField("compressor_model", text, True), StructField("station_id", text, True),
        StructField("basin", text, True),
        StructField("anomaly_score", num, True), StructField("isolation_score", num, True),
        StructField("anomaly_flag", BooleanType(), False),
        StructField("contributing_sensors", ArrayType(text, False), False), StructField("top_deviation", num, True),
        StructField("hours_to_temp_warning", num, True), StructField("hours_to_temp_critical", num, True),
        StructField("temp_slope_f_per_hour", num, True),
        StructField("rul_hours", num, True), StructField("rul_low_hours", num, True),
        StructField("rul_high_hours", num, True),
        StructField("failure_mode", text, True), StructField("failure_mode_probability", num, True),
        StructField("packing_vent_scfm", num, True), StructField("operating_minutes", num, True),
        StructField("scored_at", ts, False), StructField("date", DateType(), False),
    ])


def ml_baselines_schema() -> StructType:
    """`lh_ml_serving.ml_baselines`: one row per (compressor_id, date): each signal's baseline for the day
    (`altaviz.ml.baselines.day_baselines`), fitted from the days before it (NaN spread where a signal has none),
    under the feature settings `feature_settings` names (`altaviz.ml.baselines.settings_key`)."""
    from pyspark.sql.types import BooleanType, DateType, DoubleType, StringType, StructField, StructType

    from altaviz.ml.baselines import BASELINE_COLUMNS

    return StructType([StructField("compressor_id", StringType(), False), StructField("date", DateType(), False),
                       StructField("feature_settings", StringType(), False)]
                      + [StructField(c, BooleanType() if c.endswith("_provisional") else DoubleType(), True)
                         for c in BASELINE_COLUMNS])


def ml_runs_schema() -> StructType:
    """`lh_ml_serving.ml_runs`: one row per scoring run: the hours it scored and with which model version."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("run_id", StringType(), False), StructField("as_of", TimestampType(), False),
        StructField("scored_from", TimestampType(), True), StructField("scored_through", TimestampType(), True),
        StructField("model", StringType(), False), StructField("model_version", StringType(), False),
        StructField("predictions", LongType(), False), StructField("flagged_units", LongType(), False),
        StructField("alerts_changed", LongType(), False), StructField("finished_at", TimestampType(), False),
    ])


def model_evaluations_schema() -> StructType:
    """`lh_ml_serving.model_evaluations`: one row per evaluation run and failure mode (`all` for overall)."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

    num = DoubleType()
    return StructType([
        StructField("evaluation_id", StringType(), False), StructField("evaluated_at", TimestampType(), False),
        StructField("model", StringType(), False), StructField("model_version", StringType(), False),
        StructField("seed", LongType(), False), StructField("compressors", LongType(), False),
        StructField("days", LongType(), False), StructField("failure_mode", StringType(), False),
        StructField("failures", LongType(), False), StructField("detected", LongType(), False),
        StructField("recall", num, True), StructField("median_lead_hours", num, True),
        StructField("p10_lead_hours", num, True), StructField("false_alarms", LongType(), False),
        StructField("healthy_compressor_days", num, True), StructField("false_alarms_per_100_days", num, True),
        StructField("rul_mae_hours", num, True), StructField("rul_interval_coverage", num, True),
        StructField("rul_predictions", LongType(), False),
    ])
