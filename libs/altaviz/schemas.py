"""Explicit schemas: the telemetry contract for landing files and the Spark schemas of altaviz tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

#: Version of the telemetry contract (landing files and event bodies). See README "Telemetry contract".
TELEMETRY_CONTRACT_VERSION = "1.0"

SENSOR_COLUMNS: tuple[str, ...] = (
    "vibration_mms",
    "discharge_temp_f",
    "suction_pressure_psi",
    "discharge_pressure_psi",
    "horsepower_consumption",
    "gas_flow_mcf",
)
#: Columns every landing file must carry (values may be null).
REQUIRED_COLUMNS: tuple[str, ...] = ("compressor_id", "timestamp", *SENSOR_COLUMNS)
#: Columns a landing file may carry; anything else is ignored and listed in the ingest report.
OPTIONAL_COLUMNS: tuple[str, ...] = ("schema_version", "station_id")
CONTRACT_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: File extensions Bronze reads, by format.
LANDING_FORMATS: dict[str, str] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}


def telemetry_raw_schema() -> StructType:
    """`lh_bronze_raw.telemetry_raw`: every received reading as received, plus lineage columns.

    Values that did not parse are null in their typed column and kept verbatim in `unparsed_values`
    (a JSON object of column -> received text), so nothing received is lost.
    """
    from pyspark.sql.types import (
        DateType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType([
        StructField("event_id", StringType(), False),
        StructField("compressor_id", StringType(), True),
        StructField("timestamp", TimestampType(), True),
        *[StructField(name, DoubleType(), True) for name in SENSOR_COLUMNS],
        StructField("schema_version", StringType(), True),
        StructField("station_id", StringType(), True),
        StructField("unparsed_values", StringType(), True),
        StructField("source_file", StringType(), False),
        StructField("source_offset", LongType(), False),
        StructField("batch_id", StringType(), False),
        StructField("ingested_at", TimestampType(), False),
        StructField("ingestion_date", DateType(), False),
    ])


def ingested_files_schema() -> StructType:
    """`lh_bronze_raw.ingested_files`: one row per file Bronze looked at, landed or set aside, per batch."""
    from pyspark.sql.types import (
        DateType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType([
        StructField("batch_id", StringType(), False),
        StructField("source_file", StringType(), False),
        StructField("file_format", StringType(), True),
        StructField("file_size", LongType(), True),
        StructField("file_modified_at", TimestampType(), True),
        StructField("status", StringType(), False),
        StructField("reason", StringType(), True),
        StructField("extra_columns", StringType(), True),
        StructField("rows_read", LongType(), True),
        StructField("rows_landed", LongType(), True),
        StructField("rows_duplicate", LongType(), True),
        StructField("set_aside_to", StringType(), True),
        StructField("ingested_at", TimestampType(), False),
        StructField("ingestion_date", DateType(), False),
    ])


def telemetry_deadletter_schema() -> StructType:
    """`lh_bronze_raw.telemetry_deadletter`: streamed events that are not a reading, with where they came from.

    Positions are `event_partition`/`event_offset` (not `partition`/`offset`: reserved words in T-SQL and DuckDB).
    """
    from pyspark.sql.types import (
        BinaryType,
        DateType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType([
        StructField("topic", StringType(), False),
        StructField("event_partition", IntegerType(), False),
        StructField("event_offset", LongType(), False),
        StructField("event_timestamp", TimestampType(), True),
        StructField("event_key", StringType(), True),
        StructField("raw_body", BinaryType(), True),
        StructField("body_text", StringType(), True),
        StructField("reason", StringType(), False),
        StructField("batch_id", StringType(), False),
        StructField("ingested_at", TimestampType(), False),
        StructField("ingestion_date", DateType(), False),
    ])


def is_naive_timestamp(dtype: object) -> bool:
    """True for Spark's timestamp without time zone: accepted on input, converted to UTC, never stored."""
    type_name = getattr(dtype, "typeName", None)
    return callable(type_name) and type_name() == "timestamp_ntz"


def telemetry_clean_schema() -> StructType:
    """`lh_silver_cleaned.telemetry_clean`: one validated reading per (compressor_id, timestamp)."""
    from pyspark.sql.types import DateType, DoubleType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("compressor_id", StringType(), False),
        StructField("timestamp", TimestampType(), False),
        *[StructField(name, DoubleType(), True) for name in SENSOR_COLUMNS],
        StructField("model", StringType(), True),
        StructField("station_id", StringType(), True),
        StructField("basin", StringType(), True),
        StructField("event_id", StringType(), False),
        StructField("ingested_at", TimestampType(), False),
        StructField("silver_run_id", StringType(), False),
        StructField("processed_at", TimestampType(), False),
        StructField("date", DateType(), False),
    ])


