"""The security-baseline policy pack: each policy passes compliant inputs, flags non-compliant ones, and passes
everything the program deploys for every test stack."""

from __future__ import annotations

import ast
import copy
import json
from typing import Any

import pytest
from mocked_program import INFRA, SUBSCRIPTION_ID, infra_module, recorded_test_stacks
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

ALLOWED_ROLES = infra_module("altaviz_policies").ALLOWED_ROLES
altaviz_policies = infra_module("altaviz_policies").altaviz_policies
BUILT_IN_ROLES = infra_module("components.roles").BUILT_IN_ROLES

ROLE_PREFIX = f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
HUB_ID = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns/"
          "eventhubs/telemetry")

#: One compliant input bag per resource type the baseline covers.
COMPLIANT: dict[str, dict[str, Any]] = {
    "azure-native:eventhub:Namespace": {"sku": {"name": "Standard", "tier": "Standard", "capacity": 1},
                                        "minimumTlsVersion": "1.2", "kafkaEnabled": True},
    "azure-native:eventhub:EventHubAuthorizationRule": {"rights": ["Listen"], "eventHubName": "telemetry"},
    "azure-native:keyvault:Vault": {"properties": {
        "enableRbacAuthorization": True, "enablePurgeProtection": True, "enableSoftDelete": True,
        "softDeleteRetentionInDays": 90, "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny"}}},
    "azure-native:operationalinsights:Workspace": {"features": {"disableLocalAuth": True}, "retentionInDays": 90},
    "azure-native:authorization:RoleAssignment": {
        "roleDefinitionId": ROLE_PREFIX + "2b629674-e913-4c01-ae53-ef4638d8f975",
        "principalType": "ServicePrincipal", "principalId": "3b2a1f0e-9d8c-4b7a-8f6e-5d4c3b2a1f0e", "scope": HUB_ID},
    "azure-native:fabric:FabricCapacity": {"sku": {"name": "F8", "tier": "Fabric"},
                                           "administration": {"members": ["admin@altaviz.example"]}},
}


def policies() -> dict[str, ResourceValidationPolicy]:
    return {p.name: p for p in altaviz_policies()}


def violations(resource_type: str, props: dict[str, Any], *, only: str | None = None,
               config: dict[str, Any] | None = None) -> list[str]:
    """Messages every policy (or just `only`) reports for one resource, calling `validate` as the engine would."""
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    found: list[str] = []
    for name, policy in policies().items():
        if only and name != only:
            continue
        args = ResourceValidationArgs(resource_type, unknown_checking_proxy(props), f"urn:pulumi:test::altaviz::"
                                      f"{resource_type}::r", "r", options, None, (config or {}).get(name))
        policy.validate(args, lambda message, urn=None, name=name: found.append(f"{name}: {message}"))
    return found


def changed(resource_type: str, path: str, value: Any) -> dict[str, Any]:
    """The compliant props of a type with one (dotted) key set to `value`, or removed when value is ...."""
    props = copy.deepcopy(COMPLIANT[resource_type])
    *parents, last = path.split(".")
    target = props
    for key in parents:
        target = target[key]
    if value is ...:
        target.pop(last, None)
    else:
        target[last] = value
    return props


def test_policies_are_mandatory_and_uniquely_named():
    """Eight mandatory policies with distinct names."""
    found = altaviz_policies()
    assert len({p.name for p in found}) == len(found) == 8
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in found)


def test_the_pack_entry_point_only_builds_the_pack():
    """`infra/policy/__main__.py` has imports and one PolicyPack(...) call, nothing else."""
    tree = ast.parse((INFRA / "policy" / "__main__.py").read_text(encoding="utf-8"))
    body = [node for node in tree.body if not isinstance(node, ast.Import | ast.ImportFrom)]
    assert len(body) == 2 and isinstance(body[0], ast.Expr) and isinstance(body[1], ast.Expr)  # docstring + call
    assert body[1].value.func.id == "PolicyPack"


