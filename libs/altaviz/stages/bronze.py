"""Bronze: land telemetry files in the append-only `telemetry_raw` Delta table, each reading exactly once."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

from altaviz.errors import UsageError, one_line
from altaviz.lakehouse.backend import Bounds, MergeMetrics
from altaviz.lakehouse.files import FileInfo, LocalFileStore
from altaviz.reports import BronzeReport
from altaviz.runtime.frames import as_utc, small_frame
from altaviz.schemas import LANDING_FORMATS, ingested_files_schema
from altaviz.stages import StageResult
from altaviz.stages.landing import LANDED, REJECTED, SKIPPED, FileOutcome, OpenedFile, probe, read_group
from altaviz.tables import INGESTED_FILES, TELEMETRY_RAW

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from altaviz.runtime.context import RunContext



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


def _batch(ctx: RunContext, opened: list[OpenedFile]) -> DataFrame:
    """All readable files as one DataFrame of contract columns plus the event hash halves."""
    from altaviz.transforms.bronze import event_hashes

    groups: dict[str, list[OpenedFile]] = {}
    for f in opened:
        groups.setdefault(f.group, []).append(f)
    ranks = {f.outcome.info.path: i for i, f in enumerate(opened)}
    parts = [read_group(ctx.spark, files, ranks) for files in groups.values()]
    union = reduce(lambda a, b: a.unionByName(b), parts)
    return union.select("*", *event_hashes())


def _scan(ctx: RunContext, opened: list[OpenedFile]) -> tuple[DataFrame | None, Bounds | None]:
    """Count each file's readings and the time window they span; a file failing mid-read is set aside.

    Returns the batch (None when nothing is readable) and the bounds of its reading times (with nulls when
    some readings have no time).
    """
    from pyspark.sql import functions as F

    while opened:
        batch = _batch(ctx, opened)
        try:
            stats = (batch.groupBy("_file_rank")
                     .agg(F.count(F.lit(1)).alias("n"), F.min("timestamp").alias("lo"), F.max("timestamp").alias("hi"),
                          F.count_if(F.col("timestamp").isNull()).alias("untimed"))
                     .collect())
        except Exception:
            survivors = []
            for f in opened:
                try:
                    _batch(ctx, [f]).count()
                    survivors.append(f)
                except Exception as file_exc:  # noqa: BLE001 - any read failure sets this file aside
                    f.outcome.status = REJECTED
                    f.outcome.reason = f"unreadable {f.outcome.file_format} file: {one_line(file_exc)}"
            if len(survivors) == len(opened):
                raise  # not a bad file: a real failure the user must see
            opened = survivors
            continue
        by_rank = {r._file_rank: r.n for r in stats}
        for rank, f in enumerate(opened):
            f.outcome.rows_read = by_rank.get(rank, 0)
        return batch, Bounds.covering((as_utc(t) for r in stats for t in (r.lo, r.hi)),
                                      or_null=any(r.untimed for r in stats))
    return None, None


def collision_dates(window: Bounds | None, ingested_at: datetime) -> list[date]:
    """The `ingestion_date` partitions where a stored copy of a batch's readings can be.

    A reading is stored no earlier than its own time (a day's margin for device clocks running ahead), so only
    partitions from the batch's earliest reading on can hold one: an hourly batch looks at one or two days,
    not at months of history.
    """
    today = ingested_at.date()
    first = min(window.lo.date(), today) if window is not None and window.lo is not None else today
    days = (today - first).days + 3  # first - 1 day .. today + 1 day
    return [first - timedelta(days=1) + timedelta(days=i) for i in range(days)]


def insert_new(ctx: RunContext, batch: DataFrame, window: Bounds | None, batch_id: str,
               ingested_at: datetime) -> MergeMetrics:
    """Store the batch's readings not stored yet, in one atomic insert-only MERGE on `event_id`.

    Repeats inside the batch are dropped first (the first received copy stays). A stored copy of a reading
    has the same time (the id hashes it), so the MERGE matches only against the partitions a copy can be in
    and, within them, the files whose times overlap the batch's: an hourly batch opens an hour's files
    whatever the history. A concurrent writer storing the same readings makes it conflict and retry, so a
    reading lands once however many runs or streams deliver it. A new table is written in time order.
    """
    from altaviz.transforms.bronze import first_received, with_lineage

    fresh = batch.transform(first_received()).transform(with_lineage(batch_id, ingested_at))
    return (ctx.lakehouse.merge(TELEMETRY_RAW, fresh, on=TELEMETRY_RAW.merge_keys, partition_by=TELEMETRY_RAW.partition_by,
                                target_partitions={"ingestion_date": collision_dates(window, ingested_at)},
                                target_ranges={"timestamp": window},
                                cluster_by=TELEMETRY_RAW.cluster_by)
            .when_not_matched_insert_all().execute())


def _landed_per_file(ctx: RunContext, batch_id: str, ingested_at: datetime) -> dict[str, int]:
    """Rows this batch added, per source file, read back from the table (cheaper than counting twice)."""
    from pyspark.sql import functions as F

    rows = (ctx.lakehouse.read(TELEMETRY_RAW)
            .where((F.col("ingestion_date") == F.lit(ingested_at.date())) & (F.col("batch_id") == batch_id))
            .groupBy("source_file").agg(F.count(F.lit(1)).alias("n")).collect())
    return {r.source_file: r.n for r in rows}


def _record(ctx: RunContext, outcomes: list[FileOutcome], batch_id: str, ingested_at: datetime) -> None:
    """Append one `ingested_files` row per file landed or set aside in this batch."""
    schema = ingested_files_schema()
    rows = [dict(zip(schema.fieldNames(), (
        batch_id, o.info.path, o.file_format, o.info.size, o.info.modified_at, o.status, o.reason,
        ",".join(o.extra_columns) or None, o.rows_read, o.rows_landed, o.rows_read - o.rows_landed,
        o.set_aside_to, ingested_at, ingested_at.date()), strict=True))
            for o in outcomes if o.status != SKIPPED]
    if rows:
        df = small_frame(ctx.spark, rows, schema)
        ctx.lakehouse.write(INGESTED_FILES, df, mode="append", partition_by=INGESTED_FILES.partition_by)


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


def _open_all(ctx: RunContext, candidates: list[FileInfo]) -> tuple[list[FileOutcome], list[OpenedFile]]:
    """Skip files landed before, and check the rest against the contract."""
    done = _landed_before(ctx)
    outcomes: list[FileOutcome] = []
    to_open: list[FileInfo] = []
    for info in candidates:
        if (info.path, info.size, info.modified_at) in done:
            outcomes.append(FileOutcome(info, LANDING_FORMATS.get(Path(info.path).suffix.lower()), SKIPPED,
                                        "already landed (same size and modification time)"))
        else:
            to_open.append(info)
    local = ctx.paths.is_local or all(not f.path.startswith(("abfss:", "abfs:")) for f in to_open)
    # Checking a file is mostly waiting on a footer or a JVM round trip; a few threads overlap them.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda info: probe(ctx.spark, info, local=local), to_open))
    outcomes.extend(outcome for _, outcome in results)
    return outcomes, [f for f, _ in results if f is not None]


def run(ctx: RunContext, *, sources: Sequence[str] | None = None) -> StageResult:
    """Ingest landing files (or the user's `sources`) into `lh_bronze_raw.telemetry_raw`.

    Re-ingesting a file or the same readings adds no rows; unreadable and off-contract files are
    recorded in `ingested_files` with a reason and set aside while the rest of the batch lands.
    """
    started = time.perf_counter()
    ingested_at = ctx.clock().astimezone(UTC)
    batch_id = f"{ingested_at:%Y%m%dT%H%M%SZ}-{ctx.run_id}"
    candidates, landing = _candidates(ctx, sources)
    ctx.progress(f"bronze: {len(candidates)} file(s) found")
    outcomes, opened = _open_all(ctx, candidates)
    ctx.progress(f"bronze: {len(opened)} new file(s) match the contract, "
                 f"{sum(o.status == REJECTED for o in outcomes)} do not")

    version = None
    batch, window = _scan(ctx, opened)
    if batch is not None:
        ctx.progress(f"bronze: read {sum(o.rows_read for o in outcomes):,} reading(s); writing the new ones")
        version = insert_new(ctx, batch, window, batch_id, ingested_at).version
        per_file = _landed_per_file(ctx, batch_id, ingested_at)
        for o in outcomes:
            if o.status == LANDED:
                o.rows_landed = per_file.get(o.info.path, 0)

    _set_aside(ctx, outcomes, landing)
    _record(ctx, outcomes, batch_id, ingested_at)
    landed = [o for o in outcomes if o.status == LANDED]
    rejected = [o for o in outcomes if o.status == REJECTED]
    rows_read = sum(o.rows_read for o in landed)
    rows_landed = sum(o.rows_landed for o in landed)
    report = BronzeReport(
        batch_id, batch_id=batch_id, table=str(TELEMETRY_RAW), table_version=version, files_found=len(candidates),
        files_landed=len(landed), files_skipped=sum(o.status == SKIPPED for o in outcomes),
        files_rejected=[{"file": o.info.path, "reason": o.reason, "set_aside_to": o.set_aside_to} for o in rejected],
        extra_columns={o.info.path: list(o.extra_columns) for o in landed if o.extra_columns},
        rows_read=rows_read, rows_landed=rows_landed, rows_duplicate=rows_read - rows_landed)
    return StageResult("bronze", rows_read, rows_landed, round(time.perf_counter() - started, 3), report)
