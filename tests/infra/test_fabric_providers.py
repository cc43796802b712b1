"""Fabric dynamic providers against the fake Fabric API, driven the way `pulumi up` drives them."""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from fake_fabric import FakeFabric
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider

from altaviz.deploy import fabric_resources
from altaviz.deploy.credentials import FABRIC_SCOPE, TOKEN_ENV, _CachedCredentialToken, fabric_token_provider
from altaviz.deploy.fabric_lifecycle import UNKNOWN, data_pipeline_inputs, notebook_inputs
from altaviz.deploy.fabric_resources import (
    DEFAULT_API_URL,
    DataPipelineProvider,
    EnvironmentProvider,
    LakehouseProvider,
    NotebookProvider,
    ScheduleProvider,
    WorkspaceProvider,
)
from altaviz.errors import FabricApiError
from altaviz.fabric.gitformat import find_items, read_notebook, read_pipeline

REPO = Path(__file__).resolve().parents[2]
CRON = {"type": "Cron", "startDateTime": "2026-01-01T00:10:00", "endDateTime": "2099-12-31T23:59:00",
        "localTimeZoneId": "UTC", "interval": 60}
ALICE, BOB, OPS = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002", "cccc0000-0003"
CAPACITY, OTHER_CAPACITY = "ca000000-0000-4000-8000-000000000001", "ca000000-0000-4000-8000-000000000002"


@dataclass
class Stack:
    """The state of one stack, updated the way `pulumi up` does: check; create, or diff then update or replace."""

    state: dict[str, tuple[ResourceProvider, str, dict[str, Any]]] = field(default_factory=dict)

    def up(self, name: str, provider: ResourceProvider, inputs: dict[str, Any]) -> dict[str, Any]:
        olds = self.state[name][2] if name in self.state else {}
        inputs = provider.check(olds, inputs).inputs
        if name not in self.state:
            made = provider.create(inputs)
            self.state[name] = (provider, made.id, made.outs)
            return made.outs
        _, resource_id, olds = self.state[name]
        diff = provider.diff(resource_id, olds, inputs)
        if not diff.changes:
            return olds
        if diff.replaces:
            made = provider.create(inputs)
            provider.delete(resource_id, olds)
            self.state[name] = (provider, made.id, made.outs)
            return made.outs
        self.state[name] = (provider, resource_id, provider.update(resource_id, olds, inputs).outs)
        return self.state[name][2]

    def destroy(self) -> None:
        for provider, resource_id, outs in reversed(list(self.state.values())):
            provider.delete(resource_id, outs)
        self.state.clear()


