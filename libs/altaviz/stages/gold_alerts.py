"""Gold's alerts: the lifecycle advanced through every complete hour not evaluated yet, MERGEd into `alerts`.

Threshold alerts follow the 1-hour windows' statuses (open, escalate, resolve); data-freshness alerts follow
silences. Only the units worth walking (a breach in the hours evaluated, or an open alert) come to the driver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from altaviz.runtime.frames import as_utc, small_frame
from altaviz.schemas import alerts_schema
from altaviz.stages.gold_windows import HOUR, floor_hour
from altaviz.tables import ALERTS, SENSOR_READINGS_AGG

if TYPE_CHECKING:
    import pyarrow as pa

    from altaviz.runtime.context import RunContext
    from altaviz.thresholds import Thresholds
    from altaviz.transforms.alerts import Alert, AlertPolicy



def policy_from(ctx: RunContext) -> AlertPolicy:
    """Lifecycle timings from `config/pipeline.yaml` `gold:`."""
    from altaviz.transforms.alerts import AlertPolicy

    g = ctx.settings.gold
    return AlertPolicy(escalate_after=timedelta(hours=g.escalate_after_hours),
                       resolve_after=timedelta(hours=g.resolve_after_hours),
                       stale_after=timedelta(hours=g.stale_after_hours),
                       close_after=timedelta(days=g.close_after_days))


def active_alerts(ctx: RunContext) -> list[Alert]:
    from pyspark.sql import functions as F

    from altaviz.transforms.alerts import PREDICTIVE

    if not ctx.lakehouse.exists(ALERTS):
        return []
    # Predictive alerts have their own lifecycle (altaviz.ml.alerts): Gold's threshold rules never touch them.
    return read_alerts(ctx, (F.col("status") == "open") & (F.col("alert_type") != PREDICTIVE))


def read_alerts(ctx: RunContext, where: Any) -> list[Alert]:
    """Alerts matching a Spark condition, as `Alert`s (columns added since a table was created read as None)."""
    from altaviz.transforms.alerts import ALERT_COLUMNS, Alert

    rows = ctx.lakehouse.read(ALERTS).where(where).toArrow().to_pylist()
    return [Alert(**{c: (as_utc(r.get(c)) if isinstance(r.get(c), datetime) else r.get(c)) for c in ALERT_COLUMNS})
            for r in rows]


def _hour_rows(ctx: RunContext, start: datetime, end: datetime, units_with_alerts: set[str],
               thresholds: Thresholds) -> tuple[list[Any], list[Any]]:
    """1-hour statuses to walk (units with a breach in [start, end) or an open alert) and the silences.

    One query over the 1-hour windows of `[start - stale_after - 1 h, end)`: per row, whether its unit breaches
    in the range (a window over the unit) and the previous hour's last reading; only the rows to walk and the
    hours that end a silence come back.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from altaviz.transforms.alerts import Gap, HourStatus

    stale = ctx.settings.gold.stale_after_hours
    lookback = start - timedelta(hours=stale) - HOUR
    hourly = (ctx.lakehouse.read(SENSOR_READINGS_AGG)
              .where(F.col("date").between(F.lit(lookback.date()), F.lit(end.date())))
              .where((F.col("window_type") == "1hr") & (F.col("agg_timestamp") >= F.lit(lookback))
                     & (F.col("agg_timestamp") < F.lit(end))))
    sensors = thresholds.alerting_sensors
    in_range = F.col("agg_timestamp") >= F.lit(start)
    breach = F.greatest(*[F.coalesce((F.col(f"{s}_status") != "normal").cast("int"), F.lit(0)) for s in sensors])
    unit = Window.partitionBy("compressor_id")
    alerted = small_frame(ctx.spark, [{"compressor_id": u, "_alerted": True} for u in sorted(units_with_alerts)],
                          "compressor_id string, _alerted boolean")
    # A silence is a gap of at least `stale_after` between one hour's last reading and the next hour's first.
    marked = (hourly.join(F.broadcast(alerted), "compressor_id", "left")
              .select("*", F.max(F.when(in_range, breach).otherwise(0)).over(unit).alias("_breaching"),
                      F.lag("last_reading_at").over(unit.orderBy("agg_timestamp")).alias("_prev"))
              .where(in_range)
              .select("*", ((F.col("_breaching") > 0) | F.col("_alerted").isNotNull()).alias("_walk"),
                      (F.col("_prev").isNotNull() & (F.col("first_reading_at") >= F.col("_prev")
                                                     + F.make_dt_interval(secs=F.lit(stale * 3600.0)))).alias("_gap")))
    rows = (marked.where(F.col("_walk") | F.col("_gap"))
            .select("compressor_id", "agg_timestamp", "first_reading_at", "last_reading_at", "model", "station_id",
                    "basin", *[F.col(f"{s}_status") for s in sensors], *[F.col(f"{s}_mean") for s in sensors],
                    "_prev", "_walk", "_gap")
            .toArrow().to_pylist())
    hours = [HourStatus(compressor_id=r["compressor_id"], hour=r["agg_timestamp"], first_ts=r["first_reading_at"],
                        last_ts=r["last_reading_at"], model=r["model"], station_id=r["station_id"], basin=r["basin"],
                        sensors={s: (r[f"{s}_status"], r[f"{s}_mean"]) for s in sensors}) for r in rows if r["_walk"]]
    gaps = [Gap(r["compressor_id"], as_utc(r["_prev"]), as_utc(r["first_reading_at"])) for r in rows if r["_gap"]]
    return hours, gaps


