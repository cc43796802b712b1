"""PipelineMonitor: what every stage reports through. It writes the run journal and feeds the configured sinks.

One monitor per notebook run; the pipeline's run id ties the notebooks together, and the journal (one JSON lines
file per run) is what they share. A sink that fails never fails the pipeline: the failure is written to the journal,
said once, and the sink is left alone for the rest of that run.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from altaviz.errors import described, one_line
from altaviz.monitoring.journal import RunJournal
from altaviz.monitoring.records import FLEET_ALERTS, PIPELINE_RUNS, QUALITY_CHECKS, LogTable
from altaviz.monitoring.settings import MonitorSettings
from altaviz.reports import GoldReport, MlReport, SilverReport
from altaviz.version import version_info

if TYPE_CHECKING:
    from altaviz.reports import StageResult

STACK_LINES = 25
STACK_CHARS = 4000
QUALITY_GATE_ERROR = "QualityGateError"
UNRECORDED_ERROR = "NoStageRecord"
# The stages a medallion run records, in pipeline order (the names the entrypoints pass to the monitor).
PIPELINE_STAGES = ("bronze", "silver", "gold", "sql_endpoint_refresh")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _say(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


@dataclass
class StageOutcome:
    """What the monitored block hands back: the stage's result (set it before leaving the block)."""

    result: StageResult | None = None


def _error(exc: BaseException) -> dict[str, str]:
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-STACK_LINES:])
    message = one_line(exc) if str(exc) else ""
    return {"type": type(exc).__name__, "message": message, "stack": stack[-STACK_CHARS:]}


def stage_record(*, run_id: str, environment: str, stage: str, started: datetime, ended: datetime,
                 result: StageResult | None, error: BaseException | None) -> dict[str, Any]:
    """The journal record of one stage run: timing, rows, rejects, quality, alerts, error."""
    report = result.report if result else None
    rows_in = result.rows_in if result else 0
    silver = report if isinstance(report, SilverReport) else None
    # Gold's threshold alerts and the ML stage's predictive alerts travel the same way (journal, logs, Teams).
    gold = report if isinstance(report, GoldReport | MlReport) else None
    rejected = silver.rejected_rows if silver else 0
    alerts = gold.alerts if gold else []
    return {
        "kind": "stage", "run_id": run_id, "environment": environment, "altaviz_version": version_info(),
        "stage": stage, "status": "Failed" if error else "Succeeded",
        "start_time": started, "end_time": ended, "duration_seconds": round((ended - started).total_seconds(), 3),
        "rows_in": rows_in, "rows_out": result.rows_out if result else 0, "rows_rejected": rejected,
        "reject_rate": round(rejected / rows_in, 6) if rows_in else 0.0,
        "alerts_opened": gold.alerts_opened if gold else 0,
        "quality": silver.quality if silver else [],
        "alerts": alerts,
        "error": _error(error) if error else None,
        "details": {k: v for k, v in (report.to_dict() if report else {}).items()
                    if k not in ("quality", "alerts", "attention", "at_risk")},
    }


def log_records(record: dict[str, Any]) -> dict[LogTable, list[dict[str, Any]]]:
    """A journal stage record as Log Analytics rows, per table (shapes from `monitoring.records`)."""
    base = {"TimeGenerated": record["end_time"], "RunId": record["run_id"], "Environment": record["environment"],
            "AltavizVersion": record["altaviz_version"]}
    error = record["error"] or {}
    runs = [{**base, "Stage": record["stage"], "Status": record["status"], "StartTime": record["start_time"],
             "EndTime": record["end_time"], "DurationSeconds": record["duration_seconds"],
             "RowsIn": record["rows_in"], "RowsOut": record["rows_out"], "RowsRejected": record["rows_rejected"],
             "RejectRate": record["reject_rate"], "AlertsOpened": record["alerts_opened"],
             "ErrorType": error.get("type"), "ErrorMessage": error.get("message"), "ErrorStack": error.get("stack"),
             "Details": record["details"]}]
    quality = [{**base, "CheckName": q["name"], "Level": q["level"], "Metric": q["metric"],
                "Threshold": q["threshold"], "Comparison": q["comparison"], "Passed": q["passed"],
                "Message": q.get("message") or None} for q in record["quality"]]
    alerts = [{**base, "AlertId": a["alert_id"], "CompressorId": a["compressor_id"], "Basin": a.get("basin"),
               "AlertType": a["alert_type"], "Sensor": a.get("sensor"), "Severity": a["severity"],
               "AlertStatus": a["status"], "Value": a.get("value"), "OpenedAt": a["opened_at"]}
              for a in record["alerts"]]
    return {table: rows for table, rows in ((PIPELINE_RUNS, runs), (QUALITY_CHECKS, quality), (FLEET_ALERTS, alerts))
            if rows}


def _unrecorded_failure(last: dict[str, dict[str, Any]]) -> dict[str, str]:
    """No stage recorded an error: name the first stage of the run without a result, which is where it stopped."""
    missing = next((s for s in PIPELINE_STAGES if s not in last), None)
    if missing is None:
        return {"stage": "unknown", "error_type": UNRECORDED_ERROR,
                "error_message": "every stage recorded success; the failure is outside them (see the pipeline run)"}
    done = [s for s in PIPELINE_STAGES if s in last]
    after = f" (after {', '.join(done)} succeeded)" if done else ""
    return {"stage": missing, "error_type": UNRECORDED_ERROR,
            "error_message": f"{missing} recorded no result{after}: its notebook failed before reaching altaviz, "
                             "timed out or was cancelled; the activity's error is in the pipeline run"}


