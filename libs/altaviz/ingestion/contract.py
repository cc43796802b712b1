"""The telemetry event contract: one reading per event, a JSON object, versioned by `schema_version`.

```json
{"schema_version": "1.0", "compressor_id": "CMP-00017", "station_id": "STN-003",
 "timestamp": "2026-12-01T00:05:00Z", "vibration_mms": 2.31, "discharge_temp_f": 212.4,
 "suction_pressure_psi": 61.2, "discharge_pressure_psi": 1012.5, "horsepower_consumption": 1180.0,
 "gas_flow_mcf": 805.3}
```

The names are the landing files' (`README.md`, "Telemetry contract"); a sensor may be null. The event key (Kafka)
or partition key (AMQP) is `compressor_id`, so a unit's readings stay in order on one partition. A reader accepts
version 1.x (and a body without `schema_version`); any other major version is set aside with the reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from altaviz.schemas import SENSOR_COLUMNS, TELEMETRY_CONTRACT_VERSION

#: The major version a reader of this build understands.
SUPPORTED_MAJOR = TELEMETRY_CONTRACT_VERSION.split(".")[0]
_FIELDS = ("compressor_id", "station_id", "timestamp", *SENSOR_COLUMNS)


def _texts(column: pa.ChunkedArray | pa.Array) -> list[str | None]:
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string()) if isinstance(column, pa.Array) else pc.cast(column, pa.string())
    return column.to_pylist()


def _times(column: pa.ChunkedArray | pa.Array) -> list[str | None]:
    seconds = pc.cast(column, pa.timestamp("s", tz="UTC"), safe=False)
    return pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()


def _numbers(column: pa.ChunkedArray | pa.Array) -> list[float | str | None]:
    """Sensor values; a NaN or infinity is sent as its text ("NaN"), which JSON can carry and Silver rejects."""
    values = column.to_pylist()
    return [v if v is None or math.isfinite(v) else str(v) for v in values]


def encode(table: pa.Table) -> Iterator[tuple[str, bytes]]:
    """(key, body) per reading of a contract table (the simulator's, or files'), in row order.

    Timestamps are written in whole seconds with `Z` (ISO 8601); sub-second parts are dropped (the simulator's
    readings are on 5-minute slots).
    """
    columns = {name: (_times(table.column(name)) if name == "timestamp" else
                      _texts(table.column(name)) if name in ("compressor_id", "station_id") else
                      _numbers(table.column(name)))
               for name in _FIELDS if name in table.column_names}
    names = list(columns)
    version = TELEMETRY_CONTRACT_VERSION
    dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    for values in zip(*columns.values(), strict=True):
        reading = dict(zip(names, values, strict=True))
        body = {"schema_version": version, **reading}
        yield str(reading["compressor_id"]), dumps(body).encode()