@pytest.fixture()
def repo_items(tmp_path) -> Path:
    """A copy of the repo's notebook and pipeline folders that a test may edit."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "fabric_notebooks", root / "fabric_notebooks")
    shutil.copytree(REPO / "pipelines", root / "pipelines")
    return root


@pytest.fixture()
def wheel(tmp_path) -> Path:
    """A stand-in wheel file (the fake stores bytes; it does not install them)."""
    path = tmp_path / "altaviz-0.1.0+h000000000001-py3-none-any.whl"
    path.write_bytes(b"PK first build")
    return path


def workspace_inputs(fake: FakeFabric, name: str = "altaviz-dev", **extra: Any) -> dict[str, Any]:
    return {"display_name": name, "description": "Altaviz dev", "capacity_id": CAPACITY, "role_assignments": [],
            "provision_identity": True, "api_url": fake.base_url, **extra}


def environment_inputs(fake: FakeFabric, ws: str, wheel: Path, **extra: Any) -> dict[str, Any]:
    label = wheel.name.split("-")[1]
    return {"workspace_id": ws, "display_name": "env_altaviz", "description": "", "wheel_path": str(wheel),
            "wheel_version": label, "wheel_hash": f"hash-of-{label}", "publish_timeout_minutes": 30,
            "api_url": fake.base_url, "item_type": "Environment", **extra}


def nb_inputs(fake: FakeFabric, ws: str, folder: Path, env: str | None = None) -> dict[str, Any]:
    return {"workspace_id": ws, "folder": str(folder), "environment_id": env, "api_url": fake.base_url,
            "item_type": "Notebook", **notebook_inputs(ws, folder, environment_id=env)}


def deploy(stack: Stack, fake: FakeFabric, repo: Path, wheel: Path) -> dict[str, dict[str, Any]]:
    """Workspace, environment, every repo notebook, the pipeline bound to them, and its schedules."""
    ws = stack.up("ws", WorkspaceProvider(), workspace_inputs(fake))["workspace_id"]
    env = stack.up("env", EnvironmentProvider(), environment_inputs(fake, ws, wheel))["environment_id"]
    notebook_ids = {}
    for folder in find_items(repo / "fabric_notebooks", "Notebook"):
        outs = stack.up(f"nb:{folder.name}", NotebookProvider(), nb_inputs(fake, ws, folder, env))
        notebook_ids[outs["logical_id"]] = outs["notebook_id"]
    folder = repo / "pipelines" / "pl_altaviz_hourly.DataPipeline"
    pipeline = stack.up("pl", DataPipelineProvider(), {
        "workspace_id": ws, "folder": str(folder), "notebook_ids": notebook_ids, "api_url": fake.base_url,
        "item_type": "DataPipeline", **data_pipeline_inputs(ws, folder, notebook_ids)})
    for index, schedule in enumerate(read_pipeline(folder).schedules):
        stack.up(f"schedule:{index}", ScheduleProvider(), {
            "workspace_id": ws, "item_id": pipeline["pipeline_id"], "job_type": schedule["jobType"],
            "enabled": schedule["enabled"], "configuration": schedule["configuration"], "api_url": fake.base_url})
    return {name: outs for name, (_, _, outs) in stack.state.items()}


def sent_parts(fake: FakeFabric, item_id: str) -> dict[str, bytes]:
    return {p["path"]: base64.b64decode(p["payload"]) for p in fake.definitions[item_id]["parts"]}


# ----- the deployment as a whole

def test_changing_one_notebook_redeploys_only_that_notebook_and_an_unchanged_repo_writes_nothing(
        fake_fabric, repo_items, wheel):
    """Deploy all; edit one notebook's code: one updateDefinition for it and no other write; redeploy: zero writes."""
    stack = Stack()
    first = deploy(stack, fake_fabric, repo_items, wheel)
    ws = first["ws"]["workspace_id"]
    notebooks = fake_fabric.items_of(ws, "Notebook")
    assert sorted(notebooks) == sorted(read_notebook(f).name for f in find_items(repo_items / "fabric_notebooks",
                                                                                  "Notebook"))
    pipeline = first["pl"]["pipeline_id"]
    content = json.loads(sent_parts(fake_fabric, pipeline)["pipeline-content.json"])
    assert {a["typeProperties"]["notebookId"] for a in content["properties"]["activities"]} <= {
        n["id"] for n in notebooks.values()}
    assert [s["_item"] for s in fake_fabric.schedules.values()] == [pipeline]

    silver = repo_items / "fabric_notebooks" / "nb_silver_cleanse.Notebook" / "notebook-content.py"
    silver.write_text(silver.read_text().replace("# CELL ********************\n",
                                                 "# CELL ********************\n\nprint('changed')\n", 1))
    fake_fabric.calls.clear()
    deploy(stack, fake_fabric, repo_items, wheel)

    silver_id = notebooks["nb_silver_cleanse"]["id"]
    assert fake_fabric.write_paths() == [f"POST /v1/workspaces/{ws}/items/{silver_id}/updateDefinition"]
    assert b"print('changed')" in sent_parts(fake_fabric, silver_id)["notebook-content.py"]

    fake_fabric.calls.clear()
    deploy(stack, fake_fabric, repo_items, wheel)
    assert fake_fabric.calls == []


def test_destroy_removes_everything_the_stack_created(fake_fabric, repo_items, wheel):
    """Deleting in reverse order leaves no workspace, item or schedule behind."""
    stack = Stack()
    deploy(stack, fake_fabric, repo_items, wheel)

    stack.destroy()

    assert fake_fabric.workspaces == {} and fake_fabric.items == {} and fake_fabric.schedules == {}


# ----- workspace

