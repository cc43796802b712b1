"""Test data for the quality suite: the run's as_of and clean readings with typical sensor values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from altaviz.schemas import SENSOR_COLUMNS

AS_OF = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CLEAN_ARROW_SCHEMA = pa.schema([
    ("compressor_id", pa.string()),
    ("timestamp", pa.timestamp("us", tz="UTC")),
    *[(sensor, pa.float64()) for sensor in SENSOR_COLUMNS],
])
_TYPICAL = {
    "vibration_mms": 3.2,
    "discharge_temp_f": 210.0,
    "suction_pressure_psi": 80.0,
    "discharge_pressure_psi": 950.0,
    "horsepower_consumption": 1200.0,
    "gas_flow_mcf": 4500.0,
}


def reading(unit: str = "C001", minutes_before: float = 5.0, **sensors: float | None) -> dict[str, Any]:
    """One clean reading `minutes_before` AS_OF, with typical sensor values unless overridden."""
    return {"compressor_id": unit, "timestamp": AS_OF - timedelta(minutes=minutes_before), **_TYPICAL, **sensors}
