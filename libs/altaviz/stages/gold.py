"""Gold: `sensor_readings_agg` (1/4/24-hour windows), the `alerts` lifecycle and fleet/station/basin health.

Incremental: each run takes the `telemetry_clean` rows Silver stored since the last Gold run, recomputes
only the hours they touch and the 4- and 24-hour windows those hours feed, and MERGEs them. Alerts are
evaluated once per complete hour, in time order; serving tables are rebuilt from the small state.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from altaviz.lakehouse.paths import TableRef
from altaviz.runtime.frames import as_utc, small_frame
from altaviz.runtime.side_by_side import beside, run_side_by_side
from altaviz.schemas import (
    SENSOR_COLUMNS,
    alerts_schema,
    fleet_health_schema,
    gold_runs_schema,
)
from altaviz.stages import StageResult, record_run
from altaviz.stages.gold_windows import HOUR, SENSOR_READINGS_AGG, floor_hour, write_windows
from altaviz.stages.quality import Holds, read_holds
from altaviz.stages.silver import DIM_COMPRESSOR, DIM_STATION, TELEMETRY_CLEAN

if TYPE_CHECKING:
    import pyarrow as pa

    from altaviz.runtime.context import RunContext
    from altaviz.thresholds import Thresholds
    from altaviz.transforms.alerts import Alert, AlertPolicy

ALERTS = TableRef("lh_gold_curated", "alerts")
FLEET_HEALTH = TableRef("lh_gold_curated", "fleet_health")
STATION_HEALTH = TableRef("lh_gold_curated", "station_health")
BASIN_HEALTH = TableRef("lh_gold_curated", "basin_health")
GOLD_RUNS = TableRef("lh_gold_curated", "gold_runs")
SEVERITY_RANK = {"normal": 0, "warning": 1, "critical": 2}


def policy_from(ctx: RunContext) -> AlertPolicy:
    """Lifecycle timings from `config/pipeline.yaml` `gold:`."""
    from altaviz.transforms.alerts import AlertPolicy

    g = ctx.settings.gold
    return AlertPolicy(escalate_after=timedelta(hours=g.escalate_after_hours),
                       resolve_after=timedelta(hours=g.resolve_after_hours),
                       stale_after=timedelta(hours=g.stale_after_hours),
                       close_after=timedelta(days=g.close_after_days))


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

def _touched(ctx: RunContext, watermark: datetime | None, holds: Holds) -> tuple[list[Any], dict[str, datetime]]:
    """Per compressor with new clean rows Gold may take: first/last new timestamp, newest `processed_at`,
    latest reading; and per compressor the newest reading time of every new row, held ones included.

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
                 F.max("timestamp").alias("heard"))
            .collect())
    return [r for r in rows if r.n > 0], {r.compressor_id: as_utc(r.heard) for r in rows}


# --- alerts ------------------------------------------------------------------------------------------------------

def _active_alerts(ctx: RunContext) -> list[Alert]:
    from pyspark.sql import functions as F

    from altaviz.transforms.alerts import ALERT_COLUMNS, Alert

    if not ctx.lakehouse.exists(ALERTS):
        return []
    rows = ctx.lakehouse.read(ALERTS).where(F.col("status") == "open").toArrow().to_pylist()
    return [Alert(**{c: (as_utc(r[c]) if isinstance(r[c], datetime) else r[c]) for c in ALERT_COLUMNS}) for r in rows]


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


def _alert_table(alerts: list[Alert]) -> pa.Table:
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(alerts_schema())
    rows = [{**a.as_row(), "date": a.opened_at.date()} for a in alerts]
    return pa.Table.from_pylist(rows, schema=pa.schema([f.with_nullable(True) for f in schema]))


# --- serving tables ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _State:
    """What Gold reads of its small tables before advancing them: open alerts, fleet health, dimensions."""

    active: list[Alert]
    fleet_before: dict[str, dict[str, Any]]
    stations: dict[str, dict[str, Any]]
    units: dict[str, dict[str, Any]]


