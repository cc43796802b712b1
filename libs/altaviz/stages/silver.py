"""Silver: validated `telemetry_clean`, `telemetry_rejected` with reasons, balanced books and quality checks."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from altaviz.lakehouse.paths import TableRef
from altaviz.runtime.frames import as_utc, small_frame
from altaviz.schemas import (
    SENSOR_COLUMNS,
    silver_runs_schema,
    telemetry_clean_schema,
    telemetry_rejected_schema,
)
from altaviz.stages import StageResult
from altaviz.stages.bronze import TELEMETRY_RAW

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from altaviz.runtime.context import RunContext

TELEMETRY_CLEAN = TableRef("lh_silver_cleaned", "telemetry_clean")
TELEMETRY_REJECTED = TableRef("lh_silver_cleaned", "telemetry_rejected")
SILVER_RUNS = TableRef("lh_silver_cleaned", "silver_runs")
QUALITY_CHECKS = TableRef("lh_silver_cleaned", "quality_checks")
DIM_COMPRESSOR = TableRef("lh_silver_cleaned", "dim_compressor")
DIM_STATION = TableRef("lh_silver_cleaned", "dim_station")
CADENCE = timedelta(minutes=5)


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
           span: tuple[datetime, datetime], lateness_cutoff: datetime | None) -> pa.Table:
    """First-received readings of the window, collected once, with `reject_reason` (null for clean) and detail.

    Spark decides every test that needs the window's context (repeats, stuck runs, reference data, rules);
    the per-unit outlier test then runs on the collected batch against trailing statistics.
    """
    from pyspark.sql import functions as F

    from altaviz.transforms.silver import (
        first_received_with_stuck,
        reject_reasons,
        repeated_events,
        stuck_events,
        unit_sensor_stats,
        with_reference,
    )
    from altaviz.transforms.silver_batch import batch_sensor_stats, flag_outliers, preferred_stats

    cfg = ctx.settings.silver
    if dims is None:  # no reference data at all: every reading is of an unknown compressor
        dims = small_frame(ctx.spark, [], "compressor_id string, model string, station_id string, "
                                          "basin string, install_date date")
    lo, hi = span
    context = _clean_near(ctx, lo - CADENCE * cfg.stuck_readings, hi)
    history_rows = _clean_near(ctx, lo - timedelta(hours=cfg.outlier_history_hours), lo)
    limits = {s: getattr(cfg.physical_limits, s) for s in SENSOR_COLUMNS}
    # The repeated and stuck readings are few: find them once, bring them to the driver, broadcast them.
    repeated_ids = window.transform(repeated_events(context)).collect()
    repeated = small_frame(ctx.spark, repeated_ids, "event_id string")
    ctx.progress(f"silver: {len(repeated_ids):,} repeated reading(s) found; looking for stuck sensors")
    stuck = small_frame(ctx.spark, window.transform(stuck_events(context, cfg.stuck_readings, repeated)).collect(),
                         "event_id string, _stuck string")
    ctx.progress("silver: testing readings")
    basic = (window.transform(with_reference(dims))
             .transform(first_received_with_stuck(repeated, stuck))
             .transform(reject_reasons(as_of=as_of, future_tolerance_minutes=cfg.future_tolerance_minutes,
                                       lateness_cutoff=lateness_cutoff, limits=limits))
             .withColumn("station_id", F.coalesce(F.col("_ref_station_id"), F.col("station_id"))))
    batch = _labelled_batch(basic)
    history = unit_sensor_stats(history_rows).toArrow() if history_rows is not None else None
    stats = preferred_stats(history, batch_sensor_stats(batch), cfg.outlier_min_history)
    return flag_outliers(batch, stats, cfg.outlier_sigma)


def _labelled_batch(labeled: DataFrame) -> pa.Table:
    """Every column either output table takes from the labelled rows, typed as stored, collected once as Arrow.

    One pass over the window feeds both MERGEs, the counts and the books: the clean and rejected tables are
    then cut from this batch on the driver instead of re-running the labelling for each.
    """
    from pyspark.sql import functions as F

    fields = {f.name: f.dataType for schema in (telemetry_clean_schema(), telemetry_rejected_schema())
              for f in schema.fields if f.name not in _RUN_COLUMNS}
    derived = {"date": F.to_date("timestamp")}
    return labeled.select(*[(derived.get(name, F.col(name))).cast(dtype).alias(name)
                            for name, dtype in fields.items()]).toArrow()


#: Output columns that hold the run's own values rather than the reading's.
_RUN_COLUMNS = ("silver_run_id", "processed_at", "rejected_at", "rejected_date")


def _shaped(rows: pa.Table, schema: StructType, run_values: dict[str, Any]) -> pa.Table:
    """`rows` with exactly the columns of `schema`, in order; run-level columns filled with `run_values`."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    target = to_arrow_schema(schema)
    columns = [rows[f.name].cast(f.type) if f.name in rows.column_names
               else pa.repeat(pa.scalar(run_values[f.name], type=f.type), rows.num_rows)
               for f in target]
    return pa.Table.from_arrays(columns, schema=pa.schema([f.with_nullable(True) for f in target]))


