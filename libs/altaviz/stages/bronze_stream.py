"""Streaming Bronze: Event Hubs (its Kafka endpoint) or a Kafka topic into `telemetry_raw`, exactly once.

One Structured Streaming query (`telemetry_stream`) reads the topic with Spark's Kafka source, set as Event Hubs
needs it (`KafkaEndpoint.spark_options`). Each micro-batch is parsed with the explicit contract schema
(`transforms.events`): readings go to `telemetry_raw` through the same insert-only MERGE on `event_id` as file
ingest (a reading sent as a file and as an event lands once), events that are not a reading go to
`telemetry_deadletter` with their raw body, partition, offset, timestamp and reason (an insert-only MERGE on
topic, partition and offset).

Exactly once across restarts: the checkpoint (`lh_bronze_raw` `Files/checkpoints/telemetry_stream`) records the
offsets of each micro-batch; a run killed after a batch's writes but before its checkpoint commit replays that
batch, and both MERGEs then insert nothing (every row is already there, keyed by content or by position).

Triggers: `available-now` drains what the topic holds and stops (the hourly pipeline's catch-up before Silver);
`continuous` runs micro-batches on a processing-time trigger until stopped (a Spark Job Definition in Fabric) or
`max_seconds` pass. A failed batch fails the query, and `awaitTermination` raises it: the job fails.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING

from altaviz.lakehouse.backend import Bounds
from altaviz.reports import StreamReport
from altaviz.runtime.frames import as_utc
from altaviz.stages import StageResult
from altaviz.stages.bronze import insert_new
from altaviz.tables import TELEMETRY_DEADLETTER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from altaviz.ingestion.settings import KafkaEndpoint
    from altaviz.runtime.context import RunContext

QUERY = "telemetry_stream"
AVAILABLE_NOW, CONTINUOUS = "available-now", "continuous"
TRIGGERS = (AVAILABLE_NOW, CONTINUOUS)
#: The pipeline's catch-up when a continuous job (the `sjd_bronze_stream` Spark Job Definition) reads the hub.
OFF = "off"
_PREVIEW_CHARS = 2_000
_RESTARTS = 2


@dataclass
class _Tally:
    """Counts over the micro-batches of one run (foreachBatch runs on the driver, one batch at a time)."""

    batches: int = 0
    events: int = 0
    landed: int = 0
    duplicate: int = 0
    dead: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def checkpoint_path(ctx: RunContext, query: str = QUERY) -> str:
    """Where a query's checkpoint lives: `lh_bronze_raw` `Files/checkpoints/<query>`."""
    return ctx.paths.files_path("lh_bronze_raw", f"checkpoints/{query}")


def _deadletter(ctx: RunContext, bad: DataFrame, batch_tag: str, ingested_at) -> None:
    from pyspark.sql import functions as F

    from altaviz.schemas import telemetry_deadletter_schema
    from altaviz.transforms.events import REASON

    at = F.lit(ingested_at).cast("timestamp")
    columns = {"topic": F.col("topic"), "event_partition": F.col("partition"), "event_offset": F.col("offset"),
               "event_timestamp": F.col("_event_timestamp"), "event_key": F.col("_event_key"),
               "raw_body": F.col("value"), "body_text": F.substring(F.col("value").cast("string"), 1, _PREVIEW_CHARS),
               "reason": F.col(REASON), "batch_id": F.lit(batch_tag), "ingested_at": at,
               "ingestion_date": F.to_date(at)}
    rows = bad.select(*[columns[f.name].cast(f.dataType).alias(f.name) for f in telemetry_deadletter_schema().fields])
    (ctx.lakehouse.merge(TELEMETRY_DEADLETTER, rows, on=TELEMETRY_DEADLETTER.merge_keys,
                         partition_by=TELEMETRY_DEADLETTER.partition_by)
     .when_not_matched_insert_all().execute())


