"""The whole deployment through Pulumi's provider protocol: what a repo edit redeploys, and what destroy removes."""

from __future__ import annotations

import json

import pytest
from fabric_stack import deploy, nb_inputs, sent_parts
from fake_fabric import FakeFabric

from altaviz.deploy.fabric_resources import NotebookProvider
from altaviz.deploy.wheel import build_wheel
from altaviz.fabric.gitformat import find_items, read_notebook

SILVER = "fabric_notebooks/nb_silver_cleanse.Notebook/notebook-content.py"


def touched_items(fake: FakeFabric) -> set[str]:
    """The workspace-level ids (items, environments) any call since the last `calls.clear()` went to."""
    return {c.path.split("/")[5] for c in fake.calls if c.path.startswith("/v1/workspaces/") and
            len(c.path.split("/")) > 5}


@pytest.mark.slow
def test_editing_one_notebook_redeploys_that_notebook_only_and_never_republishes_the_environment(
        fake_fabric, engine, checkout, tmp_path):
    """Deploy with a real wheel build; edit a notebook and rebuild: same wheel, one updateDefinition, nothing else."""
    built = build_wheel(checkout, tmp_path / "first")
    first = deploy(engine, fake_fabric, checkout, built)
    ws, env = first["ws"]["workspace_id"], first["env"]["environment_id"]
    notebooks = fake_fabric.items_of(ws, "Notebook")
    assert sorted(notebooks) == sorted(read_notebook(f).name for f in find_items(checkout / "fabric_notebooks",
                                                                                  "Notebook"))
    pipeline = first["pl"]["pipeline_id"]
    content = json.loads(sent_parts(fake_fabric, pipeline)["pipeline-content.json"])
    assert {a["typeProperties"]["notebookId"] for a in content["properties"]["activities"]} <= {
        n["id"] for n in notebooks.values()}
    assert [s["_item"] for s in fake_fabric.schedules.values()] == [pipeline]
    assert list(fake_fabric.published[env]) == [built.path.name]

    silver = checkout / SILVER
    silver.write_text(silver.read_text().replace("# CELL ********************\n",
                                                 "# CELL ********************\n\nprint('changed')\n", 1))
    rebuilt = build_wheel(checkout, tmp_path / "second")
    fake_fabric.calls.clear()
    deploy(engine, fake_fabric, checkout, rebuilt)

    silver_id = notebooks["nb_silver_cleanse"]["id"]
    assert (rebuilt.version, rebuilt.hash) == (built.version, built.hash)
    assert fake_fabric.write_paths() == [f"POST /v1/workspaces/{ws}/items/{silver_id}/updateDefinition"]
    assert touched_items(fake_fabric) == {silver_id}
    assert b"print('changed')" in sent_parts(fake_fabric, silver_id)["notebook-content.py"]

    fake_fabric.calls.clear()
    deploy(engine, fake_fabric, checkout, rebuilt)
    assert fake_fabric.calls == []


@pytest.mark.slow
def test_editing_the_library_republishes_the_environment_and_rewrites_no_item(fake_fabric, engine, checkout,
                                                                               tmp_path):
    """A change under libs/altaviz gives a new wheel: it is staged and published; no notebook or pipeline moves."""
    built = build_wheel(checkout, tmp_path / "first")
    env = deploy(engine, fake_fabric, checkout, built)["env"]["environment_id"]
    with (checkout / "libs/altaviz/config.py").open("a", encoding="utf-8") as handle:
        handle.write("\n# changed\n")
    rebuilt = build_wheel(checkout, tmp_path / "second")
    fake_fabric.calls.clear()

    outs = deploy(engine, fake_fabric, checkout, rebuilt)

    assert rebuilt.version != built.version
    assert touched_items(fake_fabric) == {env}
    base = f"/v1/workspaces/{outs['ws']['workspace_id']}/environments/{env}"
    assert fake_fabric.write_paths() == [f"DELETE {base}/staging/libraries/{built.path.name}",
                                         f"POST {base}/staging/libraries/{rebuilt.path.name}",
                                         f"POST {base}/staging/publish"]
    assert outs["env"]["published_version"] == rebuilt.version


def test_destroy_removes_everything_the_stack_created(fake_fabric, engine, checkout, wheel):
    """Deleting in reverse order leaves no workspace, item or schedule behind."""
    deploy(engine, fake_fabric, checkout, wheel)

    engine.destroy()

    assert fake_fabric.workspaces == {} and fake_fabric.items == {} and fake_fabric.schedules == {}
    assert engine.state == {}


def test_destroy_removes_created_items_and_leaves_adopted_ones(fake_fabric, engine, checkout):
    """`pulumi destroy` deletes the notebook the stack made, and keeps one that existed before it (adopted)."""
    ws = fake_fabric.add_workspace("ws")
    existing = fake_fabric.add_item(ws, "Notebook", "nb_bronze_ingest")
    adopted = engine.up("bronze", NotebookProvider(), nb_inputs(
        fake_fabric, ws, checkout / "fabric_notebooks" / "nb_bronze_ingest.Notebook"))
    created = engine.up("gold", NotebookProvider(), nb_inputs(
        fake_fabric, ws, checkout / "fabric_notebooks" / "nb_gold_aggregate.Notebook"))
    assert (adopted["notebook_id"], adopted["adopted"], created["adopted"]) == (existing, True, False)

    engine.destroy()

    deletes = [c.path for c in fake_fabric.calls if c.method == "DELETE"]
    assert deletes == [f"/v1/workspaces/{ws}/items/{created['notebook_id']}"]
    assert existing in fake_fabric.items