def test_workspace_is_created_on_its_capacity_with_roles_and_an_identity(fake_fabric):
    """Create posts the workspace with its capacity, adds each role and outputs the provisioned identity."""
    roles = [{"principal_id": ALICE, "principal_type": "User", "role": "Admin"},
             {"principal_id": OPS, "principal_type": "Group", "role": "Viewer"}]
    outs = Stack().up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=roles))

    ws = fake_fabric.workspaces[outs["workspace_id"]]
    assert (ws["displayName"], ws["capacityId"]) == ("altaviz-dev", CAPACITY)
    assert {(r["principal"]["id"], r["principal"]["type"], r["role"]) for r in
            fake_fabric.roles[ws["id"]].values()} == {(ALICE, "User", "Admin"), (OPS, "Group", "Viewer")}
    assert outs["identity_service_principal_id"] == ws["workspaceIdentity"]["servicePrincipalId"]
    assert outs["adopted"] is False


def test_workspace_with_the_same_name_is_adopted_and_left_alone_on_delete(fake_fabric):
    """An existing workspace is adopted (no POST /workspaces), moved to the capacity, and not deleted on destroy."""
    existing = fake_fabric.add_workspace("altaviz-dev", capacityId="old-cap",
                                         workspaceIdentity={"applicationId": "a", "servicePrincipalId": "sp"})
    stack = Stack()
    outs = stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric))

    assert (outs["workspace_id"], outs["adopted"], outs["identity_service_principal_id"]) == (existing, True, "sp")
    assert "POST /v1/workspaces" not in fake_fabric.write_paths()
    assert fake_fabric.workspaces[existing]["capacityId"] == CAPACITY
    stack.destroy()
    assert existing in fake_fabric.workspaces


def test_workspace_rename_and_role_changes_are_updates_in_place(fake_fabric):
    """A new name (e.g. a developer prefix) PATCHes; roles are added, changed and removed; unmanaged ones stay."""
    stack = Stack()
    roles = [{"principal_id": ALICE, "principal_type": "User", "role": "Member"},
             {"principal_id": OPS, "principal_type": "Group", "role": "Viewer"}]
    ws = stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=roles))["workspace_id"]
    fake_fabric.roles[ws]["deployer"] = {"id": "deployer", "principal": {"id": "deployer", "type": "User"},
                                         "role": "Admin"}
    fake_fabric.calls.clear()

    stack.up("ws", WorkspaceProvider(), workspace_inputs(
        fake_fabric, "dev-alice-altaviz-dev", role_assignments=[
            {"principal_id": ALICE, "principal_type": "User", "role": "Contributor"},
            {"principal_id": BOB, "principal_type": "User", "role": "Viewer"}]))

    assert stack.state["ws"][1] == ws
    assert fake_fabric.workspaces[ws]["displayName"] == "dev-alice-altaviz-dev"
    assert {r["principal"]["id"]: r["role"] for r in fake_fabric.roles[ws].values()} == {
        ALICE: "Contributor", BOB: "Viewer", "deployer": "Admin"}
    assert sorted(c.method for c in fake_fabric.writes) == ["DELETE", "PATCH", "PATCH", "POST"]


def test_workspace_inputs_in_another_order_are_no_change(fake_fabric):
    """Role assignments listed in another order make no diff, so nothing is called."""
    roles = [{"principal_id": ALICE, "principal_type": "User", "role": "Admin"},
             {"principal_id": BOB, "principal_type": "User", "role": "Viewer"}]
    stack = Stack()
    stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=roles))
    fake_fabric.calls.clear()

    stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=roles[::-1]))

    assert fake_fabric.calls == []


def test_workspace_capacity_change_is_awaited_assignment(fake_fabric):
    """A new capacity id is applied with assignToCapacity (a 202 operation followed to its end)."""
    stack = Stack()
    ws = stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric))["workspace_id"]

    stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id=OTHER_CAPACITY))

    assert fake_fabric.workspaces[ws]["capacityId"] == OTHER_CAPACITY


def seed_capacities(fake: FakeFabric) -> str:
    """Three visible capacities (two pages); returns the GUID of `fabcapaltavizstaging`."""
    fake.add_capacity("fabcapshared")
    wanted = fake.add_capacity("fabcapaltavizstaging")
    fake.add_capacity("fabcapaltavizprod")
    return wanted


