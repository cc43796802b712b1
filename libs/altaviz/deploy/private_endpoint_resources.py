"""The Pulumi dynamic resource for a workspace managed private endpoint approved on its target (see
`altaviz.deploy.private_endpoint_lifecycle`).

State compatibility, as in `altaviz.deploy.fabric_resources`: this module path, the provider class name and the
type token `dynamic/altaviz-fabric:ManagedPrivateEndpoint` are part of every stack that deploys one.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from altaviz.deploy import private_endpoint_lifecycle
from altaviz.deploy.fabric_lifecycle import DEFAULT_API_URL
from altaviz.deploy.fabric_resources import _FabricProvider, _outputs
from altaviz.fabric.private_endpoints import ARM_URL


class ManagedPrivateEndpointProvider(_FabricProvider):
    """Creates/adopts a workspace managed private endpoint, approves it on its target and waits until usable."""

    handler = private_endpoint_lifecycle.ManagedPrivateEndpointHandler


@dataclass
class ManagedPrivateEndpointArgs:
    """A workspace managed private endpoint to an Azure resource (`target_subresource_type` e.g. `vault`).

    With `approve`, the deployment approves the connection on the target (Azure Resource Manager at `arm_url`) and
    waits, at most `wait_minutes` (checking every `poll_seconds`), until Fabric reports it Succeeded and Approved.
    """

    workspace_id: Input[str]
    name: Input[str]
    target_resource_id: Input[str]
    target_subresource_type: Input[str]
    request_message: Input[str] = ""
    approve: Input[bool] = True
    wait_minutes: Input[float] = 30
    poll_seconds: Input[float] = 10
    api_url: Input[str] = DEFAULT_API_URL
    arm_url: Input[str] = ARM_URL


class FabricManagedPrivateEndpoint(Resource, module="altaviz-fabric", name="ManagedPrivateEndpoint"):
    """A managed private endpoint; outputs its id, `provisioning_state`, `connection_status`, `connection_id`."""

    managed_private_endpoint_id: Output[str]
    provisioning_state: Output[str]
    connection_status: Output[str]
    connection_id: Output[str]

    def __init__(self, resource_name: str, args: ManagedPrivateEndpointArgs,
                 opts: ResourceOptions | None = None) -> None:
        props = {
            "workspace_id": args.workspace_id, "name": args.name, "target_resource_id": args.target_resource_id,
            "target_subresource_type": args.target_subresource_type, "request_message": args.request_message,
            "approve": args.approve, "wait_minutes": args.wait_minutes, "poll_seconds": args.poll_seconds, "api_url": args.api_url,
            "arm_url": args.arm_url,
            **_outputs("managed_private_endpoint_id", "provisioning_state", "connection_status", "connection_id",
                       "adopted"),
        }
        super().__init__(ManagedPrivateEndpointProvider(), resource_name, props, opts)