def test_allowed_roles_are_the_roles_the_program_assigns():
    """The pack's role allow-list and the program's role map name the same GUIDs."""
    assert set(ALLOWED_ROLES) == set(BUILT_IN_ROLES.values())
    assert {ALLOWED_ROLES[guid]: guid for guid in ALLOWED_ROLES} == dict(BUILT_IN_ROLES)


@pytest.mark.parametrize("resource_type", sorted(COMPLIANT))
def test_compliant_resources_pass(resource_type):
    """The compliant input bag of each covered type raises no violation."""
    assert violations(resource_type, COMPLIANT[resource_type]) == []


NON_COMPLIANT = [
    ("eventhubs-minimum-tls-1-2", "azure-native:eventhub:Namespace", "minimumTlsVersion", "1.0", "1.2"),
    ("eventhubs-minimum-tls-1-2", "azure-native:eventhub:Namespace", "minimumTlsVersion", ..., "1.2"),
    ("eventhubs-standard-or-above", "azure-native:eventhub:Namespace", "sku.name", "Basic", "'Basic' is not allowed"),
    ("eventhubs-sas-listen-only", "azure-native:eventhub:EventHubAuthorizationRule", "rights", ["Listen", "Send"],
     "exactly [\"Listen\"]"),
    ("eventhubs-sas-listen-only", "azure-native:eventhub:EventHubAuthorizationRule", "rights",
     ["Manage", "Listen", "Send"], "never with a Send or Manage key"),
    ("keyvault-rbac-purge-protection", "azure-native:keyvault:Vault", "properties.enableRbacAuthorization", False,
     "enableRbacAuthorization must be true"),
    ("keyvault-rbac-purge-protection", "azure-native:keyvault:Vault", "properties.enablePurgeProtection", ...,
     "enablePurgeProtection must be true"),
    ("keyvault-rbac-purge-protection", "azure-native:keyvault:Vault", "properties.softDeleteRetentionInDays", 7,
     "at least 90 (got 7)"),
    ("keyvault-rbac-purge-protection", "azure-native:keyvault:Vault", "properties.softDeleteRetentionInDays", ...,
     "at least 90 (got None)"),
    ("keyvault-rbac-purge-protection", "azure-native:keyvault:Vault", "properties.enableSoftDelete", False,
     "soft delete must stay enabled"),
    ("keyvault-rbac-purge-protection", "azure-native:keyvault:Vault", "properties.accessPolicies",
     [{"objectId": "x", "permissions": {"secrets": ["get"]}}], "accessPolicies must be empty"),
    ("keyvault-network-acls", "azure-native:keyvault:Vault", "properties.networkAcls", ..., "must be declared"),
    ("keyvault-network-acls", "azure-native:keyvault:Vault", "properties.networkAcls.bypass", "None",
     "bypass must be \"AzureServices\""),
    ("log-analytics-entra-only", "azure-native:operationalinsights:Workspace", "features.disableLocalAuth", False,
     "disableLocalAuth must be true"),
    ("log-analytics-entra-only", "azure-native:operationalinsights:Workspace", "features", ...,
     "disableLocalAuth must be true"),
    ("log-analytics-entra-only", "azure-native:operationalinsights:Workspace", "retentionInDays", ...,
     "retentionInDays must be set deliberately"),
    ("role-assignments-allow-list", "azure-native:authorization:RoleAssignment", "roleDefinitionId",
     ROLE_PREFIX + "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "role 8e3af657-a8ff-443c-a75c-2fe8c4bcb635 is not on"),
    ("role-assignments-allow-list", "azure-native:authorization:RoleAssignment", "roleDefinitionId",
     ROLE_PREFIX + "a638d3c7-ab3a-418d-83e6-5f17a39d4fde", "is not on the allow-list"),
    ("role-assignments-allow-list", "azure-native:authorization:RoleAssignment", "roleDefinitionId",
     "2b629674-e913-4c01-ae53-ef4638d8f975", "must be a full id"),
    ("role-assignments-allow-list", "azure-native:authorization:RoleAssignment", "principalType", "User",
     "principalType must be \"ServicePrincipal\""),
    ("role-assignments-allow-list", "azure-native:authorization:RoleAssignment", "scope",
     f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg", "scope must be a single resource"),
    ("fabric-capacity-sku-allow-list", "azure-native:fabric:FabricCapacity", "sku.name", "F2048",
     "'F2048' (tier 'Fabric') is not allowed"),
    ("fabric-capacity-sku-allow-list", "azure-native:fabric:FabricCapacity", "sku.tier", "Premium",
     "tier \"Fabric\""),
    ("fabric-capacity-sku-allow-list", "azure-native:fabric:FabricCapacity", "administration.members", [],
     "at least one administrator"),
]


@pytest.mark.parametrize(("policy", "resource_type", "path", "value", "message"), NON_COMPLIANT,
                         ids=[f"{c[0]}:{c[2]}={c[3]!r}"[:80] for c in NON_COMPLIANT])
def test_non_compliant_inputs_are_reported(policy, resource_type, path, value, message):
    """Changing one key of a compliant resource makes exactly the responsible policy report it."""
    found = violations(resource_type, changed(resource_type, path, value))
    assert found and all(v.startswith(f"{policy}: ") for v in found), found
    assert any(message in v for v in found), found


def test_namespace_wide_sas_rules_are_refused():
    """Any namespace-level authorization rule is a violation, even Listen-only."""
    found = violations("azure-native:eventhub:NamespaceAuthorizationRule", {"rights": ["Listen"]})
    assert found == [("eventhubs-sas-listen-only: Event Hubs namespace-level authorization rules are not allowed: a "
                      "SAS key must be scoped to one hub with Listen only (EventHubAuthorizationRule).")]


def test_policy_config_narrows_key_vault_default_action_and_capacity_skus():
    """Per-stack pack config: prod may require Deny and a different SKU list."""
    allow = changed("azure-native:keyvault:Vault", "properties.networkAcls.defaultAction", "Allow")
    config = {"keyvault-network-acls": {"allowedDefaultActions": ["Deny"]},
              "fabric-capacity-sku-allow-list": {"allowedSkus": ["F16"]}}
    assert violations("azure-native:keyvault:Vault", allow) == []
    assert violations("azure-native:keyvault:Vault", allow, config=config) == [
        "keyvault-network-acls: Key Vault: networkAcls.defaultAction 'Allow' is not allowed here; allowed: Deny."]
    assert violations("azure-native:fabric:FabricCapacity", COMPLIANT["azure-native:fabric:FabricCapacity"],
                      config=config)


def test_unknown_values_during_preview_are_not_violations():
    """A value not known yet (preview) raises UnknownValueError for the runtime to report, not a violation."""
    props = changed("azure-native:authorization:RoleAssignment", "scope", UNKNOWN_STRING_VALUE)
    with pytest.raises(UnknownValueError):
        violations("azure-native:authorization:RoleAssignment", props, only="role-assignments-allow-list")


def test_other_resource_types_are_ignored():
    """Policies look only at their own resource types."""
    assert violations("azure-native:storage:StorageAccount", {"minimumTlsVersion": "TLS1_0"}) == []


@pytest.mark.parametrize("stack", ["staging", "prod", "dev-alice", "dev-bob"])
def test_everything_the_program_deploys_complies(stack):
    """Every resource of every test stack passes the pack (prod with its stricter pack config)."""
    config = json.loads((INFRA / "policy" / "prod.json").read_text(encoding="utf-8")) if stack == "prod" else None
    recording = recorded_test_stacks()[stack]
    checked = 0
    for resource in recording:
        if resource["custom"]:
            assert violations(resource["type"], resource["inputs"], config=config) == [], resource["name"]
            checked += 1
    assert checked > 20
