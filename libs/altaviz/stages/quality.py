"""The quality gate that holds: a Silver window failing a `block` check stays out of Gold until it passes.

A held window's rows are stored in `telemetry_clean` like any other (Silver's later tests compare with them),
and `silver_holds` records why. Gold leaves out the rows of every held run; each Silver run re-evaluates the
open holds against what is stored by then (late readings may have completed the fleet), and an operator may
release one (`altaviz quality release`). Either way Gold takes the window's rows on its next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from altaviz.errors import UsageError
from altaviz.runtime.frames import as_utc, small_frame
from altaviz.tables import QUALITY_CHECKS, SILVER_HOLDS, TELEMETRY_CLEAN

if TYPE_CHECKING:
    from pyspark.sql import Column

    from altaviz.quality import CheckResult, QualityConfig, QualityInputs
    from altaviz.runtime.context import RunContext

HELD, PASSED, RELEASED = "held", "passed", "released"


@dataclass(frozen=True)
class Release:
    """A window Gold may now take: its run, the dates its clean rows are in, and when it was let through."""

    silver_run_id: str
    first_date: date | None
    last_date: date | None
    resolved_at: datetime


@dataclass(frozen=True)
class Holds:
    """What Gold needs of `silver_holds`: the runs still held, and the windows let through since `after`."""

    held: tuple[str, ...] = ()
    released: tuple[Release, ...] = ()

    def is_held(self) -> Column:
        """True for the rows of a held run (a literal false when nothing is held)."""
        from pyspark.sql import functions as F

        return F.col("silver_run_id").isin(list(self.held)) if self.held else F.lit(False)

    def is_released(self) -> Column:
        """True for the rows of a window let through since Gold's last run (pruned by their dates)."""
        from pyspark.sql import functions as F

        condition = F.lit(False)
        for r in self.released:
            dates = F.col("date").between(F.lit(r.first_date), F.lit(r.last_date)) if r.first_date else F.lit(True)
            condition = condition | (dates & (F.col("silver_run_id") == F.lit(r.silver_run_id)))
        return condition


def read_holds(ctx: RunContext, released_after: datetime | None) -> Holds:
    """The held runs, and the windows that passed or were released after `released_after` (all when None)."""
    if not ctx.lakehouse.exists(SILVER_HOLDS):
        return Holds()
    rows = ctx.lakehouse.read(SILVER_HOLDS).toArrow().to_pylist()
    released = [Release(r["silver_run_id"], r["first_date"], r["last_date"], as_utc(r["resolved_at"]))
                for r in rows if r["status"] != HELD and r["resolved_at"] is not None
                and (released_after is None or as_utc(r["resolved_at"]) > released_after)]
    return Holds(tuple(sorted(r["silver_run_id"] for r in rows if r["status"] == HELD)),
                 tuple(sorted(released, key=lambda r: r.resolved_at)))


def _upsert(ctx: RunContext, rows: list[dict[str, Any]]) -> None:
    (ctx.lakehouse.merge(SILVER_HOLDS, small_frame(ctx.spark, rows, SILVER_HOLDS.columns()), on=SILVER_HOLDS.merge_keys)
     .when_matched_update_all().when_not_matched_insert_all().execute())


def reason_of(failed: list[CheckResult]) -> str:
    """One line naming each failed block check and how it failed."""
    return "; ".join(f"{r.name}: {r.message}" for r in failed)


def hold(ctx: RunContext, *, run_id: str, inputs: QualityInputs, failed: list[CheckResult], held_at: datetime,
         dates: list[date]) -> None:
    """Record that run `run_id`'s window is held (its clean rows stay out of Gold), with the counts it had."""
    _upsert(ctx, [{
        "silver_run_id": run_id, "status": HELD, "reason": reason_of(failed), "held_at": held_at,
        "as_of": inputs.as_of, "first_date": min(dates, default=None), "last_date": max(dates, default=None),
        "raw_rows": inputs.raw_rows, "clean_rows": inputs.clean_rows, "rejected_rows": inputs.rejected_rows,
        "duplicate_rows": inputs.duplicate_rows, "expected_units": inputs.expected_units,
        "trailing_clean": list(inputs.trailing_clean_counts), "resolved_at": None, "resolved_by": None,
        "resolution": None}])


