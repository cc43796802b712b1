"""The workspace lifecycle behind `FabricWorkspace`: name, capacity, managed role assignments, workspace identity.

Only the role assignments listed in the resource are managed: others (the deployer's own Admin role, people added
in the portal) are never touched. A workspace adopted by name is left in place on delete, since it may hold work
that is not this stack's.

`capacity_id` may be the capacity's GUID or its name (a capacity created through ARM is known by name only): a
name is resolved through `GET /v1/capacities` on create and whenever it changes, and the GUID it resolved to is
kept as the `resolved_capacity_id` output, so an unchanged capacity never costs a lookup or a write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from altaviz.deploy.fabric_lifecycle import UNKNOWN, Handler, changed, fabric_client, outputs
from altaviz.fabric.workspaces import PRINCIPAL_TYPES, ROLES, Workspaces

log = logging.getLogger(__name__)


def _roles(value: Any) -> Any:
    """Role assignments as sorted `{principal_id, principal_type, role}` dicts, so order never makes a diff.

    A list not known yet (a preview) is passed through untouched.
    """
    if not isinstance(value, list | tuple) and value is not None:
        return value
    roles = [{"principal_id": str(r.get("principal_id", "")), "principal_type": str(r.get("principal_type", "")),
              "role": str(r.get("role", ""))} for r in value or [] if isinstance(r, Mapping)]
    return sorted(roles, key=lambda r: r["principal_id"].lower())


class WorkspaceHandler(Handler):
    """A workspace with a capacity, managed role assignments and (optionally) a workspace identity."""

    update_keys = ("display_name", "description", "capacity_id", "role_assignments", "provision_identity")

    @classmethod
    def check(cls, news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        inputs = {**news, "role_assignments": _roles(news.get("role_assignments"))}
        problems = []
        for r in inputs["role_assignments"] if isinstance(inputs["role_assignments"], list) else []:
            if r["role"] not in ROLES and r["role"] != UNKNOWN:
                reason = f"role {r['role']!r} of {r['principal_id']} must be one of {', '.join(ROLES)}"
                problems.append(("role_assignments", reason))
            if r["principal_type"] not in PRINCIPAL_TYPES and r["principal_type"] != UNKNOWN:
                reason = (f"principal_type {r['principal_type']!r} of {r['principal_id']} must be one of "
                          f"{', '.join(PRINCIPAL_TYPES)}")
                problems.append(("role_assignments", reason))
        if not news.get("display_name"):
            problems.append(("display_name", "a workspace needs a display name"))
        return inputs, problems

    @classmethod
    def diff(cls, olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[bool, list[str]]:
        olds = {**olds, "role_assignments": _roles(olds.get("role_assignments"))}
        return super().diff(olds, {**news, "role_assignments": _roles(news.get("role_assignments"))})

    @classmethod
    def create(cls, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        with fabric_client(props) as client:
            spaces = Workspaces(client)
            # Resolved first: an unknown capacity name fails before anything is created.
            capacity = spaces.capacity_id(props["capacity_id"]) if props.get("capacity_id") else None
            ws = spaces.create(props["display_name"], description=props.get("description") or "",
                               capacity_id=capacity)
            if ws.adopted and ws.description != (props.get("description") or ""):
                spaces.update(ws.id, description=props.get("description") or "")
            if capacity and not _same_id(ws.capacity_id, capacity):
                spaces.assign_to_capacity(ws.id, capacity)
            _sync_roles(spaces, ws.id, _roles(props.get("role_assignments")), [])
            app_id, sp_id = ws.identity_application_id, ws.identity_service_principal_id
            if props.get("provision_identity", True) and not sp_id:
                app_id, sp_id = spaces.provision_identity(ws.id)
        return ws.id, outputs(props, workspace_id=ws.id, identity_application_id=app_id,
                            identity_service_principal_id=sp_id, adopted=ws.adopted, resolved_capacity_id=capacity)

    @classmethod
    def read(cls, resource_id: str, props: dict[str, Any]) -> dict[str, Any] | None:
        with fabric_client(props) as client:
            spaces = Workspaces(client)
            ws = spaces.get(resource_id)
            if ws is None:
                return None
            live = {r.principal_id.lower(): r for r in spaces.role_assignments(resource_id)}
        managed = []
        for r in _roles(props.get("role_assignments")):
            found = live.get(r["principal_id"].lower())
            if found is not None:  # a removed assignment drops out, so the next update adds it back
                managed.append({**r, "role": found.role})
        outs = outputs(props, display_name=ws.display_name, description=ws.description, role_assignments=managed,
                     identity_application_id=ws.identity_application_id,
                     identity_service_principal_id=ws.identity_service_principal_id)
        if props.get("capacity_id"):
            # The input as given (maybe a name) while the workspace is on the capacity it resolved to; else the
            # live GUID, so the next update moves the workspace back.
            wanted = props.get("resolved_capacity_id") or props["capacity_id"]
            outs["capacity_id"] = props["capacity_id"] if _same_id(ws.capacity_id, wanted) else ws.capacity_id
        return outs

    @classmethod
    def update(cls, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        app_id, sp_id = olds.get("identity_application_id"), olds.get("identity_service_principal_id")
        with fabric_client(news) as client:
            spaces = Workspaces(client)
            if changed(olds, news, "display_name") or changed(olds, news, "description"):
                spaces.update(resource_id, display_name=news["display_name"],
                              description=news.get("description") or "")
            capacity = olds.get("resolved_capacity_id") if news.get("capacity_id") else None
            if changed(olds, news, "capacity_id") and news.get("capacity_id"):
                capacity = spaces.capacity_id(news["capacity_id"])
                live = spaces.get(resource_id)
                if not _same_id(live.capacity_id if live else None, capacity):
                    spaces.assign_to_capacity(resource_id, capacity)
            wanted, before = _roles(news.get("role_assignments")), _roles(olds.get("role_assignments"))
            if wanted != before:
                _sync_roles(spaces, resource_id, wanted, [r["principal_id"] for r in before])
            if news.get("provision_identity", True) and not sp_id:
                app_id, sp_id = spaces.provision_identity(resource_id)
        return outputs(news, workspace_id=resource_id, identity_application_id=app_id,
                     identity_service_principal_id=sp_id, adopted=olds.get("adopted", False),
                     resolved_capacity_id=capacity)

    @classmethod
    def delete(cls, resource_id: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            # It existed before this stack (maybe holding others' work): removing it is a human decision.
            log.warning("Leaving workspace %r (%s): it was adopted, not created, by this stack",
                        props.get("display_name"), resource_id)
            return
        with fabric_client(props) as client:
            Workspaces(client).delete(resource_id)


def _same_id(one: str | None, other: str | None) -> bool:
    """True when both ids are given and equal up to case (Fabric GUIDs come back in either case)."""
    return one is not None and other is not None and one.lower() == other.lower()


def _sync_roles(spaces: Workspaces, workspace_id: str, wanted: list[dict[str, str]], previous: list[str]) -> None:
    """Add or fix the wanted role assignments; remove the previously managed ones no longer wanted."""
    live = {r.principal_id.lower(): r for r in spaces.role_assignments(workspace_id)}
    for r in wanted:
        found = live.get(r["principal_id"].lower())
        if found is None:
            spaces.add_role_assignment(workspace_id, r["principal_id"], r["principal_type"], r["role"])
        elif found.role != r["role"] and found.id:
            spaces.update_role_assignment(workspace_id, found.id, r["role"])
    keep = {r["principal_id"].lower() for r in wanted}
    for principal_id in previous:
        found = live.get(principal_id.lower())
        if principal_id.lower() not in keep and found is not None and found.id:
            spaces.delete_role_assignment(workspace_id, found.id)


