"""Gold: `sensor_readings_agg` (1/4/24-hour windows), the `alerts` lifecycle and fleet/station/basin health.

Incremental: each run takes the `telemetry_clean` rows Silver stored since the last Gold run (and those of held
windows let through since), recomputes only the hours they touch and the 4- and 24-hour windows those hours
feed, and MERGEs them (`gold_windows`). Alerts are evaluated once per complete hour, in time order
(`gold_alerts`); the serving tables are rebuilt from the small state (`gold_health`).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from altaviz.reports import GoldReport
from altaviz.runtime.frames import as_utc, small_frame
from altaviz.runtime.side_by_side import beside, run_side_by_side
from altaviz.schemas import SENSOR_COLUMNS, gold_runs_schema
from altaviz.stages import StageResult, gold_alerts, gold_health, record_run
from altaviz.stages.gold_windows import floor_hour, write_windows
from altaviz.stages.quality import Holds, read_holds
from altaviz.tables import GOLD_RUNS, SILVER_RUNS, TELEMETRY_CLEAN

if TYPE_CHECKING:
    from altaviz.runtime.context import RunContext
    from altaviz.transforms.alerts import Alert



@dataclass(frozen=True)
class _Runs:
    """What Gold needs of its earlier runs: how many, the Silver watermark and how far alerts were evaluated."""

    count: int = 0
    watermark: datetime | None = None
    alerts_through: datetime | None = None
    releases_through: datetime | None = None


def _previous_runs(ctx: RunContext) -> _Runs:
    """One aggregate over `gold_runs` (a row per run ever): the same cost after a year of hourly runs."""
    from pyspark.sql import functions as F

    if not ctx.lakehouse.exists(GOLD_RUNS):
        return _Runs()
    runs = ctx.lakehouse.read(GOLD_RUNS)
    # Run logs from before held windows existed have no releases_through: none was consumed then.
    released = F.max("releases_through") if "releases_through" in runs.columns else F.lit(None).cast("timestamp")
    row = runs.agg(F.count(F.lit(1)).alias("n"), F.max("silver_watermark").alias("w"),
                   F.max("alerts_through").alias("a"), released.alias("r")).collect()[0]
    return _Runs(row.n, as_utc(row.w), as_utc(row.a), as_utc(row.r))


# --- sensor_readings_agg -----------------------------------------------------------------------------------------

def _touched(ctx: RunContext, watermark: datetime | None, holds: Holds
             ) -> tuple[list[Any], dict[str, datetime], set[str]]:
    """Per compressor with new clean rows Gold may take: first/last new timestamp, newest `processed_at`,
    latest reading; per compressor the newest reading time of every new row, held ones included; and the
    Silver runs the new rows came from.

    New rows are those Silver stored after the watermark and those of windows let through since the last
    run; rows of held windows are left out of everything but when each unit was last heard from.
    """
    from pyspark.sql import functions as F

    clean = ctx.lakehouse.read(TELEMETRY_CLEAN)
    new = clean.where((F.col("processed_at") > F.lit(watermark)) | holds.is_released()) if watermark else clean
    taken = ~holds.is_held()
    latest = F.struct(*[F.col(s) for s in SENSOR_COLUMNS], "model", "station_id", "basin")
    stamp = F.when(taken, F.col("timestamp"))
    rows = (new.groupBy("compressor_id")
            .agg(F.min(stamp).alias("lo"), F.max(stamp).alias("hi"), F.max("processed_at").alias("processed"),
                 F.count_if(taken).alias("n"), F.max_by(latest, stamp).alias("latest"),
                 F.max("timestamp").alias("heard"), F.collect_set("silver_run_id").alias("runs"))
            .collect())
    return ([r for r in rows if r.n > 0], {r.compressor_id: as_utc(r.heard) for r in rows},
            {run for r in rows for run in r.runs})


def _uncommitted(ctx: RunContext, runs: set[str]) -> tuple[str, ...]:
    """Of `runs`, those with no `silver_runs` record: interrupted after their MERGE, their rows unjudged (the
    next Silver run re-labels and adopts them)."""
    from pyspark.sql import functions as F

    if not runs:
        return ()
    recorded = ({r.run_id for r in ctx.lakehouse.read(SILVER_RUNS).where(F.col("run_id").isin(sorted(runs)))
                 .select("run_id").collect()} if ctx.lakehouse.exists(SILVER_RUNS) else set())
    return tuple(sorted(runs - recorded))


def _takeable(ctx: RunContext, watermark: datetime | None, holds: Holds
              ) -> tuple[list[Any], dict[str, datetime], Holds]:
    """`_touched`, leaving out the rows of interrupted Silver runs as if held (rare: a second pass then)."""
    touched, heard, runs = _touched(ctx, watermark, holds)
    interrupted = _uncommitted(ctx, runs)
    if not interrupted:
        return touched, heard, holds
    ctx.progress(f"gold: leaving out the rows of {len(interrupted)} interrupted Silver run(s): {', '.join(interrupted)}")
    holds = dataclasses.replace(holds, held=(*holds.held, *interrupted))
    touched, heard, _ = _touched(ctx, watermark, holds)
    return touched, heard, holds


def _attention(fleet: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Units in warning or critical, worst first: status, unit, basin and the sensors out of normal."""
    rank = gold_health.SEVERITY_RANK
    rows = sorted((r for r in fleet if r["status"] in ("warning", "critical")),
                  key=lambda r: (-rank[r["status"]], r["compressor_id"]))
    return [{"status": r["status"], "compressor_id": r["compressor_id"], "basin": r["basin"],
             "sensors": [s for s in SENSOR_COLUMNS if r[f"{s}_status"] in ("warning", "critical")]} for r in rows]