class PipelineMonitor:
    """Records each stage of one pipeline run to the journal and the configured sinks."""

    def __init__(self, journal: RunJournal, *, run_id: str, environment: str, pipeline: str = "",
                 settings: MonitorSettings | None = None, azure: Any = None, teams: Any = None,
                 clock: Callable[[], datetime] = _utc_now, say: Callable[[str], None] = _say) -> None:
        self.journal = journal
        self.run_id = run_id
        self.environment = environment
        self.pipeline = pipeline
        self.settings = settings or MonitorSettings()
        self.azure = azure
        self.teams = teams
        self.clock = clock
        self.say = say

    @classmethod
    def from_settings(cls, journal: RunJournal, settings: MonitorSettings, **kwargs: Any) -> PipelineMonitor:
        """A monitor with the sinks `settings` configure (Azure Monitor, Teams); the journal is always on."""
        azure = teams = None
        if settings.azure_monitor:
            from altaviz.monitoring.azure_monitor import AzureMonitorSink, monitor_credential

            credential = monitor_credential(tenant_id=settings.tenant_id, client_id=settings.client_id,
                                            client_secret=settings.client_secret, static_token=settings.static_token)
            azure = AzureMonitorSink(settings.dce_endpoint, settings.dcr_id, credential)
        if settings.teams:
            from altaviz.monitoring.teams import TeamsSink

            teams = TeamsSink(settings.teams_webhook_url)
        return cls(journal, settings=settings, azure=azure, teams=teams, **kwargs)

    @contextmanager
    def stage(self, name: str) -> Iterator[StageOutcome]:
        """Time a stage; on leaving, record it (with its error, re-raised, when it failed) and feed the sinks."""
        outcome = StageOutcome()
        started = self.clock()
        try:
            yield outcome
        except BaseException as exc:
            self.record(name, started, outcome.result, exc)
            raise
        self.record(name, started, outcome.result, None)

    def record(self, stage: str, started: datetime, result: StageResult | None,
               error: BaseException | None) -> dict[str, Any]:
        """Write one stage's record to the journal, then deliver it to each sink."""
        record = stage_record(run_id=self.run_id, environment=self.environment, stage=stage, started=started,
                              ended=self.clock(), result=result, error=error)
        self.journal.append(record)
        problem = self.settings.azure_monitor_problem()
        if problem:
            self._sink_failed("azure_monitor", problem)
        if self.azure is not None:
            for table, rows in log_records(record).items():
                self._deliver("azure_monitor", lambda t=table, r=rows: self.azure.send(t, r))
        if self.teams is not None:
            self._cards(record)
        return record

    def _cards(self, record: dict[str, Any]) -> None:
        from altaviz.monitoring.teams import critical_alerts_card, quality_block_card

        blocked = [q for q in record["quality"] if not q["passed"] and q["level"] == "block"]
        if blocked:
            card = quality_block_card(run_id=self.run_id, environment=self.environment, failed_checks=blocked)
            self._send_card("quality_block", card)
        critical = [a for a in record["alerts"] if a.get("newly_critical")]
        if critical:
            card = critical_alerts_card(run_id=self.run_id, environment=self.environment, alerts=critical)
            self._send_card("critical_alerts", card)

    def _send_card(self, kind: str, card: dict[str, Any]) -> None:
        if self._deliver("teams", lambda: self.teams.post(card)):
            self.journal.append({"kind": "card", "card": kind, "run_id": self.run_id, "sent_at": self.clock()})

    def report_failure(self) -> dict[str, Any] | None:
        """After a failed run: the last failure per stage from the journal, and one failure card (never two).

        A run stopped by the quality gate already had its quality card, so it gets no failure card.
        """
        records = self.journal.records()
        last: dict[str, dict[str, Any]] = {}
        for r in records:
            if r.get("kind") == "stage":
                last[r["stage"]] = r
        failed = [r for r in last.values() if r["status"] == "Failed"]
        if failed:
            summary = {"stage": failed[0]["stage"], "error_type": failed[0]["error"]["type"],
                       "error_message": failed[0]["error"]["message"]}
        else:
            summary = _unrecorded_failure(last)
        already = any(r.get("kind") == "card" and r.get("card") == "failure" for r in records)
        if self.teams is not None and not already and summary["error_type"] != QUALITY_GATE_ERROR:
            from altaviz.monitoring.teams import failure_card

            card = failure_card(pipeline=self.pipeline, run_id=self.run_id, environment=self.environment,
                                logs_url=self.settings.logs_url, **summary)
            self._send_card("failure", card)
        return summary

    def _deliver(self, sink: str, send: Callable[[], Any]) -> bool:
        """Run one delivery; a failure is journalled and said once per run, and the sink is skipped afterwards."""
        if any(r.get("kind") == "sink_error" and r.get("sink") == sink for r in self.journal.records()):
            return False
        try:
            send()
        except Exception as exc:  # noqa: BLE001 - a sink must never fail the pipeline
            self._sink_failed(sink, described(exc))
            return False
        return True

    def _sink_failed(self, sink: str, message: str) -> None:
        if any(r.get("kind") == "sink_error" and r.get("sink") == sink for r in self.journal.records()):
            return
        self.journal.append({"kind": "sink_error", "sink": sink, "run_id": self.run_id, "error": message,
                             "at": self.clock()})
        self.say(f"monitoring: {sink} is unavailable for this run ({message}); the run goes on and its record "
                 f"is in {self.journal.path}")
