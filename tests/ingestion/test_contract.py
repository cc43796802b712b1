"""The event body: one reading per event, JSON, versioned, keyed by the unit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from altaviz.ingestion.contract import encode
from altaviz.schemas import SENSOR_COLUMNS
from altaviz.simulator.telemetry import TELEMETRY_SCHEMA


def _table(rows):
    return pa.Table.from_pylist(rows, schema=TELEMETRY_SCHEMA)


def test_each_reading_becomes_a_versioned_json_event_keyed_by_its_unit():
    at = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
    values = dict.fromkeys(SENSOR_COLUMNS, 1.25) | {"vibration_mms": None, "gas_flow_mcf": float("nan")}
    events = list(encode(_table([{"compressor_id": "CMP-00017", "timestamp": at, "schema_version": "1.0",
                                  "station_id": "ST-1", **values}])))
    ((key, body),) = events
    document = json.loads(body)
    assert key == "CMP-00017"
    assert document["schema_version"] == "1.0" and document["timestamp"] == "2026-12-01T00:05:00Z"
    assert document["vibration_mms"] is None and document["discharge_temp_f"] == 1.25
    assert document["gas_flow_mcf"] == "nan", "JSON has no NaN: it travels as text, for Silver to reject"
    assert set(document) == {"schema_version", "compressor_id", "station_id", "timestamp", *SENSOR_COLUMNS}
