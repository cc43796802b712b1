"""Silver transforms: deduplicate readings, find stuck runs and per-unit statistics (rules: quality.silver_rules)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from altaviz.runtime import sqltext as sql
from altaviz.schemas import SENSOR_COLUMNS

#: Readings arrive every five minutes per unit.
CADENCE = timedelta(minutes=5)
#: Statistics columns of `unit_sensor_stats`: `_n`, `_mean_<sensor>`, `_std_<sensor>`.
STAT_COLUMNS = ("_n", *[f"_{kind}_{s}" for s in SENSOR_COLUMNS for kind in ("mean", "std")])
RECEIVED_ORDER = ("ingested_at", "source_file", "source_offset")


def with_reference(dim_compressor: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Attach model, station, basin and install date from the (broadcast) compressor dimension."""

    def transform(df: DataFrame) -> DataFrame:
        dims = dim_compressor.select(
            "compressor_id", F.col("model"), F.col("station_id").alias("_ref_station_id"), F.col("basin"),
            F.col("install_date"), F.lit(True).alias("_known"))
        return df.join(F.broadcast(dims), "compressor_id", "left")

    return transform


def _sensor_list(flags: Mapping[str, str]) -> str:
    """SQL: comma-separated names of the sensors whose flag (SQL) is true (null when none)."""
    names = "concat_ws(',', " + ", ".join(f"CASE WHEN {flag} THEN {sql.text(name)} END"
                                           for name, flag in flags.items()) + ")"
    return f"CASE WHEN {names} != '' THEN {names} END"


def _with_context(df: DataFrame, context: DataFrame | None, columns: list[str]) -> DataFrame:
    """`df[columns]` flagged `_context` false, plus the context rows (clean readings) flagged true."""
    rows = df.select(*columns, F.lit(False).alias("_context"))
    if context is None:
        return rows
    filler = [F.lit(None).cast(rows.schema[c].dataType).alias(c) for c in columns if c not in context.columns]
    present = [c for c in columns if c in context.columns]
    return rows.unionByName(context.select(*present, *filler, F.lit(True).alias("_context")))


def repeated_events(context: DataFrame | None) -> Callable[[DataFrame], DataFrame]:
    """`event_id`s of readings that are not the first received of their (compressor_id, timestamp).

    Keys already in `telemetry_clean` (`context`) count as received first. Only keys are shuffled to find
    the (few) repeated ones; only their copies are ranked by arrival (ingested_at, source file, offset).
    """

    def transform(window: DataFrame) -> DataFrame:
        keyed = window.where(F.col("compressor_id").isNotNull() & F.col("timestamp").isNotNull())
        rows = _with_context(keyed, context, ["compressor_id", "timestamp", "event_id", *RECEIVED_ORDER])
        repeated = (rows.groupBy("compressor_id", "timestamp").agg(F.count(F.lit(1)).alias("_copies"))
                    .where(F.col("_copies") > 1).drop("_copies"))
        copies = rows.join(F.broadcast(repeated), ["compressor_id", "timestamp"])
        arrival = Window.partitionBy("compressor_id", "timestamp").orderBy(
            F.col("_context").desc(), *[F.col(c).asc_nulls_last() for c in RECEIVED_ORDER])
        ranked = copies.select("event_id", "_context", F.row_number().over(arrival).alias("_arrival"))
        return ranked.where(~F.col("_context") & (F.col("_arrival") > 1)).select("event_id")

    return transform


def stuck_events(context: DataFrame | None, readings: int, repeated: DataFrame | None = None
                 ) -> Callable[[DataFrame], DataFrame]:
    """(`event_id`, `_stuck`) for readings whose sensors repeat one value `readings` times in a row.

    `_stuck` lists the sensors. Earlier clean readings (`context`) count, so a run that began before the
    window is caught; repeated copies (`repeated` event ids) are left out of the sequence. Only the unit,
    time, sensors and id are shuffled.
    """

    def transform(window: DataFrame) -> DataFrame:
        keyed = window.where(F.col("compressor_id").isNotNull() & F.col("timestamp").isNotNull())
        if repeated is not None:
            keyed = keyed.join(F.broadcast(repeated), "event_id", "left_anti")
        rows = _with_context(keyed, context, ["compressor_id", "timestamp", *SENSOR_COLUMNS, "event_id"])
        sequence = "OVER (PARTITION BY compressor_id ORDER BY timestamp"
        # Where each sensor's current run of equal values began (by row number): one lag and one running
        # max per sensor, which Spark evaluates incrementally, instead of readings-1 lags per sensor.
        numbered = rows.select("*", *sql.exprs([f"row_number() {sequence}) AS _rn", *[
            f"coalesce(lag({sql.ident(s)}, 1) {sequence}) = {sql.ident(s)}, FALSE) AS _same_{s}"
            for s in SENSOR_COLUMNS]]))
        so_far = f"{sequence} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        started = numbered.select("*", *sql.exprs(
            f"max(CASE WHEN NOT _same_{s} THEN _rn END) {so_far} AS _start_{s}" for s in SENSOR_COLUMNS))
        flagged = started.select("event_id", "_context", *sql.exprs(
            f"{sql.ident(s)} IS NOT NULL AND _rn - _start_{s} + 1 >= {int(readings)} AS _stuck_{s}"
            for s in SENSOR_COLUMNS))
        named = {s: f"_stuck_{s}" for s in SENSOR_COLUMNS}
        # Filter on the booleans first: the sensor list is only built for the stuck readings.
        return (flagged.where(F.expr(f"NOT _context AND ({' OR '.join(named.values())})"))
                .select("event_id", F.expr(f"{_sensor_list(named)} AS _stuck")))

    return transform


def first_received(repeated: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Drop the `repeated` event ids (few: broadcast, no shuffle)."""

    def transform(window: DataFrame) -> DataFrame:
        return window.join(F.broadcast(repeated), "event_id", "left_anti")

    return transform


def unit_sensor_stats(df: DataFrame) -> DataFrame:
    """Per compressor: count, mean and sample standard deviation of each sensor."""
    aggs = ["count(1) AS _n"]
    for s in SENSOR_COLUMNS:
        aggs += [f"avg({sql.ident(s)}) AS _mean_{s}", f"stddev_samp({sql.ident(s)}) AS _std_{s}"]
    return df.groupBy("compressor_id").agg(*sql.exprs(aggs))


def preferred_stats(history: DataFrame | None, batch: DataFrame, min_history: int) -> DataFrame:
    """Per unit, its trailing-history stats when they cover at least `min_history` readings, else the batch's.

    Args:
        history: `unit_sensor_stats` of the unit's clean readings before the window (None without a clean table).
        batch: `unit_sensor_stats` of the window's readings that passed every other test.
        min_history: readings of history a unit needs before its history is trusted.

    Returns:
        One row per unit found in either input (a few thousand rows: small enough to broadcast).
    """
    columns = ["compressor_id", *STAT_COLUMNS]
    if history is None:
        return batch.select(*columns)
    trusted = history.where(F.col("_n") >= min_history).select(*columns)
    return trusted.unionByName(batch.join(trusted.select("compressor_id"), "compressor_id", "left_anti")
                               .select(*columns))