@pytest.mark.parametrize("adopted", [False, True], ids=["created", "adopted"])
def test_workspace_capacity_given_by_name_is_resolved_to_its_guid(fake_fabric, adopted):
    """A capacity name (any case, found on a later page of GET /v1/capacities) is sent to Fabric as the GUID."""
    guid = seed_capacities(fake_fabric)
    if adopted:
        fake_fabric.add_workspace("altaviz-dev", capacityId=OTHER_CAPACITY)

    outs = Stack().up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id="FabCapAltavizStaging"))

    assert fake_fabric.workspaces[outs["workspace_id"]]["capacityId"] == guid
    assert (outs["capacity_id"], outs["resolved_capacity_id"]) == ("FabCapAltavizStaging", guid)
    sent = [c.body for c in fake_fabric.writes if c.path.endswith(("/assignToCapacity", "/v1/workspaces"))]
    assert [body["capacityId"] for body in sent] == [guid]
    assert sum(c.path == "/v1/capacities" for c in fake_fabric.calls) == 2  # both pages


@pytest.mark.parametrize("existing", [False, True], ids=["create", "update"])
def test_unknown_capacity_name_fails_naming_it_and_the_visible_ones(fake_fabric, existing):
    """A name no visible capacity has fails before any write, naming it, the visible names and the admin rule."""
    seed_capacities(fake_fabric)
    stack = Stack()
    if existing:
        stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric))
    fake_fabric.calls.clear()

    with pytest.raises(FabricApiError, match=r"capacity 'fabcapmissing' was not found .* \(fabcapaltavizprod, "
                                             r"fabcapaltavizstaging, fabcapshared\)\. .*capacity admin or "
                                             r"contributor"):
        stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id="fabcapmissing"))

    assert fake_fabric.writes == []


def test_unchanged_capacity_makes_no_write(fake_fabric):
    """The same name again calls nothing; the GUID swapped for its name (or back) looks it up but writes nothing."""
    guid = seed_capacities(fake_fabric)
    stack = Stack()
    stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id=guid))
    fake_fabric.calls.clear()

    stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id="fabcapaltavizstaging"))
    assert fake_fabric.writes == [] and any(c.path == "/v1/capacities" for c in fake_fabric.calls)
    fake_fabric.calls.clear()
    stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id="fabcapaltavizstaging"))
    assert fake_fabric.calls == []
    stack.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id=guid.upper()))
    assert fake_fabric.writes == []


def test_workspace_read_keeps_the_capacity_name_until_the_workspace_moves(fake_fabric):
    """Refresh reports the name while the workspace is on its capacity, the live GUID once moved elsewhere."""
    guid = seed_capacities(fake_fabric)
    provider = WorkspaceProvider()
    inputs = provider.check({}, workspace_inputs(fake_fabric, capacity_id="fabcapaltavizstaging")).inputs
    made = provider.create(inputs)

    assert provider.read(made.id, made.outs).outs["capacity_id"] == "fabcapaltavizstaging"
    fake_fabric.workspaces[made.id]["capacityId"] = OTHER_CAPACITY
    refreshed = provider.read(made.id, made.outs).outs
    assert refreshed["capacity_id"] == OTHER_CAPACITY

    assert provider.diff(made.id, refreshed, inputs).changes
    provider.update(made.id, refreshed, inputs)
    assert fake_fabric.workspaces[made.id]["capacityId"] == guid


def test_invalid_role_is_reported_by_check(fake_fabric):
    """check names a role outside Admin/Member/Contributor/Viewer before anything is called."""
    failures = WorkspaceProvider().check({}, workspace_inputs(fake_fabric, role_assignments=[
        {"principal_id": ALICE, "principal_type": "User", "role": "Owner"}])).failures

    assert [(f.property, f.reason) for f in failures] == [
        ("role_assignments", f"role 'Owner' of {ALICE} must be one of Admin, Member, Contributor, Viewer")]
    assert fake_fabric.calls == []


def test_workspace_read_refreshes_and_reports_a_deleted_workspace_as_gone(fake_fabric):
    """read picks up a rename made in the portal, and an empty id once the workspace is gone."""
    provider = WorkspaceProvider()
    made = provider.create(provider.check({}, workspace_inputs(fake_fabric)).inputs)
    fake_fabric.workspaces[made.id]["displayName"] = "renamed"

    assert provider.read(made.id, made.outs).outs["display_name"] == "renamed"
    del fake_fabric.workspaces[made.id]
    assert provider.read(made.id, made.outs).id == ""
    provider.delete(made.id, made.outs)  # already gone: fine


# ----- lakehouse

