"""Least-privilege Azure role assignments: built-in data-plane roles on single resources, for service principals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

from pulumi import ComponentResource, Input, Output, ResourceOptions
from pulumi_azure_native import authorization

#: The only roles this program assigns: name -> built-in role definition GUID (the same in every tenant).
#: Sender and Receiver are easy to swap; tests pin this mapping.
BUILT_IN_ROLES = MappingProxyType({
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Azure Event Hubs Data Sender": "2b629674-e913-4c01-ae53-ef4638d8f975",
})


def role_definition_id(subscription_id: str, role: str) -> str:
    """The full role definition id ARM expects: `/subscriptions/{sub}/providers/Microsoft.Authorization/...`."""
    if role not in BUILT_IN_ROLES:
        raise ValueError(f"role {role!r} is not one this program assigns ({', '.join(BUILT_IN_ROLES)})")
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{BUILT_IN_ROLES[role]}"


@dataclass(frozen=True)
class Grant:
    """One role for one principal on one resource. `key` names the Pulumi resource and must stay stable."""

    key: str
    role: str
    scope: Input[str]
    principal_id: Input[str]
    description: str


@dataclass
class RoleAssignmentsArgs:
    """The subscription the role definitions are looked up in, and the grants."""

    subscription_id: Input[str]
    grants: Sequence[Grant]


class RoleAssignments(ComponentResource):
    """One `RoleAssignment` per grant, with `principal_type="ServicePrincipal"` (workspace identities, managed
    identities and app registrations are all service principals; stating it avoids replication-delay failures)."""

    assignment_ids: dict[str, Output[str]]

    def __init__(self, name: str, args: RoleAssignmentsArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("altaviz:roles:RoleAssignments", name, None, opts)
        subscription = Output.from_input(args.subscription_id)
        self.assignment_ids = {}
        for grant in args.grants:
            assignment = authorization.RoleAssignment(
                f"{name}-{grant.key}",
                principal_id=grant.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=subscription.apply(lambda sub, role=grant.role: role_definition_id(sub, role)),
                scope=grant.scope,
                description=grant.description,
                opts=ResourceOptions(parent=self))
            self.assignment_ids[grant.key] = assignment.id
        self.register_outputs({"assignment_ids": self.assignment_ids})