def gate(ctx: RunContext, config: QualityConfig, inputs: QualityInputs, *, run_id: str, at: datetime,
         dates: list[date]) -> tuple[list[CheckResult], list[CheckResult], list[dict[str, Any]]]:
    """Judge a Silver run's window: store its check results, re-evaluate the windows held before (this run may
    have brought their late rows), and hold this one when a `block` check failed.

    Returns:
        The run's results, the failed block checks among them, and the re-evaluations (see `reevaluate`).
    """
    from altaviz.quality import evaluate, failed_blocks, results_frame

    results = evaluate(inputs, config)
    ctx.lakehouse.write(QUALITY_CHECKS, results_frame(ctx.spark, results, run_id=run_id, checked_at=at),
                        mode="append", partition_by=QUALITY_CHECKS.partition_by)
    reevaluated = reevaluate(ctx, config, run_id=run_id, at=at)
    blocked = failed_blocks(results)
    if blocked:
        hold(ctx, run_id=run_id, inputs=inputs, failed=blocked, held_at=at, dates=dates)
        ctx.progress(f"silver: window {run_id} HELD out of Gold ({reason_of(blocked)}); a later run that passes "
                     f"it, or `altaviz quality release {run_id}`, lets it through")
    return results, blocked, reevaluated


def _inputs_of(ctx: RunContext, row: dict[str, Any]) -> QualityInputs:
    """The held window's checks' inputs again: its counts, its stored clean rows and the fleet as stored now."""
    from pyspark.sql import functions as F

    from altaviz.quality import QualityInputs

    stored = ctx.lakehouse.read(TELEMETRY_CLEAN)
    own = stored.where(F.col("silver_run_id") == F.lit(row["silver_run_id"]))
    if row["first_date"] is not None:
        own = own.where(F.col("date").between(F.lit(row["first_date"]), F.lit(row["last_date"])))
    return QualityInputs(clean=own, raw_rows=row["raw_rows"], clean_rows=row["clean_rows"],
                         rejected_rows=row["rejected_rows"], duplicate_rows=row["duplicate_rows"],
                         expected_units=row["expected_units"], as_of=as_utc(row["as_of"]),
                         trailing_clean_counts=tuple(row["trailing_clean"] or ()), fleet=stored)


def reevaluate(ctx: RunContext, config: QualityConfig, *, run_id: str, at: datetime) -> list[dict[str, Any]]:
    """Evaluate every held window's checks again on what is stored now; a window whose block checks all pass
    is let through (`passed`). The new results are appended to `quality_checks` under the held run's id.

    Returns:
        Per held window: its run id, whether it passed now and why it is still held.
    """
    from altaviz.quality import evaluate, failed_blocks, results_frame

    outcomes, passed_rows = [], []
    for row in list_holds(ctx):
        held_id = row["silver_run_id"]
        results = evaluate(_inputs_of(ctx, row), config)
        ctx.lakehouse.write(QUALITY_CHECKS, results_frame(ctx.spark, results, run_id=held_id, checked_at=at),
                            mode="append", partition_by=QUALITY_CHECKS.partition_by)
        failed = failed_blocks(results)
        outcomes.append({"silver_run_id": held_id, "passed": not failed, "reason": reason_of(failed)})
        if not failed:
            passed_rows.append({**row, "status": PASSED, "resolved_at": at, "resolved_by": f"silver run {run_id}",
                                "resolution": "re-evaluated: every block check passes"})
        ctx.progress(f"silver: held window {held_id} re-evaluated: "
                     + ("it passes, Gold takes its rows next" if not failed else f"still held ({reason_of(failed)})"))
    if passed_rows:
        _upsert(ctx, passed_rows)
    return outcomes


def release(ctx: RunContext, silver_run_id: str, *, by: str, note: str = "", at: datetime | None = None
            ) -> dict[str, Any]:
    """Let a held window through: Gold takes its clean rows on its next run. Returns the updated hold.

    Raises:
        UsageError: no window of that run was held, or it is no longer held.
    """
    from pyspark.sql import functions as F

    found = (ctx.lakehouse.read(SILVER_HOLDS).where(F.col("silver_run_id") == F.lit(silver_run_id))
             .toArrow().to_pylist() if ctx.lakehouse.exists(SILVER_HOLDS) else [])
    if not found:
        raise UsageError(f"no held window for Silver run {silver_run_id!r} (list them with `altaviz quality holds`)")
    row = found[0]
    if row["status"] != HELD:
        raise UsageError(f"the window of Silver run {silver_run_id} is already {row['status']} "
                         f"({row['resolution']}): nothing to release")
    when = (at or ctx.clock()).astimezone(UTC)
    row.update(status=RELEASED, resolved_at=when, resolved_by=by,
               resolution=f"released by an operator{': ' + note if note else ''}")
    _upsert(ctx, [row])
    return row


def list_holds(ctx: RunContext, *, status: str | None = HELD) -> list[dict[str, Any]]:
    """Held windows (or every hold with `status=None`), newest first."""
    from pyspark.sql import functions as F

    if not ctx.lakehouse.exists(SILVER_HOLDS):
        return []
    holds = ctx.lakehouse.read(SILVER_HOLDS)
    if status:
        holds = holds.where(F.col("status") == status)
    return holds.orderBy(F.col("held_at").desc()).toArrow().to_pylist()

