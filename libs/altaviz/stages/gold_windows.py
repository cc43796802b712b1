"""Gold's windows: hourly partials kept as state, and the 1/4/24-hour windows of `sensor_readings_agg` built from them.

Each hour with new clean readings is summarised once into `sensor_hourly_partials` (Gold's own state table,
one row per unit and hour). The 4- and 24-hour windows those hours feed are then added up from the stored
partials, so an hourly run reads the readings of the hours that changed and a few rows per unit of state, never
24 hours of readings. Everything runs in Spark; only one row per unit (its newest hour's statuses) comes back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from altaviz.lakehouse.backend import Bounds
from altaviz.runtime.frames import as_utc, dates_through, small_frame
from altaviz.schemas import SENSOR_COLUMNS, sensor_readings_agg_schema
from altaviz.tables import SENSOR_HOURLY_PARTIALS, SENSOR_READINGS_AGG, TELEMETRY_CLEAN, Table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from altaviz.runtime.context import RunContext
    from altaviz.thresholds import Thresholds

HOUR = timedelta(hours=1)
#: The longest window: a changed hour feeds the windows anchored on it and on the 23 hours after it.
SPAN = 23 * HOUR


def floor_hour(value: datetime) -> datetime:
    """The start of the UTC hour `value` falls in."""
    return value.replace(minute=0, second=0, microsecond=0)


def _ranges(ctx: RunContext, touched: list[Any], before: timedelta, after: timedelta) -> DataFrame:
    """Per touched unit, `[first touched hour - before, last touched hour + after]` as `_lo`, `_hi`."""
    return small_frame(ctx.spark, [
        {"compressor_id": r.compressor_id, "_lo": floor_hour(as_utc(r.lo)) - before,
         "_hi": floor_hour(as_utc(r.hi)) + after} for r in touched],
        "compressor_id string, _lo timestamp, _hi timestamp")


def _between(df: DataFrame, ranges: DataFrame, column: Any, start: datetime, end: datetime) -> DataFrame:
    """Rows of `df` in `[start, end]` by `date` (partition pruning), then within each unit's range by `column`."""
    from pyspark.sql import functions as F

    pruned = df.where(F.col("date").between(F.lit(start.date()), F.lit(end.date())))
    return (pruned.join(F.broadcast(ranges), "compressor_id")
            .where((column >= F.col("_lo")) & (column < F.col("_hi") + F.expr("INTERVAL 1 HOUR")))
            .drop("_lo", "_hi"))


#: An hourly run writes at most two dates (its hour, and the day before for readings that arrived late past
#: midnight); a run writing more is a backfill, whose dates are counted for OPTIMIZE whatever the schedule.
HOURLY_DATES = 2


def _compact_if_fragmented(ctx: RunContext, table: Table, dates: list[Any], check: bool) -> None:
    """OPTIMIZE `dates` of `table` (Z-ordered as the catalog says) once fragmented; counted when `check` or a
    backfill.

    An hourly MERGE adds at most one file to each date it writes, so counting on every few runs bounds the
    excess while sparing most runs the listing of the table's files.
    """
    if check or len(dates) > HOURLY_DATES:
        ctx.lakehouse.optimize_if_fragmented(table, table.zorder_by, {"date": dates},
                                             ctx.settings.gold.optimize_min_files)


