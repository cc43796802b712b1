"""The lifecycle of a workspace managed private endpoint (and its approval on the target) from Pulumi property bags.

Managed private endpoints cannot be changed, so any change of workspace, name, target, sub-resource or request
message replaces one. `approve` asks the deployment to approve the endpoint's connection on the target through
Azure Resource Manager (the deploying identity needs `privateEndpointConnections/write` there: Owner or
Contributor on the vault) and to wait until Fabric reports it usable, at most `wait_minutes`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from altaviz.deploy.fabric_lifecycle import UNKNOWN, Handler, fabric_client, outputs
from altaviz.fabric.credentials import arm_token_provider
from altaviz.fabric.private_endpoints import (
    ARM_URL,
    ArmClient,
    ManagedPrivateEndpoint,
    ManagedPrivateEndpoints,
    TargetConnections,
    provision,
)

log = logging.getLogger(__name__)
_ARM_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+$", re.IGNORECASE)
#: Create-request limits from the platform spec (`CreateManagedPrivateEndpointRequest`).
MAX_NAME, MAX_MESSAGE = 64, 140


class ManagedPrivateEndpointHandler(Handler):
    """A workspace managed private endpoint, approved on its target when `approve` is set."""

    replace_keys = ("workspace_id", "name", "target_resource_id", "target_subresource_type", "request_message")
    update_keys = ("approve", "wait_minutes")

    @classmethod
    def check(cls, news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        problems = []
        name, message, target = news.get("name"), news.get("request_message") or "", news.get("target_resource_id")
        if name != UNKNOWN and not (isinstance(name, str) and 0 < len(name) <= MAX_NAME):
            problems.append(("name", f"must be 1..{MAX_NAME} characters (got {name!r})"))
        if message != UNKNOWN and len(message) > MAX_MESSAGE:
            problems.append(("request_message", f"must be at most {MAX_MESSAGE} characters (got {len(message)})"))
        if target != UNKNOWN and not (isinstance(target, str) and _ARM_ID.match(target)):
            problems.append(("target_resource_id", f"must be an Azure resource id (got {target!r})"))
        return news, problems

    @classmethod
    def create(cls, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        done = cls._provision(props)
        return done.endpoint.id, outputs(props, **_state(done.endpoint), adopted=done.adopted,
                                         connection_id=done.connection.id if done.connection else None)

    @classmethod
    def _provision(cls, props: Mapping[str, Any]):
        with fabric_client(props) as client, ArmClient(arm_token_provider(),
                                                       base_url=props.get("arm_url") or ARM_URL) as arm:
            return provision(ManagedPrivateEndpoints(client, props["workspace_id"]), props["workspace_id"],
                             props["name"], props["target_resource_id"],
                             subresource=props["target_subresource_type"],
                             request_message=props.get("request_message") or "",
                             connections=TargetConnections(arm, props["target_resource_id"])
                             if props.get("approve") else None,
                             wait_seconds=float(props.get("wait_minutes") or 30) * 60,
                             poll_seconds=float(props.get("poll_seconds", 10)), progress=log.info)

    @classmethod
    def read(cls, resource_id: str, props: dict[str, Any]) -> dict[str, Any] | None:
        with fabric_client(props) as client:
            live = ManagedPrivateEndpoints(client, props["workspace_id"]).get(resource_id)
        return None if live is None else outputs(props, **_state(live))

    @classmethod
    def update(cls, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        # Only approve/wait_minutes change in place: provisioning again adopts the endpoint and approves it if asked.
        done = cls._provision(news)
        return outputs(news, **_state(done.endpoint), adopted=olds.get("adopted", False),
                       connection_id=done.connection.id if done.connection else olds.get("connection_id"))

    @classmethod
    def delete(cls, resource_id: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            log.warning("Leaving managed private endpoint %r (%s): it was adopted, not created, by this stack",
                        props.get("name"), resource_id)
            return
        with fabric_client(props) as client:
            if not ManagedPrivateEndpoints(client, props["workspace_id"]).delete(resource_id):
                log.info("managed private endpoint %s was already gone", resource_id)


def _state(endpoint: ManagedPrivateEndpoint) -> dict[str, Any]:
    return {"managed_private_endpoint_id": endpoint.id, "provisioning_state": endpoint.provisioning_state,
            "connection_status": endpoint.connection_status}
