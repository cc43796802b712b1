"""Silver transforms: deduplicate readings, explain why a reading is rejected, and shape the clean rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from altaviz.schemas import SENSOR_COLUMNS

#: Reject categories, in the order they are tested: the first that applies is the row's `reject_reason`.
REJECT_REASONS: tuple[str, ...] = (
    "null_required_field",
    "unparseable_value",
    "unknown_compressor",
    "future_timestamp",
    "before_commissioning",
    "late_beyond_lateness",
    "impossible_value",
    "stuck_sensor",
    "outlier_4sigma",  # tested last, against per-unit statistics: `flag_outliers`
)
OUTLIER_REASON = "outlier_4sigma"
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


def _sensor_list(flags: Mapping[str, Column]) -> Column:
    """Comma-separated names of the sensors whose flag is true (null when none)."""
    names = F.concat_ws(",", *[F.when(flag, F.lit(name)) for name, flag in flags.items()])
    return F.when(names != "", names)


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
        sequence = Window.partitionBy("compressor_id").orderBy("timestamp")
        so_far = sequence.rowsBetween(Window.unboundedPreceding, Window.currentRow)
        # Where each sensor's current run of equal values began (by row number): one lag and one running
        # max per sensor, which Spark evaluates incrementally, instead of readings-1 lags per sensor.
        numbered = rows.select("*", F.row_number().over(sequence).alias("_rn"), *[
            F.coalesce(F.lag(s, 1).over(sequence) == F.col(s), F.lit(False)).alias(f"_same_{s}")
            for s in SENSOR_COLUMNS])
        started = numbered.select("*", *[
            F.max(F.when(~F.col(f"_same_{s}"), F.col("_rn"))).over(so_far).alias(f"_start_{s}")
            for s in SENSOR_COLUMNS])
        flags = {s: F.col(s).isNotNull() & (F.col("_rn") - F.col(f"_start_{s}") + 1 >= readings)
                 for s in SENSOR_COLUMNS}
        flagged = started.select("event_id", "_context", *[f.alias(f"_stuck_{s}") for s, f in flags.items()])
        named = {s: F.col(f"_stuck_{s}") for s in SENSOR_COLUMNS}
        # Filter on the booleans first: the sensor list is only built for the stuck readings.
        return (flagged.where(~F.col("_context") & reduce(lambda a, b: a | b, named.values()))
                .select("event_id", _sensor_list(named).alias("_stuck")))

    return transform


def first_received_with_stuck(repeated: DataFrame, stuck: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Drop the `repeated` event ids and attach `_stuck` from `stuck` (both small: broadcast, no shuffle)."""

    def transform(window: DataFrame) -> DataFrame:
        firsts = window.join(F.broadcast(repeated), "event_id", "left_anti")
        return firsts.join(F.broadcast(stuck), "event_id", "left")

    return transform


def unit_sensor_stats(df: DataFrame) -> DataFrame:
    """Per compressor: count, mean and sample standard deviation of each sensor."""
    aggs = [F.count(F.lit(1)).alias("_n")]
    for s in SENSOR_COLUMNS:
        aggs += [F.avg(s).alias(f"_mean_{s}"), F.stddev_samp(s).alias(f"_std_{s}")]
    return df.groupBy("compressor_id").agg(*aggs)


