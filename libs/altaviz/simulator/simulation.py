"""`simulate`: write a fleet's telemetry, reference data and failure labels into the Bronze lakehouse."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from altaviz.errors import UsageError
from altaviz.lakehouse.paths import LakehousePaths
from altaviz.simulator.failures import US_PER_DAY, FailurePlan, build_plan, day_us, failing_units, labels_table
from altaviz.simulator.fleet import Fleet, build_fleet
from altaviz.simulator.landing import (
    hour_files,
    labels_file,
    landing_file,
    reference_file,
    write_parquet_atomic,
)
from altaviz.simulator.profiles import FleetProfile, load_profile
from altaviz.simulator.reference import basins_table, compressors_table, stations_table
from altaviz.simulator.telemetry import generate_day

Progress = Callable[[str, int, int], None]
#: Takes one arrival hour's readings (contract columns plus `arrival_time`, in arrival order) instead of a file.
HourSink = Callable[[pa.Table], None]
_WRITERS = 2  # Parquet encoding releases the GIL: two writers overlap with generating the next day


@dataclass(frozen=True)
class SimulationReport:
    """What `simulate` wrote."""

    compressors: int
    days: int
    start: date
    seed: int
    readings: int
    files: tuple[str, ...]
    reference_files: tuple[str, ...]
    labels_file: str
    label_rows: int
    failing_units: int
    stations: int
    basins: int
    seconds: float


def _window(start: date | None, days: int, profile: FleetProfile) -> date:
    """The first day, defaulting to today (UTC) minus `days`, checked against the plan horizon."""
    if days < 1:
        raise UsageError(f"days must be >= 1 (got {days})")
    first = start if start is not None else datetime.now(UTC).date() - timedelta(days=days)
    last = first + timedelta(days=days - 1)
    low, high = profile.plan.horizon
    if first < low or last > high:
        raise UsageError(f"simulated days {first}..{last} fall outside the failure-plan horizon "
                         f"{low}..{high} "
                         "(plan.horizon in config/fleet.yaml)")
    return first


def _window_file(paths: LakehousePaths) -> str:
    return os.path.join(os.path.dirname(labels_file(paths)), "simulated_window.json")


def _record_window_end(paths: LakehousePaths, end: datetime) -> None:
    """Keep the latest end of any window simulated into this lakehouse, next to the labels."""
    known = simulated_window_end(paths)
    latest = max(end, known) if known else end
    path = _window_file(paths)
    temp = f"{path}.{os.getpid()}.tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump({"window_end": latest.isoformat()}, handle)
    os.replace(temp, path)


def simulated_window_end(paths: LakehousePaths) -> datetime | None:
    """The end of the latest simulated window in this lakehouse, or None when nothing was simulated here."""
    path = _window_file(paths)
    if not paths.is_local or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return datetime.fromisoformat(json.load(handle)["window_end"])


def _send_days(fleet: Fleet, plan: FailurePlan, first: date, days: int, seed: int, notify: Progress,
               send: HourSink) -> int:
    """Generate each day and hand its arrival hours to `send`, in arrival order; the readings sent."""
    readings = 0
    carried = None
    for i in range(days):
        day = first + timedelta(days=i)
        today = generate_day(fleet, plan, day, seed, dictionary_encoded=True)
        hours, carried = hour_files(day_us(day), today, carried, last_day=i == days - 1, with_arrival=True)
        for _, table in hours:
            readings += table.num_rows
            send(table)
        notify("day", i + 1, days)
    return readings


def _write_days(paths: LakehousePaths, fleet: Fleet, plan: FailurePlan, first: date, days: int, seed: int,
                notify: Progress) -> tuple[list[str], int]:
    """Generate each day and write its hourly landing files (in a small writer pool); the files and readings."""
    files: list[str] = []
    readings = 0
    with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="altaviz-simulate") as pool:
        pending: list[Future[str]] = []
        carried = None
        for i in range(days):
            day = first + timedelta(days=i)
            today = generate_day(fleet, plan, day, seed, dictionary_encoded=True)
            hours, carried_next = hour_files(day_us(day), today, carried, last_day=i == days - 1)
            # Wait for yesterday's files before queueing today's: at most two days are held in memory.
            for future in pending:
                files.append(future.result())
            if pending:
                notify("day", i, days)
            pending = []
            for hour_us, table in hours:
                readings += table.num_rows
                pending.append(pool.submit(write_parquet_atomic, table, landing_file(paths, hour_us)))
            carried = carried_next
        for future in pending:
            files.append(future.result())
    notify("day", days, days)
    return files, readings


def _write_reference(paths: LakehousePaths, fleet: Fleet, labels: pa.Table) -> tuple[tuple[str, ...], str]:
    """The reference files (compressors, stations, basins) and the failure labels; their paths."""
    references = tuple(write_parquet_atomic(table, reference_file(paths, name)) for name, table in (
        ("compressors", compressors_table(fleet)), ("stations", stations_table(fleet)),
        ("basins", basins_table(fleet))))
    return references, write_parquet_atomic(labels, labels_file(paths))


def simulate(paths: LakehousePaths, *, compressors: int = 200, days: int = 1, start: date | None = None,
             seed: int = 42, profile: FleetProfile | None = None,
             progress: Progress | None = None, send: HourSink | None = None) -> SimulationReport:
    """Simulate a fleet and write its files under `lh_bronze_raw` `Files/`.

    Writes `landing/telemetry/date=YYYY-MM-DD/telemetry_YYYYMMDD_HH.parquet` (one file per arrival hour; rows
    arriving after the window are capped into its last hour), `reference/{compressors,stations,basins}.parquet`
    and `labels/failure_labels.parquet`, each atomically; the same arguments rewrite the same contents.

    Args:
        paths: Where the lakehouses are; only local roots are supported.
        compressors: Fleet size (1 to 4,700 and more).
        days: Number of days to simulate.
        start: First UTC day; default today (UTC) minus `days`, so the data ends at today 00:00 UTC.
        seed: Random seed; fleet, failure plan and each day's readings derive from it.
        profile: Fleet profile; default `load_profile()`.
        progress: Called as `progress(step, done, total)` after the reference files ("reference") and after
            each day's landing files ("day").
        send: Given, readings go to it one arrival hour at a time (an event replay), not to landing files.

    Returns:
        A report of what was written.
    Raises:
        UsageError: Bad sizes, a non-local lakehouse, or days outside the failure-plan horizon.
    """
    began = time.perf_counter()
    if not paths.is_local:
        raise UsageError(f"the simulator writes to a local lakehouse root only (got {paths!r})")
    profile = profile or load_profile()
    first = _window(start, days, profile)
    fleet = build_fleet(compressors, seed, profile)
    plan = build_plan(fleet)
    window_start = day_us(first)
    window_end = window_start + days * US_PER_DAY
    notify = progress or (lambda step, done, total: None)

    labels = labels_table(fleet, plan, window_start, window_end)
    references, labels_path = _write_reference(paths, fleet, labels)
    _record_window_end(paths, datetime.combine(first + timedelta(days=days), datetime.min.time(), UTC))
    notify("reference", len(references) + 1, len(references) + 1)

    if send is None:
        files, readings = _write_days(paths, fleet, plan, first, days, seed, notify)
    else:
        files, readings = [], _send_days(fleet, plan, first, days, seed, notify, send)
    return SimulationReport(
        compressors=compressors,
        days=days,
        start=first,
        seed=seed,
        readings=readings,
        files=tuple(files),
        reference_files=references,
        labels_file=labels_path,
        label_rows=labels.num_rows,
        failing_units=len(failing_units(plan, window_start, window_end)),
        stations=len(fleet.station_ids),
        basins=len(fleet.basins_used),
        seconds=round(time.perf_counter() - began, 3),
    )
