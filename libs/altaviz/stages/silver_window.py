"""What Silver takes from Bronze: the run log's watermark and the batches taken, and the window of Bronze rows
not taken yet (see `bronze_window`)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from altaviz.runtime.frames import as_utc
from altaviz.tables import SILVER_RUNS, TELEMETRY_RAW

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from altaviz.runtime.context import RunContext

#: How many earlier runs with Bronze rows the clean-volume quality check compares with.
TRAILING_RUNS = 7


@dataclasses.dataclass(frozen=True)
class Runs:
    """What Silver needs of its earlier runs: how many, the watermark, the newest reading time seen and the
    clean counts of the latest runs that had Bronze rows (newest first)."""

    count: int = 0
    watermark: datetime | None = None
    event_high: datetime | None = None
    trailing_clean: tuple[int, ...] = ()
    #: Bronze batches the runs of the look-back before the watermark took; None when a run there predates the
    #: batch record (Silver then takes what arrived after the watermark, as it used to).
    taken: tuple[str, ...] | None = None


def previous_runs(ctx: RunContext) -> Runs:
    """One aggregate over `silver_runs` (a row per run ever): the same cost after a year of hourly runs."""
    from pyspark.sql import functions as F

    if not ctx.lakehouse.exists(SILVER_RUNS):
        return Runs()
    # Runs with Bronze rows as (finished_at, clean_rows), newest first (structs sort by their first field).
    recent = F.sort_array(F.collect_list(F.when(F.col("raw_rows") > 0, F.struct(
        F.col("finished_at").alias("at"), F.col("clean_rows").alias("n")))), asc=False)
    row = (ctx.lakehouse.read(SILVER_RUNS)
           .agg(F.count(F.lit(1)).alias("runs"), F.max("window_end").alias("w"), F.max("max_event_time").alias("e"),
                F.slice(recent, 1, TRAILING_RUNS).alias("recent"))
           .collect()[0])
    watermark = as_utc(row.w) if row.w else None
    return Runs(row.runs, watermark, as_utc(row.e) if row.e else None, tuple(r.n for r in row.recent),
                 _taken(ctx, watermark))


def _taken(ctx: RunContext, watermark: datetime | None) -> tuple[str, ...] | None:
    """The Bronze batches taken by the runs whose window reached into the look-back before `watermark`."""
    from pyspark.sql import functions as F

    runs = ctx.lakehouse.read(SILVER_RUNS)
    if watermark is None or "batches" not in runs.columns:
        return None
    since = watermark - timedelta(minutes=ctx.settings.bronze.late_commit_minutes)
    rows = (runs.where(F.col("window_end") > F.lit(since))
            .agg(F.count_if(F.col("batches").isNull()).alias("unrecorded"),
                 F.collect_list("batches").alias("taken"))
            .collect()[0])
    return None if rows.unrecorded else tuple(sorted({b for text in rows.taken or () for b in json.loads(text)}))


def bronze_window(ctx: RunContext, previous: Runs) -> DataFrame:
    """Bronze rows not taken yet, from one snapshot of `telemetry_raw`: every batch stamped within the look-back
    (`bronze.late_commit_minutes`) before the watermark that no run took, and everything after it.

    A batch commits atomically but its rows are stamped before the commit, so with two writers at once (a stream
    beside a file ingest) a batch can become visible after a later-stamped one a Silver run already took; by
    batch it is still taken, once, by the next run.
    """
    from pyspark.sql import functions as F

    raw = ctx.lakehouse.read(TELEMETRY_RAW, version=ctx.lakehouse.version(TELEMETRY_RAW))
    watermark = previous.watermark
    if watermark is None:
        return raw
    if previous.taken is None:
        return raw.where((F.col("ingestion_date") >= F.lit(watermark.date()))
                         & (F.col("ingested_at") > F.lit(watermark)))
    since = watermark - timedelta(minutes=ctx.settings.bronze.late_commit_minutes)
    new_batch = ~F.coalesce(F.col("batch_id").isin(list(previous.taken)), F.lit(False))
    return raw.where((F.col("ingestion_date") >= F.lit(since.date())) & (F.col("ingested_at") > F.lit(since))
                     & F.when(F.col("batch_id").isNull(), F.col("ingested_at") > F.lit(watermark))
                     .otherwise(new_batch))
