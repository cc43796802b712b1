"""The Altaviz security baseline as Pulumi policies (importable: `__main__.py` only builds the pack from them).

Each policy checks resource inputs as the engine sees them (camelCase, azure-native v3 tokens). During a preview
some inputs are not known yet; reading one raises `UnknownValueError`, which the policy runtime reports as "can't
be checked yet" rather than a violation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

NAMESPACE = "azure-native:eventhub:Namespace"
HUB_RULE = "azure-native:eventhub:EventHubAuthorizationRule"
NAMESPACE_RULE = "azure-native:eventhub:NamespaceAuthorizationRule"
VAULT = "azure-native:keyvault:Vault"
LOG_WORKSPACE = "azure-native:operationalinsights:Workspace"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
CAPACITY = "azure-native:fabric:FabricCapacity"

#: The built-in roles an Altaviz stack may assign, by GUID. Anything else (Owner, Contributor, Data Owner,
#: Secrets Officer, Receiver for a producer, ...) is refused.
ALLOWED_ROLES = MappingProxyType({
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "2b629674-e913-4c01-ae53-ef4638d8f975": "Azure Event Hubs Data Sender",
})
EVENT_HUBS_SKUS = ("Standard", "Premium")
MIN_SOFT_DELETE_DAYS = 90
LOG_RETENTION_DAYS = (30, 730)
DEFAULT_CAPACITY_SKUS = ("F2", "F4", "F8", "F16", "F32", "F64")
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ROLE_DEFINITION_ID = re.compile(
    rf"^/subscriptions/{_GUID}/providers/Microsoft\.Authorization/roleDefinitions/(?P<guid>{_GUID})$")

Validation = Callable[[ResourceValidationArgs, ReportViolation], None]


def _for(resource_type: str, check: Callable[[Mapping[str, Any], ReportViolation, Mapping[str, Any]], None],
         ) -> Validation:
    """A validation that runs `check(props, report, config)` on resources of one type only."""
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type == resource_type:
            check(args.props, report_violation, args.get_config() or {})
    return validate


def _object(props: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = props.get(key)
    return value if isinstance(value, Mapping) else {}


def _event_hubs_tls(props: Mapping[str, Any], report: ReportViolation, _config: Mapping[str, Any]) -> None:
    if props.get("minimumTlsVersion") != "1.2":
        report(f"Event Hubs namespace: minimumTlsVersion must be \"1.2\" (got {props.get('minimumTlsVersion')!r}).")


def _event_hubs_sku(props: Mapping[str, Any], report: ReportViolation, _config: Mapping[str, Any]) -> None:
    sku = _object(props, "sku").get("name")
    if sku not in EVENT_HUBS_SKUS:
        report(f"Event Hubs namespace: sku {sku!r} is not allowed; use one of {', '.join(EVENT_HUBS_SKUS)} "
               "(Basic has no Kafka endpoint, no consumer groups and 1-day retention).")


def _hub_rule_rights(props: Mapping[str, Any], report: ReportViolation, _config: Mapping[str, Any]) -> None:
    rights = list(props.get("rights") or [])
    if rights != ["Listen"]:
        report(f"Event Hubs authorization rule: rights must be exactly [\"Listen\"] (got {rights}); producers send "
               "with Entra ID (Azure Event Hubs Data Sender), never with a Send or Manage key.")


def _namespace_rule(_props: Mapping[str, Any], report: ReportViolation, _config: Mapping[str, Any]) -> None:
    report("Event Hubs namespace-level authorization rules are not allowed: a SAS key must be scoped to one hub "
           "with Listen only (EventHubAuthorizationRule).")


def _vault_data_protection(props: Mapping[str, Any], report: ReportViolation, _config: Mapping[str, Any]) -> None:
    vault = _object(props, "properties")
    if vault.get("enableRbacAuthorization") is not True:
        report("Key Vault: enableRbacAuthorization must be true (Azure RBAC, not access policies).")
    if list(vault.get("accessPolicies") or []):
        report("Key Vault: accessPolicies must be empty; grant Key Vault data roles instead.")
    if vault.get("enablePurgeProtection") is not True:
        report("Key Vault: enablePurgeProtection must be true.")
    if vault.get("enableSoftDelete") is False:
        report("Key Vault: soft delete must stay enabled.")
    days = vault.get("softDeleteRetentionInDays")
    if not isinstance(days, int | float) or days < MIN_SOFT_DELETE_DAYS:
        report(f"Key Vault: softDeleteRetentionInDays must be set to at least {MIN_SOFT_DELETE_DAYS} (got {days!r}).")


def _vault_network(props: Mapping[str, Any], report: ReportViolation, config: Mapping[str, Any]) -> None:
    acls = _object(_object(props, "properties"), "networkAcls")
    allowed = list(config.get("allowedDefaultActions") or ("Allow", "Deny"))
    if not acls:
        report("Key Vault: networkAcls must be declared (bypass AzureServices and a deliberate defaultAction).")
        return
    if acls.get("bypass") != "AzureServices":
        report(f"Key Vault: networkAcls.bypass must be \"AzureServices\" (got {acls.get('bypass')!r}).")
    if acls.get("defaultAction") not in allowed:
        report(f"Key Vault: networkAcls.defaultAction {acls.get('defaultAction')!r} is not allowed here; "
               f"allowed: {', '.join(allowed)}.")


def _log_analytics(props: Mapping[str, Any], report: ReportViolation, _config: Mapping[str, Any]) -> None:
    if _object(props, "features").get("disableLocalAuth") is not True:
        report("Log Analytics workspace: features.disableLocalAuth must be true (Entra ID only, no shared keys).")
    days = props.get("retentionInDays")
    low, high = LOG_RETENTION_DAYS
    if not isinstance(days, int | float) or not low <= days <= high:
        report(f"Log Analytics workspace: retentionInDays must be set deliberately, {low}..{high} (got {days!r}).")


def _role_assignment(props: Mapping[str, Any], report: ReportViolation, _config: Mapping[str, Any]) -> None:
    definition = str(props.get("roleDefinitionId") or "")
    match = _ROLE_DEFINITION_ID.match(definition)
    if not match:
        report(f"Role assignment: roleDefinitionId must be a full id /subscriptions/<sub>/providers/"
               f"Microsoft.Authorization/roleDefinitions/<guid> (got {definition!r}).")
    elif match["guid"].lower() not in ALLOWED_ROLES:
        allowed = ", ".join(f"{name} ({guid})" for guid, name in ALLOWED_ROLES.items())
        report(f"Role assignment: role {match['guid']} is not on the allow-list: {allowed}.")
    if props.get("principalType") != "ServicePrincipal":
        report(f"Role assignment: principalType must be \"ServicePrincipal\" (got {props.get('principalType')!r}); "
               "people get access through groups and PIM, not stack code.")
    scope = str(props.get("scope") or "")
    if "/providers/" not in scope:
        report(f"Role assignment: scope must be a single resource, not a subscription or resource group "
               f"(got {scope!r}).")


def _capacity(props: Mapping[str, Any], report: ReportViolation, config: Mapping[str, Any]) -> None:
    sku = _object(props, "sku")
    allowed = list(config.get("allowedSkus") or DEFAULT_CAPACITY_SKUS)
    if sku.get("name") not in allowed or sku.get("tier") != "Fabric":
        report(f"Fabric capacity: sku {sku.get('name')!r} (tier {sku.get('tier')!r}) is not allowed; allowed: "
               f"{', '.join(allowed)} with tier \"Fabric\". Larger capacities need a reviewed policy config.")
    if not list(_object(props, "administration").get("members") or []):
        report("Fabric capacity: administration.members must name at least one administrator.")


def altaviz_policies() -> list[ResourceValidationPolicy]:
    """Every policy of the baseline, mandatory."""
    mandatory = EnforcementLevel.MANDATORY
    return [
        ResourceValidationPolicy(
            name="eventhubs-minimum-tls-1-2", description="Event Hubs namespaces accept TLS 1.2 and above only.",
            validate=_for(NAMESPACE, _event_hubs_tls), enforcement_level=mandatory),
        ResourceValidationPolicy(
            name="eventhubs-standard-or-above",
            description="Event Hubs namespaces are Standard or Premium (Kafka endpoint, consumer groups).",
            validate=_for(NAMESPACE, _event_hubs_sku), enforcement_level=mandatory),
        ResourceValidationPolicy(
            name="eventhubs-sas-listen-only",
            description="The only SAS rules are hub-scoped and Listen-only; no namespace-wide, Send or Manage keys.",
            validate=[_for(HUB_RULE, _hub_rule_rights), _for(NAMESPACE_RULE, _namespace_rule)],
            enforcement_level=mandatory),
        ResourceValidationPolicy(
            name="keyvault-rbac-purge-protection",
            description="Key Vaults use Azure RBAC, purge protection and at least 90 days of soft delete.",
            validate=_for(VAULT, _vault_data_protection), enforcement_level=mandatory),
        ResourceValidationPolicy(
            name="keyvault-network-acls",
            description="Key Vaults declare network ACLs: trusted Azure services bypass, an allowed default action.",
            validate=_for(VAULT, _vault_network), enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(properties={"allowedDefaultActions": {
                "type": "array", "items": {"type": "string", "enum": ["Allow", "Deny"]},
                "default": ["Allow", "Deny"]}})),
        ResourceValidationPolicy(
            name="log-analytics-entra-only",
            description="Log Analytics workspaces disable local (shared key) auth and set retention deliberately.",
            validate=_for(LOG_WORKSPACE, _log_analytics), enforcement_level=mandatory),
        ResourceValidationPolicy(
            name="role-assignments-allow-list",
            description="Role assignments use allow-listed built-in roles, on single resources, for service "
                        "principals.",
            validate=_for(ROLE_ASSIGNMENT, _role_assignment), enforcement_level=mandatory),
        ResourceValidationPolicy(
            name="fabric-capacity-sku-allow-list",
            description="Fabric capacities use an allow-listed F SKU and name their administrators.",
            validate=_for(CAPACITY, _capacity), enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(properties={"allowedSkus": {
                "type": "array", "items": {"type": "string"}, "default": list(DEFAULT_CAPACITY_SKUS)}})),
    ]
