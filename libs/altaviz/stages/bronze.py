"""Bronze: land telemetry files in the append-only `telemetry_raw` Delta table, each reading exactly once."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altaviz.errors import UsageError
from altaviz.lakehouse.files import FileInfo, LocalFileStore
from altaviz.lakehouse.paths import TableRef
from altaviz.schemas import LANDING_FORMATS, ingested_files_schema
from altaviz.stages import StageResult

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from altaviz.runtime.context import RunContext

TELEMETRY_RAW = TableRef("lh_bronze_raw", "telemetry_raw")
INGESTED_FILES = TableRef("lh_bronze_raw", "ingested_files")
LANDED, REJECTED, SKIPPED = "landed", "rejected", "skipped"


@dataclass
class FileOutcome:
    """What Bronze did with one file."""

    info: FileInfo
    file_format: str | None
    status: str
    reason: str | None = None
    extra_columns: tuple[str, ...] = ()
    rows_read: int = 0
    rows_landed: int = 0
    set_aside_to: str | None = None


_JAVA_EXCEPTION_PREFIX = re.compile(r"^:?\s*([\w$]+\.)+[\w$]*(Exception|Error):\s*")


def _first_line(exc: BaseException) -> str:
    """The most telling line of a (often Java) error: its root cause, without class names or stack frames."""
    lines = [line.strip() for line in (str(exc) or type(exc).__name__).splitlines() if line.strip()]
    causes = [line[len("Caused by:"):].strip() for line in lines if line.startswith("Caused by:")]
    useful = [line for line in lines
              if not line.startswith(("at ", "JVM stacktrace", "An error occurred while calling", "..."))]
    chosen = causes[-1] if causes else (useful[0] if useful else lines[0] if lines else type(exc).__name__)
    return _JAVA_EXCEPTION_PREFIX.sub("", chosen)[:300]


def _read(spark: SparkSession, path: str, file_format: str) -> DataFrame:
    """Open one landing file with the reader its format needs; nothing is inferred from values."""
    reader = spark.read.option("mode", "PERMISSIVE")
    if file_format == "csv":
        # No schema given and no inferSchema: every column is read as text and typed by the contract.
        return reader.option("header", True).csv(path)
    if file_format == "json":
        # Names come from the keys; primitivesAsString keeps every value as the text received.
        return reader.option("primitivesAsString", True).json(path)
    return reader.parquet(path)


def _open(spark: SparkSession, info: FileInfo) -> tuple[DataFrame | None, FileOutcome]:
    """Open a file and check it against the contract; a file that fails is an outcome, not an error."""
    from altaviz.transforms.bronze import check_contract

    suffix = Path(info.path).suffix.lower()
    file_format = LANDING_FORMATS.get(suffix)
    if file_format is None:
        allowed = ", ".join(sorted(LANDING_FORMATS))
        return None, FileOutcome(info, None, REJECTED, f"unsupported file type {suffix or '(none)'!r}; expected {allowed}")
    if info.size == 0:
        return None, FileOutcome(info, file_format, REJECTED, "empty file")
    try:
        df = _read(spark, info.path, file_format)
        schema = df.schema
    except Exception as exc:  # Spark raises many types for unreadable files; all mean "set it aside"
        return None, FileOutcome(info, file_format, REJECTED, f"unreadable {file_format} file: {_first_line(exc)}")
    check = check_contract(schema)
    if not check.ok:
        return None, FileOutcome(info, file_format, REJECTED, check.reason(), check.extra)
    return df, FileOutcome(info, file_format, LANDED, None, check.extra)


def _candidates(ctx: RunContext, sources: Sequence[str] | None) -> tuple[list[FileInfo], str | None]:
    """Files to consider: the user's paths (files or folders), or everything in the landing zone."""
    if sources is None:
        landing = ctx.paths.files_path("lh_bronze_raw", ctx.settings.bronze.landing_dir)
        return ctx.files.list_files(landing), landing
    local = LocalFileStore()
    found: list[FileInfo] = []
    for source in sources:
        if not os.path.exists(source):
            raise UsageError(f"no such file or directory: {source}")
        listed = local.list_files(source)
        if os.path.isdir(source):
            # In a folder, only files that look like telemetry are candidates; a named file always is.
            listed = [f for f in listed if Path(f.path).suffix.lower() in LANDING_FORMATS]
        found.extend(listed)
    unique = {f.path: f for f in found}
    return [unique[p] for p in sorted(unique)], None


