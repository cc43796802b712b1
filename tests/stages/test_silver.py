"""Silver: every bad reading rejected with its reason, good ones kept once, books balanced, re-runs inert."""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from altaviz import tables
from altaviz.lakehouse.paths import LocalLakehousePaths
from altaviz.runtime.context import RunContext
from altaviz.schemas import SENSOR_COLUMNS
from altaviz.stages import bronze, silver
from altaviz.stages.silver_window import TRAILING_RUNS, Runs, previous_runs

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
AS_OF = T0 + timedelta(hours=6)
UNITS = ["CMP-00001", "CMP-00002", "CMP-00003", "CMP-00004"]
STEPS = 48  # four hours of 5-minute readings per unit


def _value(unit: int, step: int, sensor: int) -> float:
    base = [3.0, 200.0, 55.0, 1050.0, 1400.0, 10000.0][sensor]
    return round(base * (1 + 0.01 * math.sin(step * 0.7 + unit + sensor)), 4)


def _reading(unit: str, step: int, **override) -> dict:
    row = {"compressor_id": unit, "timestamp": (T0 + timedelta(minutes=5 * step)).isoformat().replace("+00:00", "Z")}
    row.update({s: str(_value(UNITS.index(unit) if unit in UNITS else 0, step, i))
                for i, s in enumerate(SENSOR_COLUMNS)})
    row.update({k: ("" if v is None else str(v)) for k, v in override.items()})
    return row


