"""The Delta contract every back end honours, run against delta-rs and (when its jars are loaded) Spark-native Delta."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from altaviz.errors import LakehouseError
from altaviz.lakehouse import Bounds, Lakehouse, LocalLakehousePaths, TableRef
from altaviz.lakehouse.deltars import DeltaRsBackend
from altaviz.lakehouse.spark_delta import SparkDeltaBackend
from altaviz.runtime.spark import has_spark_delta

SPARK_DELTA_MISSING = ("Delta Lake jars are not on the Spark classpath: `make test` fetches them from Maven Central "
                       "(python -m altaviz.runtime.jvm fetch); this suite must run against Spark-native Delta")
READINGS = TableRef("lh_silver_cleaned", "telemetry_clean")
SCHEMA = T.StructType([
    T.StructField("compressor_id", T.StringType()),
    T.StructField("timestamp", T.TimestampType()),
    T.StructField("date", T.DateType()),
    T.StructField("vibration_mms", T.DoubleType()),
])


def _ts(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def _rows(*specs: tuple[str, int, int, float]) -> list[tuple]:
    return [(cid, _ts(day, hour), date(2024, 3, day), vib) for cid, day, hour, vib in specs]


@pytest.fixture(params=[
    pytest.param("delta-rs", id="delta-rs"),
    pytest.param("spark-delta", id="spark-delta", marks=pytest.mark.spark_delta),
])
def lh(request, spark, tmp_path) -> Lakehouse:
    """A lakehouse in a fresh folder, on the back end under test."""
    if request.param == "spark-delta":
        if not has_spark_delta(spark):
            pytest.fail(SPARK_DELTA_MISSING)
        backend = SparkDeltaBackend(spark)
    else:
        backend = DeltaRsBackend(spark)
    return Lakehouse(spark, LocalLakehousePaths(tmp_path / "lakehouse"), backend)


@pytest.fixture()
def frame(spark):
    """Build a DataFrame from tuples via Arrow (a LocalRelation: no Python workers, so fast)."""
    def build(rows: list[tuple], schema: T.StructType = SCHEMA):
        arrow = pa.Table.from_pylist([dict(zip(schema.fieldNames(), row)) for row in rows],
                                     schema=to_arrow_schema(schema))
        return spark.createDataFrame(arrow, schema=schema)
    return build


def assert_same_rows(actual, expected) -> None:
    """Same columns and the same rows in any order (pyspark.testing needs pandas-on-Spark, which pandas 3 breaks)."""
    expected_rows = expected if isinstance(expected, list) else expected.collect()
    if not isinstance(expected, list):
        assert actual.columns == expected.columns
    assert sorted(map(tuple, actual.collect()), key=repr) == sorted(map(tuple, expected_rows), key=repr)


def _log_commits(table_path: str) -> list[list[dict]]:
    """Every JSON commit of a table, in version order, as lists of actions."""
    logs = sorted(Path(table_path, "_delta_log").glob("*.json"))
    return [[json.loads(line) for line in log.read_text().splitlines() if line.strip()] for log in logs]


def _log_schema(table_path: str) -> dict:
    """The latest schema recorded in the Delta log."""
    metadata = [a["metaData"] for commit in _log_commits(table_path) for a in commit if "metaData" in a]
    return json.loads(metadata[-1]["schemaString"])


def _active_files(table_path: str) -> set[str]:
    """Data files the latest version references, replayed from the JSON log."""
    active: set[str] = set()
    for commit in _log_commits(table_path):
        for action in commit:
            if "add" in action:
                active.add(action["add"]["path"])
            elif "remove" in action:
                active.discard(action["remove"]["path"])
    return active


def test_append_creates_table(lh, frame):
    """Appending to an absent table creates it at version 0 with exactly the rows written."""
    df = frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 1, 0, 2.0)))
    assert not lh.exists(READINGS)
    assert lh.write(READINGS, df) == 0
    assert lh.exists(READINGS)
    assert_same_rows(lh.read(READINGS), df)
    assert lh.read(READINGS).columns == SCHEMA.fieldNames()


def test_append_partitioned(lh, frame):
    """Partitioned appends write `date=` folders and read the partition column back as a typed date."""
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0))), partition_by=["date"])
    version = lh.write(READINGS, frame(_rows(("C-1", 2, 0, 1.5), ("C-2", 2, 1, 2.5))), partition_by=["date"])
    table = Path(lh.table_path(READINGS))
    assert version == 1
    assert {p.name for p in table.glob("date=*")} == {"date=2024-03-01", "date=2024-03-02"}
    df = lh.read(READINGS)
    assert df.schema["date"].dataType == T.DateType()
    assert df.columns == SCHEMA.fieldNames()
    assert sorted(r["date"] for r in df.collect()) == [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 2)]
    assert df.filter(F.col("date") == date(2024, 3, 2)).count() == 2


def test_overwrite_replaces_rows(lh, frame):
    """An overwrite leaves only the new rows."""
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 1, 0, 2.0))))
    replacement = frame(_rows(("C-3", 1, 0, 3.0)))
    assert lh.write(READINGS, replacement, mode="overwrite") == 1
    assert_same_rows(lh.read(READINGS), replacement)


def test_append_missing_columns_reads_null(lh, frame):
    """An append lacking some table columns stores nulls for them (Delta's schema enforcement allows it)."""
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0))))
    lh.write(READINGS, frame(_rows(("C-2", 1, 0, 2.0))).select("compressor_id", "timestamp", "date"))
    assert {r["compressor_id"]: r["vibration_mms"] for r in lh.read(READINGS).collect()} == {"C-1": 1.0, "C-2": None}