def land_batch(ctx: RunContext, events: DataFrame, batch_tag: str, tally: _Tally) -> None:
    """Land one micro-batch of Kafka rows: readings into `telemetry_raw`, the rest into `telemetry_deadletter`."""
    from pyspark.sql import functions as F

    from altaviz.transforms.events import REASON, parse_events

    ingested_at = ctx.clock().astimezone(UTC)
    parsed = events.transform(parse_events()).persist()
    try:
        stats = (parsed.groupBy(F.col(REASON))
                 .agg(F.count(F.lit(1)).alias("n"), F.min("timestamp").alias("lo"), F.max("timestamp").alias("hi"),
                      F.count_if(F.col("timestamp").isNull()).alias("untimed"))
                 .collect())
        good = [r for r in stats if r[REASON] is None]
        bad = {r[REASON]: r.n for r in stats if r[REASON] is not None}
        landed = 0
        if good:
            window = Bounds.covering((as_utc(t) for r in good for t in (r.lo, r.hi)),
                                     or_null=any(r.untimed for r in good))
            landed = insert_new(ctx, parsed.where(F.col(REASON).isNull()), window, batch_tag, ingested_at).rows_inserted
        if bad:
            _deadletter(ctx, parsed.where(F.col(REASON).isNotNull()), batch_tag, ingested_at)
    finally:
        parsed.unpersist()
    with tally.lock:
        tally.batches += 1
        read = sum(r.n for r in stats)
        tally.events += read
        tally.landed += landed
        tally.duplicate += sum(r.n for r in good) - landed
        tally.dead += sum(bad.values())
        for reason, n in bad.items():
            tally.reasons[reason] = tally.reasons.get(reason, 0) + n
    ctx.progress(f"bronze stream: batch {batch_tag.rsplit('-', 1)[-1]}: {read:,} event(s), {landed:,} new reading(s) "
                 f"landed, {sum(bad.values()):,} dead-lettered")


def _source(ctx: RunContext, endpoint: KafkaEndpoint, max_offsets_per_trigger: int | None) -> DataFrame:
    """The Kafka source over the topic, from its earliest retained event on a new checkpoint."""
    reader = (ctx.spark.readStream.format("kafka").options(**endpoint.spark_options())
              .option("startingOffsets", "earliest"))
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.load()


def _replay_progress_bug(exc: BaseException) -> bool:
    """Spark 4.1.1 (Fabric Runtime 2.0 too): after replaying a batch a killed run left uncommitted, the Kafka
    source's progress metrics hit a null (`Some(null)` in `KafkaMicroBatchStream.metrics`, SPARK-55271) and fail
    the query. The replayed batch is committed by then, so starting again goes on from the next one."""
    text = f"{exc}\n{getattr(exc, '_stackTrace', '') or ''}"
    return '"scala.Option.get()" is null' in text and ("KafkaMicroBatchStream" in text or "STREAM_FAILED" in text)


def _await(ctx: RunContext, running, seconds: float | None) -> None:
    """Wait for the query: to its end (available-now), or `seconds` then stop it; its failure is raised."""
    try:
        if seconds is None:
            running.awaitTermination()
        elif not running.awaitTermination(seconds):
            ctx.progress(f"bronze stream: {seconds:g} s passed: stopping")
    finally:
        if running.isActive:
            running.stop()


