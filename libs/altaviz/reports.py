"""What a stage reports: typed results monitoring, the CLI and the notebooks' exit values read (no stage imports).

Each stage returns a `StageResult` carrying its own report dataclass. Consumers read the report's attributes, so
a renamed field is a type error (and an `AttributeError` at worst), not a silent miss of a dict key; the JSON
form (`to_dict`, `from_dict`) is for the notebooks' exit values and the run journal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Self, TypeVar

R = TypeVar("R", bound="Report")


@dataclass(frozen=True)
class Report:
    """Fields every stage report has: the run's id and, when the stage had nothing to do, why."""

    run_id: str = ""
    message: str = ""

    #: The stage name this report belongs to (`StageResult.stage`).
    stage: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The report a `to_dict` (or a notebook's exit value) holds; fields it lacks take their defaults.

        Raises:
            ValueError: `data` has a key this report does not (a report of another stage or version).
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field {unknown[0]!r}; fields: {', '.join(sorted(names))}")
        return cls(**data)


@dataclass(frozen=True)
class BronzeReport(Report):
    """What Bronze landed: files found, landed, skipped and set aside; rows read, landed and duplicate."""

    stage: ClassVar[str] = "bronze"
    batch_id: str = ""
    table: str = ""
    table_version: int | None = None
    files_found: int = 0
    files_landed: int = 0
    files_skipped: int = 0
    files_rejected: list[dict[str, Any]] = field(default_factory=list)
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    rows_read: int = 0
    rows_landed: int = 0
    rows_duplicate: int = 0


@dataclass(frozen=True)
class StreamReport(Report):
    """What streaming Bronze did: micro-batches, events read, readings landed and repeated, events dead-lettered."""

    stage: ClassVar[str] = "bronze_stream"
    query: str = ""
    topic: str = ""
    trigger: str = ""
    batches: int = 0
    events_read: int = 0
    rows_landed: int = 0
    rows_duplicate: int = 0
    deadlettered: int = 0
    #: Dead-letter counts by reason, over the run.
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: str = ""


@dataclass(frozen=True)
class SilverReport(Report):
    """Silver's books (raw = clean + rejected + duplicates), reasons, quality results and the gate's verdict.

    `quality` and `reevaluated` hold `altaviz.quality.CheckResult`s as dicts (JSON, no Spark needed to read).
    """

    stage: ClassVar[str] = "silver"
    as_of: str = ""
    raw_rows: int = 0
    clean_rows: int = 0
    rejected_rows: int = 0
    duplicate_rows: int = 0
    balanced: bool = True
    reject_reasons: dict[str, int] = field(default_factory=dict)
    quality: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    held: bool = False
    reevaluated: list[dict[str, Any]] = field(default_factory=list)
    adopted_runs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GoldReport(Report):
    """What Gold wrote and where the fleet stands: windows, alerts opened/changed, units by status."""

    stage: ClassVar[str] = "gold"
    as_of: str = ""
    clean_rows: int = 0
    agg_rows: int = 0
    alerts_changed: int = 0
    alerts_opened: int = 0
    units_by_status: dict[str, int] = field(default_factory=dict)
    units_stale: int = 0
    attention: list[dict[str, Any]] = field(default_factory=list)
    #: Every alert the run opened or changed (what monitoring sends on); left out of the exit value.
    alerts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RefreshReport(Report):
    """The SQL analytics endpoint refresh: per lakehouse, tables synced and failed; or why it was skipped."""

    stage: ClassVar[str] = "sql_endpoint_refresh"
    lakehouses: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: str = ""


@dataclass(frozen=True)
class MlReport(Report):
    """What scoring did: the hours and model version, predictions, emissions, predictive alerts, units at risk."""

    stage: ClassVar[str] = "ml"
    as_of: str = ""
    model: str = ""
    model_version: str = ""
    scored_from: str = ""
    scored_through: str = ""
    predictions: int = 0
    flagged_units: int = 0
    emission_rows: int = 0
    alerts_opened: int = 0
    alerts_changed: int = 0
    #: The flagged units at the last scored hour, shortest RUL first.
    at_risk: list[dict[str, Any]] = field(default_factory=list)
    #: Every predictive alert the run opened or changed (what monitoring sends on).
    alerts: list[dict[str, Any]] = field(default_factory=list)


#: Report type by stage name.
REPORTS: dict[str, type[Report]] = {r.stage: r for r in (BronzeReport, StreamReport, SilverReport, GoldReport,
                                                         MlReport, RefreshReport)}


@dataclass(frozen=True)
class StageResult:
    """What a stage did: rows in and out, wall time, and its typed report."""

    stage: str
    rows_in: int
    rows_out: int
    seconds: float
    report: Report = field(default_factory=Report)

    def __post_init__(self) -> None:
        # A report given as its dict (as JSON carries it) is typed by stage, strictly: an unknown field is an error.
        if isinstance(self.report, dict):
            if self.stage not in REPORTS:
                raise ValueError(f"no report type for stage {self.stage!r}; stages: {', '.join(sorted(REPORTS))}")
            object.__setattr__(self, "report", REPORTS[self.stage].from_dict(self.report))

    @property
    def details(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return self.report.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (notebook exit values, bench output): the counts and the report as `details`."""
        return {"stage": self.stage, "rows_in": self.rows_in, "rows_out": self.rows_out, "seconds": self.seconds,
                "details": self.details}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> StageResult:
        """The result a `to_dict` (or a notebook's exit value) holds, its report typed by stage.

        Raises:
            ValueError: The stage is unknown or its details do not fit its report.
        """
        return cls(document["stage"], document["rows_in"], document["rows_out"], document["seconds"],
                   dict(document.get("details") or {}))
