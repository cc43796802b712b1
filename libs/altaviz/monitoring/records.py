"""The Log Analytics custom tables Altaviz writes through the Logs Ingestion API: one definition, used twice.

The Pulumi program declares the `_CL` tables and the data collection rule's stream declarations from these
definitions, and the monitoring code shapes its records from them, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Column types as the Log Analytics table API names them, and as a DCR stream declaration names them.
TABLE_TYPES = {"string": "string", "int": "int", "long": "long", "real": "real", "boolean": "boolean",
               "datetime": "dateTime", "dynamic": "dynamic"}
STREAM_TYPES = {"string": "string", "int": "int", "long": "long", "real": "real", "boolean": "boolean",
                "datetime": "datetime", "dynamic": "dynamic"}


@dataclass(frozen=True)
class Column:
    """One column: its name, a type from TABLE_TYPES' keys, and what it holds."""

    name: str
    type: str
    description: str

    def __post_init__(self) -> None:
        if self.type not in TABLE_TYPES:
            raise ValueError(f"column {self.name}: type {self.type!r} is not one of {', '.join(TABLE_TYPES)}")


@dataclass(frozen=True)
class LogTable:
    """A custom Log Analytics table (`<name>_CL`) fed by the DCR stream `Custom-<name>_CL`."""

    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def table_name(self) -> str:
        """The table's name in the workspace, e.g. `AltavizPipelineRuns_CL`."""
        return f"{self.name}_CL"

    @property
    def stream_name(self) -> str:
        """The DCR stream that feeds it, e.g. `Custom-AltavizPipelineRuns_CL`."""
        return f"Custom-{self.table_name}"

    def table_columns(self) -> list[dict[str, str]]:
        """Columns for the Log Analytics table schema (`dateTime` spelling)."""
        return [{"name": c.name, "type": TABLE_TYPES[c.type], "description": c.description} for c in self.columns]

    def stream_columns(self) -> list[dict[str, str]]:
        """Columns for the DCR stream declaration (`datetime` spelling)."""
        return [{"name": c.name, "type": STREAM_TYPES[c.type]} for c in self.columns]

    def check_record(self, record: dict[str, Any]) -> None:
        """Refuse a record with columns the table does not declare (the service would drop them silently)."""
        unknown = sorted(set(record) - {c.name for c in self.columns})
        if unknown:
            raise ValueError(f"{self.table_name}: record has undeclared column(s) {', '.join(unknown)}")


_RUN = (Column("TimeGenerated", "datetime", "When the record was made (UTC)"),
        Column("RunId", "string", "Pipeline run id, shared by every stage of one run"),
        Column("Environment", "string", "local, staging, prod or dev-<name>"),
        Column("AltavizVersion", "string", "altaviz wheel version, with its content hash"))

PIPELINE_RUNS = LogTable("AltavizPipelineRuns", "One row per stage of a pipeline run", _RUN + (
    Column("Stage", "string", "bronze, silver, gold, ml, sql_endpoint_refresh, or pipeline for the whole run"),
    Column("Status", "string", "Succeeded, Failed or Skipped"),
    Column("StartTime", "datetime", "Stage start (UTC)"),
    Column("EndTime", "datetime", "Stage end (UTC)"),
    Column("DurationSeconds", "real", "Wall time of the stage"),
    Column("RowsIn", "long", "Rows the stage read"),
    Column("RowsOut", "long", "Rows the stage wrote"),
    Column("RowsRejected", "long", "Rows set aside with a reason"),
    Column("RejectRate", "real", "RowsRejected / RowsIn"),
    Column("AlertsOpened", "long", "Alerts the stage opened"),
    Column("ErrorType", "string", "Exception type when the stage failed"),
    Column("ErrorMessage", "string", "First line of the error"),
    Column("ErrorStack", "string", "Trimmed stack trace"),
    Column("Details", "dynamic", "Stage-specific numbers (JSON)"),
))

QUALITY_CHECKS = LogTable("AltavizQualityChecks", "One row per data-quality check of a Silver run", _RUN + (
    Column("CheckName", "string", "Check name, e.g. fleet_completeness"),
    Column("Level", "string", "warn or block"),
    Column("Metric", "real", "Measured value (null when not computable)"),
    Column("Threshold", "real", "Threshold the metric is compared with"),
    Column("Comparison", "string", "How metric and threshold compare, e.g. >="),
    Column("Passed", "boolean", "Whether the check passed"),
    Column("Message", "string", "Why the metric is null, when it is"),
))

FLEET_ALERTS = LogTable("AltavizFleetAlerts", "Alerts a Gold run opened or changed", _RUN + (
    Column("AlertId", "string", "Stable alert id"),
    Column("CompressorId", "string", "Unit"),
    Column("Basin", "string", "Basin of the unit"),
    Column("AlertType", "string", "threshold or data_freshness"),
    Column("Sensor", "string", "Sensor column, when a threshold alert"),
    Column("Severity", "string", "warning or critical"),
    Column("AlertStatus", "string", "open, acknowledged, resolved or closed"),
    Column("Value", "real", "The value that breached"),
    Column("OpenedAt", "datetime", "When the alert opened (event time)"),
))

LOG_TABLES: tuple[LogTable, ...] = (PIPELINE_RUNS, QUALITY_CHECKS, FLEET_ALERTS)
