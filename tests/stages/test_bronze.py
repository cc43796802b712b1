"""Bronze ingest: files land once, bad files are set aside with reasons, and nothing received is lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from altaviz import tables
from altaviz.errors import UsageError
from altaviz.lakehouse.backend import Bounds
from altaviz.lakehouse.paths import LocalLakehousePaths
from altaviz.runtime.context import RunContext
from altaviz.schemas import SENSOR_COLUMNS
from altaviz.stages import bronze

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def _readings(units: int, steps: int, start: datetime = T0, offset: float = 0.0) -> list[dict]:
    return [
        {"compressor_id": f"CMP-{u:05d}", "timestamp": start + timedelta(minutes=5 * s),
         "vibration_mms": 3.0 + u / 10 + offset, "discharge_temp_f": 200.0 + s, "suction_pressure_psi": 55.0,
         "discharge_pressure_psi": 1050.0, "horsepower_consumption": 1400.0, "gas_flow_mcf": 10000.0 + s}
        for u in range(units) for s in range(steps)
    ]


def write_parquet(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("compressor_id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
                        *[(c, pa.float64()) for c in SENSOR_COLUMNS]])
    pq.write_table(pa.Table.from_pylist(rows, schema), path)
    return path


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or ["compressor_id", "timestamp", *SENSOR_COLUMNS]
    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join(
            (r[c].isoformat().replace("+00:00", "Z") if isinstance(r.get(c), datetime) else str(r.get(c, "")))
            for c in columns))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({k: (v.isoformat() if isinstance(v, datetime) else v)
                                        for k, v in r.items()}) + "\n" for r in rows))
    return path


@pytest.fixture()
def ctx(spark, tmp_path):
    return RunContext.create(spark, LocalLakehousePaths(tmp_path / "lh"))


@pytest.fixture()
def landing(ctx) -> Path:
    return Path(ctx.paths.files_path("lh_bronze_raw", ctx.settings.bronze.landing_dir))


def raw_count(ctx) -> int:
    return ctx.lakehouse.read(tables.TELEMETRY_RAW).count()


def test_landing_files_in_every_format_land_with_lineage(ctx, landing):
    """Parquet, CSV and JSON-lines files land; each row carries event id, source file and ingestion date."""
    write_parquet(landing / "date=2026-11-20" / "a.parquet", _readings(3, 4))
    write_csv(landing / "date=2026-11-20" / "b.csv", _readings(2, 3, start=T0 + timedelta(hours=1)))
    write_jsonl(landing / "date=2026-11-20" / "c.jsonl", _readings(2, 2, start=T0 + timedelta(hours=2)))
    result = bronze.run(ctx)
    assert result.details["files_landed"] == 3 and result.details["files_rejected"] == []
    assert result.rows_in == result.rows_out == 12 + 6 + 4
    raw = ctx.lakehouse.read(tables.TELEMETRY_RAW)
    assert raw.count() == 22
    assert raw.select("event_id").distinct().count() == 22
    assert {Path(r.source_file).name for r in raw.select("source_file").distinct().collect()} == {
        "a.parquet", "b.csv", "c.jsonl"}
    row = raw.where(F.col("source_file").endswith("b.csv")).orderBy("timestamp").first()
    assert row.timestamp.replace(tzinfo=None) == datetime(2026, 11, 20, 1, 0)
    assert row.ingestion_date == row.ingested_at.date()


def test_same_file_or_same_readings_again_add_no_rows(ctx, landing, tmp_path):
    """Re-running, re-sending the same readings in another file and format, adds nothing."""
    rows = _readings(4, 6)
    write_parquet(landing / "date=2026-11-20" / "a.parquet", rows)
    bronze.run(ctx)
    second = bronze.run(ctx)
    assert second.details["files_skipped"] == 1 and second.rows_out == 0
    resent = write_csv(tmp_path / "resend" / "again.csv", rows[:10] + _readings(1, 2, offset=9.0))
    third = bronze.run(ctx, sources=[str(resent)])
    assert third.rows_in == 12 and third.rows_out == 2 and third.details["rows_duplicate"] == 10
    assert raw_count(ctx) == 26


def test_readings_without_a_time_are_stored_once_when_resent(ctx, tmp_path):
    """A reading with no timestamp still matches its stored copy (the time-bounded check keeps null times)."""
    rows = _readings(2, 3)
    rows[0]["timestamp"] = None
    first = bronze.run(ctx, sources=[str(write_parquet(tmp_path / "a" / "x.parquet", rows))])
    assert first.rows_out == 6
    again = bronze.run(ctx, sources=[str(write_parquet(tmp_path / "b" / "x.parquet", rows[:2]))])
    assert again.rows_in == 2 and again.rows_out == 0
    only_untimed = bronze.run(ctx, sources=[str(write_parquet(tmp_path / "c" / "x.parquet", rows[:1]))])
    assert only_untimed.rows_out == 0
    assert raw_count(ctx) == 6


def test_the_duplicate_check_reads_only_partitions_a_batch_can_collide_with(spark, tmp_path):
    """An hourly batch is checked against the days it can be stored in, not against months of older partitions."""
    paths = LocalLakehousePaths(tmp_path / "lh")
    ingest_times = iter([T0, T0 + timedelta(days=30), T0 + timedelta(days=30, hours=1)])
    clock_now = {"t": T0}

    def clock() -> datetime:
        return clock_now["t"]

    ctx = RunContext.create(spark, paths, clock=clock)
    for i, at in enumerate(ingest_times):
        clock_now["t"] = at
        bronze.run(ctx, sources=[str(write_parquet(tmp_path / f"in{i}" / "x.parquet", _readings(3, 4, start=at)))])
    resent = write_parquet(tmp_path / "again" / "x.parquet", _readings(3, 4, start=T0 + timedelta(days=30)))
    assert bronze.run(ctx, sources=[str(resent)]).rows_out == 0  # a resend of the day-30 hour still lands once
    merges = [c for c in ctx.lakehouse.history(tables.TELEMETRY_RAW) if c["operation"] == "MERGE"]
    predicates = " ".join(c["operation_parameters"].get("predicate", "") for c in merges)
    assert "2026-11-20" not in predicates and "2026-12-20" in predicates  # day 0 is never a candidate again
    assert raw_count(ctx) == 36


@pytest.mark.parametrize(("first_reading", "today", "expected"), [
    (datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC),
     ["2026-11-19", "2026-11-20", "2026-11-21"]),
    (datetime(2026, 11, 18, 23, tzinfo=UTC), datetime(2026, 11, 20, 0, tzinfo=UTC),
     ["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]),
    (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC), ["2026-11-19", "2026-11-20", "2026-11-21"]),
], ids=["hourly", "backfill-of-two-days", "readings-from-the-future"])
def test_collision_dates_span_the_batch_from_its_first_reading_to_today(first_reading, today, expected):
    """The partitions checked run from a day before the batch's first reading to a day after today."""
    window = Bounds(first_reading, first_reading + timedelta(hours=1))
    assert [d.isoformat() for d in bronze.collision_dates(window, today)] == expected
    assert [d.isoformat() for d in bronze.collision_dates(None, today)] == [
        (today.date() + timedelta(days=k)).isoformat() for k in (-1, 0, 1)]