def test_merge_updates_matched_and_inserts_new(lh, frame):
    """MERGE updates rows whose keys match, inserts the rest and reports both counts."""
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 1, 0, 2.0))))
    source = frame(_rows(("C-2", 1, 0, 20.0), ("C-3", 1, 0, 3.0)))
    metrics = (lh.merge(READINGS, source, on=["compressor_id", "timestamp"])
               .when_matched_update_all().when_not_matched_insert_all().execute())
    assert (metrics.rows_inserted, metrics.rows_updated, metrics.version) == (1, 1, 1)
    expected = frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 1, 0, 20.0), ("C-3", 1, 0, 3.0)))
    assert_same_rows(lh.read(READINGS), expected)


def test_merge_rerun_is_idempotent(lh, frame):
    """Re-running a MERGE with the same source inserts nothing and leaves the rows as they were."""
    source = frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 1, 0, 2.0)))
    first = lh.merge(READINGS, source, on=["compressor_id", "timestamp"], partition_by=["date"]) \
        .when_matched_update_all().when_not_matched_insert_all().execute()
    assert (first.rows_inserted, first.rows_updated) == (2, 0)
    again = lh.merge(READINGS, source, on=["compressor_id", "timestamp"]) \
        .when_matched_update_all().when_not_matched_insert_all().execute()
    assert again.rows_inserted == 0
    assert again.version > first.version
    assert_same_rows(lh.read(READINGS), source)


def test_merge_insert_only_keeps_existing_rows(lh, frame):
    """A MERGE with only the insert clause never changes rows already there."""
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0))))
    metrics = lh.merge(READINGS, frame(_rows(("C-1", 1, 0, 9.0), ("C-2", 1, 0, 2.0))),
                       on=["compressor_id", "timestamp"]).when_not_matched_insert_all().execute()
    assert (metrics.rows_inserted, metrics.rows_updated) == (1, 0)
    assert_same_rows(lh.read(READINGS), frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 1, 0, 2.0))))


def test_merge_bounded_by_range_never_opens_files_outside_it(lh, frame):
    """A MERGE given the range of its source's times skips files whose statistics lie outside it.

    The file holding hour 0 is moved away during the MERGE: a MERGE that opened it would fail.
    """
    path = lh.table_path(READINGS)
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 1, 0, 2.0))), partition_by=["date"])
    hour_0 = _active_files(path)
    lh.write(READINGS, frame(_rows(("C-1", 1, 2, 1.0), ("C-2", 1, 2, 2.0))))
    for name in hour_0:
        Path(path, name).rename(Path(path, name + ".away"))
    source = frame(_rows(("C-1", 1, 2, 10.0), ("C-3", 1, 2, 3.0)))
    metrics = (lh.merge(READINGS, source, on=["compressor_id", "timestamp", "date"],
                        target_ranges={"timestamp": Bounds(_ts(1, 2), _ts(1, 2))})
               .when_matched_update_all().when_not_matched_insert_all().execute())
    for name in hour_0:
        Path(path, name + ".away").rename(Path(path, name))
    assert (metrics.rows_inserted, metrics.rows_updated) == (1, 1)
    assert_same_rows(lh.read(READINGS), frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 1, 0, 2.0), ("C-1", 1, 2, 10.0),
                                                    ("C-2", 1, 2, 2.0), ("C-3", 1, 2, 3.0))))