def reject_reasons(*, as_of: datetime, future_tolerance_minutes: float, lateness_cutoff: datetime | None,
                   limits: Mapping[str, tuple[float, float]]) -> Callable[[DataFrame], DataFrame]:
    """`reject_reason` and `reject_detail` for every test but the outlier test (see `flag_outliers`).

    The tests become boolean columns first and the reason a CASE over them, so the generated code stays
    small enough for Spark to compile (a long nested CASE of rich expressions falls back to slow
    interpretation).
    """

    def transform(df: DataFrame) -> DataFrame:
        impossible = {s: F.isnan(s) | (F.col(s) < lo) | (F.col(s) > hi) for s, (lo, hi) in limits.items()}
        future_limit = F.lit(as_of) + F.expr(f"INTERVAL {int(future_tolerance_minutes * 60)} SECONDS")
        late = F.col("timestamp") < F.lit(lateness_cutoff) if lateness_cutoff else F.lit(False)
        tests: dict[str, Column] = {
            "null_required_field": F.col("compressor_id").isNull()
            | (F.col("timestamp").isNull() & F.col("unparsed_values").isNull()),
            "unparseable_value": F.col("unparsed_values").isNotNull(),
            "unknown_compressor": F.col("_known").isNull(),
            "future_timestamp": F.col("timestamp") > future_limit,
            "before_commissioning": F.col("timestamp") < F.col("install_date").cast("timestamp"),
            "late_beyond_lateness": late,
            "impossible_value": reduce(lambda a, b: a | b, [F.coalesce(t, F.lit(False)) for t in impossible.values()]),
            "stuck_sensor": F.col("_stuck").isNotNull(),
        }
        flagged = df.select("*", *[F.coalesce(t, F.lit(False)).alias(f"_t_{name}") for name, t in tests.items()])
        reason = F.lit(None).cast("string")
        for name in reversed(tests):
            reason = F.when(F.col(f"_t_{name}"), F.lit(name)).otherwise(reason)
        with_reason = flagged.select(*df.columns, reason.alias("reject_reason"))
        details = {
            "null_required_field": F.concat(F.lit("missing "), F.concat_ws(
                ",", F.when(F.col("compressor_id").isNull(), F.lit("compressor_id")),
                F.when(F.col("timestamp").isNull(), F.lit("timestamp")))),
            "unparseable_value": F.concat(F.lit("could not parse "), F.col("unparsed_values")),
            "unknown_compressor": F.concat(F.lit("no compressor "), F.col("compressor_id"),
                                           F.lit(" in dim_compressor")),
            "future_timestamp": F.lit(f"timestamp after the as-of time {as_of.isoformat()}"),
            "before_commissioning": F.concat(F.lit("before install date "), F.col("install_date").cast("string")),
            "late_beyond_lateness": F.lit(
                f"older than the lateness cut-off {lateness_cutoff.isoformat() if lateness_cutoff else ''}"),
            "impossible_value": F.concat_ws(", ", *[
                F.when(flag, F.concat(F.lit(f"{s}="), F.col(s).cast("string"))) for s, flag in impossible.items()]),
            "stuck_sensor": F.concat(F.lit("repeating value: "), F.col("_stuck")),
        }
        detail = F.lit(None).cast("string")
        for name, text in details.items():
            detail = F.when(F.col("reject_reason") == name, text).otherwise(detail)
        detail = F.when(F.col("reject_reason").isNotNull(), detail)  # clean rows skip the comparisons
        return with_reason.select("*", detail.alias("reject_detail"))

    return transform


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


def flag_outliers(stats: DataFrame, sigma: float) -> Callable[[DataFrame], DataFrame]:
    """Reject as `outlier_4sigma` a so-far-valid reading beyond `sigma` standard deviations of its unit's mean.

    A sensor is only tested when its unit's standard deviation is positive; `reject_detail` names the sensors
    beyond the band. Rows already rejected keep their reason. `stats` (one row per unit) is broadcast.
    """

    def transform(df: DataFrame) -> DataFrame:
        joined = df.join(F.broadcast(stats.select("compressor_id", *STAT_COLUMNS[1:])), "compressor_id", "left")
        beyond = {s: F.coalesce((F.col(f"_std_{s}") > 0)
                                & (F.abs(F.col(s) - F.col(f"_mean_{s}")) > F.col(f"_std_{s}") * F.lit(sigma)),
                                F.lit(False)) for s in SENSOR_COLUMNS}
        candidate = F.col("reject_reason").isNull() & reduce(lambda a, b: a | b, beyond.values())
        detail = F.concat(F.lit(f"beyond {sigma:g} sigma of the unit's trailing mean: "),
                          F.concat_ws(",", *[F.when(flag, F.lit(s)) for s, flag in beyond.items()]))
        derived = {"reject_reason": F.when(candidate, F.lit(OUTLIER_REASON)).otherwise(F.col("reject_reason")),
                   "reject_detail": F.when(candidate, detail).otherwise(F.col("reject_detail"))}
        return joined.select(*[derived[c].alias(c) if c in derived else F.col(c) for c in df.columns])

    return transform
