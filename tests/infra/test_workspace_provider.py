"""The workspace provider through Pulumi's provider protocol: capacity, roles, identity, adoption, refresh."""

from __future__ import annotations

import pytest
from fabric_stack import ALICE, BOB, CAPACITY, OPS, OTHER_CAPACITY, workspace_inputs
from fake_fabric import FakeFabric
from provider_protocol import Plan, ProviderError

from altaviz.deploy.fabric_lifecycle import UNKNOWN
from altaviz.deploy.fabric_resources import WorkspaceProvider


def test_workspace_is_created_on_its_capacity_with_roles_and_an_identity(fake_fabric, engine):
    """Create posts the workspace with its capacity, adds each role and outputs the provisioned identity."""
    roles = [{"principal_id": ALICE, "principal_type": "User", "role": "Admin"},
             {"principal_id": OPS, "principal_type": "Group", "role": "Viewer"}]
    outs = engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=roles))

    ws = fake_fabric.workspaces[outs["workspace_id"]]
    assert (ws["displayName"], ws["capacityId"]) == ("altaviz-dev", CAPACITY)
    assert {(r["principal"]["id"], r["principal"]["type"], r["role"]) for r in
            fake_fabric.roles[ws["id"]].values()} == {(ALICE, "User", "Admin"), (OPS, "Group", "Viewer")}
    assert outs["identity_service_principal_id"] == ws["workspaceIdentity"]["servicePrincipalId"]
    assert outs["adopted"] is False


def test_workspace_with_the_same_name_is_adopted_and_left_alone_on_delete(fake_fabric, engine):
    """An existing workspace is adopted (no POST /workspaces), moved to the capacity, and not deleted on destroy."""
    existing = fake_fabric.add_workspace("altaviz-dev", capacityId="old-cap",
                                         workspaceIdentity={"applicationId": "a", "servicePrincipalId": "sp"})
    outs = engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric))

    assert (outs["workspace_id"], outs["adopted"], outs["identity_service_principal_id"]) == (existing, True, "sp")
    assert "POST /v1/workspaces" not in fake_fabric.write_paths()
    assert fake_fabric.workspaces[existing]["capacityId"] == CAPACITY
    engine.destroy()
    assert existing in fake_fabric.workspaces


def test_workspace_rename_and_role_changes_are_updates_in_place(fake_fabric, engine):
    """A new name (e.g. a developer prefix) PATCHes; roles are added, changed and removed; unmanaged ones stay."""
    roles = [{"principal_id": ALICE, "principal_type": "User", "role": "Member"},
             {"principal_id": OPS, "principal_type": "Group", "role": "Viewer"}]
    ws = engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=roles))["workspace_id"]
    fake_fabric.roles[ws]["deployer"] = {"id": "deployer", "principal": {"id": "deployer", "type": "User"},
                                         "role": "Admin"}
    fake_fabric.calls.clear()

    engine.up("ws", WorkspaceProvider(), workspace_inputs(
        fake_fabric, "dev-alice-altaviz-dev", role_assignments=[
            {"principal_id": ALICE, "principal_type": "User", "role": "Contributor"},
            {"principal_id": BOB, "principal_type": "User", "role": "Viewer"}]))

    assert engine.state["ws"].id == ws
    assert fake_fabric.workspaces[ws]["displayName"] == "dev-alice-altaviz-dev"
    assert {r["principal"]["id"]: r["role"] for r in fake_fabric.roles[ws].values()} == {
        ALICE: "Contributor", BOB: "Viewer", "deployer": "Admin"}
    assert sorted(c.method for c in fake_fabric.writes) == ["DELETE", "PATCH", "PATCH", "POST"]


def test_workspace_inputs_in_another_order_are_no_change(fake_fabric, engine):
    """Role assignments listed in another order make no diff, so nothing is called."""
    roles = [{"principal_id": ALICE, "principal_type": "User", "role": "Admin"},
             {"principal_id": BOB, "principal_type": "User", "role": "Viewer"}]
    engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=roles))
    fake_fabric.calls.clear()

    engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=roles[::-1]))

    assert fake_fabric.calls == []


def test_workspace_capacity_change_is_awaited_assignment(fake_fabric, engine):
    """A new capacity id is applied with assignToCapacity (a 202 operation followed to its end)."""
    ws = engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric))["workspace_id"]

    engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id=OTHER_CAPACITY))

    assert fake_fabric.workspaces[ws]["capacityId"] == OTHER_CAPACITY


def seed_capacities(fake: FakeFabric) -> str:
    """Three visible capacities (two pages); returns the GUID of `fabcapaltavizstaging`."""
    fake.add_capacity("fabcapshared")
    wanted = fake.add_capacity("fabcapaltavizstaging")
    fake.add_capacity("fabcapaltavizprod")
    return wanted