def alert_table(alerts: list[Alert]) -> pa.Table:
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(alerts_schema())
    rows = [{**a.as_row(), "date": a.opened_at.date()} for a in alerts]
    return pa.Table.from_pylist(rows, schema=pa.schema([f.with_nullable(True) for f in schema]))


@dataclass(frozen=True)
class Advanced:
    """The lifecycle after a run: every alert new or changed, how many are new, and the first hour walked."""

    changed: list[Alert]
    opened: int
    first_hour: datetime | None


def advance(ctx: RunContext, *, active: list[Alert], alerts_through: datetime | None, first_new: datetime | None,
            as_of: datetime, last_seen: dict[str, datetime], units: dict[str, tuple[Any, Any, Any]],
            thresholds: Thresholds) -> Advanced:
    """Walk every complete hour from `alerts_through` (or the first new reading's hour) to `as_of`'s hour.

    Args:
        ctx: the run.
        active: the open alerts as stored.
        alerts_through: the hour earlier runs evaluated alerts up to (None: never evaluated).
        first_new: the oldest new reading this run took (where a first evaluation starts).
        as_of: the time the run evaluates to.
        last_seen: each unit's newest reading (freshness).
        units: model, station and basin per unit with new readings.
        thresholds: sensor thresholds.
    """
    from altaviz.transforms.alerts import evaluate_alerts

    evaluate_to = floor_hour(as_of)
    first_hour = alerts_through or (floor_hour(first_new) if first_new else None)
    hours, gaps = [], []
    if first_hour is not None and first_hour < evaluate_to:
        ctx.progress(f"gold: evaluating alerts for {first_hour:%Y-%m-%d %H:%M} .. {evaluate_to:%Y-%m-%d %H:%M} UTC")
        hours, gaps = _hour_rows(ctx, first_hour, evaluate_to, {a.compressor_id for a in active}, thresholds)
    changed = evaluate_alerts(active=active, hours=hours, gaps=gaps, last_seen=last_seen, thresholds=thresholds,
                              policy=policy_from(ctx), as_of=as_of, units=units)
    known = {a.alert_id for a in active}
    return Advanced(changed, sum(1 for a in changed if a.alert_id not in known), first_hour)


def merge_call(ctx: RunContext, changed: list[Alert]) -> Callable[[], Any] | None:
    """The MERGE of the changed alerts, as a call (None when nothing changed and the table exists)."""
    if not changed and ctx.lakehouse.exists(ALERTS):
        return None
    ctx.progress(f"gold: {len(changed):,} alert(s) opened or changed")  # the table exists (empty) before any alert
    return (ctx.lakehouse.merge(ALERTS, alert_table(changed), on=ALERTS.merge_keys, partition_by=ALERTS.partition_by)
            .with_schema_evolution().when_matched_update_all().when_not_matched_insert_all().execute)


def open_counts(active: list[Alert], changed: list[Alert]) -> dict[tuple[str, str], int]:
    """Open alerts after this run per (unit, warning | critical | freshness): the open ones it read, as changed."""
    after = {a.alert_id: a for a in active} | {a.alert_id: a for a in changed}
    counts: dict[tuple[str, str], int] = {}
    for a in after.values():
        if a.status == "open":
            key = (a.compressor_id, "freshness" if a.alert_type == "data_freshness" else a.severity)
            counts[key] = counts.get(key, 0) + 1
    return counts


def list_alerts(ctx: RunContext, *, status: str | None = "open", limit: int = 50) -> list[dict[str, Any]]:
    """Alerts, newest first (optionally only one status), as dicts."""
    from pyspark.sql import functions as F

    if not ctx.lakehouse.exists(ALERTS):
        return []
    alerts = ctx.lakehouse.read(ALERTS)
    if status:
        alerts = alerts.where(F.col("status") == status)
    return alerts.orderBy(F.col("opened_at").desc(), "alert_id").limit(limit).toArrow().to_pylist()


def acknowledge(ctx: RunContext, alert_id: str, *, by: str, at: datetime | None = None) -> dict[str, Any]:
    """Mark an open alert acknowledged (it then never escalates by time). Returns the updated row.

    Raises:
        UsageError: no alert has that id, or it is no longer open.
    """
    import pyarrow as pa
    from pyspark.sql import functions as F

    from altaviz.errors import UsageError

    matching = (ctx.lakehouse.read(ALERTS).where(F.col("alert_id") == alert_id).toArrow()
                if ctx.lakehouse.exists(ALERTS) else None)
    found = matching.to_pylist() if matching is not None else []
    if not found:
        raise UsageError(f"no alert with id {alert_id!r} (list them with `altaviz alerts list`)")
    row = found[0]
    if row["status"] != "open":
        raise UsageError(f"alert {alert_id} is {row['status']}, not open: nothing to acknowledge")
    if row["acknowledged"]:
        return row
    row.update(acknowledged=True, acknowledged_at=(at or ctx.clock()).astimezone(UTC), acknowledged_by=by)
    table = pa.Table.from_pylist([row], schema=matching.schema)
    ctx.lakehouse.merge(ALERTS, table, on=ALERTS.merge_keys, partition_by=ALERTS.partition_by).when_matched_update_all().execute()
    return row
