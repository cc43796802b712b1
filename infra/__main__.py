"""The Altaviz Pulumi program: one environment per stack (`staging`, `prod`, `dev-<name>`). Composes and exports."""

from __future__ import annotations

import sys
from pathlib import Path

# The program's own modules (components/, stack_config, naming) import by name wherever it is run from: the Pulumi
# CLI, `runpy` in tests, or a checkout elsewhere.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import pulumi
from components.capacity import Capacity, CapacityArgs
from components.eventhubs import EventHubs, EventHubsArgs
from components.fabric import FabricArgs, FabricDeployment, PrivateTarget
from components.foundation import Foundation, FoundationArgs, name_of
from components.keyvault import KeyVault, KeyVaultArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.roles import Grant, RoleAssignments, RoleAssignmentsArgs
from stack_config import load_stack_config, pulumi_config_values

from altaviz.deploy import wheel
from altaviz.monitoring.settings import SECRET_NAMES

LISTEN_SECRET = "eventhubs-listen-connection-string"
#: Secrets the notebooks read that only an operator can set (`az keyvault secret set`): never in stack config.
OPERATOR_SECRETS = ("teams_webhook_url", "client_id", "client_secret", "logs_url")
#: The pipeline `altaviz fabric run-pipeline --stack` runs (the `fabric_pipeline_id` output).
MAIN_PIPELINE = "pl_altaviz_hourly"
#: The pipeline's Event Hubs catch-up per `fabric.streaming` mode: off where the continuous job owns the checkpoint.
STREAM_TRIGGERS = {"catch-up": "available-now", "continuous": "off"}


def vault_endpoint(config, vault_id) -> list[PrivateTarget]:
    """A vault that refuses public traffic (prod) is reached by Fabric Spark through a managed private endpoint."""
    vault = config.key_vault
    if vault.network_default_action == "Allow" and vault.public_network_access == "Enabled":
        return []
    return [PrivateTarget(f"altaviz-{config.environment}-key-vault", vault_id, "vault",
                          f"Altaviz {config.environment}: Fabric notebooks read their settings and secrets")]


