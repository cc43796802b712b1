"""Writing the simulator's files: atomic Parquet, landing telemetry per arrival hour, reference and labels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from altaviz.lakehouse.paths import LakehousePaths
from altaviz.simulator.failures import US_PER_SECOND
from altaviz.simulator.signals import US_PER_HOUR
from altaviz.simulator.telemetry import ARRIVAL_COLUMN, TELEMETRY_SCHEMA

LAKEHOUSE = "lh_bronze_raw"
LANDING_DIR = ("landing", "telemetry")
REFERENCE_DIR = "reference"
LABELS_FILE = ("labels", "failure_labels.parquet")
_DICTIONARY_COLUMNS = ["compressor_id", "station_id", "schema_version"]


def landing_file(paths: LakehousePaths, hour_us: int) -> str:
    """`Files/landing/telemetry/date=YYYY-MM-DD/telemetry_YYYYMMDD_HH.parquet` for arrival hour `hour_us`."""
    at = datetime.fromtimestamp(hour_us / US_PER_SECOND, tz=UTC)
    return paths.files_path(LAKEHOUSE, *LANDING_DIR, f"date={at:%Y-%m-%d}",
                            f"telemetry_{at:%Y%m%d_%H}.parquet")


def reference_file(paths: LakehousePaths, name: str) -> str:
    """`Files/reference/<name>.parquet`."""
    return paths.files_path(LAKEHOUSE, REFERENCE_DIR, f"{name}.parquet")


def labels_file(paths: LakehousePaths) -> str:
    """`Files/labels/failure_labels.parquet`."""
    return paths.files_path(LAKEHOUSE, *LABELS_FILE)


def write_parquet_atomic(table: pa.Table, path: str) -> str:
    """Write `table` to `path` via a hidden temp file in the same folder and `os.replace`.

    Readers never see a half-written file, and a re-run replaces the file whole. Only string columns are
    dictionary-encoded: trying dictionaries on float sensor columns costs time and saves nothing. The
    Arrow schema is not stored, so readers see Parquet's own types: dictionary columns read back as plain
    strings and timestamps as UTC microseconds.

    Returns:
        `path`.
    """
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    temp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")  # dot prefix: landing listers skip it
    dictionary = [c for c in _DICTIONARY_COLUMNS if c in table.column_names]
    try:
        pq.write_table(table, temp, compression="snappy", use_dictionary=dictionary or False,
                       store_schema=False)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    return path


def _sorted_merge(parts: list[pa.Table]) -> pa.Table:
    """Merge tables each sorted by arrival into one sorted by arrival (ties keep part order)."""
    parts = [p for p in parts if p.num_rows]
    if len(parts) <= 1:
        return parts[0] if parts else pa.table({})
    merged = pa.concat_tables(parts)
    arrival = merged.column(ARRIVAL_COLUMN).to_numpy().view(np.int64)
    return merged.take(pa.array(np.argsort(arrival, kind="stable")))


def hour_files(day_start_us: int, today: pa.Table, carried: pa.Table | None, last_day: bool, *,
               with_arrival: bool = False) -> tuple[Iterator[tuple[int, pa.Table]], pa.Table | None]:
    """Split one day's arrivals into landing files by arrival hour.

    Args:
        day_start_us: 00:00 UTC of the day, microseconds since the epoch.
        today: `generate_day` output for the day (sorted by arrival).
        carried: Rows of the previous day that arrive today (sorted by arrival), or None.
        last_day: True for the window's last day: rows arriving later are capped into its last hour.
        with_arrival: Keep the `arrival_time` column (a replay paces events by it).

    Returns:
        (iterator of (hour start, contract-shaped table) for hours that received rows, rows arriving after
        today to carry into tomorrow, or None on the last day).
    """
    cuts = day_start_us + np.arange(1, 25, dtype=np.int64) * US_PER_HOUR

    def bounds(table: pa.Table | None) -> np.ndarray:
        if table is None:
            return np.zeros(25, dtype=np.int64)
        arrival = table.column(ARRIVAL_COLUMN).to_numpy().view(np.int64)
        edges = np.concatenate(([0], np.searchsorted(arrival, cuts)))
        if last_day:
            edges[-1] = table.num_rows
        return edges

    today_edges, carried_edges = bounds(today), bounds(carried)
    later = None if last_day else today.slice(int(today_edges[-1]))

    def files() -> Iterator[tuple[int, pa.Table]]:
        for hour in range(24):
            parts = [t.slice(int(e[hour]), int(e[hour + 1] - e[hour]))
                     for t, e in ((carried, carried_edges), (today, today_edges)) if t is not None]
            merged = _sorted_merge(parts)
            if merged.num_rows:
                names = [*TELEMETRY_SCHEMA.names, ARRIVAL_COLUMN] if with_arrival else TELEMETRY_SCHEMA.names
                yield day_start_us + hour * US_PER_HOUR, merged.select(names)

    return files(), later

