"""The quality gate holds: a window failing a block check stays out of Gold until re-evaluated or released."""

from __future__ import annotations

import csv
import math
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from altaviz import tables
from altaviz.errors import UsageError
from altaviz.lakehouse.paths import LocalLakehousePaths
from altaviz.runtime.context import RunContext
from altaviz.schemas import SENSOR_COLUMNS
from altaviz.stages import bronze, gold, quality, silver
from altaviz.tables import SENSOR_READINGS_AGG

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
UNITS = ["CMP-00001", "CMP-00002", "CMP-00003", "CMP-00004"]
HOUR_STEPS = 12


def _csv(path: Path, units: list[str], first_step: int, steps: int) -> str:
    """Normal 5-minute readings of `units` from step `first_step` (5 minutes each after T0)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["compressor_id", "timestamp", *SENSOR_COLUMNS])
        writer.writeheader()
        for u, unit in enumerate(units):
            for step in range(first_step, first_step + steps):
                base = [3.0, 200.0, 55.0, 1050.0, 1400.0, 10000.0]
                writer.writerow({"compressor_id": unit,
                                 "timestamp": (T0 + timedelta(minutes=5 * step)).isoformat().replace("+00:00", "Z"),
                                 **{s: round(base[i] * (1 + 0.01 * math.sin(step * 0.7 + u + i)), 4)
                                    for i, s in enumerate(SENSOR_COLUMNS)}})
    return str(path)


@pytest.fixture(scope="module")
def base(spark, tmp_path_factory) -> Path:
    """Four units in service, four normal hours of all of them stored through Silver and Gold (built once)."""
    root = tmp_path_factory.mktemp("hold") / "lh"
    context = RunContext.create(spark, LocalLakehousePaths(root))
    reference = Path(context.paths.files_path("lh_bronze_raw", "reference"))
    reference.mkdir(parents=True)
    pq.write_table(pa.table({
        "compressor_id": UNITS, "model": ["Ariel JGK/4"] * 4, "station_id": ["ST-1"] * 4, "basin": ["Permian"] * 4,
        "install_date": pa.array([date(2020, 1, 1)] * 4, pa.date32()),
        "latitude": [31.0] * 4, "longitude": [-102.0] * 4}), reference / "compressors.parquet")
    pq.write_table(pa.table({"station_id": ["ST-1"], "station_name": ["Station 1"], "basin": ["Permian"],
                             "latitude": [31.0], "longitude": [-102.0]}), reference / "stations.parquet")
    bronze.run(context, sources=[_csv(root.parent / "in" / "fleet.csv", UNITS, 0, 4 * HOUR_STEPS)])
    assert silver.run(context, as_of=T0 + timedelta(hours=4)).details["held"] is False
    gold.run(context, as_of=T0 + timedelta(hours=4))
    return root


@pytest.fixture()
def ctx(spark, base, tmp_path):
    """A copy of the base lakehouse for one test."""
    shutil.copytree(base, tmp_path / "lh")
    return RunContext.create(spark, LocalLakehousePaths(tmp_path / "lh"))


def _gold_hours(ctx, unit: str) -> set[datetime]:
    rows = (ctx.lakehouse.read(SENSOR_READINGS_AGG)
            .where((F.col("compressor_id") == unit) & (F.col("window_type") == "1hr")).collect())
    return {r.agg_timestamp.astimezone(UTC) for r in rows}


def _hold_one_unit(ctx, tmp_path, hours: int = 1) -> str:
    """The next `hours` arrive for one unit of four: completeness 0.25 < 0.85 holds the window."""
    bronze.run(ctx, sources=[_csv(tmp_path / "in" / "one.csv", UNITS[:1], 4 * HOUR_STEPS, hours * HOUR_STEPS)])
    result = silver.run(ctx, as_of=T0 + timedelta(hours=4 + hours))
    assert result.details["held"] is True and result.details["blocked"] == ["fleet_completeness"]
    return result.details["run_id"]


FIFTH = T0 + timedelta(hours=4)


def test_a_held_window_stays_out_of_gold_across_runs_until_an_operator_releases_it(ctx, tmp_path):
    """Gold never takes a held window's rows on its own, however often it runs; after `release` it does, once."""
    held = _hold_one_unit(ctx, tmp_path)
    (row,) = quality.list_holds(ctx)
    assert (row["silver_run_id"], row["status"], row["clean_rows"]) == (held, "held", HOUR_STEPS)
    assert "fleet_completeness" in row["reason"] and "1 of 4 units in service" in row["reason"]
    stored = ctx.lakehouse.read(tables.TELEMETRY_CLEAN).where(F.col("silver_run_id") == held).count()
    assert stored == HOUR_STEPS  # Silver keeps the rows; only Gold leaves them out

    for _ in range(2):  # the next scheduled runs: nothing new arrives, the window is still held
        again = silver.run(ctx, as_of=T0 + timedelta(hours=5))
        assert again.details["reevaluated"] == [{"silver_run_id": held, "passed": False,
                                                 "reason": again.details["reevaluated"][0]["reason"]}]
        assert gold.run(ctx, as_of=T0 + timedelta(hours=5)).rows_in == 0
        assert FIFTH not in _gold_hours(ctx, UNITS[0])
    assert quality.list_holds(ctx)[0]["status"] == "held"

    released = quality.release(ctx, held, by="ops", note="one unit's backfill")
    assert released["status"] == "released" and released["resolved_by"] == "ops"
    taken = gold.run(ctx, as_of=T0 + timedelta(hours=5))
    assert taken.rows_in == HOUR_STEPS and FIFTH in _gold_hours(ctx, UNITS[0])
    assert gold.run(ctx, as_of=T0 + timedelta(hours=5)).rows_in == 0  # taken once
    with pytest.raises(UsageError, match="already released"):
        quality.release(ctx, held, by="ops")
    with pytest.raises(UsageError, match="no held window for Silver run 'nope'"):
        quality.release(ctx, "nope", by="ops")