def telemetry_rejected_schema() -> StructType:
    """`lh_silver_cleaned.telemetry_rejected`: every Bronze reading that did not reach clean, and why."""
    from pyspark.sql.types import DateType, DoubleType, LongType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("event_id", StringType(), False),
        StructField("compressor_id", StringType(), True),
        StructField("timestamp", TimestampType(), True),
        *[StructField(name, DoubleType(), True) for name in SENSOR_COLUMNS],
        StructField("unparsed_values", StringType(), True),
        StructField("reject_reason", StringType(), False),
        StructField("reject_detail", StringType(), True),
        StructField("source_file", StringType(), True),
        StructField("source_offset", LongType(), True),
        StructField("ingested_at", TimestampType(), True),
        StructField("silver_run_id", StringType(), False),
        StructField("rejected_at", TimestampType(), False),
        StructField("rejected_date", DateType(), False),
    ])


def silver_runs_schema() -> StructType:
    """`lh_silver_cleaned.silver_runs`: one row per Silver run, its Bronze window and its balanced books."""
    from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("run_id", StringType(), False),
        StructField("as_of", TimestampType(), False),
        StructField("window_start", TimestampType(), True),
        StructField("window_end", TimestampType(), True),
        StructField("max_event_time", TimestampType(), True),
        StructField("raw_rows", LongType(), False),
        StructField("clean_rows", LongType(), False),
        StructField("rejected_rows", LongType(), False),
        StructField("duplicate_rows", LongType(), False),
        StructField("balanced", BooleanType(), False),
        StructField("quality_passed", BooleanType(), False),
        StructField("finished_at", TimestampType(), False),
        # The Bronze batches (`batch_id`s, a JSON array as text: a string every reader of the table reads) the run took:
        # how the next runs tell a late-committed batch from one already taken.
        StructField("batches", StringType(), True),
    ])


def silver_holds_schema() -> StructType:
    """`lh_silver_cleaned.silver_holds`: one row per Silver window a failed `block` check held out of Gold.

    `status` is `held` until a later run re-evaluates the window and it passes (`passed`) or an operator
    releases it (`released`); the counts are what the window's checks are re-evaluated with.
    """
    from pyspark.sql.types import (
        ArrayType,
        DateType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType([
        StructField("silver_run_id", StringType(), False),
        StructField("status", StringType(), False),
        StructField("reason", StringType(), False),
        StructField("held_at", TimestampType(), False),
        StructField("as_of", TimestampType(), False),
        StructField("first_date", DateType(), True),
        StructField("last_date", DateType(), True),
        StructField("raw_rows", LongType(), False),
        StructField("clean_rows", LongType(), False),
        StructField("rejected_rows", LongType(), False),
        StructField("duplicate_rows", LongType(), False),
        StructField("expected_units", LongType(), False),
        StructField("trailing_clean", ArrayType(LongType(), False), False),
        StructField("resolved_at", TimestampType(), True),
        StructField("resolved_by", StringType(), True),
        StructField("resolution", StringType(), True),
    ])


def quality_checks_schema() -> StructType:
    """`quality_checks`: one row per Silver quality check result per run, partitioned by `check_date`."""
    from pyspark.sql.types import (
        BooleanType,
        DateType,
        DoubleType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType([
        StructField("run_id", StringType(), False),
        StructField("check_name", StringType(), False),
        StructField("check", StringType(), False),
        StructField("metric", DoubleType(), True),
        StructField("threshold", DoubleType(), False),
        StructField("comparison", StringType(), False),
        StructField("passed", BooleanType(), False),
        StructField("level", StringType(), False),
        StructField("message", StringType(), False),
        StructField("checked_at", TimestampType(), False),
        StructField("check_date", DateType(), False),
    ])


#: Per-sensor statistics of every `sensor_readings_agg` window, in column order.
AGG_STATS = ("mean", "std", "min", "max")


def sensor_readings_agg_schema() -> StructType:
    """`lh_gold_curated.sensor_readings_agg`: (compressor_id, agg_timestamp, window_type) windows ending each hour."""
    from pyspark.sql.types import DateType, DoubleType, LongType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("compressor_id", StringType(), False),
        StructField("agg_timestamp", TimestampType(), False),
        StructField("window_type", StringType(), False),
        StructField("window_start", TimestampType(), False),
        StructField("window_end", TimestampType(), False),
        StructField("model", StringType(), True),
        StructField("station_id", StringType(), True),
        StructField("basin", StringType(), True),
        StructField("reading_count", LongType(), False),
        StructField("first_reading_at", TimestampType(), False),
        StructField("last_reading_at", TimestampType(), False),
        *[StructField(f"{s}_{k}", DoubleType(), True) for s in SENSOR_COLUMNS for k in AGG_STATS],
        StructField("pressure_differential_mean", DoubleType(), True),
        StructField("temp_rate_of_change_f_per_hr", DoubleType(), True),
        *[StructField(f"{s}_status", StringType(), True) for s in SENSOR_COLUMNS],
        StructField("date", DateType(), False),
    ])