@pytest.mark.parametrize("adopted", [False, True], ids=["created", "adopted"])
def test_workspace_capacity_given_by_name_is_resolved_to_its_guid(fake_fabric, engine, adopted):
    """A capacity name (any case, found on a later page of GET /v1/capacities) is sent to Fabric as the GUID."""
    guid = seed_capacities(fake_fabric)
    if adopted:
        fake_fabric.add_workspace("altaviz-dev", capacityId=OTHER_CAPACITY)

    outs = engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id="FabCapAltavizStaging"))

    assert fake_fabric.workspaces[outs["workspace_id"]]["capacityId"] == guid
    assert (outs["capacity_id"], outs["resolved_capacity_id"]) == ("FabCapAltavizStaging", guid)
    sent = [c.body for c in fake_fabric.writes if c.path.endswith(("/assignToCapacity", "/v1/workspaces"))]
    assert [body["capacityId"] for body in sent] == [guid]
    assert sum(c.path == "/v1/capacities" for c in fake_fabric.calls) == 2  # both pages


@pytest.mark.parametrize("existing", [False, True], ids=["create", "update"])
def test_unknown_capacity_name_fails_naming_it_and_the_visible_ones(fake_fabric, engine, existing):
    """A name no visible capacity has fails before any write, naming it, the visible names and the admin rule."""
    seed_capacities(fake_fabric)
    if existing:
        engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric))
    fake_fabric.calls.clear()

    with pytest.raises(ProviderError, match=r"(Create|Update): (?:altaviz.errors.FabricApiError|Exception calling application): Fabric capacity "
                                            r"'fabcapmissing' was not found .* \(fabcapaltavizprod, "
                                            r"fabcapaltavizstaging, fabcapshared\)\. .*capacity admin or "
                                            r"contributor"):
        engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id="fabcapmissing"))

    assert fake_fabric.writes == []


def test_unchanged_capacity_makes_no_write(fake_fabric, engine):
    """The same name again calls nothing; the GUID swapped for its name (or back) looks it up but writes nothing."""
    guid = seed_capacities(fake_fabric)
    engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id=guid))
    fake_fabric.calls.clear()

    engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id="fabcapaltavizstaging"))
    assert fake_fabric.writes == [] and any(c.path == "/v1/capacities" for c in fake_fabric.calls)
    fake_fabric.calls.clear()
    engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id="fabcapaltavizstaging"))
    assert fake_fabric.calls == []
    engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, capacity_id=guid.upper()))
    assert fake_fabric.writes == []


def test_workspace_refresh_keeps_the_capacity_name_until_the_workspace_moves(fake_fabric, engine):
    """Refresh reports the name while the workspace is on its capacity, the live GUID once moved; up moves it back."""
    guid = seed_capacities(fake_fabric)
    inputs = workspace_inputs(fake_fabric, capacity_id="fabcapaltavizstaging")
    ws = engine.up("ws", WorkspaceProvider(), inputs)["workspace_id"]

    assert engine.refresh("ws")["capacity_id"] == "fabcapaltavizstaging"
    fake_fabric.workspaces[ws]["capacityId"] = OTHER_CAPACITY
    assert engine.refresh("ws")["capacity_id"] == OTHER_CAPACITY

    assert engine.preview("ws", WorkspaceProvider(), inputs) == Plan("update")
    engine.up("ws", WorkspaceProvider(), inputs)
    assert fake_fabric.workspaces[ws]["capacityId"] == guid


def test_invalid_role_is_reported_by_check(fake_fabric, engine):
    """Check names a role outside Admin/Member/Contributor/Viewer before anything is called."""
    failures = engine.failures(WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=[
        {"principal_id": ALICE, "principal_type": "User", "role": "Owner"}]))

    assert failures == [
        ("role_assignments", f"role 'Owner' of {ALICE} must be one of Admin, Member, Contributor, Viewer")]
    assert fake_fabric.calls == []


def test_roles_not_known_during_preview_pass_check(fake_fabric, engine):
    """A role list, or one role in it, not known yet (Unknown objects on the wire) is no check failure."""
    unknown_role = [{"principal_id": ALICE, "principal_type": UNKNOWN, "role": UNKNOWN}]

    assert engine.preview("ws", WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=UNKNOWN)) == \
        Plan("create")
    assert engine.failures(WorkspaceProvider(), workspace_inputs(fake_fabric, role_assignments=unknown_role)) == []
    assert fake_fabric.calls == []


def test_workspace_refresh_follows_a_rename_and_drops_a_deleted_workspace(fake_fabric, engine):
    """Refresh picks up a rename made in the portal; once the workspace is gone it leaves the state."""
    ws = engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric))["workspace_id"]
    fake_fabric.workspaces[ws]["displayName"] = "renamed"

    assert engine.refresh("ws")["display_name"] == "renamed"
    del fake_fabric.workspaces[ws]
    assert engine.refresh("ws") is None
    assert "ws" not in engine.state


def test_deleting_a_workspace_that_is_already_gone_succeeds(fake_fabric, engine):
    """Delete tolerates a workspace removed behind the stack's back."""
    ws = engine.up("ws", WorkspaceProvider(), workspace_inputs(fake_fabric))["workspace_id"]
    del fake_fabric.workspaces[ws]

    engine.delete("ws")

    assert [c.status for c in fake_fabric.calls if c.method == "DELETE"] == [404]
