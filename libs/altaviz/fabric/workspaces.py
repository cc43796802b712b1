"""Fabric workspaces: create or find by name, capacity assignment, role assignments, workspace identity, delete.

Capacities are looked up here too, since a workspace is the only thing altaviz puts on one: a capacity created
through ARM is known by its name only, and Fabric wants its GUID.

Paths and bodies follow the platform spec of github.com/microsoft/fabric-rest-api-specs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from altaviz.errors import FabricApiError
from altaviz.fabric.client import FabricClient, FabricHttpError

# Fabric documents no error code for a taken workspace name; these are the ones seen for names in use.
WORKSPACE_NAME_IN_USE = frozenset({"WorkspaceNameAlreadyExists", "ItemDisplayNameAlreadyInUse"})
ROLES = ("Admin", "Member", "Contributor", "Viewer")
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ServicePrincipalProfile")
_GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkspaceRef:
    """A workspace: id, name, description, capacity, identity; `adopted` when create found it already there."""

    id: str
    display_name: str
    description: str = ""
    capacity_id: str | None = None
    identity_application_id: str | None = None
    identity_service_principal_id: str | None = None
    adopted: bool = False

    @classmethod
    def from_api(cls, body: dict[str, Any], *, adopted: bool = False) -> WorkspaceRef:
        """A WorkspaceRef from a `Workspace`/`WorkspaceInfo` object of the API."""
        identity = body.get("workspaceIdentity") or {}
        return cls(body["id"], body.get("displayName", ""), body.get("description") or "", body.get("capacityId"),
                   identity.get("applicationId"), identity.get("servicePrincipalId"), adopted)


@dataclass(frozen=True)
class CapacityRef:
    """A Fabric capacity the caller can see: its GUID, (ARM) name, SKU, region and state."""

    id: str
    display_name: str
    sku: str = ""
    region: str = ""
    state: str = ""

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> CapacityRef:
        """A CapacityRef from a `Capacity` object of the API."""
        return cls(body["id"], body.get("displayName", ""), body.get("sku", ""), body.get("region", ""),
                   body.get("state", ""))


def is_guid(value: str) -> bool:
    """True for a GUID in its usual 8-4-4-4-12 hex form (what Fabric ids look like)."""
    return _GUID.fullmatch(value) is not None


@dataclass(frozen=True)
class RoleAssignment:
    """A workspace role assignment: who (principal id and type) has which role."""

    principal_id: str
    principal_type: str
    role: str
    id: str | None = None  # the assignment id Fabric gave it; None for a wanted, not yet made, assignment

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> RoleAssignment:
        """A RoleAssignment from a `WorkspaceRoleAssignment` object of the API."""
        principal = body.get("principal") or {}
        return cls(principal.get("id", ""), principal.get("type", ""), body.get("role", ""), body.get("id"))


class Workspaces:
    """Workspaces visible to the caller."""

    def __init__(self, client: FabricClient) -> None:
        self.client = client

    def list(self) -> list[WorkspaceRef]:
        """Every workspace the caller can see (all pages)."""
        return [WorkspaceRef.from_api(body) for body in self.client.list_paged("workspaces")]

    def find(self, display_name: str) -> WorkspaceRef | None:
        """The workspace called `display_name` (case-insensitively), with its details, or None."""
        wanted = display_name.casefold()
        found = next((ws for ws in self.list() if ws.display_name.casefold() == wanted), None)
        return self.get(found.id) if found is not None else None

    def get(self, workspace_id: str) -> WorkspaceRef | None:
        """The workspace with its capacity and identity, or None if it does not exist (HTTP 404)."""
        found = self.client.get(f"workspaces/{workspace_id}", missing_ok=True)
        return WorkspaceRef.from_api(found) if found is not None else None

    def create(self, display_name: str, *, description: str = "", capacity_id: str | None = None) -> WorkspaceRef:
        """Create the workspace, or adopt the one already called `display_name` (then `adopted` is True)."""
        existing = self.find(display_name)
        if existing is not None:
            log.info("Adopting existing workspace %r (%s)", display_name, existing.id)
            return replace(existing, adopted=True)
        body: dict[str, Any] = {"displayName": display_name, "description": description}
        if capacity_id:
            body["capacityId"] = capacity_id
        try:
            created = self.client.post("workspaces", body)
        except FabricHttpError as exc:
            existing = self.find(display_name) if exc.error_code in WORKSPACE_NAME_IN_USE or exc.status == 409 else None
            if existing is None:
                raise
            return replace(existing, adopted=True)
        return WorkspaceRef.from_api(created)

    def update(self, workspace_id: str, *, display_name: str | None = None, description: str | None = None) -> None:
        """Rename the workspace or change its description."""
        body = {k: v for k, v in (("displayName", display_name), ("description", description)) if v is not None}
        self.client.patch(f"workspaces/{workspace_id}", body)

    def capacities(self) -> list[CapacityRef]:
        """Every capacity the caller can see (all pages): those it administers or may assign workspaces to."""
        return [CapacityRef.from_api(body) for body in self.client.list_paged("capacities")]

    def find_capacity(self, display_name: str) -> CapacityRef | None:
        """The capacity called `display_name` (case-insensitively) among those the caller can see, or None.

        Raises:
            FabricApiError: more than one visible capacity has that name.
        """
        return _named(self.capacities(), display_name)

    def capacity_id(self, capacity: str) -> str:
        """The GUID of `capacity`, given as a GUID (returned as is) or as the capacity's name (looked up).

        Raises:
            FabricApiError: no capacity the caller can see has that name (the message lists those it can see), or
                several do.
        """
        if is_guid(capacity):
            return capacity
        visible = self.capacities()
        found = _named(visible, capacity)
        if found is None:
            names = ", ".join(sorted(c.display_name for c in visible)) or "none"
            raise FabricApiError(
                f"Fabric capacity {capacity!r} was not found among the capacities this identity can see ({names}). "
                "Fabric lists only the capacities the caller administers or is a contributor of: make the deploying "
                "identity a capacity admin or contributor, or pass the capacity GUID")
        return found.id

    def assign_to_capacity(self, workspace_id: str, capacity_id: str) -> None:
        """Move the workspace onto a capacity (a long-running operation, followed to its end)."""
        response = self.client.request("POST", f"workspaces/{workspace_id}/assignToCapacity",
                                       json={"capacityId": capacity_id})
        self.client.wait_for_operation(response)

    def role_assignments(self, workspace_id: str) -> list[RoleAssignment]:
        """Every role assignment of the workspace (all pages)."""
        found = self.client.list_paged(f"workspaces/{workspace_id}/roleAssignments")
        return [RoleAssignment.from_api(body) for body in found]

    def add_role_assignment(self, workspace_id: str, principal_id: str, principal_type: str,
                            role: str) -> RoleAssignment:
        """Give a principal a role on the workspace."""
        body = {"principal": {"id": principal_id, "type": principal_type}, "role": role}
        return RoleAssignment.from_api(self.client.post(f"workspaces/{workspace_id}/roleAssignments", body))

    def update_role_assignment(self, workspace_id: str, assignment_id: str, role: str) -> None:
        """Change the role of an existing assignment."""
        self.client.patch(f"workspaces/{workspace_id}/roleAssignments/{assignment_id}", {"role": role})

    def delete_role_assignment(self, workspace_id: str, assignment_id: str) -> bool:
        """Remove a role assignment; False if it was already gone."""
        return self.client.delete(f"workspaces/{workspace_id}/roleAssignments/{assignment_id}", missing_ok=True)

    def provision_identity(self, workspace_id: str) -> tuple[str, str]:
        """Provision the workspace identity; returns its (applicationId, servicePrincipalId).

        The API answers 200 with the identity or 202 with an operation whose result is the identity.
        """
        response = self.client.request("POST", f"workspaces/{workspace_id}/provisionIdentity")
        result = self.client.wait_for_operation(response, has_result=True) or {}
        if not result.get("servicePrincipalId"):
            ws = self.get(workspace_id)  # an operation without a result: the workspace shows the identity
            return (ws.identity_application_id or "", ws.identity_service_principal_id or "") if ws else ("", "")
        return result.get("applicationId", ""), result["servicePrincipalId"]

    def delete(self, workspace_id: str) -> bool:
        """Delete the workspace and everything in it; False if it was already gone."""
        return self.client.delete(f"workspaces/{workspace_id}", missing_ok=True)


def _named(capacities: list[CapacityRef], display_name: str) -> CapacityRef | None:
    """The one capacity called `display_name` (case-insensitively), or None; several of that name is an error."""
    wanted = display_name.casefold()
    found = [c for c in capacities if c.display_name.casefold() == wanted]
    if len(found) > 1:
        raise FabricApiError(f"Fabric capacity name {display_name!r} is ambiguous: capacities "
                             f"{', '.join(c.id for c in found)} share it; pass the capacity GUID instead")
    return found[0] if found else None
