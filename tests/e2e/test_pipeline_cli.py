"""`altaviz pipeline check|run` and `altaviz run` as a user meets them: the table, the errors, the exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fabric_items import Workspace, expression
from local_servers import Recorder

from altaviz.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def failing_pipeline(tmp_path):
    """A pipeline whose middle notebook fails; a Failed-conditioned notebook writes a marker."""
    workspace = Workspace(tmp_path / "repo")
    marker = tmp_path / "handled"
    workspace.notebook("nb_ok", "notebookutils.notebook.exit(label)", parameters='label = ""')
    workspace.notebook("nb_boom", "raise RuntimeError(f'stage broke for {label}')", parameters='label = ""')
    workspace.notebook("nb_on_failure", f"open({str(marker)!r}, 'w').write('handled')")
    folder = workspace.pipeline("pl_demo", [
        workspace.activity("Ingest", "nb_ok", parameters={"label": expression("@pipeline().parameters.label")}),
        workspace.activity("Transform", "nb_boom", depends={"Ingest": ["Succeeded"]},
                           parameters={"label": expression("@activity('Ingest').output.result.exitValue")}),
        workspace.activity("Publish", "nb_ok", depends={"Transform": ["Succeeded"]}),
        workspace.activity("Report failure", "nb_on_failure", depends={"Transform": ["Failed"]}),
    ], parameters={"label": {"type": "string", "defaultValue": "default"}})
    return folder, marker


def test_pipeline_run_shows_the_table_the_error_and_exits_non_zero(spark, failing_pipeline, tmp_path, capsys):
    """A failing activity: dependants skipped, the Failed branch ran, the notebook's error shown, exit 1."""
    folder, marker = failing_pipeline
    code = main(["pipeline", "run", str(folder), "--param", "label=fleet-a", "--lakehouse-root", str(tmp_path / "lh")])
    captured = capsys.readouterr()
    assert code == 1
    assert marker.read_text() == "handled"
    assert "pipeline pl_demo: Failed" in captured.out
    rows = {line.split("│")[1].strip(): line.split("│")[3].strip()
            for line in captured.out.splitlines() if line.startswith("│")}
    assert rows == {"Ingest": "Succeeded", "Transform": "Failed", "Publish": "Skipped", "Report failure": "Succeeded"}
    assert "Transform (nb_boom) failed: RuntimeError: stage broke for fleet-a" in captured.err
    assert "notebook-content.py" in captured.err
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("altaviz: error: pipeline pl_demo failed activity 'Transform' (nb_boom) failed: "
                           "RuntimeError: stage broke for fleet-a")


def test_pipeline_check_validates_without_running(failing_pipeline, capsys):
    """`pipeline check` lists the activities in order and runs nothing."""
    folder, marker = failing_pipeline
    assert main(["pipeline", "check", str(folder)]) == 0
    assert "pl_demo: OK, 4 activities: Ingest (nb_ok) -> Transform (nb_boom)" in capsys.readouterr().out
    assert not marker.exists()


def test_a_broken_reference_is_one_line_naming_file_and_activity(failing_pipeline, capsys):
    """An unknown notebook parameter in the pipeline: one error line with the file and activity, exit non-zero."""
    folder, marker = failing_pipeline
    content = folder / "pipeline-content.json"
    data = json.loads(content.read_text())
    data["properties"]["activities"][0]["typeProperties"]["parameters"]["lookback_hours"] = {"value": "4",
                                                                                            "type": "string"}
    content.write_text(json.dumps(data))
    assert main(["pipeline", "run", str(folder)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(content) in err[0] and "activity 'Ingest'" in err[0]
    assert "'lookback_hours'" in err[0] and not marker.exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["pipeline", "run", "/no/such.DataPipeline"], "no such pipeline folder: /no/such.DataPipeline"),
    (["pipeline", "run", "pipelines/pl_altaviz_hourly.DataPipeline", "--param", "as_of"],
     "--param must look like name=value (got 'as_of')"),
    (["pipeline", "run", "pipelines/pl_altaviz_hourly.DataPipeline", "--param", "lookback=4"],
     "--param lookback: pipeline 'pl_altaviz_hourly'"),
], ids=["missing-folder", "malformed-param", "unknown-param"])
def test_bad_pipeline_arguments_are_one_line(argv, message, capsys, monkeypatch):
    """Bad paths and parameters are refused in one line before anything runs."""
    monkeypatch.chdir(REPO)
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.slow
def test_make_run_executes_the_repo_notebooks_so_editing_one_changes_the_run(tmp_path, httpserver):
    """`altaviz run` runs fabric_notebooks/ through pipelines/: a Silver notebook edited to fail stops Gold and the
    ML score and the refresh, the error is shown, the run exits 1, and Teams gets exactly one failure card; Bronze still landed."""
    teams = Recorder(status=202)
    httpserver.expect_request("/teams-hook", method="POST").respond_with_handler(teams)
    project = tmp_path / "project"
    for folder in ("fabric_notebooks", "pipelines"):
        shutil.copytree(REPO / folder, project / folder)
    silver = project / "fabric_notebooks" / "nb_silver_cleanse.Notebook" / "notebook-content.py"
    silver.write_text(silver.read_text().replace("as_of=as_of", "as_of='not-a-time'"))
    env = {**os.environ, "ALTAVIZ_LAKEHOUSE_ROOT": str(tmp_path / "lh"), "ALTAVIZ_PROJECT_DIR": str(project),
           "ALTAVIZ_DRIVER_MEMORY": "2g", "ALTAVIZ_TEAMS_WEBHOOK_URL": httpserver.url_for("/teams-hook")}
    done = subprocess.run([sys.executable, "-m", "altaviz.cli", "run"], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert done.returncode == 1, done.stderr
    assert "Silver cleanse (nb_silver_cleanse) failed: ConfigError: as_of must be an ISO 8601 time" in done.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[3].strip()
            for line in done.stdout.splitlines() if line.startswith("│")}
    assert rows == {"Bronze ingest": "Succeeded", "Bronze stream": "Succeeded", "Silver cleanse": "Failed", "Gold aggregate": "Skipped",
                    "ML score": "Skipped", "Refresh SQL endpoint": "Skipped", "Report failure": "Failed"}
    assert "bronze:" in done.stdout and "gold:" not in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith(
        "altaviz: error: pipeline pl_altaviz_hourly failed activity 'Silver cleanse' (nb_silver_cleanse) failed: "
        "ConfigError: as_of must be an ISO 8601 time")
    (card,) = [body["attachments"][0]["content"] for _, body in teams.received]
    assert "silver" in json.dumps(card) and "not-a-time" in json.dumps(card)
    (journal,) = (tmp_path / "lh" / "lh_gold_curated.Lakehouse" / "Files" / "monitoring" / "runs").glob("*.jsonl")
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(r["stage"], r["status"]) for r in records if r["kind"] == "stage"] == [
        ("bronze", "Succeeded"), ("bronze_stream", "Succeeded"), ("silver", "Failed")]
    assert [r["card"] for r in records if r["kind"] == "card"] == ["failure"]