def test_repeats_inside_one_batch_land_once(ctx, landing):
    """A reading sent twice in one batch lands once and is counted as a duplicate."""
    rows = _readings(2, 3)
    write_parquet(landing / "d1" / "a.parquet", rows)
    write_parquet(landing / "d1" / "b.parquet", rows[:2])
    result = bronze.run(ctx)
    assert result.rows_in == 8 and result.rows_out == 6 and result.details["rows_duplicate"] == 2
    assert raw_count(ctx) == 6


def test_bad_files_are_set_aside_with_reasons_and_the_rest_lands(ctx, landing):
    """A truncated Parquet file and a CSV with wrong columns are set aside; good files beside them land."""
    good = write_parquet(landing / "date=2026-11-20" / "good.parquet", _readings(3, 3))
    write_csv(landing / "date=2026-11-20" / "good.csv", _readings(1, 2, start=T0 + timedelta(hours=3)))
    whole = write_parquet(landing / "date=2026-11-20" / "truncated.parquet", _readings(5, 5)).read_bytes()
    (landing / "date=2026-11-20" / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    (landing / "date=2026-11-20" / "wrong.csv").write_text("unit,time,value\nA,2026-11-20T00:00:00Z,1\n")
    (landing / "date=2026-11-20" / "notes.txt").write_text("hello")
    result = bronze.run(ctx)
    rejected = {Path(r["file"]).name: r for r in result.details["files_rejected"]}
    assert set(rejected) == {"truncated.parquet", "wrong.csv", "notes.txt"}
    assert "unreadable parquet" in rejected["truncated.parquet"]["reason"]
    assert "missing required column(s): compressor_id, timestamp" in rejected["wrong.csv"]["reason"]
    assert "unsupported file type '.txt'" in rejected["notes.txt"]["reason"]
    assert result.rows_out == 11 and raw_count(ctx) == 11
    for r in rejected.values():
        assert Path(r["set_aside_to"]).exists() and not Path(r["file"]).exists()
    assert good.exists()
    ledger = ctx.lakehouse.read(tables.INGESTED_FILES)
    reasons = {Path(r.source_file).name: (r.status, r.reason) for r in ledger.collect()}
    assert reasons["truncated.parquet"][0] == "rejected" and reasons["good.parquet"] == ("landed", None)
    assert bronze.run(ctx).details["files_rejected"] == []  # set aside once, not tripped over again


def test_unparseable_values_are_kept_for_silver_not_rejected_here(ctx, tmp_path):
    """'abc' in a numeric column is not a file error: the row lands with the text kept in unparsed_values."""
    path = tmp_path / "user" / "odd.csv"
    rows = _readings(1, 2)
    rows[0]["vibration_mms"] = "abc"
    write_csv(path, rows)
    result = bronze.run(ctx, sources=[str(path)])
    assert result.rows_out == 2
    bad = ctx.lakehouse.read(tables.TELEMETRY_RAW).where(F.col("unparsed_values").isNotNull()).collect()
    assert len(bad) == 1 and json.loads(bad[0].unparsed_values) == {"vibration_mms": "abc"}
    assert bad[0].vibration_mms is None


def test_extra_columns_are_ignored_and_listed(ctx, tmp_path):
    """Columns outside the contract do not block a file; the report lists them."""
    path = write_csv(tmp_path / "user" / "extra.csv", _readings(1, 2),
                     ["compressor_id", "timestamp", *SENSOR_COLUMNS])
    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0] + ",operator"] + [line + ",bob" for line in text[1:]]) + "\n")
    result = bronze.run(ctx, sources=[str(path)])
    assert result.rows_out == 2
    assert list(result.details["extra_columns"].values()) == [["operator"]]