def _write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["compressor_id", "timestamp", *SENSOR_COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture()
def ctx(spark, tmp_path):
    context = RunContext.create(spark, LocalLakehousePaths(tmp_path / "lh"))
    reference = Path(context.paths.files_path("lh_bronze_raw", "reference"))
    reference.mkdir(parents=True)
    units = [*UNITS, "CMP-00005"]
    pq.write_table(pa.table({
        "compressor_id": units, "model": ["Ariel JGK/4"] * 5, "station_id": ["ST-1"] * 5, "basin": ["Permian"] * 5,
        "install_date": pa.array([date(2020, 1, 1)] * 4 + [date(2026, 11, 21)], pa.date32()),
        "latitude": [31.0] * 5, "longitude": [-102.0] * 5}), reference / "compressors.parquet")
    pq.write_table(pa.table({"station_id": ["ST-1"], "station_name": ["Station 1"], "basin": ["Permian"],
                             "latitude": [31.0], "longitude": [-102.0]}), reference / "stations.parquet")
    return context


def _clean(ctx):
    return ctx.lakehouse.read(tables.TELEMETRY_CLEAN)


def _rejected(ctx):
    return ctx.lakehouse.read(tables.TELEMETRY_REJECTED)


BAD_ROWS = {
    "null_required_field": [_reading("CMP-00001", 100, compressor_id=None), _reading("CMP-00001", 101, timestamp=None)],
    "unparseable_value": [_reading("CMP-00004", 60, vibration_mms="abc")],
    "unknown_compressor": [_reading("CMP-09999", 5)],
    "future_timestamp": [_reading("CMP-00004", 2 * 288)],
    "before_commissioning": [_reading("CMP-00005", 3)],
    "impossible_value": [_reading("CMP-00004", 61, suction_pressure_psi=-12.5),
                         _reading("CMP-00004", 62, gas_flow_mcf=99999999)],
    "outlier_4sigma": [_reading("CMP-00003", 55, discharge_temp_f=262.0)],
}


def _salted_batch(tmp_path: Path) -> tuple[Path, Path]:
    """Good readings for four units plus every kind of bad reading, in a user's own files."""
    good = [_reading(u, s) for u in UNITS for s in range(STEPS)]
    stuck = [_reading("CMP-00002", STEPS + k, discharge_temp_f=231.5) for k in range(8)]
    bad = [row for rows in BAD_ROWS.values() for row in rows]
    first = _write_csv(tmp_path / "drop" / "a_batch.csv", good + stuck + bad)
    resent = [_reading("CMP-00001", 7, vibration_mms=9.99), _reading("CMP-00002", 8, gas_flow_mcf=10001)]
    second = _write_csv(tmp_path / "drop" / "b_resend.csv", resent)
    return first, second


def test_every_bad_reading_is_rejected_with_its_reason_and_the_books_balance(ctx, tmp_path):
    """Each salted row lands in telemetry_rejected with the right reason; every good row is clean."""
    bronze.run(ctx, sources=[str(p) for p in _salted_batch(tmp_path)])
    result = silver.run(ctx, as_of=AS_OF)
    d = result.details
    rejected = {(r.reject_reason, r.compressor_id, r.timestamp.replace(tzinfo=None) if r.timestamp else None)
                for r in _rejected(ctx).collect()}
    reasons = {reason for reason, _, _ in rejected}
    assert reasons == {*BAD_ROWS, "stuck_sensor"}
    stuck = sorted(t for reason, unit, t in rejected if reason == "stuck_sensor")
    assert len(stuck) == 3  # the 6th, 7th and 8th identical values in a row
    assert ("outlier_4sigma", "CMP-00003", datetime(2026, 11, 20, 4, 35)) in rejected
    assert d["rejected_rows"] == sum(len(v) for v in BAD_ROWS.values()) + 3
    assert d["duplicate_rows"] == 2
    assert d["clean_rows"] == len(UNITS) * STEPS + 5  # the first five stuck readings are still plausible
    assert d["raw_rows"] == d["clean_rows"] + d["rejected_rows"] + d["duplicate_rows"] and d["balanced"]
    clean = _clean(ctx)
    assert clean.count() == d["clean_rows"]
    assert clean.select("compressor_id", "timestamp").distinct().count() == d["clean_rows"]
    kept = clean.where((F.col("compressor_id") == "CMP-00001") & (F.col("timestamp") == T0 + timedelta(minutes=35)))
    assert kept.first().vibration_mms != 9.99  # the first received copy wins
    run = ctx.lakehouse.read(tables.SILVER_RUNS).first()
    assert (run.raw_rows, run.clean_rows, run.rejected_rows, run.duplicate_rows) == (
        d["raw_rows"], d["clean_rows"], d["rejected_rows"], d["duplicate_rows"])


def test_rerunning_silver_over_the_same_bronze_data_changes_nothing(ctx, tmp_path):
    """A second run finds nothing new and leaves clean and rejected at the same version."""
    bronze.run(ctx, sources=[str(p) for p in _salted_batch(tmp_path)])
    silver.run(ctx, as_of=AS_OF)
    versions = [ctx.lakehouse.version(t) for t in (tables.TELEMETRY_CLEAN, tables.TELEMETRY_REJECTED)]
    again = silver.run(ctx, as_of=AS_OF)
    assert again.details["raw_rows"] == 0
    assert [ctx.lakehouse.version(t) for t in (tables.TELEMETRY_CLEAN, tables.TELEMETRY_REJECTED)] == versions


def test_a_late_reading_in_a_later_batch_lands_once_in_its_place(ctx, tmp_path, monkeypatch):
    """A reading missing from the first batch arrives later, lands in clean once, and stays once. The run records
    (one small file per run) are compacted every `RUN_LOG_COMPACT_EVERY` runs."""
    import altaviz.stages

    monkeypatch.setattr(altaviz.stages, "RUN_LOG_COMPACT_EVERY", 2)
    rows = [_reading(u, s) for u in UNITS for s in range(STEPS) if not (u == "CMP-00002" and s == 10)]
    bronze.run(ctx, sources=[str(_write_csv(tmp_path / "one" / "first.csv", rows))])
    silver.run(ctx, as_of=AS_OF)
    late = _write_csv(tmp_path / "two" / "late.csv", [_reading("CMP-00002", 10), _reading("CMP-00001", 10, vibration_mms=5.5)])
    bronze.run(ctx, sources=[str(late)])
    second = silver.run(ctx, as_of=AS_OF)
    assert (second.details["raw_rows"], second.details["clean_rows"], second.details["duplicate_rows"]) == (2, 1, 1)
    silver.run(ctx, as_of=AS_OF)
    key = (F.col("compressor_id") == "CMP-00002") & (F.col("timestamp") == T0 + timedelta(minutes=50))
    landed = _clean(ctx).where(key).collect()
    assert len(landed) == 1 and landed[0].date == date(2026, 11, 20)
    # Two runs recorded (the third found nothing new): the second compacted the records into one file.
    assert ctx.lakehouse.read(tables.SILVER_RUNS).count() == 2
    assert ctx.lakehouse.history(tables.SILVER_RUNS, limit=1)[0]["operation"] == "OPTIMIZE"
    assert ctx.lakehouse.backend.file_count(ctx.lakehouse.table_path(tables.SILVER_RUNS)) == 1


def test_a_stuck_run_that_began_in_an_earlier_batch_is_caught_beside_another_units_late_reading(ctx, tmp_path):
    """Each unit's new readings are compared with its own stored readings just before them: a frozen sensor whose
    run began in the previous batch is rejected from its sixth equal value on, and a late reading of another unit
    in the same batch is judged on its own neighbours."""
    frozen = {"discharge_temp_f": 231.5}
    first = [_reading(u, s, **(frozen if u == "CMP-00002" and s >= 44 else {}))
             for u in UNITS for s in range(STEPS) if not (u == "CMP-00001" and s == 10)]
    bronze.run(ctx, sources=[str(_write_csv(tmp_path / "one" / "first.csv", first))])
    assert silver.run(ctx, as_of=AS_OF).details["rejected_rows"] == 0  # four equal values are not a stuck run
    second = [_reading(u, s, **(frozen if u == "CMP-00002" else {})) for u in UNITS for s in range(STEPS, STEPS + 4)]
    bronze.run(ctx, sources=[str(_write_csv(tmp_path / "two" / "second.csv", [*second, _reading("CMP-00001", 10)]))])
    result = silver.run(ctx, as_of=AS_OF)
    stuck = sorted((r.compressor_id, r.timestamp.replace(tzinfo=None)) for r in
                   _rejected(ctx).where(F.col("reject_reason") == "stuck_sensor").collect())
    assert stuck == [("CMP-00002", (T0 + timedelta(minutes=5 * s)).replace(tzinfo=None)) for s in (49, 50, 51)]
    assert (result.details["raw_rows"], result.details["clean_rows"]) == (len(second) + 1, len(second) - 2)
    late = (F.col("compressor_id") == "CMP-00001") & (F.col("timestamp") == T0 + timedelta(minutes=50))
    assert _clean(ctx).where(late).count() == 1


def test_quality_checks_are_recorded_and_a_failed_block_check_is_reported(ctx, tmp_path):
    """Quality results land in quality_checks; too few units reporting fails the blocking completeness check."""
    rows = [_reading("CMP-00001", s) for s in range(STEPS)]
    bronze.run(ctx, sources=[str(_write_csv(tmp_path / "few" / "one_unit.csv", rows))])
    result = silver.run(ctx, as_of=T0 + timedelta(minutes=5 * STEPS))
    assert "fleet_completeness" in result.details["blocked"] and result.details["held"] is True
    checks = {r.check_name: r for r in ctx.lakehouse.read(tables.QUALITY_CHECKS).collect()}
    assert checks["fleet_completeness"].passed is False and checks["fleet_completeness"].level == "block"
    assert checks["fleet_completeness"].metric == pytest.approx(0.25)  # CMP-00005 is not in service yet
    assert "1 of 4 units in service sent a clean reading" in checks["fleet_completeness"].message
    assert checks["reject_rate"].passed is True


def test_the_run_log_summary_gives_watermarks_and_the_latest_non_empty_runs_newest_first(ctx):
    """What a run takes from `silver_runs` (one aggregate, whatever its length): the count of runs, the newest
    window end and reading time, and the clean counts of the seven latest runs that had Bronze rows."""
    from altaviz.runtime.frames import small_frame
    from altaviz.schemas import silver_runs_schema

    assert previous_runs(ctx) == Runs()
    rows = []
    for k in range(12):  # finished out of order; every third run found no Bronze rows
        at = T0 + timedelta(hours=(k * 5) % 12)
        empty = k % 3 == 2
        rows.append({"run_id": f"r{k}", "as_of": at, "window_start": None,
                     "window_end": None if empty else at - timedelta(minutes=1),
                     "max_event_time": None if empty else at - timedelta(minutes=10), "raw_rows": 0 if empty else 100,
                     "clean_rows": 0 if empty else 1000 + (k * 5) % 12, "rejected_rows": 0, "duplicate_rows": 0,
                     "balanced": True, "quality_passed": True, "finished_at": at})
    ctx.lakehouse.write(tables.SILVER_RUNS, small_frame(ctx.spark, rows, silver_runs_schema()))
    got = previous_runs(ctx)
    non_empty = sorted((r for r in rows if r["raw_rows"] > 0), key=lambda r: r["finished_at"], reverse=True)
    assert got.count == 12
    assert got.watermark == max(r["window_end"] for r in non_empty)
    assert got.event_high == max(r["max_event_time"] for r in non_empty)
    assert got.trailing_clean == tuple(r["clean_rows"] for r in non_empty[:TRAILING_RUNS])
    assert len(got.trailing_clean) == 7


def test_a_batch_committed_after_a_later_stamped_one_is_taken_by_the_next_run_once(ctx, tmp_path):
    """Two Bronze writers at once (a stream micro-batch beside a file ingest): a batch stamped before one a Silver
    run already took, but committed after that run, is taken by the next run, once; the run after takes nothing.
    Each run records the Bronze batches it took."""
    first = [_reading(u, s) for u in UNITS for s in range(24)]
    late = [_reading(u, s) for u in UNITS for s in range(24, STEPS)]
    stamp = T0 + timedelta(hours=5)
    ctx.clock = lambda: stamp
    bronze.run(ctx, sources=[str(_write_csv(tmp_path / "one" / "later_stamped.csv", first))])
    ctx.clock = lambda: stamp + timedelta(minutes=1)
    took = silver.run(ctx, as_of=AS_OF)
    ctx.clock = lambda: stamp - timedelta(minutes=3)  # stamped before the batch Silver took, committed after it
    bronze.run(ctx, sources=[str(_write_csv(tmp_path / "two" / "earlier_stamped.csv", late))])
    ctx.clock = lambda: stamp + timedelta(minutes=10)

    late_run = silver.run(ctx, as_of=AS_OF)

    assert took.details["clean_rows"] == len(first)
    assert (late_run.details["raw_rows"], late_run.details["clean_rows"]) == (len(late), len(late))
    assert silver.run(ctx, as_of=AS_OF).details["raw_rows"] == 0
    assert _clean(ctx).count() == len(first) + len(late)
    runs = ctx.lakehouse.read(tables.SILVER_RUNS).orderBy("finished_at").collect()
    batches = [json.loads(r.batches) for r in runs]
    assert [len(b) for b in batches] == [1, 1] and batches[0] != batches[1]
