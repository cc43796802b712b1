"""Bronze transforms: the telemetry contract check, typing with nothing lost, and deterministic event ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from altaviz.schemas import SENSOR_COLUMNS
from altaviz.transforms.bronze import check_contract, event_id, first_received_per_event, to_contract
from pyspark.sql import types as T

SENSORS = list(SENSOR_COLUMNS)


def _string_frame(spark, rows, columns=("compressor_id", "timestamp", *SENSORS)):
    schema = T.StructType([T.StructField(c, T.StringType()) for c in columns])
    return spark.createDataFrame(rows, schema)


def _typed_frame(spark, rows):
    schema = T.StructType([T.StructField("compressor_id", T.StringType()),
                           T.StructField("timestamp", T.TimestampType()),
                           *[T.StructField(c, T.DoubleType()) for c in SENSORS]])
    return spark.createDataFrame(rows, schema)


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


def test_to_contract_types_text_and_keeps_what_did_not_parse(spark):
    """Text values are typed; a value that does not parse is null and kept verbatim in unparsed_values."""
    rows = [("C1", "2026-11-20T10:05:00Z", "3.5", "abc", "55", "1000", "1400", "9000"),
            ("C1", "2026-11-20T12:05:00+02:00", "3.6", "200", "", "1000", "1400", "9000"),
            ("C2", "yesterday", "1e0", "201", "56", "1001", "1401", "9001")]
    out = _string_frame(spark, rows).transform(to_contract("/x/f.csv", 0)).orderBy("compressor_id", "source_offset")
    got = out.collect()
    assert [r.timestamp.replace(tzinfo=None) for r in got[:2]] == [datetime(2026, 11, 20, 10, 5)] * 2
    assert got[0].discharge_temp_f is None
    assert json.loads(got[0].unparsed_values) == {"discharge_temp_f": "abc"}
    assert got[1].suction_pressure_psi is None and got[1].unparsed_values is None  # blank is null, not garbage
    assert got[2].timestamp is None and json.loads(got[2].unparsed_values) == {"timestamp": "yesterday"}
    assert got[2].vibration_mms == 1.0
    assert {r.source_file for r in got} == {"/x/f.csv"}
    assert out.schema["timestamp"].dataType == T.TimestampType()


def test_event_id_is_the_same_for_the_same_reading_in_any_format(spark):
    """A reading typed from text and the same reading stored typed get the same event id."""
    text = _string_frame(spark, [("C1", "2026-11-20T10:05:00Z", "3.5", "200.25", "55", "1000", "1400", "9000")])
    typed = _typed_frame(spark, [("C1", datetime(2026, 11, 20, 10, 5, tzinfo=UTC), 3.5, 200.25, 55.0, 1000.0,
                                  1400.0, 9000.0)])
    ids = [df.transform(to_contract("f", 0)).select(event_id().alias("id")).first().id for df in (text, typed)]
    assert ids[0] == ids[1]
    assert len(ids[0]) == 32


def test_event_id_tells_apart_nulls_in_different_places(spark):
    """Readings that differ only in which sensor is null get different ids."""
    rows = [("C1", "2026-11-20T10:05:00Z", None, "5", "55", "1000", "1400", "9000"),
            ("C1", "2026-11-20T10:05:00Z", "5", None, "55", "1000", "1400", "9000"),
            ("C1", "2026-11-20T10:05:00Z", "5", "5", "55", "1000", "1400", "9000")]
    ids = {r.id for r in _string_frame(spark, rows).transform(to_contract("f", 0))
           .select(event_id().alias("id")).collect()}
    assert len(ids) == 3


def test_first_received_per_event_keeps_the_earliest_file_and_offset(spark):
    """Repeats of one reading collapse to the copy from the earliest file."""
    row = ("C1", "2026-11-20T10:05:00Z", "3.5", "200", "55", "1000", "1400", "9000")
    late = _string_frame(spark, [row]).transform(to_contract("b.csv", 1))
    early = _string_frame(spark, [row, row]).transform(to_contract("a.csv", 0))
    both = late.unionByName(early).select("*", event_id().alias("event_id"))
    kept = both.transform(first_received_per_event()).collect()
    assert len(kept) == 1
    assert kept[0].source_file == "a.csv"
