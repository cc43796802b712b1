"""The `altaviz` command as a user meets it: run twice, query, ingest their own files, and bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from local_servers import Recorder, tls_httpserver

from altaviz.cli import main

ALTAVIZ = [sys.executable, "-m", "altaviz.cli"]


def _altaviz(*args: str, root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALTAVIZ_LAKEHOUSE_ROOT": str(root), "ALTAVIZ_DRIVER_MEMORY": "2g", **env}
    return subprocess.run([*ALTAVIZ, *args], capture_output=True, text=True, check=False, env=env, timeout=600)


@pytest.mark.slow
def test_run_lands_a_demo_fleet_reports_it_and_a_second_run_changes_nothing(tmp_path, httpserver):
    """`altaviz run` exits 0 with a summary, leaves a run record with every stage's numbers and posts them to Azure
    Monitor and Teams (local servers); running again with those servers down changes nothing, succeeds and says
    so once."""
    root = tmp_path / "lh"
    teams = Recorder(status=202)
    httpserver.expect_request("/teams-hook", method="POST").respond_with_handler(teams)
    with tls_httpserver() as (monitor_server, ca_path):
        ingestion = Recorder(status=204)
        monitor_server.expect_request(re.compile(r"^/dataCollectionRules/dcr-e2e/streams/.+"),
                                      method="POST").respond_with_handler(ingestion)
        sinks = {"ALTAVIZ_MONITOR_DCE_ENDPOINT": monitor_server.url_for("").rstrip("/"),
                 "ALTAVIZ_MONITOR_DCR_ID": "dcr-e2e", "ALTAVIZ_MONITOR_TOKEN": "e2e-token",
                 "REQUESTS_CA_BUNDLE": ca_path, "ALTAVIZ_TEAMS_WEBHOOK_URL": httpserver.url_for("/teams-hook")}
        first = _altaviz("run", root=root, **sinks)
    assert first.returncode == 0, first.stderr
    assert "bronze" in first.stdout and "simulate" in first.stdout and "quality checks:" in first.stdout
    assert "(balanced)" in first.stdout and "unavailable" not in first.stderr
    count = "select count(*) as n from lh_bronze_raw.telemetry_raw"
    n1 = json.loads(_altaviz("sql", count, "--format", "json", root=root).stdout)[0]["n"]
    assert n1 > 0
    assert "gold:" in first.stdout
    gold_state = ("select window_type, count(*) as n, sum(reading_count) as readings "
                  "from lh_gold_curated.sensor_readings_agg group by window_type order by window_type")
    agg1 = json.loads(_altaviz("sql", gold_state, "--format", "json", root=root).stdout)
    assert [r["window_type"] for r in agg1] == ["1hr", "24hr", "4hr"] and agg1[0]["n"] > 0

    (journal,) = (root / "lh_gold_curated.Lakehouse" / "Files" / "monitoring" / "runs").glob("*.jsonl")
    stages = [r for r in map(json.loads, journal.read_text().splitlines()) if r["kind"] == "stage"]
    assert [r["stage"] for r in stages] == ["bronze", "bronze_stream", "silver", "gold", "ml", "sql_endpoint_refresh"]
    assert all(r["status"] == "Succeeded" and r["duration_seconds"] > 0 for r in stages)
    assert stages[0]["rows_in"] == n1 + stages[0]["details"]["rows_duplicate"]
    assert stages[1]["details"]["skipped"] == "no endpoint", "no Event Hubs configured: the catch-up says so"
    stages = [stages[0], *stages[2:]]  # the indices below: bronze, silver, gold, ml, refresh
    assert stages[1]["rows_rejected"] > 0 and len(stages[1]["quality"]) > 0 and stages[2]["alerts_opened"] > 0
    rows = {}
    for path, body in ingestion.received:
        rows.setdefault(path.rsplit("/", 1)[1], []).extend(body)
    runs = rows["Custom-AltavizPipelineRuns_CL"]
    assert [r["Stage"] for r in runs] == ["bronze", "bronze_stream", "silver", "gold", "ml", "sql_endpoint_refresh"]
    assert {r["RunId"] for r in runs} == {journal.stem} and runs[2]["RowsRejected"] == stages[1]["rows_rejected"]
    assert len(rows["Custom-AltavizQualityChecks_CL"]) == len(stages[1]["quality"])
    # Gold's threshold alerts and the ML stage's predictive alerts travel together.
    assert len(rows["Custom-AltavizFleetAlerts_CL"]) == len(stages[2]["alerts"]) + len(stages[3]["alerts"])
    cards = [body["attachments"][0]["content"] for _, body in teams.received]
    # One digest per alerting stage (Gold's threshold alerts, then the ML stage's predictive ones), never one per alert.
    digests = sum(1 for stage in stages[2:4] if any(a["newly_critical"] for a in stage["alerts"]))
    assert len(cards) == digests
    ml_state = ("select count(*) as n, count(distinct compressor_id) as units, sum(cast(anomaly_flag as int)) "
                "as flagged from lh_ml_serving.ml_predictions")
    ml1 = json.loads(_altaviz("sql", ml_state, "--format", "json", root=root).stdout)
    assert ml1[0]["n"] > 0 and ml1[0]["n"] == stages[3]["details"]["predictions"] and "ml:" in first.stdout
    emissions = "select count(*) as n from lh_ml_serving.emissions_daily"
    assert json.loads(_altaviz("sql", emissions, "--format", "json", root=root).stdout)[0]["n"] > 0

    second = _altaviz("run", root=root, **sinks)  # both servers are gone now
    assert second.returncode == 0, second.stderr
    assert "simulate" not in second.stdout
    assert second.stderr.count("azure_monitor is unavailable for this run") == 1
    n2 = json.loads(_altaviz("sql", count, "--format", "json", root=root).stdout)[0]["n"]
    assert n2 == n1
    assert json.loads(_altaviz("sql", gold_state, "--format", "json", root=root).stdout) == agg1
    assert json.loads(_altaviz("sql", ml_state, "--format", "json", root=root).stdout) == ml1
    unknown = _altaviz("alerts", "ack", "no-such-alert", root=root)
    assert unknown.returncode == 2 and "no alert with id 'no-such-alert'" in unknown.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--compressors", "0"], "--compressors must be a positive integer"),
        (["simulate", "--days", "x"], "Invalid value for '--days'"),
        (["simulate", "--start", "21/11/2026"], "--start must be a date"),
        (["sql", "select 1", "--format", "xml"], "--format must be one of table, json, csv"),
        (["ingest", "/no/such/file.parquet"], "no such file or directory: /no/such/file.parquet"),
        (["bench", "--repeat", "0"], "--repeat must be a positive integer"),
        (["simulate", "--to", "pigeon"], "--to must be landing, eventhub or kafka"),
        (["simulate", "--speed", "60"], "--speed, --namespace and --hub apply to --to eventhub or --to kafka"),
        (["simulate", "--to", "eventhub"], "--to eventhub needs --namespace (Entra ID) or"),
        (["stream", "ingest", "--trigger", "sometimes"], "--trigger must be available-now or continuous"),
        (["stream", "ingest"], "no Event Hubs to read: set ALTAVIZ_EVENTHUBS_LISTEN_CONNECTION_STRING"),
        (["bench", "--scenario", "weekly"], "--scenario must be fleet-day, hourly or stream"),
        (["bench", "--scenario", "hourly", "--repeat", "24"], "--repeat is at most 23"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["sql"], "Missing argument 'QUERY'"),
        (["run", "--as-of", "yesterday"], "--as-of must be an ISO 8601 time"),
        (["alerts", "list", "--status", "sleeping"], "--status must be open, resolved, closed or all"),
        (["quality", "holds", "--status", "stuck"], "--status must be held, passed, released or all"),
        (["quality", "release"], "Missing argument 'SILVER_RUN_ID'"),
    ],
    ids=["zero-compressors", "non-integer-days", "bad-date", "bad-format", "missing-file", "zero-repeat",
         "unknown-sink", "speed-without-events", "eventhub-without-namespace", "bad-trigger", "stream-not-configured",
         "unknown-scenario", "too-many-hours", "unknown-command", "missing-query", "bad-as-of", "bad-alert-status",
         "bad-hold-status", "release-without-run-id"],
)
def test_bad_arguments_give_one_line_and_a_non_zero_exit(argv, message, capsys):
    """Bad input is one line on stderr naming the problem, never a traceback."""
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code != 0
    assert len(lines) == 1 and message in lines[0], captured.err
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize("command", ["simulate", "ingest", "run", "sql", "bench", "stream ingest", "alerts list", "alerts ack", "quality holds", "quality release",
                                     "pipeline run", "pipeline check", "fabric run-pipeline"])
def test_every_command_has_help(command, capsys):
    """`altaviz <command> --help` describes the command and exits 0."""
    assert main([*command.split(), "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out


def test_sql_on_a_missing_table_is_one_line(tmp_path, capsys):
    """Querying a table that does not exist names it instead of failing with a traceback."""
    code = main(["sql", "select * from lh_bronze_raw.nope", "--lakehouse-root", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "nope" in err[0]


def test_ingest_reports_set_aside_files_and_lands_the_rest(spark, tmp_path, capsys):
    """A folder with a truncated Parquet file and a CSV with wrong columns: good files land, bad ones are named."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "exports"
    folder.mkdir()
    table = pa.table({"compressor_id": ["C1", "C2"],
                      "timestamp": pa.array([1_763_596_800_000_000] * 2, pa.timestamp("us", tz="UTC")),
                      **{c: [1.0, 2.0] for c in ("vibration_mms", "discharge_temp_f", "suction_pressure_psi",
                                                 "discharge_pressure_psi", "horsepower_consumption",
                                                 "gas_flow_mcf")}})
    pq.write_table(table, folder / "good.parquet")
    pq.write_table(table, folder / "cut.parquet")
    data = (folder / "cut.parquet").read_bytes()
    (folder / "cut.parquet").write_bytes(data[:100])
    (folder / "wrong.csv").write_text("id,when,v\nC1,2026-01-01T00:00:00Z,1\n")
    root = tmp_path / "lh"
    assert main(["ingest", str(folder), "--lakehouse-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "1 file(s) landed" in out and "2 set aside" in out
    assert "cut.parquet: unreadable parquet file" in out and "wrong.csv: missing required column(s)" in out
    assert main(["ingest", str(folder), "--strict", "--lakehouse-root", str(root)]) == 1
    capsys.readouterr()
    assert main(["sql", "select count(*) as n from lh_bronze_raw.telemetry_raw", "--format", "csv",
                 "--lakehouse-root", str(root)]) == 0
    assert capsys.readouterr().out.split() == ["n", "2"]


def test_bench_json_reports_median_throughput_and_memory_per_stage(spark, capsys):
    """`altaviz bench --json` times simulate, Bronze, Silver, Gold, ML scoring and a Bronze re-run: medians, rows/s
    and peaks. One repeat (each is a whole fleet-day on a fresh lakehouse); the hourly test covers medians of several.
    ML scoring uses the model registered in the session's store (`$MLFLOW_TRACKING_URI`).
    """
    assert main(["bench", "--compressors", "20", "--days", "1", "--repeat", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    stages = {s["stage"]: s for s in report["stages"]}
    assert set(stages) == {"simulate", "bronze", "silver", "bronze_to_silver", "silver_to_gold", "ml_score",
                           "bronze_rerun"}
    assert report["model"].startswith("registered altaviz")
    assert 0 < stages["silver_to_gold"]["rows"] <= stages["silver"]["rows"]  # the clean rows Gold aggregated
    # One prediction per unit and scored hour of the day: the 24 hours of up to 20 units.
    assert 20 * 20 <= stages["ml_score"]["rows"] <= 20 * 24
    assert stages["ml_score"]["limit_seconds"] == 30.0
    assert stages["simulate"]["rows"] == stages["bronze"]["rows"] > 20 * 250
    assert 0 < stages["silver"]["rows"] <= stages["bronze"]["rows"]
    assert stages["bronze_to_silver"]["seconds"] == pytest.approx(
        [b + s for b, s in zip(stages["bronze"]["seconds"], stages["silver"]["seconds"], strict=True)], abs=0.01)
    assert stages["bronze_rerun"]["rows"] == 0  # nothing new the second time
    for s in stages.values():
        assert s["seconds"] == [s["seconds_median"]]
        assert s["peak_python_mb"] > 0 and s["peak_jvm_mb"] > 0
    assert stages["simulate"]["limit_seconds"] == 5.0 and stages["bronze"]["limit_seconds"] == 30.0
    assert stages["bronze_to_silver"]["limit_seconds"] == 60.0


def test_bench_hourly_times_one_new_hour_per_stage_on_top_of_stored_history(spark, capsys):
    """`--scenario hourly` builds the history untimed, then times Bronze, Silver, Gold and ML scoring on new hours
    only. Two days of history: a unit is scored from its second day on (a provisional baseline on its first)."""
    assert main(["bench", "--scenario", "hourly", "--compressors", "12", "--history-days", "2", "--repeat", "2",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["scenario"], report["history_days"], report["delta_backend"]) == ("hourly", 2, "spark-delta")
    stages = {s["stage"]: s for s in report["stages"]}
    assert list(stages) == ["bronze", "silver", "gold", "ml_score"]
    # An hour of 12 units at 5-minute cadence is ~144 readings, far from the ~7,000 of the stored days.
    assert 50 < stages["bronze"]["rows"] < 400 and 0 < stages["gold"]["rows"] <= stages["silver"]["rows"] < 400
    assert 1 <= stages["ml_score"]["rows"] <= 12  # one new hour scored: at most one prediction per unit
    assert stages["ml_score"]["limit_seconds"] == 8.0
    for s in stages.values():
        assert len(s["seconds"]) == 2
        assert s["limit_seconds"] == (8.0 if s["stage"] == "ml_score" else None)
        assert min(s["seconds"]) <= s["seconds_median"] <= max(s["seconds"])
        assert s["peak_python_mb"] > 0 and s["peak_jvm_mb"] > 0


def test_a_spark_failure_is_one_line_with_its_cause():
    """A JVM error shows its first `Caused by:` line, without Java class names or a stack trace."""
    from altaviz.cli import spark_failure

    error = type("Py4JJavaError", (Exception,), {"__module__": "py4j.protocol"})(
        "An error occurred while calling o1504.getResult.\n: org.apache.spark.SparkException: Exception thrown\n"
        "\tat org.apache.spark.util.SparkErrorUtils.tryWithSafeFinally(SparkErrorUtils.scala:86)\n"
        "Caused by: org.apache.spark.SparkException: Job aborted due to stage failure: Total size of serialized "
        "results of 3 tasks (1198.5 MiB) is bigger than spark.driver.maxResultSize (1024.0 MiB)\n\tat x.y(Z.scala:1)")
    assert spark_failure(error) == ("Job aborted due to stage failure: Total size of serialized results of 3 tasks "
                                    "(1198.5 MiB) is bigger than spark.driver.maxResultSize (1024.0 MiB)")
    assert spark_failure(ValueError("a bug")) is None
