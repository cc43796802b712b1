"""PipelineMonitor: every stage lands in the run journal; sinks get records and cards; a failing sink never fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from altaviz.lakehouse.files import LocalFileStore
from altaviz.lakehouse.paths import LocalLakehousePaths
from altaviz.monitoring.journal import RunJournal
from altaviz.monitoring.monitor import PipelineMonitor
from altaviz.monitoring.records import FLEET_ALERTS, PIPELINE_RUNS, QUALITY_CHECKS
from altaviz.monitoring.settings import MonitorSettings
from altaviz.quality import QualityGateError
from altaviz.reports import GoldReport, MlReport, SilverReport, StageResult

CHECK = {"name": "fleet_completeness", "check": "completeness", "level": "block", "metric": 0.4,
         "comparison": ">=", "threshold": 0.85, "passed": False, "message": ""}
ALERT = {"alert_id": "a1", "compressor_id": "CMP-00068", "basin": "Permian", "alert_type": "threshold",
         "sensor": "discharge_temp_f", "severity": "critical", "status": "open", "value": 271.5,
         "opened_at": "2026-11-21T06:00:00+00:00", "new": True, "newly_critical": True}


class FakeAzure:
    """Records what would be uploaded; optionally fails every call."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, list[dict]]] = []
        self.fail = fail

    def send(self, table, records):
        if self.fail:
            raise ConnectionError("dce.example unreachable")
        for record in records:
            table.check_record(record)
        self.sent.append((table.table_name, records))
        return len(records)


class FakeTeams:
    """Records posted cards."""

    def __init__(self) -> None:
        self.cards: list[dict] = []

    def post(self, card):
        self.cards.append(card)