def _landed_before(ctx: RunContext) -> set[tuple[str, int, datetime]]:
    """(path, size, modified time) of files already landed, so unchanged files are not read again."""
    from pyspark.sql import functions as F

    if ctx.settings.bronze.reread_landed_files or not ctx.lakehouse.exists(INGESTED_FILES):
        return set()
    rows = (ctx.lakehouse.read(INGESTED_FILES).where(F.col("status") == LANDED)
            .select("source_file", "file_size", "file_modified_at").distinct().collect())
    return {(r.source_file, r.file_size, r.file_modified_at.astimezone(UTC)) for r in rows}


def _normalised(frames: list[tuple[int, DataFrame, FileOutcome]]) -> DataFrame:
    from altaviz.transforms.bronze import event_id, to_contract

    parts = [df.transform(to_contract(outcome.info.path, rank)) for rank, df, outcome in frames]
    union = reduce(lambda a, b: a.unionByName(b), parts)
    return union.select("*", event_id().alias("event_id"))


def _materialise(ctx: RunContext, frames: list[tuple[int, DataFrame, FileOutcome]]
                 ) -> tuple[DataFrame | None, dict[str, Any]]:
    """Read every open file once into a cached batch; a file that fails mid-read is found and set aside."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    while frames:
        batch = _normalised(frames).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            stats = (batch.groupBy("source_file")
                     .agg(F.count(F.lit(1)).alias("n"), F.min("timestamp").alias("lo"), F.max("timestamp").alias("hi"))
                     .collect())
        except Exception as exc:
            batch.unpersist()
            survivors = []
            for rank, df, outcome in frames:
                try:
                    df.count()
                    survivors.append((rank, df, outcome))
                except Exception as file_exc:
                    outcome.status = REJECTED
                    outcome.reason = f"unreadable {outcome.file_format} file: {_first_line(file_exc)}"
            if len(survivors) == len(frames):
                raise exc  # not a bad file: a real failure the user must see
            frames = survivors
            continue
        by_file = {r.source_file: r for r in stats}
        for _, _, outcome in frames:
            row = by_file.get(outcome.info.path)
            outcome.rows_read = row.n if row else 0
        times = [t for r in stats for t in (r.lo, r.hi) if t is not None]
        window = (min(times), max(times)) if times else None
        return batch, {"window": window}
    return None, {"window": None}


def _fresh_rows(ctx: RunContext, batch: DataFrame, window: tuple[datetime, datetime] | None,
                batch_id: str, ingested_at: datetime) -> DataFrame:
    """The batch minus readings already in `telemetry_raw` (and minus repeats inside the batch)."""
    from pyspark.sql import functions as F

    from altaviz.transforms.bronze import first_received_per_event, with_lineage

    unique = batch.transform(first_received_per_event())
    if ctx.lakehouse.exists(TELEMETRY_RAW):
        # A reading's id covers its timestamp, so only stored rows inside the batch's time window can match.
        in_window = F.col("timestamp").isNull()
        if window is not None:
            in_window = in_window | F.col("timestamp").between(F.lit(window[0]), F.lit(window[1]))
        existing = ctx.lakehouse.read(TELEMETRY_RAW).where(in_window).select("event_id")
        unique = unique.join(existing, "event_id", "left_anti")
    return unique.transform(with_lineage(batch_id, ingested_at))


def _record(ctx: RunContext, outcomes: list[FileOutcome], batch_id: str, ingested_at: datetime) -> None:
    """Append one `ingested_files` row per file landed or set aside in this batch."""
    rows = [(batch_id, o.info.path, o.file_format, o.info.size, o.info.modified_at, o.status, o.reason,
             ",".join(o.extra_columns) or None, o.rows_read, o.rows_landed, o.rows_read - o.rows_landed,
             o.set_aside_to, ingested_at, ingested_at.date())
            for o in outcomes if o.status != SKIPPED]
    if rows:
        df = ctx.spark.createDataFrame(rows, ingested_files_schema())
        ctx.lakehouse.write(INGESTED_FILES, df, mode="append", partition_by=["ingestion_date"])


def _set_aside(ctx: RunContext, outcomes: list[FileOutcome], landing: str | None) -> None:
    """Move rejected landing files to the rejected folder so later runs do not trip on them again."""
    if landing is None:
        return
    rejected_root = ctx.paths.files_path("lh_bronze_raw", ctx.settings.bronze.rejected_dir)
    for o in outcomes:
        if o.status == REJECTED and o.info.path.startswith(landing):
            target = rejected_root + o.info.path[len(landing):]
            ctx.files.move(o.info.path, target)
            o.set_aside_to = target


def run(ctx: RunContext, *, sources: Sequence[str] | None = None) -> StageResult:
    """Ingest landing files (or the user's `sources`) into `lh_bronze_raw.telemetry_raw`.

    Re-ingesting a file or the same readings adds no rows; unreadable and off-contract files are
    recorded in `ingested_files` with a reason and set aside while the rest of the batch lands.
    """
    from pyspark.sql import functions as F

    started = time.perf_counter()
    ingested_at = ctx.clock().astimezone(UTC)
    batch_id = f"{ingested_at:%Y%m%dT%H%M%SZ}-{ctx.run_id}"
    candidates, landing = _candidates(ctx, sources)
    done = _landed_before(ctx)
    ctx.progress(f"bronze: {len(candidates)} file(s) found")

    outcomes: list[FileOutcome] = []
    frames: list[tuple[int, DataFrame, FileOutcome]] = []
    for rank, info in enumerate(candidates):
        if (info.path, info.size, info.modified_at) in done:
            outcomes.append(FileOutcome(info, LANDING_FORMATS.get(Path(info.path).suffix.lower()), SKIPPED,
                                        "already landed (same size and modification time)"))
            continue
        df, outcome = _open(ctx.spark, info)
        outcomes.append(outcome)
        if df is not None:
            frames.append((rank, df, outcome))
        if (rank + 1) % 25 == 0:
            ctx.progress(f"bronze: opened {rank + 1}/{len(candidates)} file(s)")

    version = None
    batch, meta = _materialise(ctx, frames)
    if batch is not None:
        ctx.progress(f"bronze: read {sum(o.rows_read for o in outcomes):,} reading(s); removing ones already landed")
        fresh = _fresh_rows(ctx, batch, meta["window"], batch_id, ingested_at).persist()
        per_file = {r.source_file: r.n for r in fresh.groupBy("source_file").agg(F.count(F.lit(1)).alias("n")).collect()}
        for o in outcomes:
            if o.status == LANDED:
                o.rows_landed = per_file.get(o.info.path, 0)
        if per_file or not ctx.lakehouse.exists(TELEMETRY_RAW):
            ctx.progress(f"bronze: writing {sum(per_file.values()):,} new reading(s)")
            version = ctx.lakehouse.write(TELEMETRY_RAW, fresh, mode="append", partition_by=["ingestion_date"])
        fresh.unpersist()
        batch.unpersist()

    _set_aside(ctx, outcomes, landing)
    _record(ctx, outcomes, batch_id, ingested_at)
    landed = [o for o in outcomes if o.status == LANDED]
    rejected = [o for o in outcomes if o.status == REJECTED]
    rows_read = sum(o.rows_read for o in landed)
    rows_landed = sum(o.rows_landed for o in landed)
    details = {
        "batch_id": batch_id,
        "table": str(TELEMETRY_RAW),
        "table_version": version,
        "files_found": len(candidates),
        "files_landed": len(landed),
        "files_skipped": sum(o.status == SKIPPED for o in outcomes),
        "files_rejected": [{"file": o.info.path, "reason": o.reason, "set_aside_to": o.set_aside_to}
                           for o in rejected],
        "extra_columns": {o.info.path: list(o.extra_columns) for o in landed if o.extra_columns},
        "rows_read": rows_read,
        "rows_landed": rows_landed,
        "rows_duplicate": rows_read - rows_landed,
    }
    return StageResult("bronze", rows_read, rows_landed, round(time.perf_counter() - started, 3), details)
