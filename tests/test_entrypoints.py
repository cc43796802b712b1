"""What the notebooks call: lakehouse paths from the runtime context, as-of parsing, the quality gate and the SQL
endpoint refresh (against a local server speaking the Fabric API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from pytest_httpserver import HTTPServer

from altaviz import entrypoints
from altaviz.errors import ConfigError, FabricApiError
from altaviz.lakehouse.files import LocalFileStore
from altaviz.lakehouse.paths import LocalLakehousePaths, TableRef
from altaviz.reports import GoldReport, SilverReport, StageResult

WS = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
LAKEHOUSE_IDS = {"lh_bronze_raw": "b0000000-0000-4000-8000-000000000001",
                 "lh_silver_cleaned": "b0000000-0000-4000-8000-000000000002",
                 "lh_gold_curated": "b0000000-0000-4000-8000-000000000003",
                 "lh_ml_serving": "b0000000-0000-4000-8000-000000000004"}
SQL = "37dc8a41-dea9-465d-b528-3e95043b2356"


def fabric_utils(workspace_name: str, token: str = "pbi-token"):
    """A notebookutils as Fabric presents it: runtime context, lakehouse lookup and tokens."""
    return SimpleNamespace(
        runtime=SimpleNamespace(context={"currentWorkspaceName": workspace_name, "currentWorkspaceId": WS,
                                         "isForPipeline": True}),
        lakehouse=SimpleNamespace(get=lambda name: {"id": LAKEHOUSE_IDS[name], "displayName": name}),
        credentials=SimpleNamespace(getToken=lambda audience: token if audience == "pbi" else None),
    )


@pytest.fixture()
def notebook_run(tmp_path, monkeypatch):
    """Notebook runs whose context is a tmp lakehouse without Spark; returns the local notebookutils."""
    def context(spark, notebookutils, *, run_id=""):
        return SimpleNamespace(run_id=run_id or "run-x", paths=LocalLakehousePaths(tmp_path), files=LocalFileStore())

    monkeypatch.setattr(entrypoints, "notebook_context", context)
    return SimpleNamespace(runtime=SimpleNamespace(context={"lakehouseRoot": str(tmp_path)}))


def _journal(tmp_path, run_id):
    return [json.loads(line) for line in
            (tmp_path / "lh_gold_curated.Lakehouse/Files/monitoring/runs" / f"{run_id}.jsonl").read_text().splitlines()]


def test_the_local_runner_context_gives_local_folders(tmp_path):
    """A context naming lakehouseRoot (only the local stand-in does) resolves to that folder."""
    utils = SimpleNamespace(runtime=SimpleNamespace(context={"lakehouseRoot": str(tmp_path)}))
    paths = entrypoints.runtime_paths(utils)
    assert isinstance(paths, LocalLakehousePaths) and paths.root == tmp_path.resolve()


@pytest.mark.parametrize("workspace_name", ["altaviz-prod", "Altaviz Prod"], ids=["url-safe", "with-spaces"])
def test_a_fabric_context_gives_onelake_guid_paths_from_the_workspace_and_lakehouse_ids(workspace_name):
    """In Fabric the workspace id (runtime context) and lakehouse ids (notebookutils.lakehouse) make the paths."""
    paths = entrypoints.runtime_paths(fabric_utils(workspace_name))
    assert paths.table_path(TableRef("lh_silver_cleaned", "telemetry_clean")) == (
        f"abfss://{WS}@onelake.dfs.fabric.microsoft.com/{LAKEHOUSE_IDS['lh_silver_cleaned']}"
        "/Tables/dbo/telemetry_clean")


def test_a_fabric_context_without_a_workspace_id_is_refused():
    """A context that names no workspace id cannot locate OneLake: a clear error."""
    utils = fabric_utils("altaviz-prod")
    del utils.runtime.context["currentWorkspaceId"]
    with pytest.raises(ConfigError, match="names no workspace id"):
        entrypoints.runtime_paths(utils)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-22T05:00:00.1234567Z", datetime(2026, 11, 22, 5, 0, 0, 123456, tzinfo=UTC)),
    ("2026-11-22T05:00:00Z", datetime(2026, 11, 22, 5, tzinfo=UTC)),
    ("2026-11-22T05:00:00", datetime(2026, 11, 22, 5, tzinfo=UTC)),
    ("2026-11-22T07:00:00+02:00", datetime(2026, 11, 22, 5, tzinfo=UTC)),
    ("", None),
], ids=["trigger-time", "zulu", "naive-is-utc", "offset", "empty-is-now"])
def test_as_of_accepts_what_pipelines_pass(text, expected):
    """A pipeline's TriggerTime (7 fractional digits), Z, offsets and naive times; '' means now."""
    assert entrypoints.parse_as_of(text) == expected