def test_merge_range_keeping_nulls_matches_rows_without_a_time(lh, frame):
    """Bounds with `or_null` let a source row with no time match the stored copy instead of adding another."""
    lh.write(READINGS, frame([("C-1", None, None, 1.0), ("C-2", _ts(1, 1), date(2024, 3, 1), 2.0)]))
    source = frame([("C-1", None, None, 1.0), ("C-3", _ts(1, 1), date(2024, 3, 1), 3.0)])
    metrics = (lh.merge(READINGS, source, on=["compressor_id"],
                        target_ranges={"timestamp": Bounds(_ts(1, 1), _ts(1, 1), or_null=True)})
               .when_not_matched_insert_all().execute())
    assert metrics.rows_inserted == 1
    assert sorted(r.compressor_id for r in lh.read(READINGS).collect()) == ["C-1", "C-2", "C-3"]


def test_clustered_write_sorts_each_partition_by_time(lh, frame):
    """`cluster_by` stores each partition's rows in time order, so files span narrow time ranges."""
    import pyarrow.parquet as pq

    rows = _rows(*[(f"C-{i}", 1 + i % 2, 23 - i, float(i)) for i in range(20)])
    lh.write(READINGS, frame(rows), partition_by=["date"], cluster_by=["timestamp"])
    path = lh.table_path(READINGS)
    for name in _active_files(path):
        stored = pq.read_table(Path(path, name)).column("timestamp").to_pylist()
        assert stored == sorted(stored)
    assert lh.read(READINGS).count() == 20


def test_arrow_rows_write_and_merge_like_dataframes(lh, frame):
    """An Arrow table the driver already holds is written and merged exactly as the same DataFrame would be."""
    def arrow(rows):
        return frame(rows).toArrow()

    lh.write(READINGS, arrow(_rows(("C-1", 1, 0, 1.0))), partition_by=["date"])
    metrics = (lh.merge(READINGS, arrow(_rows(("C-1", 1, 0, 9.0), ("C-2", 2, 5, 2.0))),
                        on=["compressor_id", "timestamp", "date"], partition_by=["date"])
               .when_not_matched_insert_all().execute())
    assert (metrics.rows_inserted, metrics.rows_updated) == (1, 0)
    stored = lh.read(READINGS)
    assert stored.schema["timestamp"].dataType == T.TimestampType()
    assert_same_rows(stored, frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 2, 5, 2.0))))


def test_schema_evolution_adds_column(lh, frame):
    """An append with merge_schema adds the new column and old rows read it as null."""
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0))))
    wider = frame(_rows(("C-2", 1, 0, 2.0))).withColumn("gas_flow_mcf", F.lit(5.5))
    with pytest.raises(LakehouseError):
        lh.write(READINGS, wider)
    lh.write(READINGS, wider, merge_schema=True)
    df = lh.read(READINGS)
    assert df.columns == [*SCHEMA.fieldNames(), "gas_flow_mcf"]
    assert {r["compressor_id"]: r["gas_flow_mcf"] for r in df.collect()} == {"C-1": None, "C-2": 5.5}


def test_merge_with_schema_evolution_adds_column(lh, frame):
    """A MERGE with schema evolution adds the source's new column; untouched rows get null."""
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0), ("C-2", 1, 0, 2.0))))
    source = frame(_rows(("C-2", 1, 0, 20.0))).withColumn("status", F.lit("ok"))
    metrics = (lh.merge(READINGS, source, on=["compressor_id", "timestamp"]).when_matched_update_all()
               .when_not_matched_insert_all().with_schema_evolution().execute())
    assert metrics.rows_updated == 1
    assert {r["compressor_id"]: r["status"] for r in lh.read(READINGS).collect()} == {"C-1": None, "C-2": "ok"}


def test_optimize_zorder_reduces_files_and_keeps_rows(lh, frame):
    """OPTIMIZE with Z-ORDER rewrites many small files into fewer and keeps every row."""
    for day in (1, 2, 3, 4):
        lh.write(READINGS, frame(_rows((f"C-{day}", day, 0, float(day)), ("C-9", day, 1, 9.0))))
    path = lh.table_path(READINGS)
    before, rows = len(_active_files(path)), lh.read(READINGS)
    expected = rows.collect()
    metrics = lh.optimize(READINGS, zorder_by=["compressor_id"])
    after = len(_active_files(path))
    assert before >= 4 and after < before
    assert metrics.files_removed >= 4 and metrics.files_added == after
    assert metrics.version == lh.version(READINGS)
    assert_same_rows(lh.read(READINGS), expected)


