"""Silver: validated `telemetry_clean`, `telemetry_rejected` with reasons, balanced books and quality checks."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from altaviz.lakehouse.paths import TableRef
from altaviz.runtime.frames import small_frame
from altaviz.schemas import (
    SENSOR_COLUMNS,
    silver_runs_schema,
    telemetry_clean_schema,
    telemetry_rejected_schema,
)
from altaviz.stages import StageResult
from altaviz.stages.bronze import TELEMETRY_RAW

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from altaviz.runtime.context import RunContext

TELEMETRY_CLEAN = TableRef("lh_silver_cleaned", "telemetry_clean")
TELEMETRY_REJECTED = TableRef("lh_silver_cleaned", "telemetry_rejected")
SILVER_RUNS = TableRef("lh_silver_cleaned", "silver_runs")
QUALITY_CHECKS = TableRef("lh_silver_cleaned", "quality_checks")
DIM_COMPRESSOR = TableRef("lh_silver_cleaned", "dim_compressor")
DIM_STATION = TableRef("lh_silver_cleaned", "dim_station")
CADENCE = timedelta(minutes=5)


def _utc(value: datetime | None) -> datetime | None:
    """A datetime collected from Spark (naive, local time) or given by a caller, as aware UTC."""
    return value.astimezone(UTC) if value is not None else None


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


def _previous_runs(ctx: RunContext) -> list[Any]:
    from pyspark.sql import functions as F

    if not ctx.lakehouse.exists(SILVER_RUNS):
        return []
    return ctx.lakehouse.read(SILVER_RUNS).orderBy(F.col("finished_at").desc()).collect()


def _window(ctx: RunContext, watermark: datetime | None) -> DataFrame:
    """Bronze rows that arrived after the watermark, from one snapshot of `telemetry_raw`."""
    from pyspark.sql import functions as F

    raw = ctx.lakehouse.read(TELEMETRY_RAW, version=ctx.lakehouse.version(TELEMETRY_RAW))
    if watermark is None:
        return raw
    return raw.where((F.col("ingestion_date") >= F.lit(watermark.date())) & (F.col("ingested_at") > F.lit(watermark)))


def _clean_near(ctx: RunContext, start: datetime, end: datetime) -> DataFrame | None:
    from pyspark.sql import functions as F

    if not ctx.lakehouse.exists(TELEMETRY_CLEAN):
        return None
    return (ctx.lakehouse.read(TELEMETRY_CLEAN)
            .where(F.col("date").between(F.lit(start.date()), F.lit(end.date())))
            .where(F.col("timestamp").between(F.lit(start), F.lit(end))))


def _label(ctx: RunContext, window: DataFrame, dims: DataFrame | None, as_of: datetime,
           span: tuple[datetime, datetime], lateness_cutoff: datetime | None) -> tuple[DataFrame, DataFrame]:
    """First-received readings of the window with `reject_reason` (null for clean), and the cached base."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from altaviz.transforms.silver import (
        first_received_with_stuck,
        outliers,
        preferred_stats,
        reject_reasons,
        repeated_events,
        stuck_events,
        unit_sensor_stats,
        with_reference,
    )

    cfg = ctx.settings.silver
    if dims is None:  # no reference data at all: every reading is of an unknown compressor
        dims = small_frame(ctx.spark, [], "compressor_id string, model string, station_id string, "
                                          "basin string, install_date date")
    lo, hi = span
    context = _clean_near(ctx, lo - CADENCE * cfg.stuck_readings, hi)
    history_rows = _clean_near(ctx, lo - timedelta(hours=cfg.outlier_history_hours), lo)
    limits = {s: getattr(cfg.physical_limits, s) for s in SENSOR_COLUMNS}
    # The repeated and stuck readings are few: find them once, bring them to the driver, broadcast them.
    repeated = small_frame(ctx.spark, window.transform(repeated_events(context)).collect(), "event_id string")
    ctx.progress(f"silver: {repeated.count():,} repeated reading(s) found; looking for stuck sensors")
    stuck = small_frame(ctx.spark, window.transform(stuck_events(context, cfg.stuck_readings, repeated)).collect(),
                         "event_id string, _stuck string")
    kept = ["compressor_id", "timestamp", *SENSOR_COLUMNS, "model", "station_id", "basin", "event_id",
            "ingested_at", "unparsed_values", "source_file", "source_offset", "reject_reason", "reject_detail"]
    basic = (window.transform(with_reference(dims))
             .transform(first_received_with_stuck(repeated, stuck))
             .transform(reject_reasons(as_of=as_of, future_tolerance_minutes=cfg.future_tolerance_minutes,
                                       lateness_cutoff=lateness_cutoff, limits=limits))
             .withColumn("station_id", F.coalesce(F.col("_ref_station_id"), F.col("station_id")))
             .select(*kept)  # only what the outputs need is cached
             .persist(StorageLevel.MEMORY_AND_DISK))
    ctx.progress(f"silver: {basic.count():,} first-received reading(s) checked; testing for outliers")
    batch_stats = unit_sensor_stats(basic.where(F.col("reject_reason").isNull()))
    history = unit_sensor_stats(history_rows) if history_rows is not None else None
    stats = preferred_stats(history, batch_stats, cfg.outlier_min_history)
    # One row per unit: compute once and broadcast the rows, rather than re-aggregating in every later pass.
    stats = small_frame(ctx.spark, stats.collect(), stats.schema)
    return basic.transform(outliers(stats, cfg.outlier_sigma)), basic


