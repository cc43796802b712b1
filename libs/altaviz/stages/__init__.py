"""Pipeline stages. Each exposes `run(ctx, **params) -> StageResult`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from altaviz.reports import StageResult

__all__ = ["StageResult", "record_run"]

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from altaviz.lakehouse.paths import TableRef
    from altaviz.runtime.context import RunContext


#: A run-record table (`silver_runs`, `gold_runs`) gains one small file per run, and every run reads it for its
#: watermark: every this many runs it is compacted, so that read stays a few files however long the pipeline runs.
RUN_LOG_COMPACT_EVERY = 48


def record_run(ctx: RunContext, ref: TableRef, record: DataFrame, runs_before: int) -> None:
    """Append this run's record to `ref` (it commits the run); compact the table every `RUN_LOG_COMPACT_EVERY`.

    A column added to the run log since the table was created is added to it (older rows read it as null).
    """
    ctx.lakehouse.write(ref, record, mode="append", merge_schema=True)
    if (runs_before + 1) % RUN_LOG_COMPACT_EVERY == 0:
        ctx.lakehouse.optimize(ref)
