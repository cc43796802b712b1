"""Lakehouse, notebook and data pipeline providers through Pulumi's provider protocol against the fake Fabric API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fabric_stack import lakehouse_inputs, nb_inputs, pipeline_inputs, sent_parts, sjd_inputs
from provider_protocol import Plan

from altaviz.deploy.fabric_lifecycle import UNKNOWN
from altaviz.deploy.fabric_resources import (
    DataPipelineProvider,
    LakehouseProvider,
    NotebookProvider,
    SparkJobDefinitionProvider,
)
from altaviz.fabric.gitformat import find_items, read_pipeline

# ----- lakehouse


@pytest.mark.parametrize("lro", [True, False], ids=["202-operation", "201-created"])
def test_lakehouse_is_created_schema_enabled_with_its_endpoint_outputs(fake_fabric, engine, lro):
    """A lakehouse is created (201 or 202), schema-enabled, and outputs its SQL endpoint id and Tables path."""
    fake_fabric.prefer_lro = lro
    ws = fake_fabric.add_workspace("ws")
    outs = engine.up("lh", LakehouseProvider(), lakehouse_inputs(fake_fabric, ws))

    lakehouse = fake_fabric.items[outs["lakehouse_id"]]
    assert lakehouse["properties"]["defaultSchema"] == "dbo"
    assert outs["sql_endpoint_id"] == lakehouse["properties"]["sqlEndpointProperties"]["id"]
    assert outs["onelake_tables_path"].endswith(f"/{ws}/{lakehouse['id']}/Tables")


def test_lakehouse_moves_to_another_workspace_by_replacement_and_description_updates_in_place(fake_fabric, engine):
    """A new workspace_id replaces the lakehouse (new one made, old one deleted); a description is a PATCH."""
    one, two = fake_fabric.add_workspace("one"), fake_fabric.add_workspace("two")
    first = engine.up("lh", LakehouseProvider(), lakehouse_inputs(fake_fabric, one))["lakehouse_id"]
    fake_fabric.calls.clear()

    engine.up("lh", LakehouseProvider(), lakehouse_inputs(fake_fabric, one, description="bronze"))
    assert fake_fabric.write_paths() == [f"PATCH /v1/workspaces/{one}/items/{first}"]
    moved = engine.up("lh", LakehouseProvider(), lakehouse_inputs(fake_fabric, two))["lakehouse_id"]

    assert moved != first and first not in fake_fabric.items
    assert fake_fabric.items[moved]["workspaceId"] == two


def test_lakehouse_refresh_keeps_its_endpoint_outputs(fake_fabric, engine):
    """Refresh re-reads the lakehouse's SQL endpoint and paths, so an unchanged stack stays unchanged."""
    ws = fake_fabric.add_workspace("ws")
    created = engine.up("lh", LakehouseProvider(), lakehouse_inputs(fake_fabric, ws))

    assert engine.refresh("lh") == created
    assert engine.preview("lh", LakehouseProvider(), lakehouse_inputs(fake_fabric, ws)) == Plan("same")


# ----- notebooks and pipelines

def test_notebook_create_survives_throttling_and_finds_names_across_pages(fake_fabric, engine, checkout):
    """429s (Retry-After) are retried; an existing notebook on a later page of the list is adopted."""
    ws = fake_fabric.add_workspace("ws")
    for index in range(5):
        fake_fabric.add_item(ws, "Notebook", f"other_{index}")
    folder = checkout / "fabric_notebooks" / "nb_gold_aggregate.Notebook"
    existing = fake_fabric.add_item(ws, "Notebook", "nb_gold_aggregate")
    fake_fabric.throttle(2, method="GET", path_contains="/items")
    fake_fabric.throttle(1, method="POST", path_contains="/getDefinition")

    outs = engine.up("nb", NotebookProvider(), nb_inputs(fake_fabric, ws, folder))

    assert (outs["notebook_id"], outs["adopted"]) == (existing, True)
    assert [c.status for c in fake_fabric.calls].count(429) == 3
    assert any(c.query.get("continuationToken") for c in fake_fabric.calls)
    assert sent_parts(fake_fabric, existing)["notebook-content.py"] == (folder / "notebook-content.py").read_bytes()


