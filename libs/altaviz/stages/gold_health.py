"""Gold's serving tables: `fleet_health` (one row per unit) and its station and basin roll-ups, rebuilt each run.

They are small (one row per unit, station or basin), so they are computed on the driver from the small state
Gold reads (its own `gold_unit_state`, the dimensions, open alerts) and overwritten whole, beside the new state.
Gold never reads the serving tables back: what a report reads can be rebuilt, dropped or reshaped freely.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from altaviz.lakehouse.paths import TableRef
from altaviz.runtime.frames import as_utc, small_frame
from altaviz.schemas import SENSOR_COLUMNS, fleet_health_schema
from altaviz.stages.gold_alerts import active_alerts
from altaviz.tables import (
    BASIN_HEALTH,
    DIM_COMPRESSOR,
    DIM_STATION,
    FLEET_HEALTH,
    GOLD_UNIT_STATE,
    STATION_HEALTH,
)

if TYPE_CHECKING:
    from altaviz.runtime.context import RunContext
    from altaviz.transforms.alerts import Alert

SEVERITY_RANK = {"normal": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class State:
    """What Gold reads of its small tables before advancing them: open alerts, its unit state, dimensions."""

    active: list[Alert]
    units_before: dict[str, dict[str, Any]]
    stations: dict[str, dict[str, Any]]
    units: dict[str, dict[str, Any]]


def read_state(ctx: RunContext) -> State:
    """The small tables the alert lifecycle and the serving tables start from (none is written by the windows)."""
    # A lakehouse from before the state table had its state in fleet_health: read once, then never again.
    state = GOLD_UNIT_STATE if ctx.lakehouse.exists(GOLD_UNIT_STATE) else FLEET_HEALTH
    return State(active=active_alerts(ctx), units_before=_rows_by(ctx, state, "compressor_id"),
                  stations=_rows_by(ctx, DIM_STATION, "station_id"), units=_rows_by(ctx, DIM_COMPRESSOR, "compressor_id"))


def _rows_by(ctx: RunContext, ref: TableRef, key: str) -> dict[str, dict[str, Any]]:
    """A small table (dimension, serving table) as {key: row}; empty when the table does not exist yet."""
    if not ctx.lakehouse.exists(ref):
        return {}
    return {r[key]: r for r in ctx.lakehouse.read(ref).toArrow().to_pylist()}


@dataclass(frozen=True)
class Newest:
    """A unit's newest reading this run took: its time and values (sensors, model, station, basin)."""

    at: datetime
    values: Mapping[str, Any]


def fleet_health(*, units: Mapping[str, Mapping[str, Any]], previous: Mapping[str, Mapping[str, Any]],
                 stations: Mapping[str, Mapping[str, Any]], newest: Mapping[str, Newest],
                 latest_status: Mapping[str, Mapping[str, str | None]], open_counts: Mapping[tuple[str, str], int],
                 as_of: datetime, stale_after: timedelta) -> list[dict[str, Any]]:
    """One `fleet_health` row per compressor (a pure function of the small state; no Spark).

    Args:
        units: `dim_compressor` rows by unit.
        previous: Gold's unit state before this run (`gold_unit_state` rows), by unit.
        stations: `dim_station` rows by station.
        newest: per unit with new readings, the newest of them.
        latest_status: per unit, the sensor statuses of its newest 1-hour window.
        open_counts: open alerts after this run per (unit, warning | critical | freshness).
        as_of: the run's as-of time.
        stale_after: how long a unit may be silent before it is `stale`.
    """
    rows = []
    for unit in sorted(set(units) | set(previous) | set(newest)):
        dim, before, new = units.get(unit, {}), previous.get(unit, {}), newest.get(unit)
        last = as_utc(before.get("last_reading_at"))
        values = {s: before.get(s) for s in SENSOR_COLUMNS}
        statuses = {s: before.get(f"{s}_status") for s in SENSOR_COLUMNS}
        if new is not None and (last is None or new.at >= last):
            last = new.at
            values = {s: new.values[s] for s in SENSOR_COLUMNS}
        if unit in latest_status:
            statuses = dict(latest_status[unit])
        station_id = dim.get("station_id") or before.get("station_id") or (new.values["station_id"] if new else None)
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


def rollup(rows: list[dict[str, Any]], key: str, extra: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
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


def serving_writes(ctx: RunContext, fleet: list[dict[str, Any]], stations: dict[str, dict[str, Any]]
                    ) -> list[Callable[[], Any]]:
    """The overwrites of Gold's unit state and of fleet, station and basin health, as calls (independent of
    each other)."""
    where = {sid: {k: r[k] for k in ("station_name", "basin", "latitude", "longitude")} for sid, r in stations.items()}
    station_rows = [{"station_name": None, "basin": None, "latitude": None, "longitude": None, **r}
                    for r in rollup(fleet, "station_id", where)]
    common = ("compressors long, units_normal long, units_warning long, units_critical long, units_stale long, "
              "open_warning_alerts long, open_critical_alerts long, worst_status string, as_of timestamp")
    state_columns = GOLD_UNIT_STATE.columns().fieldNames()
    state = [{**{k: r.get(k) for k in state_columns}, "updated_at": r["as_of"]} for r in fleet]
    tables = [(GOLD_UNIT_STATE, state, GOLD_UNIT_STATE.columns()), (FLEET_HEALTH, fleet, fleet_health_schema()),
              (STATION_HEALTH, station_rows,
               f"station_id string, station_name string, basin string, latitude double, longitude double, {common}"),
              (BASIN_HEALTH, rollup(fleet, "basin", {}), f"basin string, {common}")]
    return [functools.partial(ctx.lakehouse.write, ref, small_frame(ctx.spark, rows, schema), mode="overwrite",
                              merge_schema=True) for ref, rows, schema in tables]