def test_a_held_window_passes_when_late_readings_complete_the_fleet_and_gold_takes_it(ctx, tmp_path):
    """While one unit's four hours are held, Gold's freshness alerts fire for the three silent units only; their
    late readings then arrive, the next Silver run re-evaluates the held window on what is stored by then, it
    passes, and Gold takes both windows' rows."""
    held = _hold_one_unit(ctx, tmp_path, hours=4)
    as_of = T0 + timedelta(hours=8)  # the three others silent for 4 h >= stale_after_hours (3)
    gold.run(ctx, as_of=as_of)
    silent = {r.compressor_id for r in ctx.lakehouse.read(tables.ALERTS)
              .where((F.col("alert_type") == "data_freshness") & (F.col("status") == "open")).collect()}
    assert silent == set(UNITS[1:])  # the held unit was heard from: it is not silent
    bronze.run(ctx, sources=[_csv(tmp_path / "in" / "late.csv", UNITS[1:], 4 * HOUR_STEPS, 4 * HOUR_STEPS)])
    late = silver.run(ctx, as_of=as_of)
    assert late.details["held"] is False
    assert late.details["reevaluated"] == [{"silver_run_id": held, "passed": True, "reason": ""}]
    (row,) = quality.list_holds(ctx, status=None)
    assert row["status"] == "passed" and row["resolved_by"] == f"silver run {late.details['run_id']}"
    rechecked = (ctx.lakehouse.read(tables.QUALITY_CHECKS)
                 .where((F.col("run_id") == held) & (F.col("check_name") == "fleet_completeness")).collect())
    assert sorted(r.passed for r in rechecked) == [False, True]  # first judged, then re-evaluated
    taken = gold.run(ctx, as_of=as_of)
    assert taken.rows_in == 4 * 4 * HOUR_STEPS
    assert all(FIFTH in _gold_hours(ctx, unit) for unit in UNITS)


def test_a_units_own_file_inside_a_complete_fleet_passes_and_reaches_gold(ctx, tmp_path):
    """A one-unit file of readings the fleet did not have yet: completeness is judged over the fleet's stored
    readings in the hour before as_of, so it passes and says why; the rows reach Silver and Gold."""
    path = tmp_path / "mine.csv"
    path.write_text("compressor_id,timestamp," + ",".join(SENSOR_COLUMNS) + "\n" + "".join(
        f"CMP-00002,{(T0 + timedelta(hours=3, minutes=2 + 5 * k)).isoformat().replace('+00:00', 'Z')},"
        "3.1,201,55,1051,1401,10001\n" for k in range(6)))
    bronze.run(ctx, sources=[str(path)])
    result = silver.run(ctx, as_of=T0 + timedelta(hours=4))
    assert result.details["held"] is False and result.details["clean_rows"] == 6
    completeness = next(q for q in result.details["quality"] if q["name"] == "fleet_completeness")
    assert completeness["passed"] and completeness["metric"] == pytest.approx(1.0)
    assert "4 of 4 units in service sent a clean reading between 2026-11-20 03:00 UTC and 2026-11-20 04:00 UTC" \
        in completeness["message"]
    assert gold.run(ctx, as_of=T0 + timedelta(hours=4)).rows_in == 6


def test_a_silver_run_killed_after_storing_its_rows_is_adopted_by_the_next_and_gold_never_takes_them_unjudged(
        ctx, tmp_path, monkeypatch):
    """Killed between its MERGE and its run record, a Silver run leaves stored rows no check has judged: Gold
    leaves them out; the next Silver run re-labels the same window, adopts the rows (books balance, nothing
    doubled) and judges them; Gold then takes them once."""
    bronze.run(ctx, sources=[_csv(tmp_path / "in" / "next.csv", UNITS, 4 * HOUR_STEPS, HOUR_STEPS)])

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(silver, "record_run", killed)
    with pytest.raises(KeyboardInterrupt):
        silver.run(ctx, as_of=T0 + timedelta(hours=5))
    monkeypatch.undo()
    clean = ctx.lakehouse.read(tables.TELEMETRY_CLEAN)
    interrupted = {r.silver_run_id for r in clean.where(F.col("timestamp") >= FIFTH).select("silver_run_id").collect()}
    assert len(interrupted) == 1 and clean.where(F.col("timestamp") >= FIFTH).count() == 4 * HOUR_STEPS
    assert gold.run(ctx, as_of=T0 + timedelta(hours=5)).rows_in == 0
    assert FIFTH not in _gold_hours(ctx, UNITS[0])

    again = silver.run(ctx, as_of=T0 + timedelta(hours=5))
    d = again.details
    assert d["adopted_runs"] == sorted(interrupted) and d["balanced"] is True
    assert (d["raw_rows"], d["clean_rows"], d["duplicate_rows"], d["held"]) == (4 * HOUR_STEPS, 4 * HOUR_STEPS, 0, False)
    fifth = ctx.lakehouse.read(tables.TELEMETRY_CLEAN).where(F.col("timestamp") >= FIFTH)
    assert fifth.count() == 4 * HOUR_STEPS
    assert {r.silver_run_id for r in fifth.select("silver_run_id").distinct().collect()} == {d["run_id"]}
    assert gold.run(ctx, as_of=T0 + timedelta(hours=5)).rows_in == 4 * HOUR_STEPS
    assert all(FIFTH in _gold_hours(ctx, unit) for unit in UNITS)
    assert silver.run(ctx, as_of=T0 + timedelta(hours=5)).details["adopted_runs"] == []
