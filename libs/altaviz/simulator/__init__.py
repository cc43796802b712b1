"""Fleet telemetry simulator: a deterministic, vectorised stand-in for a compressor fleet's SCADA feed."""

from altaviz.simulator.failures import FailurePlan, build_plan, failing_units, labels_table
from altaviz.simulator.fleet import Fleet, build_fleet
from altaviz.simulator.profiles import FleetProfile, config_file, load_profile
from altaviz.simulator.reference import basins_table, compressors_table, stations_table
from altaviz.simulator.simulation import SimulationReport, simulate
from altaviz.simulator.telemetry import (
    ARRIVAL_COLUMN,
    DAY_SCHEMA,
    DAY_SCHEMA_DICTIONARY,
    TELEMETRY_SCHEMA,
    generate_day,
)

__all__ = [
    "ARRIVAL_COLUMN",
    "DAY_SCHEMA",
    "DAY_SCHEMA_DICTIONARY",
    "TELEMETRY_SCHEMA",
    "FailurePlan",
    "Fleet",
    "FleetProfile",
    "SimulationReport",
    "basins_table",
    "build_fleet",
    "build_plan",
    "compressors_table",
    "config_file",
    "failing_units",
    "generate_day",
    "labels_table",
    "load_profile",
    "simulate",
    "stations_table",
]