def main() -> None:
    """Validate the stack's config, compose the environment's components and export what operators need."""
    root = Path(__file__).resolve().parent.parent
    config = load_stack_config(pulumi.get_stack(), pulumi_config_values())
    env = config.environment
    tags = {"project": "altaviz", "environment": env, "managed-by": "pulumi"}

    base = Foundation("altaviz", FoundationArgs(env, config.stack, config.location, config.name_suffix, tags))
    names, group = base.names, base.resource_group_name
    logs = Monitoring("monitoring", MonitoringArgs(
        group, config.location, name_of(names, "log_analytics_workspace"), name_of(names, "data_collection_endpoint"),
        name_of(names, "data_collection_rule"), config.log_analytics, tags=tags))
    hubs = EventHubs("eventhubs", EventHubsArgs(
        group, config.location, name_of(names, "event_hubs_namespace"), config.event_hubs, tags))
    vault = KeyVault("keyvault", KeyVaultArgs(
        group, config.location, name_of(names, "key_vault"), base.tenant_id, config.key_vault, secrets={
            LISTEN_SECRET: hubs.listen_connection_string,
            SECRET_NAMES["dce_endpoint"]: logs.logs_ingestion_endpoint,
            SECRET_NAMES["dcr_id"]: logs.rule_immutable_id,
            SECRET_NAMES["tenant_id"]: base.tenant_id,
        }, tags=tags))

    capacity_config = config.fabric.capacity
    capacity = None if capacity_config.id else Capacity("capacity", CapacityArgs(
        group, config.location, name_of(names, "fabric_capacity"), capacity_config.sku or "",
        capacity_config.admins, tags))
    built = wheel.build_wheel(root)
    fabric = FabricDeployment("fabric", FabricArgs(
        workspace_name=config.fabric_workspace_name,
        # Fabric wants a capacity GUID, which ARM never returns: a capacity created here is passed by name, and the
        # workspace provider resolves it through GET /v1/capacities, which lists only the capacities the deploying
        # identity administers or contributes to (so it must be among `fabric.capacity.admins`).
        capacity_id=capacity_config.id or (capacity.capacity_name if capacity else None),
        wheel=built, notebooks_root=root / "fabric_notebooks", pipelines_root=root / "pipelines",
        schedule_enabled=config.fabric.schedule_enabled, item_name=config.fabric_item_name,
        description=f"Altaviz compressor monitoring ({env})",
        role_assignments=[{"principal_id": r.principal_id, "principal_type": r.principal_type, "role": r.role}
                          for r in config.fabric.workspace_roles],
        # Scheduled runs pass no parameters: the pipeline's defaults must name this environment and its vault.
        pipeline_parameters={"environment": env, "key_vault_url": vault.vault_uri,
                             "stream_trigger": STREAM_TRIGGERS[config.fabric.streaming]},
        # The continuous streaming job reads the same vault; Key Vault URIs carry no spaces.
        job_arguments={"environment": env, "key-vault-url": vault.vault_uri},
        private_targets=vault_endpoint(config, vault.vault_id)))

    pipeline_principals = {"workspace": fabric.workspace_identity_id}
    if config.identities.pipeline_service_principal_object_id:
        pipeline_principals["pipeline-sp"] = config.identities.pipeline_service_principal_object_id
    grants = [g for key, principal in pipeline_principals.items() for g in (
        Grant(f"dcr-publisher-{key}", "Monitoring Metrics Publisher", logs.rule_id, principal,
              "Altaviz pipeline writes its records through the Logs Ingestion API"),
        Grant(f"kv-secrets-user-{key}", "Key Vault Secrets User", vault.vault_id, principal,
              "Altaviz notebooks read their settings and the Event Hubs listen connection string"))]
    if config.identities.telemetry_producer_object_id:
        grants.append(Grant("hub-sender-producer", "Azure Event Hubs Data Sender", hubs.hub_id,
                            config.identities.telemetry_producer_object_id,
                            "Telemetry producer sends readings to the telemetry hub with Entra ID"))
    RoleAssignments("roles", RoleAssignmentsArgs(base.subscription_id, grants))

    exports = {
        "environment": env,
        "location": config.location,
        "resource_group_name": group,
        "event_hubs_namespace": hubs.namespace_name,
        "event_hubs_fqdn": hubs.namespace_fqdn,
        "event_hubs_kafka_bootstrap_server": hubs.kafka_bootstrap_server,
        "event_hub_name": hubs.hub_name,
        "event_hub_consumer_group": hubs.consumer_groups[0],
        "event_hub_consumer_groups": list(hubs.consumer_groups),
        "key_vault_name": vault.vault_name,
        "key_vault_uri": vault.vault_uri,
        "key_vault_secret_names": {"eventhubs_listen_connection_string": LISTEN_SECRET,
                                   **{k: v for k, v in SECRET_NAMES.items() if k != "static_token"}},
        "key_vault_secrets_set_by_operator": [SECRET_NAMES[k] for k in OPERATOR_SECRETS],
        "log_analytics_workspace_id": logs.workspace_customer_id,
        "log_analytics_workspace_resource_id": logs.workspace_id,
        "dce_logs_ingestion_endpoint": logs.logs_ingestion_endpoint,
        "dcr_immutable_id": logs.rule_immutable_id,
        "dcr_stream_names": logs.stream_names,
        "fabric_workspace_id": fabric.workspace_id,
        "fabric_workspace_identity_id": fabric.workspace_identity_id,
        "lakehouse_ids": fabric.lakehouse_ids,
        "sql_endpoint_ids": fabric.sql_endpoint_ids,
        "fabric_environment_id": fabric.environment_id,
        "fabric_environment_published_version": fabric.published_version,
        "altaviz_wheel_version": built.version,
        "notebook_ids": fabric.notebook_ids,
        "spark_job_definition_ids": fabric.spark_job_definition_ids,
        "fabric_streaming": config.fabric.streaming,
        "pipeline_ids": fabric.pipeline_ids,
        "fabric_pipeline_id": fabric.pipeline_ids[MAIN_PIPELINE],
        "pipeline_schedule_ids": fabric.schedule_ids,
        "fabric_private_endpoint_ids": fabric.private_endpoint_ids,
    }
    if capacity:
        exports.update(fabric_capacity_name=capacity.capacity_name,
                       fabric_capacity_resource_id=capacity.capacity_resource_id)
    else:
        exports["fabric_capacity_id"] = capacity_config.id
    for key, value in exports.items():
        pulumi.export(key, value)


if __name__ == "__main__":
    main()
