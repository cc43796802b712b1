"""Gold: windows match an independent recomputation, re-runs change nothing, alerts follow their lifecycle."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from altaviz import tables
from altaviz.errors import UsageError
from altaviz.lakehouse.paths import LocalLakehousePaths
from altaviz.runtime.context import RunContext
from altaviz.runtime.frames import small_frame
from altaviz.schemas import SENSOR_COLUMNS, silver_runs_schema, telemetry_clean_schema
from altaviz.stages import gold, gold_alerts, gold_windows
from altaviz.tables import DIM_COMPRESSOR, DIM_STATION, TELEMETRY_CLEAN

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NORMAL = {"vibration_mms": 3.0, "discharge_temp_f": 200.0, "suction_pressure_psi": 55.0,
          "discharge_pressure_psi": 1050.0, "horsepower_consumption": 1400.0, "gas_flow_mcf": 10000.0}
WINDOW_HOURS = {"1hr": 1, "4hr": 4, "24hr": 24}


@pytest.fixture()
def ctx(spark, tmp_path):
    context = RunContext.create(spark, LocalLakehousePaths(tmp_path / "lh"))
    units = ["U1", "U2", "U3"]
    context.lakehouse.write(DIM_COMPRESSOR, spark.createDataFrame(pa.table({
        "compressor_id": units, "model": ["Ariel JGK/4", "Dresser-Rand HOS", "Ariel JGK/4"],
        "station_id": ["ST-1", "ST-1", "ST-2"], "basin": ["Permian", "Permian", "Bakken"],
        "install_date": pa.array([date(2020, 1, 1)] * 3, pa.date32()),
        "latitude": [31.0, 31.1, 47.9], "longitude": [-102.0, -102.1, -103.2]})))
    context.lakehouse.write(DIM_STATION, spark.createDataFrame(pa.table({
        "station_id": ["ST-1", "ST-2"], "station_name": ["One", "Two"], "basin": ["Permian", "Bakken"],
        "latitude": [31.0, 47.9], "longitude": [-102.0, -103.2]})))
    return context


def _readings(unit: str, start: datetime, minutes: int, processed: datetime, model: str = "Ariel JGK/4",
              skip: set[int] = frozenset(), **shape) -> list[dict]:
    """5-minute readings; `shape[sensor](k)` gives the k-th reading's value (default: wobble around normal)."""
    rows = []
    for k in range(minutes // 5):
        if k in skip:
            continue
        ts = start + timedelta(minutes=5 * k)
        values = {s: (shape[s](k) if s in shape else NORMAL[s] * (1 + 0.01 * math.sin(k * 0.9 + i)))
                  for i, s in enumerate(SENSOR_COLUMNS)}
        rows.append({"compressor_id": unit, "timestamp": ts, **values, "model": model, "station_id": "ST-1",
                     "basin": "Permian", "event_id": f"{unit}-{ts.isoformat()}", "ingested_at": processed,
                     "silver_run_id": "test", "processed_at": processed, "date": ts.date()})
    return rows


def _store(ctx, rows: list[dict]) -> None:
    schema = telemetry_clean_schema()
    arrow = pa.Table.from_pylist(rows, schema=pa.schema(
        [pa.field(f.name, {"string": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"), "double": pa.float64(),
                           "date": pa.date32()}[f.dataType.typeName()]) for f in schema.fields]))
    ctx.lakehouse.write(TELEMETRY_CLEAN, arrow, mode="append", partition_by=["date"])
    # Gold takes only rows of recorded Silver runs (a run killed before its record is not one).
    if not ctx.lakehouse.exists(tables.SILVER_RUNS):
        ctx.lakehouse.write(tables.SILVER_RUNS, small_frame(ctx.spark, [{
            "run_id": "test", "as_of": T0, "raw_rows": 0, "clean_rows": 0, "rejected_rows": 0, "duplicate_rows": 0,
            "balanced": True, "quality_passed": True, "finished_at": T0}], silver_runs_schema()))


def _rows(df) -> dict:
    return {(r["compressor_id"], r["agg_timestamp"], r["window_type"]): r for r in df.toArrow().to_pylist()}


def _recompute(ctx):
    """sensor_readings_agg straight from telemetry_clean: every (unit, hour with readings) x window, by SQL."""
    clean = ctx.lakehouse.read(TELEMETRY_CLEAN)
    anchors = clean.select("compressor_id", F.date_trunc("hour", "timestamp").alias("agg_timestamp")).distinct()
    kinds = ctx.spark.createDataFrame(pa.table({"window_type": list(WINDOW_HOURS),
                                                "hours": list(WINDOW_HOURS.values())}))
    joined = (anchors.crossJoin(kinds).join(clean, "compressor_id")
              .where((F.col("timestamp") >= F.col("agg_timestamp") - F.make_dt_interval(hours=F.col("hours") - 1))
                     & (F.col("timestamp") < F.col("agg_timestamp") + F.expr("INTERVAL 1 HOUR"))))
    temp_time = F.when(F.col("discharge_temp_f").isNotNull(), F.col("timestamp"))
    aggs = [F.count(F.lit(1)).alias("reading_count")]
    for s in SENSOR_COLUMNS:
        aggs += [F.avg(s).alias(f"{s}_mean"), F.stddev_samp(s).alias(f"{s}_std"), F.min(s).alias(f"{s}_min"),
                 F.max(s).alias(f"{s}_max")]
    aggs += [F.avg(F.col("discharge_pressure_psi") - F.col("suction_pressure_psi")).alias("pressure_differential_mean"),
             F.min_by("discharge_temp_f", temp_time).alias("_v0"), F.max_by("discharge_temp_f", temp_time).alias("_v1"),
             F.min(temp_time).alias("_t0"), F.max(temp_time).alias("_t1")]
    grouped = joined.groupBy("compressor_id", "agg_timestamp", "window_type").agg(*aggs)
    hours = (F.unix_micros("_t1") - F.unix_micros("_t0")) / 3.6e9
    return _rows(grouped.select("*", F.when(hours > 0, (F.col("_v1") - F.col("_v0")) / hours)
                                .alias("temp_rate_of_change_f_per_hr")))


def _assert_matches_recomputation(ctx) -> int:
    stored, expected = _rows(ctx.lakehouse.read(tables.SENSOR_READINGS_AGG)), _recompute(ctx)
    assert stored.keys() == expected.keys()
    columns = ["reading_count", "pressure_differential_mean", "temp_rate_of_change_f_per_hr",
               *[f"{s}_{k}" for s in SENSOR_COLUMNS for k in ("mean", "std", "min", "max")]]
    for key, want in expected.items():
        got = stored[key]
        for c in columns:
            if want[c] is None:
                assert got[c] is None, (key, c)
            else:
                assert got[c] == pytest.approx(want[c], rel=1e-9, abs=1e-9), (key, c, got[c], want[c])
    return len(expected)


def test_hourly_runs_build_windows_from_stored_partials_and_match_a_recomputation(ctx, monkeypatch):
    """Hour by hour, Gold reads only the readings of the new hour and adds windows up from its hourly partials;
    a Gold whose partials state was never built (or was lost) rebuilds what it needs and stays exact. The files of
    the dates written are counted (for OPTIMIZE) every `optimize_check_every_runs` runs and whenever a run writes
    more dates than an hourly run does (a backfill, last), not on every run."""
    import dataclasses


    ctx = dataclasses.replace(ctx, settings=dataclasses.replace(
        ctx.settings, gold=dataclasses.replace(ctx.settings.gold, optimize_check_every_runs=2)))
    checked: list[tuple[int, str]] = []
    real_check = ctx.lakehouse.optimize_if_fragmented
    for hour in range(5):
        at = T0 + timedelta(hours=hour)
        _store(ctx, _readings("U1", at, 60, at + timedelta(minutes=61), discharge_temp_f=lambda k, h=hour: 190.0 + h)
               + _readings("U2", at, 60, at + timedelta(minutes=61)))
        if hour == 3:  # the state table vanishes: the next run rebuilds the 23 hours before from the readings
            import shutil
            shutil.rmtree(ctx.lakehouse.table_path(tables.SENSOR_HOURLY_PARTIALS))
        reads: list[tuple] = []
        real_read = ctx.lakehouse.read

        def spy(ref, version=None, _real=real_read, _reads=reads):
            _reads.append(str(ref))
            return _real(ref, version)

        def count(ref, zorder_by, partitions, min_files, _hour=hour):
            checked.append((_hour, str(ref).rsplit(".", 1)[-1], len(partitions["date"])))
            return real_check(ref, zorder_by, partitions, min_files)

        monkeypatch.setattr(ctx.lakehouse, "read", spy)
        monkeypatch.setattr(ctx.lakehouse, "optimize_if_fragmented", count)
        gold.run(ctx, as_of=at + timedelta(hours=1))
        monkeypatch.undo()
        assert reads.count("lh_gold_curated.sensor_hourly_partials") == 1  # the windows come from the state
    # Runs 0, 2 and 4 count both tables; runs 0 and 3 built the partials state over two dates (the 23 hours
    # before too), which an hourly run may also write, so run 3 (off schedule) counts nothing.
    assert checked == [(0, "sensor_hourly_partials", 2), (0, "sensor_readings_agg", 1),
                       (2, "sensor_hourly_partials", 1), (2, "sensor_readings_agg", 1),
                       (4, "sensor_hourly_partials", 1), (4, "sensor_readings_agg", 1)]
    partials = ctx.lakehouse.read(tables.SENSOR_HOURLY_PARTIALS)
    assert partials.count() == 10  # one row per unit and hour
    _assert_matches_recomputation(ctx)
    # Run 5 is off schedule, but a backfill of three days and more (more dates than an hourly run writes)
    # counts its dates anyway, so days of new files are compacted when they are written.
    checked.clear()
    late = T0 + timedelta(days=4)
    _store(ctx, _readings("U3", T0 + timedelta(hours=5), 3 * 24 * 60, late))
    monkeypatch.setattr(ctx.lakehouse, "optimize_if_fragmented", lambda ref, zorder_by, partitions, min_files: (
        checked.append((5, str(ref).rsplit(".", 1)[-1], len(partitions["date"])))
        or real_check(ref, zorder_by, partitions, min_files)))
    gold.run(ctx, as_of=late)
    assert {table for _, table, _ in checked} == {"sensor_hourly_partials", "sensor_readings_agg"}
    assert all(dates > gold_windows.HOURLY_DATES for _, _, dates in checked)


def test_windows_match_an_independent_recomputation_and_statuses_use_model_thresholds(ctx):
    """Every value of every window equals a direct SQL aggregation of telemetry_clean over its definition."""
    rows = (_readings("U1", T0, 30 * 60, T0, skip={7, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 200},
                      discharge_temp_f=lambda k: 200.0 + 0.25 * k)
            + _readings("U2", T0 + timedelta(hours=2), 26 * 60, T0, model="Dresser-Rand HOS",
                        vibration_mms=lambda k: 5.5 if k < 100 else None)
            + _readings("U3", T0, 3 * 60, T0))
    _store(ctx, rows)
    result = gold.run(ctx, as_of=T0 + timedelta(hours=30))
    assert _assert_matches_recomputation(ctx) == result.rows_out
    stored = _rows(ctx.lakehouse.read(tables.SENSOR_READINGS_AGG))
    # U2 is a Dresser-Rand HOS: its model's vibration warning is 5.0, so a 5.5 mean is a warning (fleet: 6.0).
    assert stored[("U2", T0 + timedelta(hours=3), "1hr")]["vibration_mms_status"] == "warning"
    assert stored[("U1", T0 + timedelta(hours=3), "1hr")]["vibration_mms_status"] == "normal"
    assert stored[("U2", T0 + timedelta(hours=27), "1hr")]["vibration_mms_status"] is None  # no readings
    late = stored[("U1", T0 + timedelta(hours=20), "24hr")]
    assert late["window_start"] == T0 - timedelta(hours=3) and late["window_end"] == T0 + timedelta(hours=21)
    assert late["temp_rate_of_change_f_per_hr"] == pytest.approx(3.0)  # 0.25 F per 5 minutes


def test_rerun_changes_nothing_and_a_late_reading_updates_its_hour_and_the_windows_it_feeds(ctx):
    _store(ctx, _readings("U1", T0, 30 * 60, T0, skip={70}))
    gold.run(ctx, as_of=T0 + timedelta(hours=30))
    before = {name: _rows(ctx.lakehouse.read(ref)) if name == "agg" else
              sorted(map(str, ctx.lakehouse.read(ref).collect()))
              for name, ref in (("agg", tables.SENSOR_READINGS_AGG), ("alerts", tables.ALERTS),
                                ("fleet", tables.FLEET_HEALTH), ("stations", tables.STATION_HEALTH))}
    again = gold.run(ctx, as_of=T0 + timedelta(hours=30))
    assert (again.rows_in, again.rows_out, again.details["alerts_changed"]) == (0, 0, 0)
    assert _rows(ctx.lakehouse.read(tables.SENSOR_READINGS_AGG)) == before["agg"]
    for name, ref in (("alerts", tables.ALERTS), ("fleet", tables.FLEET_HEALTH), ("stations", tables.STATION_HEALTH)):
        assert sorted(map(str, ctx.lakehouse.read(ref).collect())) == before[name]

    late_at = T0 + timedelta(hours=30, minutes=5)
    late = [r for r in _readings("U1", T0, 30 * 60, late_at) if r["timestamp"] == T0 + timedelta(minutes=350)]
    _store(ctx, late)  # the reading at 05:50 arrives a day late
    result = gold.run(ctx, as_of=T0 + timedelta(hours=31))
    assert result.rows_in == 1
    assert result.rows_out == 24 * 3  # the anchors whose 24-hour window holds 05:50 (05:00..28:00), x 3 windows
    _assert_matches_recomputation(ctx)
    stored = _rows(ctx.lakehouse.read(tables.SENSOR_READINGS_AGG))
    assert stored[("U1", T0 + timedelta(hours=5), "1hr")]["reading_count"] == 12
    assert stored[("U1", T0 + timedelta(hours=28), "24hr")]["reading_count"] == 24 * 12


def _temperature_story(k: int) -> float:
    """Normal for 2 h, 245 F (warning) for 6 h, then normal again."""
    return 245.0 if 24 <= k < 96 else 200.0


def test_a_warning_escalates_when_unacknowledged_and_resolves_after_normal_readings(ctx):
    _store(ctx, _readings("U1", T0, 14 * 60, T0, discharge_temp_f=_temperature_story))
    gold.run(ctx, as_of=T0 + timedelta(hours=14))
    alerts = [a for a in gold_alerts.list_alerts(ctx, status=None) if a["alert_type"] == "threshold"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert["sensor"], alert["opened_at"], alert["last_breach_at"]) == (
        "discharge_temp_f", T0 + timedelta(hours=2), T0 + timedelta(hours=7))
    assert (alert["severity"], alert["escalation_reason"], alert["escalated_at"]) == (
        "critical", "unacknowledged", T0 + timedelta(hours=6))
    assert (alert["status"], alert["resolved_at"]) == ("resolved", T0 + timedelta(hours=10))
    assert alert["peak_value"] == pytest.approx(245.0) and alert["threshold_value"] == 240.0


def test_an_acknowledged_warning_does_not_escalate_and_ack_is_kept(ctx):
    _store(ctx, _readings("U1", T0, 4 * 60, T0, discharge_temp_f=_temperature_story))
    gold.run(ctx, as_of=T0 + timedelta(hours=4))
    (alert,) = gold_alerts.list_alerts(ctx)
    assert alert["severity"] == "warning"
    gold_alerts.acknowledge(ctx, alert["alert_id"], by="night shift", at=T0 + timedelta(hours=4))
    with pytest.raises(UsageError, match="no alert with id"):
        gold_alerts.acknowledge(ctx, "nope", by="x")
    more = [r for r in _readings("U1", T0, 14 * 60, T0 + timedelta(hours=14), discharge_temp_f=_temperature_story)
            if r["timestamp"] >= T0 + timedelta(hours=4)]
    _store(ctx, more)
    gold.run(ctx, as_of=T0 + timedelta(hours=14))
    (after,) = [a for a in gold_alerts.list_alerts(ctx, status=None) if a["alert_id"] == alert["alert_id"]]
    assert (after["severity"], after["escalated_at"], after["acknowledged"], after["acknowledged_by"]) == (
        "warning", None, True, "night shift")
    assert after["status"] == "resolved"


def test_a_silent_unit_gets_one_freshness_alert_resolved_by_its_next_reading(ctx):
    _store(ctx, _readings("U1", T0, 12 * 60, T0) + _readings("U3", T0, 12 * 60, T0, skip=set(range(36, 96))))
    first = gold.run(ctx, as_of=T0 + timedelta(hours=12))
    fresh = [a for a in gold_alerts.list_alerts(ctx, status=None) if a["alert_type"] == "data_freshness"]
    last = T0 + timedelta(minutes=5 * 35)
    assert [(a["compressor_id"], a["opened_at"], a["resolved_at"]) for a in fresh] == [
        ("U3", last + timedelta(hours=3), T0 + timedelta(hours=8))]
    assert first.details["units_stale"] == 0
    _store(ctx, [r for r in _readings("U1", T0, 13 * 60, T0 + timedelta(hours=13))
                 if r["timestamp"] >= T0 + timedelta(hours=12)])
    later = gold.run(ctx, as_of=T0 + timedelta(hours=16))
    stale = {a["compressor_id"]: a["opened_at"] for a in gold_alerts.list_alerts(ctx) if a["alert_type"] == "data_freshness"}
    # U3's last reading was 11:55 and U1's 12:55: by 16:00 both have been silent for 3 hours.
    assert stale == {"U3": T0 + timedelta(hours=14, minutes=55), "U1": T0 + timedelta(hours=15, minutes=55)}
    fleet = {r["compressor_id"]: r for r in ctx.lakehouse.read(tables.FLEET_HEALTH).toArrow().to_pylist()}
    assert fleet["U3"]["data_status"] == "stale" and fleet["U3"]["open_freshness_alerts"] == 1
    assert fleet["U2"]["data_status"] == "never_reported"
    assert later.details["units_stale"] == 2


def test_gold_keeps_its_own_state_so_a_dropped_serving_table_is_rebuilt_as_it_was(ctx):
    """Gold's state (each unit's newest reading and statuses) lives in gold_unit_state, not in fleet_health:
    with fleet_health dropped (a report owner reshaping it, say) the next run rebuilds it as it was."""
    import shutil

    _store(ctx, _readings("U1", T0, 2 * 60, T0) + _readings("U3", T0, 60, T0, discharge_temp_f=lambda k: 265.0))
    gold.run(ctx, as_of=T0 + timedelta(hours=2))
    state = {r["compressor_id"]: r for r in ctx.lakehouse.read(tables.GOLD_UNIT_STATE).toArrow().to_pylist()}
    assert set(state) == {"U1", "U2", "U3"}
    assert state["U1"]["last_reading_at"] == T0 + timedelta(minutes=115) and state["U2"]["last_reading_at"] is None
    assert state["U3"]["discharge_temp_f"] == 265.0 and state["U3"]["discharge_temp_f_status"] == "critical"
    before = {r["compressor_id"]: r for r in ctx.lakehouse.read(tables.FLEET_HEALTH).toArrow().to_pylist()}

    shutil.rmtree(ctx.lakehouse.table_path(tables.FLEET_HEALTH))
    gold.run(ctx, as_of=T0 + timedelta(hours=2))
    after = {r["compressor_id"]: r for r in ctx.lakehouse.read(tables.FLEET_HEALTH).toArrow().to_pylist()}
    kept = ("last_reading_at", *SENSOR_COLUMNS, *[f"{s}_status" for s in SENSOR_COLUMNS], "status", "data_status")
    assert {u: {k: r[k] for k in kept} for u, r in after.items()} == {
        u: {k: r[k] for k in kept} for u, r in before.items()}