def alerts_schema() -> StructType:
    """`lh_gold_curated.alerts`: one row per alert, its lifecycle columns updated in place."""
    from pyspark.sql.types import BooleanType, DateType, DoubleType, StringType, StructField, StructType, TimestampType

    text, ts, num = StringType(), TimestampType(), DoubleType()
    return StructType([
        StructField("alert_id", text, False), StructField("alert_type", text, False),
        StructField("compressor_id", text, False), StructField("sensor", text, True),
        StructField("severity", text, False), StructField("status", text, False),
        StructField("opened_at", ts, False), StructField("last_breach_at", ts, True),
        StructField("peak_value", num, True), StructField("threshold_value", num, True),
        StructField("escalated_at", ts, True), StructField("escalation_reason", text, True),
        StructField("acknowledged", BooleanType(), False), StructField("acknowledged_at", ts, True),
        StructField("acknowledged_by", text, True), StructField("resolved_at", ts, True),
        StructField("closed_at", ts, True), StructField("message", text, True),
        StructField("model", text, True), StructField("station_id", text, True), StructField("basin", text, True),
        StructField("updated_at", ts, True),
        StructField("failure_mode", text, True), StructField("rul_hours", num, True),
        StructField("rul_low_hours", num, True), StructField("rul_high_hours", num, True),
        StructField("contributing_sensors", text, True), StructField("date", DateType(), False),
    ])


def fleet_health_schema() -> StructType:
    """`lh_gold_curated.fleet_health`: one row per compressor: latest readings, status, open alerts, location."""
    from pyspark.sql.types import (
        DateType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType([
        StructField("compressor_id", StringType(), False),
        StructField("model", StringType(), True),
        StructField("station_id", StringType(), True),
        StructField("station_name", StringType(), True),
        StructField("basin", StringType(), True),
        StructField("latitude", DoubleType(), True),
        StructField("longitude", DoubleType(), True),
        StructField("last_reading_at", TimestampType(), True),
        StructField("minutes_since_last_reading", DoubleType(), True),
        *[StructField(s, DoubleType(), True) for s in SENSOR_COLUMNS],
        *[StructField(f"{s}_status", StringType(), True) for s in SENSOR_COLUMNS],
        StructField("status", StringType(), False),
        StructField("data_status", StringType(), False),
        StructField("open_warning_alerts", LongType(), False),
        StructField("open_critical_alerts", LongType(), False),
        StructField("open_freshness_alerts", LongType(), False),
        StructField("as_of", TimestampType(), False),
        StructField("as_of_date", DateType(), False),
    ])


def gold_unit_state_schema() -> StructType:
    """`lh_gold_curated.gold_unit_state`: Gold's own state, one row per compressor: its newest reading (time and
    values), the sensor statuses of its newest hour, and where it was last known to be."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("compressor_id", StringType(), False),
        StructField("model", StringType(), True),
        StructField("station_id", StringType(), True),
        StructField("basin", StringType(), True),
        StructField("latitude", DoubleType(), True),
        StructField("longitude", DoubleType(), True),
        StructField("last_reading_at", TimestampType(), True),
        *[StructField(s, DoubleType(), True) for s in SENSOR_COLUMNS],
        *[StructField(f"{s}_status", StringType(), True) for s in SENSOR_COLUMNS],
        StructField("updated_at", TimestampType(), False),
    ])


def gold_runs_schema() -> StructType:
    """`lh_gold_curated.gold_runs`: one row per Gold run: what it consumed, recomputed and raised."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("run_id", StringType(), False),
        StructField("as_of", TimestampType(), False),
        StructField("silver_watermark", TimestampType(), True),
        StructField("alerts_through", TimestampType(), True),
        StructField("releases_through", TimestampType(), True),
        StructField("clean_rows_read", LongType(), False),
        StructField("agg_rows", LongType(), False),
        StructField("alerts_changed", LongType(), False),
        StructField("alerts_opened", LongType(), False),
        StructField("finished_at", TimestampType(), False),
    ])