def test_a_bad_as_of_is_a_config_error_naming_the_value():
    """A value that is not a time is refused with the expected shape."""
    with pytest.raises(ConfigError, match=r"as_of must be an ISO 8601 time .*\(got .yesterday.\)"):
        entrypoints.parse_as_of("yesterday")


def test_a_failed_block_check_holds_the_window_and_the_notebook_succeeds(monkeypatch, notebook_run, tmp_path, capsys):
    """A failed block check holds the window (Silver says so) but does not fail the notebook, so Gold runs on;
    the stage record carries the failed check for the one quality card."""
    failed = {"name": "fleet_completeness", "check": "completeness", "level": "block", "metric": 0.4,
              "comparison": ">=", "threshold": 0.85,
              "passed": False, "message": ""}
    result = StageResult("silver", 10, 4, 1.0, SilverReport("s-1", quality=[failed],
                                                         blocked=["fleet_completeness"], held=True))
    monkeypatch.setattr("altaviz.stages.silver.run", lambda ctx, as_of=None: result)
    document = json.loads(entrypoints.silver_cleanse(None, notebook_run, as_of="2026-11-22T00:00:00Z", run_id="r"))
    assert document["details"]["held"] is True
    said = capsys.readouterr()
    assert "FAIL  fleet_completeness  0.400 >= 0.85  (block)" in said.out + said.err
    assert "window s-1 HELD out of Gold (fleet_completeness failed)" in said.out + said.err
    (record,) = _journal(tmp_path, "r")
    assert record["status"] == "Succeeded" and record["quality"][0]["name"] == "fleet_completeness"


def test_stage_exit_values_carry_the_run_id_environment_and_as_of(monkeypatch, notebook_run, tmp_path):
    """Gold's exit JSON: the pipeline's run id, the environment, the as-of time and the stage's numbers."""
    result = StageResult("gold", 5, 3, 2.0, GoldReport("g-1", agg_rows=3, alerts_opened=1, alerts=[{"alert_id": "a"}]))
    monkeypatch.setattr("altaviz.stages.gold.run", lambda ctx, as_of=None: result)
    document = json.loads(entrypoints.gold_aggregate(None, notebook_run, as_of="2026-11-22T05:00:00Z", run_id="run-9",
                                                     environment="staging"))
    details = document.pop("details")
    assert document == {"run_id": "run-9", "environment": "staging", "as_of": "2026-11-22T05:00:00+00:00",
                        "stage": "gold", "rows_in": 5, "rows_out": 3, "seconds": 2.0}
    # The typed report, less the alert list (the monitor's): it reads back as the same report.
    assert (details["run_id"], details["agg_rows"], details["alerts_opened"]) == ("g-1", 3, 1)
    assert "alerts" not in details
    assert StageResult.from_dict({**document, "details": details}).report == GoldReport("g-1", agg_rows=3,
                                                                                          alerts_opened=1)
    (record,) = _journal(tmp_path, "run-9")
    assert (record["stage"], record["status"], record["rows_in"], record["environment"]) == (
        "gold", "Succeeded", 5, "staging")


def test_a_bad_as_of_fails_inside_the_monitored_stage(notebook_run, tmp_path):
    """A bad parameter is the stage's failure: recorded in the run journal, then raised."""
    with pytest.raises(ConfigError, match="as_of must be an ISO 8601 time"):
        entrypoints.gold_aggregate(None, notebook_run, as_of="soon", run_id="run-b")
    (record,) = _journal(tmp_path, "run-b")
    assert record["status"] == "Failed" and record["error"]["type"] == "ConfigError"