def _refresh_partials(ctx: RunContext, touched: list[Any], centre: dict[str, float], check_layout: bool,
                      held: Column | None) -> None:
    """Recompute the partials of every hour holding new readings and MERGE them into the state table.

    On the first run with an existing Gold (state not built yet), the 23 hours before are summarised too, so
    the windows they feed are complete. Rows for which `held` is true (held Silver windows) are left out.
    """
    from pyspark.sql import functions as F

    from altaviz.transforms.gold import HOUR_SECONDS, hourly_partials

    before = SPAN if not ctx.lakehouse.exists(SENSOR_HOURLY_PARTIALS) else timedelta(0)
    ranges = _ranges(ctx, touched, before, timedelta(0))
    start = min(floor_hour(as_utc(r.lo)) for r in touched) - before
    end = max(floor_hour(as_utc(r.hi)) for r in touched) + HOUR
    clean = ctx.lakehouse.read(TELEMETRY_CLEAN)
    if held is not None:
        clean = clean.where(~held)
    source = (_between(clean.where((F.col("timestamp") >= F.lit(start)) & (F.col("timestamp") < F.lit(end))),
                       ranges, F.col("timestamp"), start, end)
              .select("compressor_id", "timestamp", *SENSOR_COLUMNS, "model", "station_id", "basin"))
    partials = hourly_partials(source, centre)
    # One task per date: the rows of a day are then written in hour order, in files of a few hours each.
    # Not persisted here: MERGE materializes a source that is not a plain Delta scan before its two passes.
    partials = (partials.select("*", F.to_date(F.timestamp_seconds(F.col("_h") * HOUR_SECONDS)).alias("date"))
                .repartition("date"))
    dates = dates_through(start.date(), end.date())
    # Every partial is of an hour in [start, end): only the files of those hours are read or rewritten.
    hours = Bounds(int(start.timestamp()) // HOUR_SECONDS, int(end.timestamp()) // HOUR_SECONDS - 1)
    (ctx.lakehouse.merge(SENSOR_HOURLY_PARTIALS, partials, on=SENSOR_HOURLY_PARTIALS.merge_keys,
                         partition_by=SENSOR_HOURLY_PARTIALS.partition_by, target_partitions={"date": dates},
                         target_ranges={"_h": hours}, cluster_by=SENSOR_HOURLY_PARTIALS.cluster_by)
     .when_matched_update_all().when_not_matched_insert_all().execute())
    _compact_if_fragmented(ctx, SENSOR_HOURLY_PARTIALS, dates, check_layout)


#: Up to this many new hours per unit on average, windows are added up per anchor (a join and one hash
#: aggregation over ~24 partials per anchor); beyond, sliding window frames over the partials cost less.
FEW_ANCHOR_HOURS = 6


def _few_anchors(touched: list[Any]) -> bool:
    """True when the touched units hold few new hours each (an hourly run), false for whole days of backfill."""
    hours = sum((floor_hour(as_utc(r.hi)) - floor_hour(as_utc(r.lo))) // HOUR + 1 for r in touched)
    return hours <= FEW_ANCHOR_HOURS * len(touched)


def _windows(ctx: RunContext, touched: list[Any], thresholds: Thresholds, centre: dict[str, float]) -> DataFrame:
    """The windows anchored on every hour the new readings feed, added up from the stored partials."""
    from pyspark.sql import functions as F

    from altaviz.runtime import sqltext as sql
    from altaviz.transforms.gold import HOUR_SECONDS, WINDOWS, anchored_windows, window_aggregates, with_status

    anchors = _ranges(ctx, touched, timedelta(0), SPAN)
    needed = _ranges(ctx, touched, SPAN, SPAN)
    start = min(floor_hour(as_utc(r.lo)) for r in touched) - SPAN
    end = max(floor_hour(as_utc(r.hi)) for r in touched) + SPAN
    hour_start = F.timestamp_seconds(F.col("_h") * HOUR_SECONDS)
    partials = _between(ctx.lakehouse.read(SENSOR_HOURLY_PARTIALS), needed, hour_start, start, end).drop("date")
    if _few_anchors(touched):
        anchored = anchored_windows(partials, anchors, centre)
    else:
        anchored = (window_aggregates(partials, centre).join(F.broadcast(anchors), "compressor_id")
                    .where(F.col("agg_timestamp").between(F.col("_lo"), F.col("_hi"))))
    hours_before = " ".join(f"WHEN {sql.text(w)} THEN {hours - 1}" for w, hours in WINDOWS.items())
    derived = {"window_start": f"agg_timestamp - make_dt_interval(0, CASE window_type {hours_before} ELSE 0 END)",
               "window_end": "agg_timestamp + INTERVAL 1 HOUR", "date": "to_date(agg_timestamp)"}
    return sql.typed_select(with_status(anchored, thresholds), sensor_readings_agg_schema(), derived)


def write_windows(ctx: RunContext, touched: list[Any], thresholds: Thresholds, *, check_layout: bool = True,
                  held: Column | None = None) -> tuple[int, dict[str, dict[str, str | None]]]:
    """Refresh the partials of the changed hours, then MERGE the windows they feed into `sensor_readings_agg`.

    Args:
        ctx: the run.
        touched: per unit with new clean readings, its first (`lo`) and last (`hi`) new reading time.
        thresholds: sensor thresholds for the statuses.
        check_layout: count the written dates' files (and OPTIMIZE them when fragmented) even for one date.
        held: true for clean rows Gold must leave out (those of held Silver windows); None: none are.

    Returns:
        The window rows written, and per unit the sensor statuses of its newest hour.
    """
    from pyspark.sql import functions as F

    from altaviz.transforms.gold import centres

    centre = centres(thresholds)
    _refresh_partials(ctx, touched, centre, check_layout, held)
    # One task per date, so a new table's days are written in hour order (files of a few hours each).
    windows = _windows(ctx, touched, thresholds, centre).repartition("date").persist()
    try:
        summary = (windows.groupBy("date").agg(F.count(F.lit(1)).alias("n"), F.min("agg_timestamp").alias("lo"),
                                                F.max("agg_timestamp").alias("hi")).collect())
        agg_rows, dates = sum(r.n for r in summary), [r.date for r in summary]
        ctx.progress(f"gold: merging {agg_rows:,} window row(s) into sensor_readings_agg")
        anchors = Bounds.covering(as_utc(t) for r in summary for t in (r.lo, r.hi))
        ctx.lakehouse.merge(SENSOR_READINGS_AGG, windows, on=SENSOR_READINGS_AGG.merge_keys,
                            partition_by=SENSOR_READINGS_AGG.partition_by, target_partitions={"date": dates},
                            target_ranges={"agg_timestamp": anchors}, cluster_by=SENSOR_READINGS_AGG.cluster_by
                            ).when_matched_update_all().when_not_matched_insert_all().execute()
        newest = small_frame(ctx.spark, [{"compressor_id": r.compressor_id, "agg_timestamp": floor_hour(as_utc(r.hi))}
                                         for r in touched], "compressor_id string, agg_timestamp timestamp")
        latest = (windows.where(F.col("window_type") == "1hr").join(F.broadcast(newest), ["compressor_id", "agg_timestamp"])
                  .select("compressor_id", *[f"{s}_status" for s in SENSOR_COLUMNS]).collect())
    finally:
        windows.unpersist()
    _compact_if_fragmented(ctx, SENSOR_READINGS_AGG, dates, check_layout)
    return agg_rows, {r.compressor_id: {s: r[f"{s}_status"] for s in SENSOR_COLUMNS} for r in latest}