class Clock:
    """A clock that moves a second per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture()
def journal(tmp_path):
    """The journal of run `run-1` in a tmp lakehouse."""
    return RunJournal.for_run(LocalLakehousePaths(tmp_path), LocalFileStore(), "run-1")


def _monitor(journal, azure=None, teams=None, said=None, settings=None):
    return PipelineMonitor(journal, run_id="run-1", environment="staging", pipeline="pl_x", settings=settings,
                           azure=azure, teams=teams, clock=Clock(), say=(said.append if said is not None else print))


def test_a_stage_is_journalled_with_its_numbers_and_sent_as_log_rows(journal):
    """Succeeded stage: timing, rows, rejects, version, environment in the journal; one PipelineRuns row sent."""
    azure = FakeAzure()
    with _monitor(journal, azure=azure).stage("silver") as outcome:
        outcome.result = StageResult("silver", 100, 90, 2.5, SilverReport(rejected_rows=10, quality=[
            {**CHECK, "passed": True, "metric": 0.99}]))
    (record,) = journal.records()
    assert record["stage"] == "silver" and record["status"] == "Succeeded"
    assert (record["rows_in"], record["rows_out"], record["rows_rejected"], record["reject_rate"]) == (100, 90, 10, 0.1)
    assert record["duration_seconds"] == 1.0 and record["environment"] == "staging"
    assert "+h" in record["altaviz_version"] and record["error"] is None
    assert [name for name, _ in azure.sent] == [PIPELINE_RUNS.table_name, QUALITY_CHECKS.table_name]
    run_row = azure.sent[0][1][0]
    assert run_row["RunId"] == "run-1" and run_row["RowsRejected"] == 10 and run_row["Status"] == "Succeeded"


def test_a_failing_stage_is_recorded_with_its_error_and_the_error_propagates(journal):
    """The exception leaves the block unchanged; the journal has type, message and a trimmed stack."""
    with pytest.raises(KeyError), _monitor(journal).stage("gold"):
        raise KeyError("compressor_id")
    (record,) = journal.records()
    assert record["status"] == "Failed" and record["error"]["type"] == "KeyError"
    assert record["error"]["message"] == "'compressor_id'" and "test_monitor.py" in record["error"]["stack"]


def test_a_blocked_quality_gate_sends_one_quality_card_and_no_failure_card(journal):
    """Silver blocked: the quality card goes out with the run; the failure handler adds no second card."""
    from altaviz.quality import CheckResult

    teams = FakeTeams()
    monitor = _monitor(journal, teams=teams)
    with pytest.raises(QualityGateError), monitor.stage("silver") as outcome:
        outcome.result = StageResult("silver", 10, 4, 1.0, SilverReport(quality=[CHECK]))
        raise QualityGateError([CheckResult(**CHECK)])
    assert len(teams.cards) == 1 and "fleet_completeness" in str(teams.cards[0])
    summary = _monitor(journal, teams=teams).report_failure()
    assert summary["stage"] == "silver" and summary["error_type"] == "QualityGateError"
    assert len(teams.cards) == 1


def test_new_critical_alerts_go_out_as_one_digest(journal):
    """Gold opened critical alerts: one digest card naming them, and each alert as a FleetAlerts row."""
    teams, azure = FakeTeams(), FakeAzure()
    second = {**ALERT, "alert_id": "a2", "compressor_id": "CMP-00100", "value": 265.0}
    quiet = {**ALERT, "alert_id": "a3", "severity": "warning", "newly_critical": False}
    with _monitor(journal, azure=azure, teams=teams).stage("gold") as outcome:
        outcome.result = StageResult("gold", 50, 20, 1.0, GoldReport(alerts_opened=3, alerts=[ALERT, second, quiet]))
    assert len(teams.cards) == 1
    assert "CMP-00068" in str(teams.cards[0]) and "CMP-00100" in str(teams.cards[0])
    alert_rows = dict(azure.sent)[FLEET_ALERTS.table_name]
    assert [r["AlertId"] for r in alert_rows] == ["a1", "a2", "a3"]


def test_new_critical_predictive_alerts_join_the_digest(journal):
    """The ML stage's newly critical predictive alerts go out as Gold's do: a digest card and FleetAlerts rows."""
    teams, azure = FakeTeams(), FakeAzure()
    predictive = {**ALERT, "alert_id": "p1", "compressor_id": "CMP-00193", "alert_type": "predictive",
                  "sensor": "predicted valve_failure (RUL h)", "value": 16.0, "failure_mode": "valve_failure"}
    quiet = {**predictive, "alert_id": "p2", "severity": "warning", "newly_critical": False}
    with _monitor(journal, azure=azure, teams=teams).stage("ml") as outcome:
        outcome.result = StageResult("ml", 10, 10, 1.0, MlReport(alerts_opened=2, alerts=[predictive, quiet]))
    assert len(teams.cards) == 1
    card = str(teams.cards[0])
    assert "CMP-00193" in card and "predicted valve_failure" in card and "1 new critical alert " in card
    assert [r["AlertId"] for r in dict(azure.sent)[FLEET_ALERTS.table_name]] == ["p1", "p2"]


def test_report_failure_sends_exactly_one_failure_card_for_the_run(journal):
    """Two handler calls (a retried handler) still make one card; it names the failed stage and its error."""
    teams = FakeTeams()
    with pytest.raises(RuntimeError), _monitor(journal).stage("gold"):
        raise RuntimeError("alerts table locked")
    for _ in range(2):
        summary = _monitor(journal, teams=teams).report_failure()
    assert summary == {"stage": "gold", "error_type": "RuntimeError", "error_message": "alerts table locked"}
    assert len(teams.cards) == 1 and "alerts table locked" in str(teams.cards[0])


def test_a_notebook_that_failed_before_reaching_altaviz_is_named_by_the_stage_it_left_unrecorded(journal):
    """Bronze and Silver recorded success, Gold recorded nothing: the failure card names Gold, not 'unknown'."""
    teams = FakeTeams()
    for stage in ("bronze", "silver"):
        with _monitor(journal).stage(stage) as outcome:
            outcome.result = StageResult(stage, 1, 1, 0.1)
    summary = _monitor(journal, teams=teams).report_failure()
    assert summary["stage"] == "gold" and summary["error_type"] == "NoStageRecord"
    assert "after bronze, silver succeeded" in summary["error_message"]
    assert len(teams.cards) == 1 and "gold" in str(teams.cards[0])


def test_a_failing_sink_is_journalled_said_once_and_skipped_for_the_rest_of_the_run(journal):
    """Azure Monitor down: stages still succeed; one sink_error record, one message, no second attempt."""
    azure, said = FakeAzure(fail=True), []
    for stage in ("bronze", "silver", "gold"):
        with _monitor(journal, azure=azure, said=said).stage(stage) as outcome:
            outcome.result = StageResult(stage, 1, 1, 0.1)
    kinds = [r["kind"] for r in journal.records()]
    assert kinds.count("stage") == 3 and kinds.count("sink_error") == 1
    assert len(said) == 1 and "azure_monitor is unavailable" in said[0] and str(journal.path) in said[0]


def test_half_configured_azure_monitor_is_reported_once_naming_the_missing_variable(journal):
    """A DCE endpoint without a DCR id: the run goes on and says which variable is missing."""
    settings = MonitorSettings(dce_endpoint="https://dce.example")
    said: list[str] = []
    for stage in ("bronze", "silver"):
        with _monitor(journal, settings=settings, said=said).stage(stage) as outcome:
            outcome.result = StageResult(stage, 1, 1, 0.1)
    assert len(said) == 1 and "ALTAVIZ_MONITOR_DCR_ID" in said[0]


def test_settings_come_from_altaviz_variables_and_hide_secrets():
    """Each setting has an ALTAVIZ_* variable; repr() never shows the webhook URL or secrets."""
    settings = MonitorSettings.from_env({"ALTAVIZ_TEAMS_WEBHOOK_URL": "https://hook.example/secret-path",
                                         "ALTAVIZ_MONITOR_DCE_ENDPOINT": "https://dce.example",
                                         "ALTAVIZ_MONITOR_DCR_ID": "dcr-123", "ALTAVIZ_MONITOR_CLIENT_SECRET": "s3"})
    assert settings.teams and settings.azure_monitor and settings.dcr_id == "dcr-123"
    assert "secret-path" not in repr(settings) and "s3" not in repr(settings)