def test_the_local_refresh_says_there_is_nothing_to_refresh(notebook_run):
    """Locally DuckDB reads the Delta logs on each query: the refresh succeeds and says why it did nothing."""
    document = json.loads(entrypoints.refresh_sql_endpoints(None, notebook_run, lakehouses="lh_gold_curated"))
    assert "nothing to refresh" in document["details"]["skipped"]


def test_an_unknown_lakehouse_to_refresh_is_refused(tmp_path):
    """A typo in the lakehouses parameter names the allowed lakehouses."""
    utils = SimpleNamespace(runtime=SimpleNamespace(context={"lakehouseRoot": str(tmp_path)}))
    with pytest.raises(ConfigError, match="unknown lh_gold; expected some of lh_bronze_raw"):
        entrypoints.refresh_sql_endpoints(None, utils, lakehouses="lh_gold")


def _sync(table: str, status: str, error: dict | None = None) -> dict:
    row = {"tableName": table, "startDateTime": "2026-11-22T05:00:01Z", "endDateTime": "2026-11-22T05:00:09Z",
           "status": status, "lastSuccessfulSyncDateTime": "2026-11-22T05:00:09Z"}
    return {**row, "error": error} if error else row


def _lakehouse(lakehouse_id: str) -> dict:
    return {"id": lakehouse_id, "type": "Lakehouse", "displayName": "lh", "workspaceId": WS,
            "properties": {"sqlEndpointProperties": {"id": SQL, "provisioningStatus": "Success",
                                                     "connectionString": "x.datawarehouse.fabric.microsoft.com"}}}


def test_in_fabric_the_gold_sql_endpoint_is_refreshed_with_the_notebook_token(httpserver: HTTPServer, notebook_run):
    """Fabric path: the lakehouse's SQL endpoint id is looked up, refreshMetadata called with the pbi token."""
    gold = LAKEHOUSE_IDS["lh_gold_curated"]
    httpserver.expect_ordered_request(f"/v1/workspaces/{WS}/lakehouses/{gold}", method="GET",
                                      headers={"Authorization": "Bearer pbi-token"}).respond_with_json(_lakehouse(gold))
    httpserver.expect_ordered_request(f"/v1/workspaces/{WS}/sqlEndpoints/{SQL}/refreshMetadata", method="POST",
                                      headers={"Authorization": "Bearer pbi-token"}).respond_with_json(
        {"value": [_sync("fleet_health", "Success"), _sync("alerts", "Success"), _sync("old", "NotRun")]})
    document = json.loads(entrypoints.refresh_sql_endpoints(None, fabric_utils("altaviz-prod"),
                                                            api_base=httpserver.url_for("/v1"), run_id="r"))
    assert document["details"]["lakehouses"] == {"lh_gold_curated": {"tables": 3, "failed": []}}
    assert (document["rows_in"], document["rows_out"]) == (3, 2)
    httpserver.check_assertions()


def test_in_fabric_a_table_that_fails_to_sync_fails_the_notebook_naming_it(httpserver: HTTPServer, notebook_run):
    """A Failure in the per-table results raises, naming the lakehouse, the table and its error."""
    gold = LAKEHOUSE_IDS["lh_gold_curated"]
    httpserver.expect_request(f"/v1/workspaces/{WS}/lakehouses/{gold}").respond_with_json(_lakehouse(gold))
    httpserver.expect_request(f"/v1/workspaces/{WS}/sqlEndpoints/{SQL}/refreshMetadata").respond_with_json(
        {"value": [_sync("alerts", "Failure", {"errorCode": "DeltaLogCorrupt", "message": "bad checkpoint"})]})
    with pytest.raises(FabricApiError, match="lh_gold_curated.alerts: DeltaLogCorrupt: bad checkpoint"):
        entrypoints.refresh_sql_endpoints(None, fabric_utils("altaviz-prod"), api_base=httpserver.url_for("/v1"))