def test_user_sources_that_do_not_exist_are_a_usage_error(ctx, tmp_path):
    """Naming a missing path fails at once with the path in the message."""
    with pytest.raises(UsageError, match="no such file or directory"):
        bronze.run(ctx, sources=[str(tmp_path / "nope.parquet")])


def test_user_files_are_never_moved(ctx, tmp_path):
    """A bad file the user named is reported but stays where it is."""
    bad = tmp_path / "user" / "bad.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("a,b\n1,2\n")
    result = bronze.run(ctx, sources=[str(bad)])
    assert result.details["files_rejected"][0]["set_aside_to"] is None
    assert bad.exists()


def test_telemetry_raw_timestamps_are_utc_timestamp_not_ntz(ctx, landing):
    """The Delta schema stores reading and ingestion times as TIMESTAMP (UTC), never TIMESTAMP_NTZ."""
    write_parquet(landing / "x" / "a.parquet", _readings(1, 1))
    bronze.run(ctx)
    log = Path(ctx.lakehouse.table_path(tables.TELEMETRY_RAW)) / "_delta_log"
    meta = next(json.loads(line)["metaData"] for f in sorted(log.glob("*.json"))
                for line in f.read_text().splitlines() if "metaData" in line)
    types = {f["name"]: f["type"] for f in json.loads(meta["schemaString"])["fields"]}
    assert types["timestamp"] == types["ingested_at"] == "timestamp"
    assert meta["partitionColumns"] == ["ingestion_date"]


def test_source_file_is_the_plain_path_even_with_odd_characters(ctx, tmp_path):
    """Spaces, plus and percent signs in a file name survive into source_file unchanged."""
    path = write_parquet(tmp_path / "user exports" / "day 1+2%.parquet", _readings(1, 2))
    result = bronze.run(ctx, sources=[str(path)])
    assert result.rows_out == 2
    files = {r.source_file for r in ctx.lakehouse.read(tables.TELEMETRY_RAW).select("source_file").collect()}
    assert files == {str(path.resolve())}


def test_naive_parquet_timestamps_are_read_as_utc(ctx, tmp_path):
    """A Parquet file whose timestamps carry no zone lands with those wall times taken as UTC."""
    path = tmp_path / "user" / "naive.parquet"
    path.parent.mkdir(parents=True)
    schema = pa.schema([("compressor_id", pa.string()), ("timestamp", pa.timestamp("us")),
                        *[(c, pa.float64()) for c in SENSOR_COLUMNS]])
    row = {"compressor_id": "C1", "timestamp": datetime(2026, 11, 20, 6, 30), **{c: 1.0 for c in SENSOR_COLUMNS}}
    pq.write_table(pa.Table.from_pylist([row], schema), path)
    assert bronze.run(ctx, sources=[str(path)]).rows_out == 1
    stored = ctx.lakehouse.read(tables.TELEMETRY_RAW).first().timestamp
    assert stored.replace(tzinfo=None) == datetime(2026, 11, 20, 6, 30)