def _details(run_id: str, as_of: datetime, clean_rows: int, agg_rows: int, fleet: list[dict[str, Any]],
             active: list[Alert], advanced: gold_alerts.Advanced) -> GoldReport:
    """What the run reports (CLI, notebook exit value, monitoring): counts, units by status, the alerts."""
    known = {a.alert_id for a in active}
    since = advanced.first_hour or floor_hour(as_of)
    return GoldReport(
        run_id, as_of=as_of.isoformat(), clean_rows=clean_rows, agg_rows=agg_rows,
        alerts_changed=len(advanced.changed), alerts_opened=advanced.opened,
        units_by_status={s: sum(1 for r in fleet if r["status"] == s) for s in gold_health.SEVERITY_RANK},
        units_stale=sum(1 for r in fleet if r["data_status"] == "stale"), attention=_attention(fleet),
        # What monitoring reports: every alert this run opened or changed, and whether it is new.
        alerts=[{"alert_id": a.alert_id, "compressor_id": a.compressor_id, "basin": a.basin,
                 "alert_type": a.alert_type, "sensor": a.sensor, "severity": a.severity,
                 "status": a.status, "value": a.peak_value, "opened_at": a.opened_at.isoformat(),
                 "new": a.alert_id not in known,
                 "newly_critical": a.severity == "critical" and (a.alert_id not in known or (
                     a.escalated_at is not None and a.escalated_at >= since))}
                for a in advanced.changed])


def _last_seen(state: gold_health.State, heard: dict[str, datetime]) -> dict[str, datetime]:
    """Each unit's newest reading: as Gold's state had it, or newer from this run (held readings included)."""
    seen = {unit: as_utc(r["last_reading_at"]) for unit, r in state.units_before.items() if r["last_reading_at"]}
    for unit, hi in heard.items():
        if seen.get(unit) is None or hi > seen[unit]:
            seen[unit] = hi
    return seen


