"""Bronze transforms: the telemetry contract check, typing with nothing lost, and deterministic event ids."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz.schemas import SENSOR_COLUMNS
from altaviz.transforms.bronze import (
    check_contract,
    event_hashes,
    event_id,
    event_id_of,
    first_received,
    to_contract,
)

SENSORS = list(SENSOR_COLUMNS)


@pytest.fixture()
def scan(spark, tmp_path):
    """Write rows to a real file and scan it, as Bronze does (to_contract reads the file metadata)."""
    counter = iter(range(1_000))

    def make(rows, *, typed: bool = False):
        if typed:
            path = tmp_path / f"f{next(counter)}.parquet"
            schema = pa.schema([("compressor_id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
                                *[(c, pa.float64()) for c in SENSORS]])
            names = [f.name for f in schema]
            pq.write_table(pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows], schema), path)
            return spark.read.parquet(str(path))
        path = tmp_path / f"f{next(counter)}.csv"
        columns = ("compressor_id", "timestamp", *SENSORS)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows)
        schema = T.StructType([T.StructField(c, T.StringType()) for c in columns])
        return spark.read.schema(schema).option("header", True).csv(str(path))

    return make


def _contract(df):
    return df.transform(to_contract({}, row_index=False))


@pytest.mark.parametrize(
    ("fields", "ok", "reason_part"),
    [
        ({"compressor_id": T.StringType(), "timestamp": T.StringType(), **{s: T.DoubleType() for s in SENSORS}},
         True, ""),
        ({"compressor_id": T.StringType(), "timestamp": T.TimestampType(), **{s: T.StringType() for s in SENSORS}},
         True, ""),
        ({"compressor_id": T.StringType(), **{s: T.DoubleType() for s in SENSORS}}, False, "timestamp"),
        ({"compressor_id": T.StringType(), "timestamp": T.BooleanType(), **{s: T.DoubleType() for s in SENSORS}},
         False, "timestamp is boolean"),
    ],
    ids=["typed-sensors", "text-sensors", "missing-timestamp", "boolean-timestamp"],
)
def test_check_contract_accepts_readable_types_and_names_what_is_wrong(fields, ok, reason_part):
    """A file passes when every required column is present with a readable type; else the reason names it."""
    schema = T.StructType([T.StructField(n, t) for n, t in fields.items()])
    check = check_contract(schema)
    assert check.ok is ok
    assert reason_part in check.reason()


def test_check_contract_lists_extra_columns_without_failing():
    """Columns outside the contract are listed, not fatal."""
    schema = T.StructType([T.StructField(c, T.StringType()) for c in ("compressor_id", "timestamp", *SENSORS,
                                                                         "site_notes", "operator")])
    check = check_contract(schema)
    assert check.ok
    assert check.extra == ("operator", "site_notes")


def test_to_contract_types_text_and_keeps_what_did_not_parse(scan):
    """Text values are typed; a value that does not parse is null and kept verbatim in unparsed_values."""
    rows = [("C1", "2026-11-20T10:05:00Z", "3.5", "abc", "55", "1000", "1400", "9000"),
            ("C1", "2026-11-20T12:05:00+02:00", "3.6", "200", "", "1000", "1400", "9000"),
            ("C2", "yesterday", "1e0", "201", "56", "1001", "1401", "9001")]
    out = _contract(scan(rows)).orderBy("compressor_id", "source_offset")
    got = out.collect()
    assert [r.timestamp.replace(tzinfo=None) for r in got[:2]] == [datetime(2026, 11, 20, 10, 5)] * 2
    assert got[0].discharge_temp_f is None
    assert json.loads(got[0].unparsed_values) == {"discharge_temp_f": "abc"}
    assert got[1].suction_pressure_psi is None and got[1].unparsed_values is None  # blank is null, not garbage
    assert got[2].timestamp is None and json.loads(got[2].unparsed_values) == {"timestamp": "yesterday"}
    assert got[2].vibration_mms == 1.0
    assert out.schema["timestamp"].dataType == T.TimestampType()


def test_event_id_is_the_same_for_the_same_reading_in_any_format(scan):
    """A reading typed from text and the same reading stored typed get the same event id."""
    text = scan([("C1", "2026-11-20T10:05:00Z", "3.5", "200.25", "55", "1000", "1400", "9000")])
    typed = scan([("C1", datetime(2026, 11, 20, 10, 5, tzinfo=UTC), 3.5, 200.25, 55.0, 1000.0, 1400.0, 9000.0)],
                 typed=True)
    ids = [_contract(df).select(event_id().alias("id")).first().id for df in (text, typed)]
    assert ids[0] == ids[1]
    assert len(ids[0]) == 32


def test_event_id_tells_apart_nulls_in_different_places(scan):
    """Readings that differ only in which sensor is null get different ids."""
    rows = [("C1", "2026-11-20T10:05:00Z", None, "5", "55", "1000", "1400", "9000"),
            ("C1", "2026-11-20T10:05:00Z", "5", None, "55", "1000", "1400", "9000"),
            ("C1", "2026-11-20T10:05:00Z", "5", "5", "55", "1000", "1400", "9000")]
    ids = {r.id for r in _contract(scan(rows)).select(event_id().alias("id")).collect()}
    assert len(ids) == 3


def _with_hashes(df):
    return _contract(df).select("*", *event_hashes())


def test_first_received_keeps_the_earliest_copy_of_a_repeat(scan):
    """Repeats of one reading collapse to the copy from the earliest file, then the earliest offset."""
    row = ("C1", "2026-11-20T10:05:00Z", "3.5", "200", "55", "1000", "1400", "9000")
    other = ("C2", "2026-11-20T10:05:00Z", "3.5", "200", "55", "1000", "1400", "9000")
    late = _with_hashes(scan([row])).withColumn("_file_rank", F.lit(1))
    early = _with_hashes(scan([other, row, row]))
    both = late.unionByName(early)
    kept = both.transform(first_received()).orderBy("compressor_id").collect()
    assert [(r.compressor_id, r._file_rank) for r in kept] == [("C1", 0), ("C2", 0)]
    assert kept[0].source_offset < max(r.source_offset for r in both.collect() if r.compressor_id == "C1")


def test_event_id_of_hash_halves_matches_event_id(scan):
    """The id rebuilt from the two hash halves equals the id computed from content."""
    rows = [("C9", "2026-11-20T10:05:00Z", "-1", "2", "3", "4", "5", "6")]
    df = _with_hashes(scan(rows))
    got = df.select(event_id().alias("a"), event_id_of(F.col("_h1"), F.col("_h2")).alias("b")).first()
    assert got.a == got.b