def _clean_rows(labeled: DataFrame, run_id: str, processed_at: datetime) -> DataFrame:
    from pyspark.sql import functions as F

    values = {"silver_run_id": F.lit(run_id), "processed_at": F.lit(processed_at),
              "date": F.to_date("timestamp")}
    return labeled.where(F.col("reject_reason").isNull()).select(*[
        (values[f.name] if f.name in values else F.col(f.name)).cast(f.dataType).alias(f.name)
        for f in telemetry_clean_schema().fields])


def _rejected_rows(labeled: DataFrame, run_id: str, processed_at: datetime) -> DataFrame:
    from pyspark.sql import functions as F

    values = {"silver_run_id": F.lit(run_id), "rejected_at": F.lit(processed_at),
              "rejected_date": F.lit(processed_at.date())}
    return labeled.where(F.col("reject_reason").isNotNull()).select(*[
        (values[f.name] if f.name in values else F.col(f.name)).cast(f.dataType).alias(f.name)
        for f in telemetry_rejected_schema().fields])


def run(ctx: RunContext, *, as_of: datetime | None = None) -> StageResult:
    """Validate the Bronze rows that arrived since the last Silver run into clean and rejected tables.

    Re-running over the same Bronze data changes nothing (a watermark on `ingested_at`, and MERGE on the
    natural keys). Books balance per run: raw rows = clean + rejected + duplicates dropped.
    """
    from pyspark.sql import functions as F

    from altaviz.quality import QualityInputs, evaluate, failed_blocks, load_quality_config, results_frame

    started = time.perf_counter()
    as_of = (as_of or ctx.clock()).astimezone(UTC)
    processed_at = ctx.clock().astimezone(UTC)
    run_id = f"{processed_at:%Y%m%dT%H%M%SZ}-{ctx.run_id}"
    quality_config = load_quality_config()
    if not ctx.lakehouse.exists(TELEMETRY_RAW):
        return StageResult("silver", 0, 0, round(time.perf_counter() - started, 3),
                           {"run_id": run_id, "message": "no Bronze table yet: nothing to validate"})
    previous = _previous_runs(ctx)
    watermark = max((_utc(r.window_end) for r in previous if r.window_end is not None), default=None)
    event_high = max((_utc(r.max_event_time) for r in previous if r.max_event_time is not None), default=None)
    dims = refresh_dimensions(ctx)
    window = _window(ctx, watermark)
    summary = window.agg(F.count(F.lit(1)).alias("n"), F.min("timestamp").alias("lo"),
                         F.max("timestamp").alias("hi"), F.max("ingested_at").alias("arrived")).first()
    raw_rows = summary.n
    ctx.progress(f"silver: {raw_rows:,} Bronze reading(s) arrived since the last run")
    details: dict[str, Any] = {"run_id": run_id, "as_of": as_of.isoformat(), "raw_rows": raw_rows}
    if raw_rows == 0:
        details.update(clean_rows=0, rejected_rows=0, duplicate_rows=0, balanced=True, reject_reasons={},
                       quality=[], blocked=[], message="no new Bronze rows since the last run")
        return StageResult("silver", 0, 0, round(time.perf_counter() - started, 3), details)

    lo = _utc(summary.lo) or as_of
    hi = _utc(summary.hi) or lo
    cutoff = event_high - timedelta(hours=ctx.settings.silver.lateness_hours) if event_high else None
    labeled, base = _label(ctx, window, dims, as_of, (lo, hi), cutoff)
    grouped = labeled.groupBy("reject_reason").agg(F.count(F.lit(1)).alias("n"), F.max("timestamp").alias("hi"))
    counts = {r.reject_reason: (r.n, r.hi) for r in grouped.collect()}
    clean_rows, max_event = counts.pop(None, (0, None))
    max_event = _utc(max_event)
    by_reason = {reason: n for reason, (n, _) in counts.items()}
    rejected_rows = sum(by_reason.values())
    duplicate_rows = raw_rows - clean_rows - rejected_rows
    ctx.progress(f"silver: {clean_rows:,} clean, {rejected_rows:,} rejected, {duplicate_rows:,} duplicate(s)")

    clean = _clean_rows(labeled, run_id, processed_at)
    ctx.progress("silver: merging clean readings into telemetry_clean")
    # `date` follows from `timestamp`; having it in the key lets MERGE read only the partitions touched.
    merged = (ctx.lakehouse.merge(TELEMETRY_CLEAN, clean, on=["compressor_id", "timestamp", "date"],
                                  partition_by=["date"]).when_not_matched_insert_all().execute())
    rejected = _rejected_rows(labeled, run_id, processed_at)
    ctx.progress("silver: merging rejected readings into telemetry_rejected")
    ctx.lakehouse.merge(TELEMETRY_REJECTED, rejected, on=["event_id"], partition_by=["rejected_date"]) \
        .when_not_matched_insert_all().execute()
    balanced = merged.rows_inserted == clean_rows and duplicate_rows >= 0

    expected_units = 0 if dims is None else dims.where(
        F.col("install_date") <= F.lit(as_of.date())).count()
    trailing = tuple(r.clean_rows for r in previous if r.raw_rows > 0)[:7]
    ctx.progress("silver: running quality checks")
    results = evaluate(QualityInputs(clean=clean, raw_rows=raw_rows, clean_rows=clean_rows,
                                     rejected_rows=rejected_rows, duplicate_rows=duplicate_rows,
                                     expected_units=expected_units, as_of=as_of,
                                     trailing_clean_counts=trailing), quality_config)
    ctx.lakehouse.write(QUALITY_CHECKS, results_frame(ctx.spark, results, run_id=run_id, checked_at=processed_at),
                        mode="append", partition_by=["check_date"])
    blocked = failed_blocks(results)
    known_times = [t for t in (max_event, event_high) if t is not None]
    run_row = {"run_id": run_id, "as_of": as_of, "window_start": watermark, "window_end": _utc(summary.arrived),
               "max_event_time": max(known_times) if known_times else None, "raw_rows": raw_rows, "clean_rows": clean_rows, "rejected_rows": rejected_rows,
               "duplicate_rows": duplicate_rows, "balanced": balanced, "quality_passed": not blocked,
               "finished_at": ctx.clock().astimezone(UTC)}
    ctx.lakehouse.write(SILVER_RUNS, small_frame(ctx.spark, [run_row], silver_runs_schema()), mode="append")
    base.unpersist()
    details.update(clean_rows=clean_rows, rejected_rows=rejected_rows, duplicate_rows=duplicate_rows,
                   balanced=balanced, reject_reasons=dict(sorted(by_reason.items())),
                   quality=[dataclasses.asdict(r) for r in results],
                   blocked=[r.name for r in blocked])
    return StageResult("silver", raw_rows, clean_rows, round(time.perf_counter() - started, 3), details)