def _read_state(ctx: RunContext) -> _State:
    """The small tables the alert lifecycle and the serving tables start from (none is written by the windows)."""
    return _State(active=_active_alerts(ctx), fleet_before=_rows_by(ctx, FLEET_HEALTH, "compressor_id"),
                  stations=_rows_by(ctx, DIM_STATION, "station_id"), units=_rows_by(ctx, DIM_COMPRESSOR, "compressor_id"))


def _rows_by(ctx: RunContext, ref: TableRef, key: str) -> dict[str, dict[str, Any]]:
    """A small table (dimension, serving table) as {key: row}; empty when the table does not exist yet."""
    if not ctx.lakehouse.exists(ref):
        return {}
    return {r[key]: r for r in ctx.lakehouse.read(ref).toArrow().to_pylist()}


def _open_counts(active: list[Alert], changed: list[Alert]) -> dict[tuple[str, str], int]:
    """Open alerts after this run per (unit, warning | critical | freshness): the open ones it read, as changed."""
    after = {a.alert_id: a for a in active} | {a.alert_id: a for a in changed}
    counts: dict[tuple[str, str], int] = {}
    for a in after.values():
        if a.status == "open":
            key = (a.compressor_id, "freshness" if a.alert_type == "data_freshness" else a.severity)
            counts[key] = counts.get(key, 0) + 1
    return counts