def test_optimize_only_touches_the_given_partitions(lh, frame):
    """OPTIMIZE limited to one date rewrites that partition's files and leaves the other date's files alone."""
    for hour in range(3):
        lh.write(READINGS, frame(_rows(("C-1", 1, hour, 1.0), ("C-2", 2, hour, 2.0))), partition_by=["date"])
    before = {f for f in lh.read(READINGS).inputFiles() if "date=2024-03-02" in f}
    lh.optimize(READINGS, zorder_by=["compressor_id"], partitions={"date": [date(2024, 3, 1)]})
    files = lh.read(READINGS).inputFiles()
    assert sum("date=2024-03-01" in f for f in files) == 1
    assert {f for f in files if "date=2024-03-02" in f} == before
    assert lh.read(READINGS).count() == 6


def test_read_older_version(lh, frame):
    """Reading an earlier version returns the rows as they were then."""
    v0 = frame(_rows(("C-1", 1, 0, 1.0)))
    lh.write(READINGS, v0)
    lh.write(READINGS, frame(_rows(("C-2", 1, 0, 2.0))))
    assert_same_rows(lh.read(READINGS, version=0), v0)
    assert lh.read(READINGS).count() == 2


def test_vacuum_removes_unreferenced_files(lh, frame):
    """VACUUM deletes replaced and orphaned files; the latest version still reads, the overwritten one not."""
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0))))
    old_files = _active_files(lh.table_path(READINGS))
    current = frame(_rows(("C-2", 1, 0, 2.0)))
    lh.write(READINGS, current, mode="overwrite")
    orphan = Path(lh.table_path(READINGS), "part-00000-left-by-a-failed-write.snappy.parquet")
    orphan.write_bytes(b"not referenced by any commit")
    removed = lh.vacuum(READINGS, retention_hours=0)
    assert len(removed) == len(old_files) + 1 >= 2
    assert not orphan.exists()
    assert not any(Path(lh.table_path(READINGS), f).exists() for f in old_files)
    assert_same_rows(lh.read(READINGS), current)
    # delta-rs fails on read; Spark on the scan, where a missing file arrives from the JVM as a Py4JJavaError.
    with pytest.raises((LakehouseError, PySparkException, Py4JJavaError)):
        lh.read(READINGS, version=0).collect()


def test_timestamps_round_trip_as_utc_timestamp(lh, frame, spark):
    """Timestamps (zoned or naive) are stored as Delta `timestamp`, read as TimestampType, same instants."""
    schema = T.StructType([T.StructField("compressor_id", T.StringType()),
                           T.StructField("timestamp", T.TimestampType()),
                           T.StructField("received_at", T.TimestampNTZType())])
    instant = datetime(2024, 3, 1, 23, 59, 59, 123456, tzinfo=UTC)
    lh.write(READINGS, frame([("C-1", instant, instant.replace(tzinfo=None))], schema))
    types = {f["name"]: f["type"] for f in _log_schema(lh.table_path(READINGS))["fields"]}
    assert types == {"compressor_id": "string", "timestamp": "timestamp", "received_at": "timestamp"}
    df = lh.read(READINGS)
    assert isinstance(df.schema["timestamp"].dataType, T.TimestampType)
    assert isinstance(df.schema["received_at"].dataType, T.TimestampType)
    micros = df.select(F.unix_micros("timestamp").alias("a"), F.unix_micros("received_at").alias("b")).first()
    expected = int(instant.timestamp()) * 1_000_000 + instant.microsecond
    assert (micros["a"], micros["b"]) == (expected, expected)


def test_empty_dataframe_write(lh, frame):
    """Writing an empty DataFrame creates a table with the schema and no rows; later appends work."""
    lh.write(READINGS, frame([]), partition_by=["date"])
    empty = lh.read(READINGS)
    assert empty.count() == 0
    assert [(f.name, f.dataType) for f in empty.schema] == [(f.name, f.dataType) for f in SCHEMA]
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0))))
    assert lh.read(READINGS).count() == 1


def test_history_is_newest_first(lh, frame):
    """History lists commits newest first with version, UTC timestamp and operation."""
    lh.write(READINGS, frame(_rows(("C-1", 1, 0, 1.0))))
    lh.write(READINGS, frame(_rows(("C-2", 1, 0, 2.0))))
    history = lh.history(READINGS)
    assert [h["version"] for h in history] == [1, 0]
    assert all(h["timestamp"].tzinfo is not None and h["operation"] for h in history)
    assert len(lh.history(READINGS, limit=1)) == 1


def test_read_missing_table_raises(lh):
    """Reading a table that was never written names the table and its path."""
    with pytest.raises(LakehouseError, match="lh_silver_cleaned.telemetry_clean") as err:
        lh.read(READINGS)
    assert lh.table_path(READINGS) in str(err.value)