@pytest.mark.parametrize("lro", [True, False], ids=["202-operation", "201-created"])
def test_lakehouse_is_created_schema_enabled_with_its_endpoint_outputs(fake_fabric, lro):
    """A lakehouse is created (201 or 202), schema-enabled, and outputs its SQL endpoint id and Tables path."""
    fake_fabric.prefer_lro = lro
    ws = fake_fabric.add_workspace("ws")
    outs = Stack().up("lh", LakehouseProvider(), {"workspace_id": ws, "display_name": "lh_bronze_raw",
                                                  "description": "", "api_url": fake_fabric.base_url,
                                                  "item_type": "Lakehouse"})

    lakehouse = fake_fabric.items[outs["lakehouse_id"]]
    assert lakehouse["properties"]["defaultSchema"] == "dbo"
    assert outs["sql_endpoint_id"] == lakehouse["properties"]["sqlEndpointProperties"]["id"]
    assert outs["onelake_tables_path"].endswith(f"/{ws}/{lakehouse['id']}/Tables")


def test_lakehouse_moves_to_another_workspace_by_replacement_and_description_updates_in_place(fake_fabric):
    """A new workspace_id replaces the lakehouse (new one made, old one deleted); a description is a PATCH."""
    one, two = fake_fabric.add_workspace("one"), fake_fabric.add_workspace("two")
    stack = Stack()
    inputs = {"workspace_id": one, "display_name": "lh", "description": "", "api_url": fake_fabric.base_url,
              "item_type": "Lakehouse"}
    first = stack.up("lh", LakehouseProvider(), inputs)["lakehouse_id"]
    fake_fabric.calls.clear()

    stack.up("lh", LakehouseProvider(), {**inputs, "description": "bronze"})
    assert fake_fabric.write_paths() == [f"PATCH /v1/workspaces/{one}/items/{first}"]
    moved = stack.up("lh", LakehouseProvider(), {**inputs, "workspace_id": two})["lakehouse_id"]

    assert moved != first and first not in fake_fabric.items
    assert fake_fabric.items[moved]["workspaceId"] == two


# ----- notebooks and pipelines

def test_notebook_create_survives_throttling_and_finds_names_across_pages(fake_fabric, repo_items):
    """429s (Retry-After) are retried; an existing notebook on a later page of the list is adopted."""
    ws = fake_fabric.add_workspace("ws")
    for index in range(5):
        fake_fabric.add_item(ws, "Notebook", f"other_{index}")
    folder = repo_items / "fabric_notebooks" / "nb_gold_aggregate.Notebook"
    existing = fake_fabric.add_item(ws, "Notebook", "nb_gold_aggregate")
    fake_fabric.throttle(2, method="GET", path_contains="/items")
    fake_fabric.throttle(1, method="POST", path_contains="/getDefinition")

    outs = Stack().up("nb", NotebookProvider(), nb_inputs(fake_fabric, ws, folder))

    assert (outs["notebook_id"], outs["adopted"]) == (existing, True)
    assert [c.status for c in fake_fabric.calls].count(429) == 3
    assert any(c.query.get("continuationToken") for c in fake_fabric.calls)
    assert sent_parts(fake_fabric, existing)["notebook-content.py"] == (folder / "notebook-content.py").read_bytes()


def test_adopted_notebook_with_the_same_content_is_not_rewritten(fake_fabric, repo_items):
    """Adopting a notebook whose definition already matches makes no updateDefinition call."""
    ws = fake_fabric.add_workspace("ws")
    folder = repo_items / "fabric_notebooks" / "nb_bronze_ingest.Notebook"
    inputs = nb_inputs(fake_fabric, ws, folder)
    fake_fabric.add_item(ws, "Notebook", "nb_bronze_ingest", {"format": "fabricGitSource", "parts": inputs["parts"]})

    Stack().up("nb", NotebookProvider(), inputs)

    assert not any("updateDefinition" in c.path for c in fake_fabric.calls)


def test_notebook_create_conflict_is_adopted(fake_fabric, repo_items, monkeypatch):
    """ItemDisplayNameAlreadyInUse from the create (a race with someone else) adopts the existing notebook."""
    ws = fake_fabric.add_workspace("ws")
    folder = repo_items / "fabric_notebooks" / "nb_bronze_ingest.Notebook"
    hidden: dict[str, Any] = {}
    original = fake_fabric._items_get

    def list_once_without_it(request, ws):
        response = original(request, ws)
        if not hidden:  # the first list misses the notebook created "meanwhile"
            hidden["id"] = fake_fabric.add_item(ws, "Notebook", "nb_bronze_ingest")
        return response

    monkeypatch.setattr(fake_fabric, "_items_get", list_once_without_it)
    outs = Stack().up("nb", NotebookProvider(), nb_inputs(fake_fabric, ws, folder))

    assert (outs["notebook_id"], outs["adopted"]) == (hidden["id"], True)
    assert any(c.status == 409 for c in fake_fabric.calls)


