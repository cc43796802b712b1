"""Back-end specifics: delta-rs type normalisation and protocol checks, Spark-native Delta's session helpers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, TableFeatures, write_deltalake
from pyspark.sql import types as T

from altaviz.errors import LakehouseError
from altaviz.lakehouse.deltars import DeltaRsBackend, arrow_for_delta
from altaviz.lakehouse.spark_delta import session_conf, utc_timestamps

UTC_TS = pa.timestamp("us", tz="UTC")
INSTANT = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize("source_type", [
    pa.timestamp("us"), pa.timestamp("ns"), pa.timestamp("ms", tz="UTC"), pa.timestamp("us", tz="Etc/UTC"),
], ids=["naive-us", "naive-ns", "utc-ms", "etc-utc-us"])
def test_arrow_for_delta_makes_every_timestamp_utc_micros(source_type):
    """Any timestamp unit or zone becomes timestamp[us, UTC]; naive values are read as UTC."""
    value = INSTANT.replace(tzinfo=None) if source_type.tz is None else INSTANT
    table = arrow_for_delta(pa.table({"ts": pa.array([value], source_type)}))
    assert table.schema.field("ts").type == UTC_TS
    assert table.column("ts")[0].as_py() == INSTANT


def test_arrow_for_delta_keeps_other_types_and_fixes_nested_timestamps():
    """Dates, decimals and maps keep their types; timestamps inside structs are normalised; all nullable."""
    schema = pa.schema([
        pa.field("id", pa.int64(), nullable=False),
        pa.field("d", pa.date32()),
        pa.field("amount", pa.decimal128(10, 2)),
        pa.field("tags", pa.map_(pa.string(), pa.int32())),
        pa.field("meta", pa.struct([pa.field("seen", pa.timestamp("us"))])),
    ])
    table = pa.table({"id": [1], "d": [date(2024, 3, 1)], "amount": [Decimal("1.50")], "tags": [[("a", 1)]],
                      "meta": [{"seen": INSTANT.replace(tzinfo=None)}]}, schema=schema)
    out = arrow_for_delta(table).schema
    assert [out.field(n).type for n in ("id", "d", "amount", "tags")] == [
        pa.int64(), pa.date32(), pa.decimal128(10, 2), pa.map_(pa.string(), pa.int32())]
    assert out.field("meta").type == pa.struct([pa.field("seen", UTC_TS)])
    assert all(field.nullable for field in out)


def test_normalised_naive_timestamps_are_stored_as_delta_timestamp(tmp_path):
    """delta-rs records a normalised naive timestamp as `timestamp`, never `timestamp_ntz`."""
    path = str(tmp_path / "t")
    write_deltalake(path, arrow_for_delta(pa.table({"ts": pa.array([INSTANT.replace(tzinfo=None)],
                                                                   pa.timestamp("us"))})))
    schema = json.loads(DeltaTable(path).schema().to_json())
    assert schema["fields"][0]["type"] == "timestamp"
    assert "timestampNtz" not in (DeltaTable(path).protocol().reader_features or [])


def test_deltars_refuses_column_mapped_tables(spark, tmp_path):
    """Raw Parquet reads would mislabel column-mapped files, so such tables are refused with a reason."""
    path = str(tmp_path / "mapped")
    DeltaTable.create(path, pa.schema([("a", pa.int64())]), configuration={"delta.columnMapping.mode": "name"})
    with pytest.raises(LakehouseError, match="column mapping"):
        DeltaRsBackend(spark).read(path)


def test_deltars_reads_tables_with_the_deletion_vector_feature_but_none_written(spark, tmp_path):
    """The deletionVectors feature alone is fine as long as no file carries a deletion vector."""
    path = str(tmp_path / "dv")
    write_deltalake(path, pa.table({"a": [1, 2, 3]}))
    table = DeltaTable(path)
    table.alter.add_feature(TableFeatures.DeletionVectors, allow_protocol_versions_increase=True)
    table.delete("a = 2")  # delta-rs rewrites the file rather than writing a deletion vector
    assert sorted(r["a"] for r in DeltaRsBackend(spark).read(path).collect()) == [1, 3]


def test_deltars_reports_missing_versions_and_tables(spark, tmp_path):
    """Opening a version that was never committed, or a folder without a table, is a LakehouseError."""
    backend = DeltaRsBackend(spark)
    path = str(tmp_path / "t")
    write_deltalake(path, pa.table({"a": [1]}))
    with pytest.raises(LakehouseError, match="version 5"):
        backend.read(path, version=5)
    with pytest.raises(LakehouseError, match="no Delta table"):
        backend.version(str(tmp_path / "missing"))
    assert not Path(tmp_path / "missing").exists()


def test_utc_timestamps_casts_ntz_columns_only(spark):
    """Spark-native writes cast TIMESTAMP_NTZ (top-level or nested) to TIMESTAMP and leave the rest alone."""
    schema = T.StructType([
        T.StructField("id", T.LongType()),
        T.StructField("naive", T.TimestampNTZType()),
        T.StructField("zoned", T.TimestampType()),
        T.StructField("meta", T.StructType([T.StructField("seen", T.TimestampNTZType())])),
    ])
    df = spark.createDataFrame([], schema)
    out = utc_timestamps(df).schema
    assert [f.dataType for f in out.fields[:3]] == [T.LongType(), T.TimestampType(), T.TimestampType()]
    assert out["meta"].dataType == T.StructType([T.StructField("seen", T.TimestampType())])
    plain = spark.createDataFrame([], T.StructType([T.StructField("zoned", T.TimestampType())]))
    assert utc_timestamps(plain) is plain


def test_session_conf_is_scoped(spark):
    """A conf set for a block is restored (or unset) afterwards, even when the block fails."""
    key = "spark.altaviz.test.flag"
    with session_conf(spark, key, "on"):
        assert spark.conf.get(key) == "on"
    assert spark.conf.get(key, None) is None
    spark.conf.set(key, "before")
    with pytest.raises(RuntimeError), session_conf(spark, key, "during"):
        raise RuntimeError("boom")
    assert spark.conf.get(key) == "before"
    spark.conf.unset(key)


def test_deltars_merge_on_a_partition_key_reads_only_the_source_partitions(spark, tmp_path):
    """When a partition column is part of the key, MERGE is limited to the partitions the source touches."""
    path = str(tmp_path / "parted")
    backend = DeltaRsBackend(spark)
    days = [date(2026, 11, d) for d in (18, 19, 20)]
    first = spark.createDataFrame(pa.table({"id": [1, 2, 3], "day": pa.array(days, pa.date32()), "v": [1, 2, 3]}))
    backend.write(path, first, partition_by=["day"])
    upsert = spark.createDataFrame(pa.table({"id": [3, 4], "day": pa.array([days[2]] * 2, pa.date32()),
                                             "v": [30, 40]}))
    metrics = backend.merge(path, upsert, ["id", "day"], partition_by=["day"])
    assert (metrics.rows_inserted, metrics.rows_updated) == (1, 1)
    assert sorted((r.id, r.v) for r in backend.read(path).collect()) == [(1, 1), (2, 2), (3, 30), (4, 40)]
    predicate = backend.history(path, limit=1)[0]["operation_parameters"]["predicate"]
    assert "2026-11-20" in predicate and "2026-11-18" not in predicate  # the partition filter it used
