"""The managed private endpoint provider through Pulumi's provider protocol, against the fake Fabric API (checked
against the platform spec) and a fake Azure Resource Manager holding the vault's private endpoint connections."""

from __future__ import annotations

from typing import Any

import pytest
from provider_protocol import CheckFailed, Plan, ProviderError

from altaviz.deploy.private_endpoint_resources import ManagedPrivateEndpointProvider

VAULT = ("/subscriptions/5ab3c2d1-0000-4000-8000-000000000001/resourceGroups/rg-altaviz-prod/providers/"
         "Microsoft.KeyVault/vaults/kv-altaviz-prod")
NAME = "altaviz-prod-key-vault"


def mpe_inputs(fake, ws: str, **extra: Any) -> dict[str, Any]:
    return {"workspace_id": ws, "name": NAME, "target_resource_id": VAULT, "target_subresource_type": "vault",
            "request_message": "Altaviz prod notebooks read their settings", "approve": True, "wait_minutes": 1,
            "poll_seconds": 0, "api_url": fake.base_url, "arm_url": fake.arm_url, **extra}


def arm_writes(fake) -> list[str]:
    return [f"{c.method} {c.path.rsplit('/', 1)[-1]}" for c in fake.writes if c.path.startswith("/subscriptions/")]


def test_the_endpoint_is_requested_approved_on_the_vault_and_waited_for_until_usable(fake_fabric, engine):
    """One POST to Fabric, the Pending connection found on the vault by the endpoint's id and approved there (one
    ARM PUT), then waited for until Fabric reports it Succeeded and Approved; the same inputs again call nothing."""
    ws = fake_fabric.add_workspace("ws")

    outs = engine.up("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws))

    (mpe,) = fake_fabric.mpes.values()
    assert (outs["managed_private_endpoint_id"], outs["adopted"]) == (mpe["id"], False)
    assert (outs["provisioning_state"], outs["connection_status"]) == ("Succeeded", "Approved")
    (connection,) = fake_fabric.target_connections.values()
    assert outs["connection_id"] == connection["id"]
    state = connection["properties"]["privateLinkServiceConnectionState"]
    assert (state["status"], connection["properties"]["provisioningState"]) == ("Approved", "Succeeded")
    assert [c for c in fake_fabric.write_paths() if "managedPrivateEndpoints" in c] == [
        f"POST /v1/workspaces/{ws}/managedPrivateEndpoints"]
    assert arm_writes(fake_fabric) == [f"PUT {connection['id'].rsplit('/', 1)[-1]}"]
    sent = next(c.body for c in fake_fabric.writes if c.path.endswith("managedPrivateEndpoints"))
    assert (sent["targetPrivateLinkResourceId"], sent["targetSubresourceType"]) == (VAULT, "vault")
    fake_fabric.calls.clear()

    assert engine.preview("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws)) == Plan("same")
    assert fake_fabric.calls == []


def test_an_approved_endpoint_already_there_is_adopted_without_a_write_and_kept_on_destroy(fake_fabric, engine):
    """A second stack (or a re-created state) finds the endpoint by name, already approved: no POST, no PUT; and
    `pulumi destroy` of the adopting stack leaves it."""
    ws = fake_fabric.add_workspace("ws")
    first = engine.up("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws))
    fake_fabric.calls.clear()

    again = engine.up("mpe2", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws))

    assert (again["managed_private_endpoint_id"], again["adopted"]) == (first["managed_private_endpoint_id"], True)
    assert fake_fabric.writes == []
    engine.delete("mpe2")
    assert first["managed_private_endpoint_id"] in fake_fabric.mpes


def test_destroy_deletes_the_endpoint_and_its_connection(fake_fabric, engine):
    ws = fake_fabric.add_workspace("ws")
    engine.up("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws))
    engine.delete("mpe")
    assert fake_fabric.mpes == {} and fake_fabric.target_connections == {}


def test_a_deployer_who_may_not_approve_gets_the_arm_error_in_one_line(fake_fabric, engine):
    """403 AuthorizationFailed on the vault: the deployment fails naming the service, the call and the action."""
    fake_fabric.arm_forbidden = True
    ws = fake_fabric.add_workspace("ws")
    with pytest.raises(ProviderError) as caught:
        engine.up("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws))
    message = str(caught.value)
    assert "Azure Resource Manager PUT /subscriptions/" in message and "HTTP 403 AuthorizationFailed" in message
    assert "privateEndpointConnections/write" in message


def test_a_rejected_connection_fails_with_what_to_do(fake_fabric, engine):
    fake_fabric.connection_status = "Rejected"
    ws = fake_fabric.add_workspace("ws")
    with pytest.raises(ProviderError, match=r"is Rejected; delete the endpoint in the workspace and deploy again"):
        engine.up("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws))
    assert arm_writes(fake_fabric) == []


def test_an_endpoint_that_never_finishes_provisioning_fails_after_the_wait(fake_fabric, engine):
    """The wait is bounded: an endpoint stuck in Provisioning fails the deployment, saying a re-run waits on."""
    fake_fabric.mpe_polls = 10**6
    ws = fake_fabric.add_workspace("ws")
    with pytest.raises(ProviderError, match=r"'altaviz-prod-key-vault': provisioning did not happen within 0s; "
                                            r"run the deployment again to go on waiting"):
        engine.up("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws, approve=False,
                                                                      wait_minutes=0.001))
    assert fake_fabric.mpes  # the request stands: the next `pulumi up` adopts it and waits again


def test_without_approval_no_arm_call_is_made_and_the_connection_stays_pending(fake_fabric, engine):
    """`approve: false` (someone else approves on the target): the endpoint is provisioned, nothing touches ARM."""
    ws = fake_fabric.add_workspace("ws")
    outs = engine.up("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws, approve=False))
    assert (outs["provisioning_state"], outs["connection_status"]) == ("Succeeded", "Pending")
    assert not any(c.path.startswith("/subscriptions/") for c in fake_fabric.calls)


@pytest.mark.parametrize(("change", "failure"), [
    ({"name": "x" * 65}, ("name", "must be 1..64 characters")),
    ({"request_message": "m" * 141}, ("request_message", "at most 140 characters")),
    ({"target_resource_id": "kv-altaviz-prod"}, ("target_resource_id", "must be an Azure resource id")),
], ids=["long-name", "long-message", "not-an-arm-id"])
def test_inputs_fabric_would_refuse_fail_the_check_before_any_call(fake_fabric, engine, change, failure):
    ws = fake_fabric.add_workspace("ws")
    with pytest.raises(CheckFailed) as caught:
        engine.up("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws, **change))
    (prop, reason), = caught.value.failures
    assert prop == failure[0] and failure[1] in reason
    assert fake_fabric.calls == []


def test_another_target_replaces_the_endpoint(fake_fabric, engine):
    """Endpoints cannot be changed: a new target creates a new endpoint and deletes the old one."""
    ws = fake_fabric.add_workspace("ws")
    engine.up("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(fake_fabric, ws))
    other = VAULT.replace("kv-altaviz-prod", "kv-altaviz-prod2")
    assert engine.preview("mpe", ManagedPrivateEndpointProvider(), mpe_inputs(
        fake_fabric, ws, target_resource_id=other)) == Plan("replace", ("target_resource_id",))