def test_notebook_is_attached_to_the_environment_and_deleted_even_when_already_gone(fake_fabric, repo_items):
    """The deployed notebook names the environment; delete removes it and tolerates a 404 the second time."""
    ws = fake_fabric.add_workspace("ws")
    folder = repo_items / "fabric_notebooks" / "nb_bronze_ingest.Notebook"
    provider = NotebookProvider()
    made = provider.create(nb_inputs(fake_fabric, ws, folder, env="env-1"))

    assert b'"environmentId": "env-1"' in sent_parts(fake_fabric, made.id)["notebook-content.py"]
    provider.delete(made.id, made.outs)
    provider.delete(made.id, made.outs)
    assert made.id not in fake_fabric.items
    assert provider.read(made.id, made.outs).id == ""


def test_environment_change_rewrites_every_notebook_definition(fake_fabric, repo_items):
    """A new environment id changes the notebooks' content hashes, so each gets an updateDefinition."""
    ws = fake_fabric.add_workspace("ws")
    stack = Stack()
    folders = find_items(repo_items / "fabric_notebooks", "Notebook")
    for folder in folders:
        stack.up(folder.name, NotebookProvider(), nb_inputs(fake_fabric, ws, folder, env="env-1"))
    fake_fabric.calls.clear()

    for folder in folders:
        stack.up(folder.name, NotebookProvider(), nb_inputs(fake_fabric, ws, folder, env="env-2"))

    assert [c.path.rsplit("/", 1)[-1] for c in fake_fabric.writes] == ["updateDefinition"] * len(folders)


def test_pipeline_parameter_default_change_rewrites_only_the_pipeline_definition(fake_fabric, repo_items):
    """Same defaults again: no call; a new `environment` default: one updateDefinition carrying it."""
    ws = fake_fabric.add_workspace("ws")
    folder = repo_items / "pipelines" / "pl_altaviz_hourly.DataPipeline"
    notebook_ids = {a["typeProperties"]["notebookId"]: f"nb-{i}" for i, a in enumerate(read_pipeline(folder).activities)
                    if a["type"] == "TridentNotebook"}

    def inputs(environment: str) -> dict[str, Any]:
        defaults = {"environment": environment, "key_vault_url": "https://kv.vault.azure.net/"}
        return {"workspace_id": ws, "folder": str(folder), "notebook_ids": notebook_ids, "parameter_defaults": defaults,
                "api_url": fake_fabric.base_url, "item_type": "DataPipeline",
                **data_pipeline_inputs(ws, folder, notebook_ids, parameter_defaults=defaults)}

    stack = Stack()
    pipeline = stack.up("pl", DataPipelineProvider(), inputs("staging"))["pipeline_id"]
    fake_fabric.calls.clear()
    stack.up("pl", DataPipelineProvider(), inputs("staging"))
    assert fake_fabric.calls == []

    stack.up("pl", DataPipelineProvider(), inputs("prod"))

    assert fake_fabric.write_paths() == [f"POST /v1/workspaces/{ws}/items/{pipeline}/updateDefinition"]
    content = json.loads(sent_parts(fake_fabric, pipeline)["pipeline-content.json"])
    assert content["properties"]["parameters"]["environment"]["defaultValue"] == "prod"


# ----- environment

def test_environment_is_created_with_the_wheel_published(fake_fabric, wheel):
    """Create stages the wheel (octet-stream), publishes (202 operation) and outputs the published version."""
    ws = fake_fabric.add_workspace("ws")
    outs = Stack().up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel))

    env = outs["environment_id"]
    assert fake_fabric.published[env] == {wheel.name: b"PK first build"}
    assert (outs["published_version"], outs["published_wheel"]) == ("0.1.0+h000000000001", wheel.name)
    assert fake_fabric.publish_states[env] == "Success"