def _fleet_health(ctx: RunContext, touched: list[Any], latest_status: dict[str, dict[str, str | None]],
                  as_of: datetime, state: _State, open_counts: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """One row per compressor: the newest reading and its hour's statuses, open alerts, location."""
    units, previous, stations = state.units, state.fleet_before, state.stations
    newest = {r.compressor_id: r for r in touched}
    stale_after = timedelta(hours=ctx.settings.gold.stale_after_hours)
    rows = []
    for unit in sorted(set(units) | set(previous) | set(newest)):
        dim, before, new = units.get(unit, {}), previous.get(unit, {}), newest.get(unit)
        last = as_utc(before.get("last_reading_at"))
        values = {s: before.get(s) for s in SENSOR_COLUMNS}
        statuses = {s: before.get(f"{s}_status") for s in SENSOR_COLUMNS}
        if new is not None and (last is None or as_utc(new.hi) >= last):
            last = as_utc(new.hi)
            values = {s: new.latest[s] for s in SENSOR_COLUMNS}
        if unit in latest_status:
            statuses = latest_status[unit]
        station_id = dim.get("station_id") or before.get("station_id") or (new.latest["station_id"] if new else None)
        station = stations.get(station_id, {})
        worst = max((st for st in statuses.values() if st), key=SEVERITY_RANK.__getitem__, default="normal")
        data_status = ("never_reported" if last is None
                       else "stale" if as_of - last >= stale_after else "reporting")
        rows.append({
            "compressor_id": unit, "model": dim.get("model") or before.get("model"), "station_id": station_id,
            "station_name": station.get("station_name"), "basin": dim.get("basin") or before.get("basin"),
            "latitude": dim.get("latitude", before.get("latitude")),
            "longitude": dim.get("longitude", before.get("longitude")),
            "last_reading_at": last,
            "minutes_since_last_reading": None if last is None else round((as_of - last).total_seconds() / 60, 1),
            **values, **{f"{s}_status": statuses.get(s) for s in SENSOR_COLUMNS},
            "status": worst, "data_status": data_status,
            "open_warning_alerts": open_counts.get((unit, "warning"), 0),
            "open_critical_alerts": open_counts.get((unit, "critical"), 0),
            "open_freshness_alerts": open_counts.get((unit, "freshness"), 0),
            "as_of": as_of, "as_of_date": as_of.date()})
    return rows


def _rollup(rows: list[dict[str, Any]], key: str, extra: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Station or basin health from fleet_health rows: unit counts by status, open alerts, worst status."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r[key] is not None:
            groups.setdefault(r[key], []).append(r)
    out = []
    for name, members in sorted(groups.items()):
        count = {s: sum(1 for m in members if m["status"] == s) for s in SEVERITY_RANK}
        out.append({key: name, **extra.get(name, {}), "compressors": len(members),
                    "units_normal": count["normal"], "units_warning": count["warning"],
                    "units_critical": count["critical"],
                    "units_stale": sum(1 for m in members if m["data_status"] != "reporting"),
                    "open_warning_alerts": sum(m["open_warning_alerts"] for m in members),
                    "open_critical_alerts": sum(m["open_critical_alerts"] for m in members),
                    "worst_status": max((m["status"] for m in members), key=SEVERITY_RANK.__getitem__),
                    "as_of": members[0]["as_of"]})
    return out


def _serving_writes(ctx: RunContext, fleet: list[dict[str, Any]], stations: dict[str, dict[str, Any]]
                    ) -> list[Callable[[], Any]]:
    """The overwrites of fleet, station and basin health, as calls (they are independent of each other)."""
    where = {sid: {k: r[k] for k in ("station_name", "basin", "latitude", "longitude")} for sid, r in stations.items()}
    station_rows = [{"station_name": None, "basin": None, "latitude": None, "longitude": None, **r}
                    for r in _rollup(fleet, "station_id", where)]
    common = ("compressors long, units_normal long, units_warning long, units_critical long, units_stale long, "
              "open_warning_alerts long, open_critical_alerts long, worst_status string, as_of timestamp")
    tables = [(FLEET_HEALTH, fleet, fleet_health_schema()),
              (STATION_HEALTH, station_rows,
               f"station_id string, station_name string, basin string, latitude double, longitude double, {common}"),
              (BASIN_HEALTH, _rollup(fleet, "basin", {}), f"basin string, {common}")]
    return [functools.partial(ctx.lakehouse.write, ref, small_frame(ctx.spark, rows, schema), mode="overwrite",
                              merge_schema=True) for ref, rows, schema in tables]


# --- the stage ---------------------------------------------------------------------------------------------------

def run(ctx: RunContext, *, as_of: datetime | None = None) -> StageResult:
    """Aggregate new Silver rows into windows, advance the alert lifecycle to `as_of`, rebuild health tables."""
    from altaviz.thresholds import load_thresholds
    from altaviz.transforms.alerts import evaluate_alerts

    started = time.perf_counter()
    as_of = (as_of or ctx.clock()).astimezone(UTC)
    run_id = f"{ctx.clock().astimezone(UTC):%Y%m%dT%H%M%SZ}-{ctx.run_id}"
    thresholds = load_thresholds()
    if not ctx.lakehouse.exists(TELEMETRY_CLEAN):
        return StageResult("gold", 0, 0, round(time.perf_counter() - started, 3),
                           {"run_id": run_id, "message": "no Silver table yet: nothing to aggregate"})
    previous = _previous_runs(ctx)
    watermark, alerts_through = previous.watermark, previous.alerts_through
    holds = read_holds(ctx, previous.releases_through)

    touched, heard = _touched(ctx, watermark, holds)
    clean_rows = sum(r.n for r in touched)
    ctx.progress(f"gold: {clean_rows:,} new clean reading(s) from {len(touched):,} compressor(s)")
    agg_rows = 0
    latest_status: dict[str, dict[str, str | None]] = {}
    # The small tables read below do not depend on the windows: their reads overlap the windows' MERGEs.
    read_state = beside(functools.partial(_read_state, ctx), parallel=ctx.lakehouse.backend.side_by_side)
    if touched:
        check_layout = previous.count % ctx.settings.gold.optimize_check_every_runs == 0
        agg_rows, latest_status = write_windows(ctx, touched, thresholds, check_layout=check_layout,
                                                held=holds.is_held() if holds.held else None)

    # Alerts: every complete hour not evaluated yet, in time order.
    evaluate_to = floor_hour(as_of)
    # Never evaluated: every earlier run found no clean rows, so the windows are this run's (from `touched`).
    first_hour = alerts_through or min((floor_hour(as_utc(r.lo)) for r in touched), default=None)
    state = read_state()
    active = state.active
    hours, gaps = ([], [])
    if first_hour is not None and first_hour < evaluate_to:
        ctx.progress(f"gold: evaluating alerts for {first_hour:%Y-%m-%d %H:%M} .. {evaluate_to:%Y-%m-%d %H:%M} UTC")
        hours, gaps = _hour_rows(ctx, first_hour, evaluate_to, {a.compressor_id for a in active}, thresholds)
    last_seen = {unit: as_utc(r["last_reading_at"]) for unit, r in state.fleet_before.items()
                 if r["last_reading_at"]}
    # A unit whose new readings are all in a held window is not silent: its freshness counts them.
    for unit, hi in heard.items():
        if last_seen.get(unit) is None or hi > last_seen[unit]:
            last_seen[unit] = hi
    units = {r.compressor_id: (r.latest["model"], r.latest["station_id"], r.latest["basin"]) for r in touched}
    changed = evaluate_alerts(active=active, hours=hours, gaps=gaps, last_seen=last_seen, thresholds=thresholds,
                              policy=policy_from(ctx), as_of=as_of, units=units)
    known = {a.alert_id for a in active}
    opened = sum(1 for a in changed if a.alert_id not in known)
    fleet = _fleet_health(ctx, touched, latest_status, as_of, state, _open_counts(active, changed))
    writes = _serving_writes(ctx, fleet, state.stations)
    if changed or not ctx.lakehouse.exists(ALERTS):  # the table exists (empty) even before the first alert
        ctx.progress(f"gold: {len(changed):,} alert(s) opened or changed")
        writes.append(ctx.lakehouse.merge(ALERTS, _alert_table(changed), on=["alert_id"], partition_by=["date"])
                      .when_matched_update_all().when_not_matched_insert_all().execute)
    # The alerts MERGE and the health overwrites are independent; the run record is written after them all.
    run_side_by_side(writes, parallel=ctx.lakehouse.backend.side_by_side)
    new_watermark = max([w for w in (watermark, *(as_utc(r.processed) for r in touched)) if w is not None],
                        default=None)
    releases_through = max([t for t in (previous.releases_through, *(r.resolved_at for r in holds.released))
                            if t is not None], default=None)
    through = max(evaluate_to, alerts_through) if alerts_through else (evaluate_to if first_hour else None)
    record_run(ctx, GOLD_RUNS, small_frame(ctx.spark, [{
        "run_id": run_id, "as_of": as_of, "silver_watermark": new_watermark, "alerts_through": through,
        "releases_through": releases_through,
        "clean_rows_read": clean_rows, "agg_rows": agg_rows, "alerts_changed": len(changed), "alerts_opened": opened,
        "finished_at": ctx.clock().astimezone(UTC)}], gold_runs_schema()), previous.count)
    attention = sorted(((r["status"], r["compressor_id"], r["basin"],
                         [s for s in SENSOR_COLUMNS if r[f"{s}_status"] in ("warning", "critical")])
                        for r in fleet if r["status"] in ("warning", "critical")),
                       key=lambda x: (-SEVERITY_RANK[x[0]], x[1]))
    details = {"run_id": run_id, "as_of": as_of.isoformat(), "clean_rows": clean_rows, "agg_rows": agg_rows,
               "alerts_changed": len(changed), "alerts_opened": opened,
               "units_by_status": {s: sum(1 for r in fleet if r["status"] == s) for s in SEVERITY_RANK},
               "units_stale": sum(1 for r in fleet if r["data_status"] == "stale"),
               "attention": [{"status": st, "compressor_id": u, "basin": b, "sensors": ss}
                             for st, u, b, ss in attention],
               # What monitoring reports: every alert this run opened or changed, and whether it is new.
               "alerts": [{"alert_id": a.alert_id, "compressor_id": a.compressor_id, "basin": a.basin,
                           "alert_type": a.alert_type, "sensor": a.sensor, "severity": a.severity,
                           "status": a.status, "value": a.peak_value, "opened_at": a.opened_at.isoformat(),
                           "new": a.alert_id not in known,
                           "newly_critical": a.severity == "critical" and (a.alert_id not in known or (
                               a.escalated_at is not None and a.escalated_at >= (first_hour or evaluate_to)))}
                          for a in changed]}
    return StageResult("gold", clean_rows, agg_rows, round(time.perf_counter() - started, 3), details)


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
    ctx.lakehouse.merge(ALERTS, table, on=["alert_id"], partition_by=["date"]).when_matched_update_all().execute()
    return row