def run(ctx: RunContext, *, as_of: datetime | None = None) -> StageResult:
    """Aggregate new Silver rows into windows, advance the alert lifecycle to `as_of`, rebuild health tables."""
    started = time.perf_counter()
    as_of = (as_of or ctx.clock()).astimezone(UTC)
    run_id = f"{ctx.clock().astimezone(UTC):%Y%m%dT%H%M%SZ}-{ctx.run_id}"
    thresholds = ctx.thresholds
    if not ctx.lakehouse.exists(TELEMETRY_CLEAN):
        return StageResult("gold", 0, 0, round(time.perf_counter() - started, 3),
                           GoldReport(run_id, "no Silver table yet: nothing to aggregate", as_of=as_of.isoformat()))
    previous = _previous_runs(ctx)
    holds = read_holds(ctx, previous.releases_through)
    touched, heard, holds = _takeable(ctx, previous.watermark, holds)
    clean_rows = sum(r.n for r in touched)
    ctx.progress(f"gold: {clean_rows:,} new clean reading(s) from {len(touched):,} compressor(s)")
    agg_rows, latest_status = 0, {}
    # The small tables read below do not depend on the windows: their reads overlap the windows' MERGEs.
    read_state = beside(functools.partial(gold_health.read_state, ctx), parallel=ctx.lakehouse.backend.side_by_side)
    if touched:
        agg_rows, latest_status = write_windows(
            ctx, touched, thresholds, held=holds.is_held() if holds.held else None,
            check_layout=previous.count % ctx.settings.gold.optimize_check_every_runs == 0)
    state = read_state()
    advanced = gold_alerts.advance(
        ctx, active=state.active, alerts_through=previous.alerts_through,
        first_new=min((as_utc(r.lo) for r in touched), default=None), as_of=as_of,
        last_seen=_last_seen(state, heard), thresholds=thresholds,
        units={r.compressor_id: (r.latest["model"], r.latest["station_id"], r.latest["basin"]) for r in touched})
    fleet = gold_health.fleet_health(
        units=state.units, previous=state.units_before, stations=state.stations,
        newest={r.compressor_id: gold_health.Newest(as_utc(r.hi), r.latest.asDict()) for r in touched},
        latest_status=latest_status, open_counts=gold_alerts.open_counts(state.active, advanced.changed),
        as_of=as_of, stale_after=timedelta(hours=ctx.settings.gold.stale_after_hours))
    writes = gold_health.serving_writes(ctx, fleet, state.stations)
    merge_alerts = gold_alerts.merge_call(ctx, advanced.changed)
    # The alerts MERGE and the health overwrites are independent; the run record is written after them all.
    run_side_by_side([*writes, *([merge_alerts] if merge_alerts else [])], parallel=ctx.lakehouse.backend.side_by_side)
    _record(ctx, previous, holds, run_id=run_id, as_of=as_of, touched=touched, clean_rows=clean_rows,
            agg_rows=agg_rows, advanced=advanced)
    return StageResult("gold", clean_rows, agg_rows, round(time.perf_counter() - started, 3),
                       _details(run_id, as_of, clean_rows, agg_rows, fleet, state.active, advanced))


def _record(ctx: RunContext, previous: _Runs, holds: Holds, *, run_id: str, as_of: datetime, touched: list[Any],
            clean_rows: int, agg_rows: int, advanced: gold_alerts.Advanced) -> None:
    """Append the run's record (it commits the run): watermarks, how far alerts went, what it wrote."""

    def newest(*values: datetime | None) -> datetime | None:
        return max((v for v in values if v is not None), default=None)

    evaluate_to = floor_hour(as_of)
    through = (max(evaluate_to, previous.alerts_through) if previous.alerts_through
               else (evaluate_to if advanced.first_hour else None))
    record_run(ctx, GOLD_RUNS, small_frame(ctx.spark, [{
        "run_id": run_id, "as_of": as_of,
        "silver_watermark": newest(previous.watermark, *(as_utc(r.processed) for r in touched)),
        "alerts_through": through,
        "releases_through": newest(previous.releases_through, *(r.resolved_at for r in holds.released)),
        "clean_rows_read": clean_rows, "agg_rows": agg_rows, "alerts_changed": len(advanced.changed),
        "alerts_opened": advanced.opened, "finished_at": ctx.clock().astimezone(UTC)}], gold_runs_schema()),
        previous.count)
