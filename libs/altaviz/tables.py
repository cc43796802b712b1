"""The table catalog: every table the pipeline writes, with its lakehouse, schema, partitioning, merge keys and
layout, in one place. Stages import their tables from here, never from each other.

A `Table` is a `TableRef` (the lakehouse methods take it as one) carrying how the table is laid out:

- `columns`: the stored schema (a function from `altaviz.schemas`), or None where it follows the source
  (reference files, the internal hourly partials).
- `partition_by`: its partition columns; `merge_keys`: what a MERGE matches on (empty: append or overwrite only).
- `cluster_by`: columns rows are ordered by within a partition when written (files cover narrow ranges, so
  range-bounded reads and MERGEs skip most of them); `zorder_by`: what OPTIMIZE clusters by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from altaviz import schemas
from altaviz.lakehouse.paths import TableRef
from altaviz.ml import schemas as ml_schemas
from altaviz.ml.emissions import emissions_daily_schema

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


@dataclass(frozen=True)
class Table(TableRef):
    """A pipeline table: where it lives and how it is laid out (see the module docstring)."""

    columns: Callable[[], StructType] | None = None
    partition_by: tuple[str, ...] = ()
    merge_keys: tuple[str, ...] = ()
    cluster_by: tuple[str, ...] = ()
    zorder_by: tuple[str, ...] = ()
    description: str = ""


def _table(lakehouse: str, name: str, description: str, **layout: object) -> Table:
    return Table(lakehouse, name, description=description, **layout)  # type: ignore[arg-type]


# --- Bronze ------------------------------------------------------------------------------------------------------
TELEMETRY_RAW = _table("lh_bronze_raw", "telemetry_raw", "Every landed reading, once per event id, as received.",
                       columns=schemas.telemetry_raw_schema, partition_by=("ingestion_date",),
                       merge_keys=("event_id",), cluster_by=("timestamp",))
INGESTED_FILES = _table("lh_bronze_raw", "ingested_files", "One row per landing file handled, and how.",
                        columns=schemas.ingested_files_schema, partition_by=("ingestion_date",))
TELEMETRY_DEADLETTER = _table("lh_bronze_raw", "telemetry_deadletter",
                              "Streamed events that are not a reading: raw body, partition, offset and why.",
                              columns=schemas.telemetry_deadletter_schema, partition_by=("ingestion_date",),
                              merge_keys=("topic", "event_partition", "event_offset"))

# --- Silver ------------------------------------------------------------------------------------------------------
TELEMETRY_CLEAN = _table("lh_silver_cleaned", "telemetry_clean", "Readings every declared rule passed.",
                         columns=schemas.telemetry_clean_schema, partition_by=("date",),
                         merge_keys=("compressor_id", "timestamp", "date"), cluster_by=("timestamp",))
TELEMETRY_REJECTED = _table("lh_silver_cleaned", "telemetry_rejected", "Readings a rule rejected, with why.",
                            columns=schemas.telemetry_rejected_schema, partition_by=("rejected_date",),
                            merge_keys=("event_id",))
SILVER_RUNS = _table("lh_silver_cleaned", "silver_runs", "One row per Silver run: its window and its books.",
                     columns=schemas.silver_runs_schema)
SILVER_HOLDS = _table("lh_silver_cleaned", "silver_holds", "One row per window a failed block check held.",
                      columns=schemas.silver_holds_schema, merge_keys=("silver_run_id",))
QUALITY_CHECKS = _table("lh_silver_cleaned", "quality_checks", "Every quality check result of every run.",
                        columns=schemas.quality_checks_schema, partition_by=("check_date",))
DIM_COMPRESSOR = _table("lh_silver_cleaned", "dim_compressor", "The compressors, from the reference file.")
DIM_STATION = _table("lh_silver_cleaned", "dim_station", "The stations, from the reference file.")

# --- Gold --------------------------------------------------------------------------------------------------------
SENSOR_READINGS_AGG = _table("lh_gold_curated", "sensor_readings_agg", "1/4/24-hour windows per unit and hour.",
                             columns=schemas.sensor_readings_agg_schema, partition_by=("date",),
                             merge_keys=("compressor_id", "agg_timestamp", "window_type", "date"),
                             cluster_by=("agg_timestamp",), zorder_by=("agg_timestamp",))
SENSOR_HOURLY_PARTIALS = _table("lh_gold_curated", "sensor_hourly_partials",
                                "Per unit and hour, the sums the windows are built from (internal).",
                                partition_by=("date",), merge_keys=("compressor_id", "_h", "date"),
                                cluster_by=("_h",), zorder_by=("_h",))
ALERTS = _table("lh_gold_curated", "alerts", "One row per alert, updated in place through its lifecycle.",
                columns=schemas.alerts_schema, partition_by=("date",), merge_keys=("alert_id",))
FLEET_HEALTH = _table("lh_gold_curated", "fleet_health", "One row per compressor: its latest state.",
                      columns=schemas.fleet_health_schema)
STATION_HEALTH = _table("lh_gold_curated", "station_health", "fleet_health rolled up per station.")
BASIN_HEALTH = _table("lh_gold_curated", "basin_health", "fleet_health rolled up per basin.")
GOLD_UNIT_STATE = _table("lh_gold_curated", "gold_unit_state",
                         "Gold's own state per unit: newest reading, latest statuses (not for reports).",
                         columns=schemas.gold_unit_state_schema)
GOLD_RUNS = _table("lh_gold_curated", "gold_runs", "One row per Gold run: what it consumed and wrote.",
                   columns=schemas.gold_runs_schema)

# --- ML ----------------------------------------------------------------------------------------------------------
ML_PREDICTIONS = _table("lh_ml_serving", "ml_predictions", "Per unit and hour: anomaly, drift, RUL, failure mode.",
                        columns=ml_schemas.ml_predictions_schema, partition_by=("date",),
                        merge_keys=("compressor_id", "prediction_timestamp", "model", "date"),
                        cluster_by=("prediction_timestamp",), zorder_by=("compressor_id",))
EMISSIONS_DAILY = _table("lh_ml_serving", "emissions_daily", "Per unit and day: CH4, CO2, CO2e, packing vent.",
                         columns=emissions_daily_schema, partition_by=("date",),
                         merge_keys=("compressor_id", "date"), zorder_by=("compressor_id",))
ML_BASELINES = _table("lh_ml_serving", "ml_baselines",
                      "Per unit and day: each signal's baseline fit, from the days before it (internal).",
                      columns=ml_schemas.ml_baselines_schema, partition_by=("date",),
                      merge_keys=("compressor_id", "date", "feature_settings"))
ML_RUNS = _table("lh_ml_serving", "ml_runs", "One row per scoring run: hours scored, model version.",
                 columns=ml_schemas.ml_runs_schema)
MODEL_EVALUATIONS = _table("lh_ml_serving", "model_evaluations",
                           "One row per evaluation run and failure mode: recall, lead time, false alarms, RUL error.",
                           columns=ml_schemas.model_evaluations_schema, merge_keys=("evaluation_id", "failure_mode"))

#: Every table, in pipeline order.
TABLES: tuple[Table, ...] = (
    TELEMETRY_RAW, INGESTED_FILES, TELEMETRY_DEADLETTER, TELEMETRY_CLEAN, TELEMETRY_REJECTED, SILVER_RUNS,
    SILVER_HOLDS, QUALITY_CHECKS, DIM_COMPRESSOR, DIM_STATION, SENSOR_READINGS_AGG, SENSOR_HOURLY_PARTIALS, ALERTS,
    FLEET_HEALTH, STATION_HEALTH, BASIN_HEALTH, GOLD_UNIT_STATE, GOLD_RUNS, ML_PREDICTIONS, EMISSIONS_DAILY,
    ML_BASELINES, ML_RUNS, MODEL_EVALUATIONS,
)