def test_adopted_notebook_with_the_same_content_is_not_rewritten(fake_fabric, engine, checkout):
    """Adopting a notebook whose definition already matches makes no updateDefinition call."""
    ws = fake_fabric.add_workspace("ws")
    inputs = nb_inputs(fake_fabric, ws, checkout / "fabric_notebooks" / "nb_bronze_ingest.Notebook")
    fake_fabric.add_item(ws, "Notebook", "nb_bronze_ingest", {"format": "fabricGitSource", "parts": inputs["parts"]})

    engine.up("nb", NotebookProvider(), inputs)

    assert not any("updateDefinition" in c.path for c in fake_fabric.calls)


def test_notebook_create_conflict_is_adopted(fake_fabric, engine, checkout, monkeypatch):
    """ItemDisplayNameAlreadyInUse from the create (a race with someone else) adopts the existing notebook."""
    ws = fake_fabric.add_workspace("ws")
    hidden: dict[str, Any] = {}
    original = fake_fabric._items_get

    def list_once_without_it(request, ws):
        response = original(request, ws)
        if not hidden:  # the first list misses the notebook created "meanwhile"
            hidden["id"] = fake_fabric.add_item(ws, "Notebook", "nb_bronze_ingest")
        return response

    monkeypatch.setattr(fake_fabric, "_items_get", list_once_without_it)
    outs = engine.up("nb", NotebookProvider(),
                     nb_inputs(fake_fabric, ws, checkout / "fabric_notebooks" / "nb_bronze_ingest.Notebook"))

    assert (outs["notebook_id"], outs["adopted"]) == (hidden["id"], True)
    assert any(c.status == 409 for c in fake_fabric.calls)


def test_notebook_is_attached_to_the_environment_and_deleted_even_when_already_gone(fake_fabric, engine, checkout):
    """The deployed notebook names the environment; delete removes it, and tolerates one removed by someone else."""
    ws = fake_fabric.add_workspace("ws")
    bronze, gold = (checkout / "fabric_notebooks" / f"{name}.Notebook" for name in ("nb_bronze_ingest",
                                                                                  "nb_gold_aggregate"))
    made = engine.up("bronze", NotebookProvider(), nb_inputs(fake_fabric, ws, bronze, env="env-1"))["notebook_id"]
    gone = engine.up("gold", NotebookProvider(), nb_inputs(fake_fabric, ws, gold))["notebook_id"]

    assert b'"environmentId": "env-1"' in sent_parts(fake_fabric, made)["notebook-content.py"]
    engine.delete("bronze")
    del fake_fabric.items[gone]
    engine.delete("gold")
    assert fake_fabric.items == {}
    assert [c.status for c in fake_fabric.calls if c.method == "DELETE"] == [200, 404]


def test_environment_change_rewrites_every_notebook_definition(fake_fabric, engine, checkout):
    """A new environment id changes the notebooks' content hashes, so each gets an updateDefinition."""
    ws = fake_fabric.add_workspace("ws")
    folders = find_items(checkout / "fabric_notebooks", "Notebook")
    for folder in folders:
        engine.up(folder.name, NotebookProvider(), nb_inputs(fake_fabric, ws, folder, env="env-1"))
    fake_fabric.calls.clear()

    for folder in folders:
        engine.up(folder.name, NotebookProvider(), nb_inputs(fake_fabric, ws, folder, env="env-2"))

    assert [c.path.rsplit("/", 1)[-1] for c in fake_fabric.writes] == ["updateDefinition"] * len(folders)


def test_pipeline_parameter_default_change_rewrites_only_the_pipeline_definition(fake_fabric, engine, checkout):
    """Same defaults again: no call; a new `environment` default: one updateDefinition carrying it."""
    ws = fake_fabric.add_workspace("ws")
    folder = checkout / "pipelines" / "pl_altaviz_hourly.DataPipeline"
    notebook_ids = {a["typeProperties"]["notebookId"]: f"nb-{i}" for i, a in enumerate(read_pipeline(folder).activities)
                    if a["type"] == "TridentNotebook"}

    def inputs(environment: str) -> dict[str, Any]:
        defaults = {"environment": environment, "key_vault_url": "https://kv.vault.azure.net/"}
        return pipeline_inputs(fake_fabric, ws, folder, notebook_ids, defaults)

    pipeline = engine.up("pl", DataPipelineProvider(), inputs("staging"))["pipeline_id"]
    fake_fabric.calls.clear()
    engine.up("pl", DataPipelineProvider(), inputs("staging"))
    assert fake_fabric.calls == []

    engine.up("pl", DataPipelineProvider(), inputs("prod"))

    assert fake_fabric.write_paths() == [f"POST /v1/workspaces/{ws}/items/{pipeline}/updateDefinition"]
    content = json.loads(sent_parts(fake_fabric, pipeline)["pipeline-content.json"])
    assert content["properties"]["parameters"]["environment"]["defaultValue"] == "prod"


