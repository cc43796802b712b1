"""Every notebook and pipeline in the repo is a valid Fabric Git item, thin, and wired to the others."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from altaviz import entrypoints
from altaviz.fabric.gitformat import find_items, read_notebook, read_pipeline
from altaviz.runner.plan import build_plan

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(find_items(REPO / "fabric_notebooks", "Notebook"))
PIPELINES = sorted(find_items(REPO / "pipelines", "DataPipeline"))


def test_the_repo_has_the_stage_notebooks_and_a_pipeline():
    """Bronze, Silver, Gold and the SQL endpoint refresh each have a notebook; there is at least one pipeline."""
    names = {p.name for p in NOTEBOOKS}
    assert {"nb_bronze_ingest.Notebook", "nb_bronze_stream.Notebook", "nb_silver_cleanse.Notebook", "nb_gold_aggregate.Notebook",
            "nb_refresh_sql_endpoint.Notebook", "nb_report_failure.Notebook"} <= names
    assert PIPELINES


@pytest.mark.parametrize("folder", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_each_notebook_parses_and_is_thin(folder):
    """Header, METADATA blocks and cell markers parse; one PARAMETERS cell; one call into altaviz; exit(json)."""
    notebook = read_notebook(folder)
    text = notebook.content_path.read_text()
    assert text.splitlines()[0] == "# Fabric notebook source"
    assert notebook.metadata["kernel_info"]["name"] == "synapse_pyspark"
    kinds = [c.kind for c in notebook.cells]
    assert kinds.count("parameters") == 1 and kinds.index("parameters") < kinds.index("code")
    code = [c for c in notebook.cells if c.kind == "code"]
    assert all(c.metadata == {"language": "python", "language_group": "synapse_pyspark"} for c in code)
    tree = ast.parse("\n".join(c.source for c in code))
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom | ast.Import)]
    assert [getattr(n, "module", None) for n in imports] == ["altaviz.entrypoints"]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    called = [ast.unparse(n.func) for n in calls]
    into_altaviz = [name for name in called if name in {a.name for n in imports for a in n.names}]
    assert len(into_altaviz) == 1, f"{notebook.content_path}: one call into altaviz, got {into_altaviz}"
    ends_by_raising = inspect.signature(getattr(entrypoints, into_altaviz[0])).return_annotation == "NoReturn"
    assert called[-1] == "notebookutils.notebook.exit" or ends_by_raising
    for local_only in (".lakehouse", "ALTAVIZ_", "os.environ", "LocalLakehousePaths", "lakehouseRoot"):
        assert local_only not in text, f"{notebook.content_path} mentions {local_only!r}"


@pytest.mark.parametrize("folder", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_each_notebook_passes_its_parameters_to_an_entrypoint_that_accepts_them(folder):
    """The entrypoint a notebook calls exists and takes every PARAMETERS-cell name as a keyword."""
    notebook = read_notebook(folder)
    tree = ast.parse("\n".join(c.source for c in notebook.cells if c.kind == "code"))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and hasattr(entrypoints, ast.unparse(n.func)))
    function = getattr(entrypoints, ast.unparse(call.func))
    accepted = set(inspect.signature(function).parameters)
    passed = {k.arg for k in call.keywords}
    assert set(notebook.parameters()) <= passed <= accepted


def test_logical_ids_are_unique_across_every_item():
    """No two items (notebooks or pipelines) share a logicalId; each is a GUID."""
    ids = [read_notebook(p).platform.logical_id for p in NOTEBOOKS]
    ids += [read_pipeline(p).platform.logical_id for p in PIPELINES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("folder", PIPELINES, ids=[p.name for p in PIPELINES])
def test_each_pipeline_resolves_against_the_repo_notebooks(folder):
    """Every notebookId is a repo notebook, every parameter exists in its PARAMETERS cell, every expression is
    supported, and every activity has a retry policy and a timeout."""
    plan = build_plan(folder, REPO / "fabric_notebooks")
    raw = {a["name"]: a for a in read_pipeline(folder).activities}
    for activity in plan.activities:
        assert raw[activity.name]["typeProperties"]["workspaceId"] == "00000000-0000-0000-0000-000000000000"
        assert "timeout" in raw[activity.name]["policy"] and "retry" in raw[activity.name]["policy"]
        assert activity.timeout_seconds <= 3600


def test_the_medallion_pipeline_chains_the_stages_and_refreshes_the_sql_endpoint_last():
    """Bronze -> the Event Hubs catch-up -> Silver -> Gold -> ML score on success, then the SQL endpoint refresh; run
    id and as_of come from the pipeline."""
    plan = build_plan(REPO / "pipelines" / "pl_altaviz_hourly.DataPipeline", REPO / "fabric_notebooks")
    chain = [(a.notebook.name, [(d.activity, d.conditions) for d in a.depends_on]) for a in plan.activities]
    assert chain == [
        ("nb_bronze_ingest", []),
        ("nb_bronze_stream", [("Bronze ingest", ("Succeeded",))]),
        ("nb_silver_cleanse", [("Bronze stream", ("Succeeded",))]),
        ("nb_gold_aggregate", [("Silver cleanse", ("Succeeded",))]),
        ("nb_ml_score", [("Gold aggregate", ("Succeeded",))]),
        ("nb_refresh_sql_endpoint", [("ML score", ("Succeeded",))]),
        ("nb_report_failure", [("Refresh SQL endpoint", ("Failed", "Skipped"))]),
    ]
    for activity in plan.activities:
        values = {p.name: p.value for p in activity.parameters}
        assert values["run_id"] == "@pipeline().RunId"
        assert values["environment"] == "@pipeline().parameters.environment"
        assert values["key_vault_url"] == "@pipeline().parameters.key_vault_url"
    silver = {p.name: p.value for p in plan.activities[2].parameters}
    assert "pipeline().parameters.as_of" in silver["as_of"] and "pipeline().TriggerTime" in silver["as_of"]
    assert plan.activities[2].retry == 0, "a retried Silver would find nothing new and let a blocked run through"
    stream = {p.name: p.value for p in plan.activities[1].parameters}
    assert stream["trigger"] == "@pipeline().parameters.stream_trigger"
    parameters = read_pipeline(REPO / "pipelines" / "pl_altaviz_hourly.DataPipeline").parameters
    assert parameters["stream_trigger"]["defaultValue"] == "available-now", "the catch-up drains the hub and stops"


def test_the_medallion_pipeline_runs_hourly():
    """Its .schedules holds one enabled hourly Cron schedule for the Execute job."""
    (schedule,) = read_pipeline(REPO / "pipelines" / "pl_altaviz_hourly.DataPipeline").schedules
    assert schedule["enabled"] is True and schedule["jobType"] == "Execute"
    config = schedule["configuration"]
    assert config["type"] == "Cron" and config["interval"] == 60
    assert config["startDateTime"] < config["endDateTime"] and config["localTimeZoneId"]


def test_the_medallion_pipeline_never_runs_twice_at_once():
    """`concurrency: 1`: an hourly run still going when the next is due, or a manual run beside it, queues in Fabric."""
    content = read_pipeline(REPO / "pipelines" / "pl_altaviz_hourly.DataPipeline").content
    assert content["properties"]["concurrency"] == 1


def test_item_json_files_are_stable_and_pretty():
    """Item JSON is indented and ends with a newline, so Fabric Git diffs stay readable."""
    for path in [*REPO.glob("fabric_notebooks/*/.platform"), *REPO.glob("pipelines/*/*")]:
        text = path.read_text()
        assert text.endswith("\n") and json.loads(text) and "\n  " in text, path