def run(ctx: RunContext, *, as_of: datetime | None = None) -> StageResult:
    """Validate the Bronze rows that arrived since the last Silver run into clean and rejected tables.

    Re-running over the same Bronze data changes nothing (a watermark on `ingested_at`, and MERGE on the
    natural keys). Books balance per run: raw rows = clean + rejected + duplicates dropped.
    """
    import pyarrow.compute as pc
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
    watermark = max((as_utc(r.window_end) for r in previous if r.window_end is not None), default=None)
    event_high = max((as_utc(r.max_event_time) for r in previous if r.max_event_time is not None), default=None)
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

    lo = as_utc(summary.lo) or as_of
    hi = as_utc(summary.hi) or lo
    cutoff = event_high - timedelta(hours=ctx.settings.silver.lateness_hours) if event_high else None
    batch = _label(ctx, window, dims, as_of, (lo, hi), cutoff)
    is_clean = pc.is_null(batch["reject_reason"])
    clean = _shaped(batch.filter(is_clean), telemetry_clean_schema(),
                    {"silver_run_id": run_id, "processed_at": processed_at})
    rejected = _shaped(batch.filter(pc.invert(is_clean)), telemetry_rejected_schema(),
                       {"silver_run_id": run_id, "rejected_at": processed_at, "rejected_date": processed_at.date()})
    del batch
    clean_rows, rejected_rows = clean.num_rows, rejected.num_rows
    max_event = pc.max(clean["timestamp"]).as_py() if clean_rows else None
    by_reason = {r["values"]: r["counts"] for r in pc.value_counts(rejected["reject_reason"]).to_pylist()}
    duplicate_rows = raw_rows - clean_rows - rejected_rows
    ctx.progress(f"silver: {clean_rows:,} clean, {rejected_rows:,} rejected, {duplicate_rows:,} duplicate(s)")

    ctx.progress("silver: merging clean readings into telemetry_clean")
    # `date` follows from `timestamp`; having it in the key lets MERGE read only the partitions touched.
    merged = (ctx.lakehouse.merge(TELEMETRY_CLEAN, clean, on=["compressor_id", "timestamp", "date"],
                                  partition_by=["date"]).when_not_matched_insert_all().execute())
    ctx.progress("silver: merging rejected readings into telemetry_rejected")
    ctx.lakehouse.merge(TELEMETRY_REJECTED, rejected, on=["event_id"], partition_by=["rejected_date"]) \
        .when_not_matched_insert_all().execute()
    balanced = merged.rows_inserted == clean_rows and duplicate_rows >= 0
    clean_dates = pc.unique(clean["date"]).to_pylist()
    del clean, rejected
    # Quality is measured on what this run actually stored.
    stored = (ctx.lakehouse.read(TELEMETRY_CLEAN)
              .where(F.col("date").isin(clean_dates) & (F.col("silver_run_id") == F.lit(run_id))))

    expected_units = 0 if dims is None else dims.where(
        F.col("install_date") <= F.lit(as_of.date())).count()
    trailing = tuple(r.clean_rows for r in previous if r.raw_rows > 0)[:7]
    ctx.progress("silver: running quality checks")
    results = evaluate(QualityInputs(clean=stored, raw_rows=raw_rows, clean_rows=clean_rows,
                                     rejected_rows=rejected_rows, duplicate_rows=duplicate_rows,
                                     expected_units=expected_units, as_of=as_of,
                                     trailing_clean_counts=trailing), quality_config)
    ctx.lakehouse.write(QUALITY_CHECKS, results_frame(ctx.spark, results, run_id=run_id, checked_at=processed_at),
                        mode="append", partition_by=["check_date"])
    blocked = failed_blocks(results)
    known_times = [t for t in (max_event, event_high) if t is not None]
    run_row = {"run_id": run_id, "as_of": as_of, "window_start": watermark, "window_end": as_utc(summary.arrived),
               "max_event_time": max(known_times) if known_times else None, "raw_rows": raw_rows, "clean_rows": clean_rows, "rejected_rows": rejected_rows,
               "duplicate_rows": duplicate_rows, "balanced": balanced, "quality_passed": not blocked,
               "finished_at": ctx.clock().astimezone(UTC)}
    ctx.lakehouse.write(SILVER_RUNS, small_frame(ctx.spark, [run_row], silver_runs_schema()), mode="append")
    details.update(clean_rows=clean_rows, rejected_rows=rejected_rows, duplicate_rows=duplicate_rows,
                   balanced=balanced, reject_reasons=dict(sorted(by_reason.items())),
                   quality=[dataclasses.asdict(r) for r in results],
                   blocked=[r.name for r in blocked])
    return StageResult("silver", raw_rows, clean_rows, round(time.perf_counter() - started, 3), details)