def test_preview_with_unknown_values_reports_changes_without_calling_fabric(fake_fabric, engine, checkout):
    """Values not known during preview show as an update (a definition) or a replacement (the workspace)."""
    ws = fake_fabric.add_workspace("ws")
    inputs = nb_inputs(fake_fabric, ws, checkout / "fabric_notebooks" / "nb_bronze_ingest.Notebook")
    engine.up("nb", NotebookProvider(), inputs)
    fake_fabric.calls.clear()

    assert engine.preview("nb", NotebookProvider(), inputs) == Plan("same")
    assert engine.preview("nb", NotebookProvider(), {**inputs, "content_hash": UNKNOWN}) == Plan("update")
    assert engine.preview("nb", NotebookProvider(), {**inputs, "workspace_id": UNKNOWN}) == \
        Plan("replace", ("workspace_id",))
    assert fake_fabric.calls == []


# ----- Spark Job Definitions

def test_streaming_job_is_created_as_v2_then_rewritten_only_when_its_binding_changes(fake_fabric, engine, checkout):
    """Created with its V2 definition (checked against the spec by the fake); the same inputs again make no call;
    a new vault URL rewrites the definition in place (one updateDefinition, same item)."""
    ws = fake_fabric.add_workspace("ws")
    folder = checkout / "fabric_notebooks" / "sjd_bronze_stream.SparkJobDefinition"

    def inputs(vault: str) -> dict[str, Any]:
        return sjd_inputs(fake_fabric, ws, folder, env="env-1", lakehouse="lh-1",
                          arguments={"environment": "staging", "key-vault-url": vault})

    made = engine.up("sjd", SparkJobDefinitionProvider(), inputs("https://one.vault.azure.net/"))
    job = made["spark_job_definition_id"]
    assert fake_fabric.items[job]["type"] == "SparkJobDefinition" and made["adopted"] is False
    assert fake_fabric.definitions[job]["format"] == "SparkJobDefinitionV2"
    settings = json.loads(sent_parts(fake_fabric, job)["SparkJobDefinitionV1.json"])
    assert settings["commandLineArguments"].endswith("--key-vault-url https://one.vault.azure.net/")
    fake_fabric.calls.clear()

    engine.up("sjd", SparkJobDefinitionProvider(), inputs("https://one.vault.azure.net/"))
    assert fake_fabric.writes == []
    engine.up("sjd", SparkJobDefinitionProvider(), inputs("https://two.vault.azure.net/"))

    assert fake_fabric.write_paths() == [f"POST /v1/workspaces/{ws}/items/{job}/updateDefinition"]
    settings = json.loads(sent_parts(fake_fabric, job)["SparkJobDefinitionV1.json"])
    assert settings["commandLineArguments"].endswith("--key-vault-url https://two.vault.azure.net/")


def test_an_existing_streaming_job_is_adopted_and_left_behind_on_destroy(fake_fabric, engine, checkout):
    """A Spark Job Definition of the same name made by hand is adopted, given the repo's definition, and kept
    when the stack is destroyed (it was not the stack's to delete)."""
    ws = fake_fabric.add_workspace("ws")
    existing = fake_fabric.add_item(ws, "SparkJobDefinition", "sjd_bronze_stream")
    folder = checkout / "fabric_notebooks" / "sjd_bronze_stream.SparkJobDefinition"

    outs = engine.up("sjd", SparkJobDefinitionProvider(), sjd_inputs(fake_fabric, ws, folder, env="env-1"))

    assert (outs["spark_job_definition_id"], outs["adopted"]) == (existing, True)
    assert "Main/bronze_stream_job.py" in sent_parts(fake_fabric, existing)
    engine.delete("sjd")
    assert existing in fake_fabric.items
