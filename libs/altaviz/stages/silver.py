"""Silver: validated `telemetry_clean`, `telemetry_rejected` with reasons, balanced books and quality checks."""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from altaviz.lakehouse.backend import Bounds
from altaviz.reports import SilverReport
from altaviz.runtime.frames import as_utc, small_frame
from altaviz.runtime.side_by_side import beside, run_side_by_side
from altaviz.schemas import (
    silver_runs_schema,
    telemetry_clean_schema,
    telemetry_rejected_schema,
)
from altaviz.stages import StageResult, record_run
from altaviz.stages.silver_window import Runs, bronze_window, previous_runs
from altaviz.tables import (
    DIM_COMPRESSOR,
    DIM_STATION,
    SILVER_RUNS,
    TELEMETRY_CLEAN,
    TELEMETRY_RAW,
    TELEMETRY_REJECTED,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from altaviz.lakehouse.backend import MergeMetrics
    from altaviz.quality import RowEnv
    from altaviz.runtime.context import RunContext



def refresh_dimensions(ctx: RunContext) -> DataFrame | None:
    """Load `dim_compressor` and `dim_station` from the reference files when they are newer; return compressors."""
    reference = ctx.paths.files_path("lh_bronze_raw", "reference")
    files = {f.path.rsplit("/", 1)[-1]: f for f in ctx.files.list_files(reference)}
    for name, ref in (("compressors.parquet", DIM_COMPRESSOR), ("stations.parquet", DIM_STATION)):
        info = files.get(name)
        if info is None:
            continue
        written = ctx.lakehouse.history(ref, limit=1)[0]["timestamp"] if ctx.lakehouse.exists(ref) else None
        if written is None or info.modified_at > written:
            ctx.lakehouse.write(ref, ctx.spark.read.parquet(info.path), mode="overwrite")
    return ctx.lakehouse.read(DIM_COMPRESSOR) if ctx.lakehouse.exists(DIM_COMPRESSOR) else None




def _clean_near(ctx: RunContext, start: datetime, end: datetime, ranges: DataFrame | None = None
                ) -> DataFrame | None:
    """Clean rows in `[start, end]` (partition pruned); with `ranges`, only each unit's `[_lo, _hi]` of it."""
    from pyspark.sql import functions as F

    if not ctx.lakehouse.exists(TELEMETRY_CLEAN):
        return None
    near = (ctx.lakehouse.read(TELEMETRY_CLEAN)
            .where(F.col("date").between(F.lit(start.date()), F.lit(end.date())))
            .where(F.col("timestamp").between(F.lit(start), F.lit(end))))
    if ranges is None:
        return near
    return (near.join(F.broadcast(ranges), "compressor_id")
            .where(F.col("timestamp").between(F.col("_lo"), F.col("_hi"))).drop("_lo", "_hi"))


def _rejected_near(ctx: RunContext, start: datetime, end: datetime) -> DataFrame | None:
    """Rejected readings with a time in `[start, end]` (those not from the future were rejected on or after it)."""
    from pyspark.sql import functions as F

    if not ctx.lakehouse.exists(TELEMETRY_REJECTED):
        return None
    return (ctx.lakehouse.read(TELEMETRY_REJECTED).where(F.col("rejected_date") >= F.lit(start.date()))
            .where(F.col("timestamp").between(F.lit(start), F.lit(end))))


def _interrupted(ctx: RunContext, context: DataFrame) -> tuple[str, ...]:
    """Ids of interrupted runs among `context`'s rows: stored, but with no `silver_runs` record.

    A run killed after its MERGE and before its record leaves such rows; the next run re-reads the same
    Bronze window, so it labels them afresh and adopts them (they are not duplicates of themselves).
    """
    from pyspark.sql import functions as F

    runs = (ctx.lakehouse.read(SILVER_RUNS).select(F.col("run_id").alias("silver_run_id"))
            if ctx.lakehouse.exists(SILVER_RUNS) else small_frame(ctx.spark, [], "silver_run_id string"))
    return tuple(sorted(r.silver_run_id for r in context.join(F.broadcast(runs), "silver_run_id", "left_anti")
                        .select("silver_run_id").distinct().collect()))


def _repeated(ctx: RunContext, window: DataFrame, context: DataFrame | None
              ) -> tuple[list[Any], DataFrame | None, tuple[str, ...]]:
    """The window's repeated readings (ids), the context without interrupted runs' rows, and those runs' ids.

    The repeated readings are few: found once, brought to the driver and broadcast. The check for interrupted
    runs goes beside; when there are some (rare), the repeated readings are found again without their rows.
    """
    from pyspark.sql import functions as F

    from altaviz.transforms.silver import repeated_events

    if context is None:
        return window.transform(repeated_events(None)).collect(), None, ()
    interrupted = beside(functools.partial(_interrupted, ctx, context), parallel=ctx.lakehouse.backend.side_by_side)
    repeated = window.transform(repeated_events(context)).collect()
    orphans = interrupted()
    if not orphans:
        return repeated, context, ()
    ctx.progress(f"silver: adopting the rows of {len(orphans)} interrupted run(s): {', '.join(orphans)}")
    context = context.where(~F.col("silver_run_id").isin(list(orphans)))
    return window.transform(repeated_events(context)).collect(), context, orphans


def _unit_ranges(units: list[Any], before: timedelta) -> list[dict[str, Any]]:
    """Per unit of the window, `[its oldest reading - before, its newest reading]` (units with a time only)."""
    return [{"compressor_id": u.compressor_id, "_lo": as_utc(u.lo) - before, "_hi": as_utc(u.hi)}
            for u in units if u.compressor_id is not None and u.lo is not None]


def _label(ctx: RunContext, window: DataFrame, dims: DataFrame | None, as_of: datetime,
           span: tuple[datetime, datetime], units: list[Any], newest_seen: datetime | None
           ) -> tuple[DataFrame, RowEnv, tuple[str, ...]]:
    """The first-received readings of the window with `reject_reason` (null for clean) and `reject_detail`.

    The declared rules (`config/quality.yaml` `rules:`) decide, in order; everything stays in Spark (only the
    few repeated and stuck event ids and the per-unit statistics are brought to the driver and broadcast).

    Returns:
        The labelled rows, the rules' environment (its `release()` drops what they cached), and the ids of
        interrupted runs whose stored rows this window re-labels (see `_interrupted`).
    """
    from pyspark.sql import functions as F

    from altaviz.quality import RowEnv, label
    from altaviz.quality.rules import begin, lookback
    from altaviz.transforms import silver as transforms

    rules = ctx.quality.rules
    if dims is None:  # no reference data at all: every reading is of an unknown compressor
        dims = small_frame(ctx.spark, [], "compressor_id string, model string, station_id string, "
                                          "basin string, install_date date")
    lo, hi = span
    # What the repeated test (and the rules' sequence tests) compare with: each unit's clean readings from the
    # longest lookback a rule declares before its oldest new reading. A few late readings of some units then
    # widen only those units' context.
    before = lookback(rules)
    env = RowEnv(ctx.spark, as_of, span, newest_seen=newest_seen,
                 clean_between=functools.partial(_clean_near, ctx), rejected_between=functools.partial(_rejected_near, ctx),
                 side_by_side=ctx.lakehouse.backend.side_by_side, progress=ctx.progress)
    # What the rules read regardless of the labels (the outlier test's trailing statistics) starts first, to
    # run beside the search for repeated readings.
    begun = begin(rules, env)
    repeated_ids, context, orphans = _repeated(ctx, window, _clean_near(ctx, lo - before, hi, small_frame(
        ctx.spark, _unit_ranges(units, before), "compressor_id string, _lo timestamp, _hi timestamp")))
    env = dataclasses.replace(env, context=context)
    ctx.progress(f"silver: {len(repeated_ids):,} repeated reading(s) found; testing readings")
    firsts = (window.transform(transforms.with_reference(dims))
              .transform(transforms.first_received(small_frame(ctx.spark, repeated_ids, "event_id string"))))
    labelled = label(firsts, rules, env, begun).withColumn("station_id", F.coalesce(F.col("_ref_station_id"),
                                                                              F.col("station_id")))
    return _output_columns(labelled).persist(), env, orphans


def _output_columns(labeled: DataFrame) -> DataFrame:
    """Every column either output table takes from the labelled rows, typed as stored."""
    from pyspark.sql.types import StructType

    from altaviz.runtime import sqltext as sql

    fields = {f.name: f for schema in (telemetry_clean_schema(), telemetry_rejected_schema())
              for f in schema.fields if f.name not in _RUN_COLUMNS}
    return sql.typed_select(labeled, StructType(list(fields.values())), {"date": "to_date(timestamp)"})


#: Output columns that hold the run's own values rather than the reading's.
_RUN_COLUMNS = ("silver_run_id", "processed_at", "rejected_at", "rejected_date")


def _shaped(rows: DataFrame, schema: StructType, run_values: dict[str, Any]) -> DataFrame:
    """`rows` with exactly the columns of `schema`, in order; run-level columns filled with `run_values`."""
    from altaviz.runtime import sqltext as sql

    return sql.typed_select(rows, schema, values={k: v for k, v in run_values.items() if k not in rows.columns})


def _time_bounds(summaries: list[Any]) -> Bounds | None:
    """The reading times over some per-reason summaries (nulls kept when any reading has no time)."""
    return Bounds.covering((as_utc(t) for r in summaries for t in (r.oldest, r.newest)),
                           or_null=any(r.untimed for r in summaries))


def _store(ctx: RunContext, labelled: DataFrame, env: RowEnv, run_id: str, processed_at: datetime, *,
           adopt: bool = False) -> tuple[int, int, datetime | None, dict[str, int], list[Any], MergeMetrics]:
    """MERGE the labelled window's clean and rejected readings; return the counts the books and checks need.

    One aggregate over the (cached) labelled rows gives every count and fills the cache, after which what the
    rules cached on the way is dropped; the MERGEs run in Spark. With `adopt`, rows an interrupted run stored
    are overwritten with this run's (otherwise no stored row can match: repeated readings were dropped).
    """
    from pyspark.sql import functions as F

    is_clean = F.col("reject_reason").isNull()
    per_reason = (labelled.groupBy("reject_reason")
                  .agg(F.count(F.lit(1)).alias("n"), F.min("timestamp").alias("oldest"),
                       F.max("timestamp").alias("newest"), F.count_if(F.col("timestamp").isNull()).alias("untimed"),
                       F.collect_set("date").alias("dates")).collect())
    env.release()
    clean_summary = next((r for r in per_reason if r.reject_reason is None), None)
    rejected_summary = [r for r in per_reason if r.reject_reason is not None]
    by_reason = {r.reject_reason: r.n for r in per_reason if r.reject_reason is not None}
    clean_rows, rejected_rows = (clean_summary.n if clean_summary else 0), sum(by_reason.values())
    max_event = as_utc(clean_summary.newest) if clean_summary else None
    ctx.progress(f"silver: {clean_rows:,} clean, {rejected_rows:,} rejected")
    clean = _shaped(labelled.where(is_clean), telemetry_clean_schema(),
                    {"silver_run_id": run_id, "processed_at": processed_at})
    rejected = _shaped(labelled.where(~is_clean), telemetry_rejected_schema(),
                       {"silver_run_id": run_id, "rejected_at": processed_at, "rejected_date": processed_at.date()})
    ctx.progress("silver: merging clean readings into telemetry_clean and rejected ones into telemetry_rejected")
    # `date` follows from `timestamp`; having it in the key lets MERGE read only the partitions touched.
    clean_dates = sorted(clean_summary.dates) if clean_summary else []
    # The time range lets the MERGE open only the files of the hours the window holds.
    merge_clean = (ctx.lakehouse.merge(TELEMETRY_CLEAN, clean, on=TELEMETRY_CLEAN.merge_keys,
                                       partition_by=TELEMETRY_CLEAN.partition_by,
                                       target_partitions={"date": clean_dates} if clean_dates else None,
                                       target_ranges={"timestamp": _time_bounds([clean_summary] if clean_summary
                                                                                else [])},
                                       cluster_by=TELEMETRY_CLEAN.cluster_by)
                   .when_not_matched_insert_all())
    # A reading rejected before has the same time (its id hashes it): only files of those times are read.
    merge_rejected = (ctx.lakehouse.merge(TELEMETRY_REJECTED, rejected, on=TELEMETRY_REJECTED.merge_keys,
                                          partition_by=TELEMETRY_REJECTED.partition_by,
                                          target_ranges={"timestamp": _time_bounds(rejected_summary)})
                      .when_not_matched_insert_all())
    if adopt:
        merge_clean, merge_rejected = merge_clean.when_matched_update_all(), merge_rejected.when_matched_update_all()
    # Two tables, no shared rows: the MERGEs run side by side (the run record, written after, commits the run).
    merged, _ = run_side_by_side([merge_clean.execute, merge_rejected.execute],
                                 parallel=ctx.lakehouse.backend.side_by_side)
    return clean_rows, rejected_rows, max_event, dict(sorted(by_reason.items())), clean_dates, merged


def _window_units(ctx: RunContext, window: DataFrame, dims: DataFrame | None) -> list[Any]:
    """Per fleet unit in the window (unknown ids together, as None): rows, oldest and newest reading, arrival."""
    from pyspark.sql import functions as F

    fleet = (dims.select("compressor_id", F.lit(True).alias("_fleet")).distinct() if dims is not None
             else small_frame(ctx.spark, [], "compressor_id string, _fleet boolean"))
    return (window.join(F.broadcast(fleet), "compressor_id", "left")
            .groupBy(F.when(F.col("_fleet"), F.col("compressor_id")).alias("compressor_id"))
            .agg(F.count(F.lit(1)).alias("n"), F.min("timestamp").alias("lo"), F.max("timestamp").alias("hi"),
                 F.max("ingested_at").alias("arrived")).collect())


def _batches(window: DataFrame) -> list[str]:
    """The Bronze batches in the window (a few per hour: one per file ingest or stream micro-batch)."""
    return sorted(r.batch_id for r in window.select("batch_id").distinct().collect() if r.batch_id)


def _stored_by(ctx: RunContext, run_id: str, dates: list[Any]) -> DataFrame:
    """The clean rows run `run_id` stored (quality is measured on what a run actually stored)."""
    from pyspark.sql import functions as F

    return (ctx.lakehouse.read(TELEMETRY_CLEAN)
            .where(F.col("date").isin(dates) & (F.col("silver_run_id") == F.lit(run_id))))


def _in_service(dims: DataFrame | None, as_of: datetime) -> int:
    """Units installed by `as_of`'s date: the fleet completeness is measured against."""
    from pyspark.sql import functions as F

    return 0 if dims is None else dims.where(F.col("install_date") <= F.lit(as_of.date())).count()


def _open_window(ctx: RunContext) -> tuple[Runs, DataFrame | None, DataFrame, list[Any]]:
    """The earlier runs, the (refreshed) compressors, the Bronze window after the watermark and its units.

    Units: one row per fleet unit, and one for every unknown id together (those never have clean readings to
    compare with); the window's span per unit bounds what the repeated and stuck tests read.
    """
    # The reference data is refreshed beside the read of the run records (neither needs the other).
    refreshed = beside(functools.partial(refresh_dimensions, ctx), parallel=ctx.lakehouse.backend.side_by_side)
    previous = previous_runs(ctx)
    dims = refreshed()
    window = bronze_window(ctx, previous)
    return previous, dims, window, _window_units(ctx, window, dims)


def run(ctx: RunContext, *, as_of: datetime | None = None) -> StageResult:
    """Validate the Bronze rows that arrived since the last Silver run into clean and rejected tables.

    Re-running over the same Bronze data changes nothing (a watermark on `ingested_at`, and MERGE on the
    natural keys). Books balance per run: raw rows = clean + rejected + duplicates dropped.
    """
    from altaviz.quality import QualityInputs
    from altaviz.stages import quality as holds

    started = time.perf_counter()
    as_of = (as_of or ctx.clock()).astimezone(UTC)
    processed_at = ctx.clock().astimezone(UTC)
    run_id = f"{processed_at:%Y%m%dT%H%M%SZ}-{ctx.run_id}"
    quality_config = ctx.quality
    if not ctx.lakehouse.exists(TELEMETRY_RAW):
        return StageResult("silver", 0, 0, round(time.perf_counter() - started, 3),
                           SilverReport(run_id, "no Bronze table yet: nothing to validate", as_of=as_of.isoformat()))
    previous, dims, window, units = _open_window(ctx)
    watermark, event_high = previous.watermark, previous.event_high
    raw_rows = sum(u.n for u in units)
    ctx.progress(f"silver: {raw_rows:,} Bronze reading(s) arrived since the last run")
    if raw_rows == 0:
        return StageResult("silver", 0, 0, round(time.perf_counter() - started, 3), SilverReport(
            run_id, "no new Bronze rows since the last run", as_of=as_of.isoformat(),
            reevaluated=holds.reevaluate(ctx, quality_config, run_id=run_id, at=processed_at)))

    lo = min((as_utc(u.lo) for u in units if u.lo is not None), default=as_of)
    hi = max((as_utc(u.hi) for u in units if u.hi is not None), default=lo)
    labelled, env, orphans = _label(ctx, window, dims, as_of, (lo, hi), units, event_high)
    try:
        clean_rows, rejected_rows, max_event, by_reason, clean_dates, merged = _store(
            ctx, labelled, env, run_id, processed_at, adopt=bool(orphans))
    finally:
        env.release()
        labelled.unpersist()
    duplicate_rows = raw_rows - clean_rows - rejected_rows
    balanced = merged.rows_inserted + merged.rows_updated == clean_rows and duplicate_rows >= 0
    ctx.progress("silver: running quality checks")
    inputs = QualityInputs(clean=_stored_by(ctx, run_id, clean_dates), raw_rows=raw_rows, clean_rows=clean_rows,
                           rejected_rows=rejected_rows, duplicate_rows=duplicate_rows,
                           expected_units=_in_service(dims, as_of), as_of=as_of,
                           trailing_clean_counts=previous.trailing_clean, fleet=ctx.lakehouse.read(TELEMETRY_CLEAN))
    results, blocked, reevaluated = holds.gate(ctx, quality_config, inputs, run_id=run_id, at=processed_at,
                                               dates=clean_dates)
    known_times = [t for t in (max_event, event_high) if t is not None]
    record_run(ctx, SILVER_RUNS, small_frame(ctx.spark, [{
        "run_id": run_id, "as_of": as_of, "window_start": watermark,
        "window_end": max((as_utc(u.arrived) for u in units if u.arrived is not None), default=None),
        "batches": json.dumps(_batches(window)),
        "max_event_time": max(known_times) if known_times else None, "raw_rows": raw_rows,
        "clean_rows": clean_rows, "rejected_rows": rejected_rows, "duplicate_rows": duplicate_rows,
        "balanced": balanced, "quality_passed": not blocked, "finished_at": ctx.clock().astimezone(UTC)}],
        silver_runs_schema()), previous.count)
    report = SilverReport(run_id, as_of=as_of.isoformat(), raw_rows=raw_rows, clean_rows=clean_rows,
                          rejected_rows=rejected_rows, duplicate_rows=duplicate_rows, balanced=balanced,
                          reject_reasons=by_reason, quality=[dataclasses.asdict(r) for r in results],
                          blocked=[r.name for r in blocked], held=bool(blocked), reevaluated=reevaluated,
                          adopted_runs=list(orphans))
    return StageResult("silver", raw_rows, clean_rows, round(time.perf_counter() - started, 3), report)