def test_unchanged_wheel_hash_uploads_and_publishes_nothing(fake_fabric, wheel, tmp_path):
    """Same hash (even from another build folder): no call at all; a new hash: old wheel out, new in, publish."""
    ws = fake_fabric.add_workspace("ws")
    stack = Stack()
    env = stack.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel))["environment_id"]
    fake_fabric.calls.clear()

    moved = tmp_path / "elsewhere" / wheel.name
    moved.parent.mkdir()
    shutil.copyfile(wheel, moved)
    stack.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, moved, publish_timeout_minutes=45))
    assert fake_fabric.calls == []

    new = tmp_path / "altaviz-0.1.0+h000000000002-py3-none-any.whl"
    new.write_bytes(b"PK second build")
    outs = stack.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, new))

    base = f"/v1/workspaces/{ws}/environments/{env}"
    assert fake_fabric.write_paths() == [f"DELETE {base}/staging/libraries/{wheel.name}",
                                         f"POST {base}/staging/libraries/{new.name}", f"POST {base}/staging/publish"]
    assert fake_fabric.published[env] == {new.name: b"PK second build"}
    assert outs["published_version"] == "0.1.0+h000000000002"


def test_publish_that_never_finishes_fails_clearly_after_the_bounded_wait(fake_fabric, wheel):
    """A publish stuck Running raises a FabricApiError naming the environment and the minutes waited."""
    fake_fabric.publish_never_finishes = True
    ws = fake_fabric.add_workspace("ws")

    with pytest.raises(FabricApiError, match=r"Publishing environment 'env_altaviz' \(.*\) did not finish within "
                                             r"[\d.]+ minutes \(limit 0.0\)"):
        Stack().up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel,
                                                                    publish_timeout_minutes=0.003))


def test_adopted_environment_already_running_the_wheel_is_not_republished(fake_fabric, wheel):
    """An existing environment whose published libraries hold this exact wheel is adopted without upload or publish."""
    ws = fake_fabric.add_workspace("ws")
    env = fake_fabric.add_item(ws, "Environment", "env_altaviz")
    fake_fabric.published[env] = {wheel.name: b"PK first build"}

    outs = Stack().up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel))

    assert (outs["environment_id"], outs["adopted"]) == (env, True)
    assert fake_fabric.writes == []


# ----- schedules

def schedule_inputs(fake: FakeFabric, ws: str, item: str, **extra: Any) -> dict[str, Any]:
    return {"workspace_id": ws, "item_id": item, "job_type": "Execute", "enabled": True, "configuration": CRON,
            "api_url": fake.base_url, **extra}


def test_schedule_is_created_toggled_in_place_and_replaced_for_another_item(fake_fabric):
    """enabled/configuration changes PATCH the schedule; another item id replaces it (create new, delete old)."""
    ws = fake_fabric.add_workspace("ws")
    one, two = fake_fabric.add_item(ws, "DataPipeline", "pl_one"), fake_fabric.add_item(ws, "DataPipeline", "pl_two")
    stack = Stack()
    first = stack.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, one))["schedule_id"]
    fake_fabric.calls.clear()

    stack.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, one, enabled=False))
    assert fake_fabric.write_paths() == [f"PATCH /v1/workspaces/{ws}/items/{one}/jobs/Execute/schedules/{first}"]
    assert fake_fabric.schedules[first]["enabled"] is False
    moved = stack.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, two))["schedule_id"]

    assert list(fake_fabric.schedules) == [moved]
    assert fake_fabric.schedules[moved]["_item"] == two


def test_identical_existing_schedule_is_adopted_not_duplicated(fake_fabric):
    """A schedule with the same configuration already on the item is adopted instead of creating a second one."""
    ws = fake_fabric.add_workspace("ws")
    item = fake_fabric.add_item(ws, "DataPipeline", "pl")
    first = ScheduleProvider().create(schedule_inputs(fake_fabric, ws, item))

    again = ScheduleProvider().create(schedule_inputs(fake_fabric, ws, item))

    assert again.id == first.id and again.outs["adopted"] is True
    assert len(fake_fabric.schedules) == 1


def test_schedule_configuration_is_checked(fake_fabric):
    """check rejects an unknown schedule type and a Cron interval out of range."""
    failures = ScheduleProvider().check({}, schedule_inputs(fake_fabric, "ws", "item", configuration={
        **CRON, "interval": 0})).failures + ScheduleProvider().check({}, schedule_inputs(
            fake_fabric, "ws", "item", configuration={**CRON, "type": "Hourly"})).failures

    assert [f.reason for f in failures] == ["Cron interval 0 must be 1..5270400 minutes",
                                            "type 'Hourly' must be one of Cron, Daily, Weekly, Monthly"]