def run(ctx: RunContext, endpoint: KafkaEndpoint | None, *, trigger: str = AVAILABLE_NOW,
        max_seconds: float | None = None, interval: str = "30 seconds",
        max_offsets_per_trigger: int | None = None, query: str = QUERY) -> StageResult:
    """Run streaming Bronze until the topic is drained (`available-now`) or it is stopped (`continuous`).

    Args:
        ctx: the run context (Spark, lakehouse).
        endpoint: where to read; None (nothing configured) skips the stage with a message.
        trigger: `available-now`, `continuous`, or `off` (the pipeline's catch-up where a continuous Spark Job
            Definition owns the checkpoint: skipped with a message).
        max_seconds: stop after this long (a continuous run; for available-now, a bound on the catch-up).
        interval: the continuous trigger's processing time.
        max_offsets_per_trigger: cap on events per micro-batch (default: no cap).
        query: the query's name and checkpoint folder.
    """
    started = time.perf_counter()
    if trigger not in (*TRIGGERS, OFF):
        raise ValueError(f"trigger must be one of {', '.join((*TRIGGERS, OFF))} (got {trigger!r})")
    if trigger == OFF:
        report = StreamReport(query, "the continuous streaming job reads Event Hubs: the catch-up steps aside",
                              query=query, trigger=trigger, skipped="continuous job")
        return StageResult("bronze_stream", 0, 0, round(time.perf_counter() - started, 3), report)
    if endpoint is None:
        report = StreamReport(query, "no Event Hubs endpoint configured: nothing to stream", query=query,
                              trigger=trigger, skipped="no endpoint")
        return StageResult("bronze_stream", 0, 0, round(time.perf_counter() - started, 3), report)
    lease = _stream_lease(ctx, query)
    if lease is not None and not lease.try_acquire():
        holder = lease.holder().describe()
        report = StreamReport(query, f"a stream is already reading into this lakehouse ({holder}): its batches "
                              "land without this run", query=query, topic=endpoint.topic, trigger=trigger,
                              skipped="stream running")
        ctx.progress(f"bronze stream: {report.message}")
        return StageResult("bronze_stream", 0, 0, round(time.perf_counter() - started, 3), report)
    try:
        tally = _drain(ctx, endpoint, trigger=trigger, max_seconds=max_seconds, interval=interval,
                       max_offsets_per_trigger=max_offsets_per_trigger, query=query, started=started)
    finally:
        if lease is not None:
            lease.release()
    report = StreamReport(query, query=query, topic=endpoint.topic, trigger=trigger, batches=tally.batches,
                          events_read=tally.events, rows_landed=tally.landed, rows_duplicate=tally.duplicate,
                          deadlettered=tally.dead, reasons=dict(sorted(tally.reasons.items())))
    return StageResult("bronze_stream", tally.events, tally.landed, round(time.perf_counter() - started, 3), report)


def _stream_lease(ctx: RunContext, query: str):
    """Locally, a lease on the query's checkpoint: a continuous `altaviz stream ingest` and the pipeline's catch-up
    never read one checkpoint at once (two writers would race on its offset log). None on OneLake."""
    if not ctx.paths.is_local:
        return None
    from altaviz.runner.lease import STREAM_LEASE_FILE, RunLease

    return RunLease(ctx.paths.root, f"streaming Bronze ({query})",  # type: ignore[attr-defined]
                    name=f"{STREAM_LEASE_FILE}.{query}" if query != QUERY else STREAM_LEASE_FILE)


def _drain(ctx: RunContext, endpoint: KafkaEndpoint, *, trigger: str, max_seconds: float | None, interval: str,
           max_offsets_per_trigger: int | None, query: str, started: float) -> _Tally:
    """Run the query (restarting it past SPARK-55271, see `_replay_progress_bug`); the counts of its batches."""
    tally = _Tally()

    def each(batch: DataFrame, batch_id: int) -> None:
        land_batch(ctx, batch, f"{ctx.clock().astimezone(UTC):%Y%m%dT%H%M%SZ}-{query}-{batch_id}", tally)

    stream = _source(ctx, endpoint, max_offsets_per_trigger)
    ctx.progress(f"bronze stream: reading {endpoint.topic} at {endpoint.bootstrap} ({trigger})")
    for attempt in range(_RESTARTS + 1):
        writer = (stream.writeStream.queryName(query).option("checkpointLocation", checkpoint_path(ctx, query))
                  .foreachBatch(each))
        writer = (writer.trigger(availableNow=True) if trigger == AVAILABLE_NOW
                  else writer.trigger(processingTime=interval))
        left = None if max_seconds is None else max(1.0, max_seconds - (time.perf_counter() - started))
        try:
            _await(ctx, writer.start(), left)
            break
        except Exception as exc:
            if attempt == _RESTARTS or not _replay_progress_bug(exc):
                raise
            ctx.progress("bronze stream: the batch a killed run left uncommitted was replayed and committed, then "
                         "Spark 4.1.1's Kafka source failed its progress report (SPARK-55271): restarting")
    return tally