# ----- the providers as Pulumi stores them

@pytest.mark.parametrize("provider", [WorkspaceProvider, LakehouseProvider, EnvironmentProvider, NotebookProvider,
                                      DataPipelineProvider, ScheduleProvider],
                         ids=lambda p: p.__name__)
def test_providers_pickle_by_reference_to_this_module(provider):
    """The serialized provider is a small reference to altaviz.deploy.fabric_resources, holding no credential."""
    blob = base64.b64decode(serialize_provider(provider()))

    assert len(blob) < 200
    assert b"altaviz.deploy.fabric_resources" in blob and provider.__name__.encode() in blob
    assert provider.__module__ == fabric_resources.__name__


def test_resources_aim_at_the_public_api_unless_told_otherwise():
    """The default api_url is the public Fabric REST endpoint."""
    assert DEFAULT_API_URL == "https://api.fabric.microsoft.com/v1"
    assert fabric_resources.WorkspaceArgs(display_name="x").api_url == DEFAULT_API_URL


def test_preview_with_unknown_values_reports_changes_without_calling_fabric(fake_fabric):
    """Values not known during preview pass check untouched and show as an update (or a replacement) in diff."""
    inputs = WorkspaceProvider().check({}, workspace_inputs(fake_fabric, role_assignments=UNKNOWN)).inputs
    olds = {"workspace_id": "ws", "item_type": "Notebook", "display_name": "nb", "description": "",
            "content_hash": "abc"}

    update = NotebookProvider().diff("id", olds, {**olds, "content_hash": UNKNOWN})
    replace = NotebookProvider().diff("id", olds, {**olds, "workspace_id": UNKNOWN})

    assert inputs["role_assignments"] == UNKNOWN
    assert (update.changes, update.replaces) == (True, [])
    assert (replace.changes, replace.replaces) == (True, ["workspace_id"])
    assert fake_fabric.calls == []


# ----- credentials

def test_token_from_the_environment_wins(monkeypatch):
    """ALTAVIZ_FABRIC_TOKEN, when set, is the token (tests and CI jobs that fetch one themselves)."""
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert fabric_token_provider()() == "from-env"


def test_default_credential_token_is_reused_until_five_minutes_before_expiry(monkeypatch):
    """DefaultAzureCredential is asked for the Fabric scope once, and again only when the token nears expiry."""
    asked: list[str] = []

    class Credential:
        def get_token(self, scope: str) -> AccessToken:
            asked.append(scope)
            return AccessToken(f"token-{len(asked)}", 1000 + 3600)

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", Credential)
    now = [1000.0]
    tokens = _CachedCredentialToken(FABRIC_SCOPE, clock=lambda: now[0])

    assert [tokens(), tokens()] == ["token-1", "token-1"]
    now[0] = 1000 + 3600 - 301
    assert tokens() == "token-1"
    now[0] += 2
    assert tokens() == "token-2"
    assert asked == ["https://api.fabric.microsoft.com/.default"] * 2


def test_destroy_removes_created_items_and_leaves_adopted_ones(fake_fabric, repo_items):
    """`pulumi destroy` deletes the notebook the stack made, and keeps one that existed before it (adopted)."""
    ws = fake_fabric.add_workspace("ws")
    existing = fake_fabric.add_item(ws, "Notebook", "nb_bronze_ingest")
    adopted = NotebookProvider().create(nb_inputs(fake_fabric, ws, repo_items / "fabric_notebooks" /
                                                  "nb_bronze_ingest.Notebook"))
    created = NotebookProvider().create(nb_inputs(fake_fabric, ws, repo_items / "fabric_notebooks" /
                                                  "nb_gold_aggregate.Notebook"))
    assert (adopted.id, adopted.outs["adopted"], created.outs["adopted"]) == (existing, True, False)

    NotebookProvider().delete(adopted.id, adopted.outs)
    NotebookProvider().delete(created.id, created.outs)

    deletes = [c.path for c in fake_fabric.calls if c.method == "DELETE"]
    assert deletes == [f"/v1/workspaces/{ws}/items/{created.id}"]
