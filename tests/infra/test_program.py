"""The Pulumi program under mocks, per stack: every resource, security property, name and output it promises.

`mocked_program` runs the real `infra/__main__.py` once per stack, each in a fresh process (Pulumi's mocks are
process-global), with the config of the real `Pulumi.<stack>.yaml` files; these tests read the recordings.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from mocked_program import (
    DEPLOYER_OBJECT_ID,
    FAKE_WHEEL_HASH,
    FAKE_WHEEL_VERSION,
    REPO,
    SUBSCRIPTION_ID,
    TENANT_ID,
    Recording,
    config_values_for,
    infra_module,
    recorded_test_stacks,
)

from altaviz.deploy.definitions import decode_parts
from altaviz.fabric.gitformat import find_items, read_notebook, read_pipeline
from altaviz.fabric_command import PIPELINE_OUTPUT
from altaviz.lakehouse.paths import LAKEHOUSES
from altaviz.monitoring.records import LOG_TABLES

BUILT_IN_ROLES = infra_module("components.roles").BUILT_IN_ROLES
role_definition_id = infra_module("components.roles").role_definition_id
ResourceNames = infra_module("naming").ResourceNames
stable_suffix = infra_module("naming").stable_suffix
load_stack_config = infra_module("stack_config").load_stack_config

# Pinned on purpose: the built-in role GUIDs (Sender and Receiver are often swapped in samples).
METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975"
DATA_RECEIVER = "a638d3c7-ab3a-418d-83e6-5f17a39d4fde"

NAMESPACE = "azure-native:eventhub:Namespace"
HUB = "azure-native:eventhub:EventHub"
VAULT = "azure-native:keyvault:Vault"
SECRET = "azure-native:keyvault:Secret"
WORKSPACE = "azure-native:operationalinsights:Workspace"
TABLE = "azure-native:operationalinsights:Table"
DCE = "azure-native:monitor:DataCollectionEndpoint"
DCR = "azure-native:monitor:DataCollectionRule"
ROLE = "azure-native:authorization:RoleAssignment"
CAPACITY = "azure-native:fabric:FabricCapacity"

AZURE_STACKS = ("staging", "prod")
ALL_STACKS = ("staging", "prod", "dev-alice", "dev-bob")

#: What differs per stack, as the stack files (and the dev defaults) say.
EXPECTED = {
    "staging": {"partitions": 4, "retention_hours": 24, "throughput": 1, "auto_inflate": 0, "zones": False,
                "kv_default": "Allow", "la_days": 30, "capacity_sku": "F2", "schedule": True,
                "stream": "available-now"},
    "prod": {"partitions": 16, "retention_hours": 168, "throughput": 2, "auto_inflate": 8, "zones": True,
             "kv_default": "Deny", "la_days": 90, "capacity_sku": "F8", "schedule": True, "stream": "available-now"},
    "dev-alice": {"partitions": 2, "retention_hours": 24, "throughput": 1, "auto_inflate": 0, "zones": False,
                  "kv_default": "Allow", "la_days": 30, "capacity_sku": None, "schedule": False,
                  "stream": "available-now"},
    "dev-bob": {"partitions": 2, "retention_hours": 24, "throughput": 1, "auto_inflate": 0, "zones": False,
                "kv_default": "Allow", "la_days": 30, "capacity_sku": "F2", "schedule": False,
                "stream": "off"},
}


@pytest.fixture(scope="module")
def stacks() -> dict[str, Recording]:
    """Every test stack's recording (the program runs once per stack per test session)."""
    return recorded_test_stacks()


def identities(stack: str) -> dict[str, Any]:
    config = load_stack_config(stack, config_values_for(stack))
    return {"producer": config.identities.telemetry_producer_object_id,
            "pipeline_sp": config.identities.pipeline_service_principal_object_id}


# --- structure -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_resource_belongs_to_an_altaviz_component(stacks, stack):
    """Each Azure and Fabric resource is a child of one `altaviz:<module>:<Name>` component."""
    rec = stacks[stack]
    components = {r["type"] for r in rec if r["type"].startswith("altaviz:")}
    expected = {"altaviz:foundation:Foundation", "altaviz:monitoring:Monitoring", "altaviz:eventhubs:EventHubs",
                "altaviz:keyvault:KeyVault", "altaviz:fabric:FabricDeployment", "altaviz:roles:RoleAssignments"}
    assert components == expected | ({"altaviz:capacity:Capacity"} if EXPECTED[stack]["capacity_sku"] else set())
    for resource in rec:
        if resource["custom"]:
            parents = rec.parents(resource)
            assert parents and parents[-1] in components, resource["urn"]


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_resources_live_in_the_environment_resource_group_and_region(stacks, stack):
    """One resource group per environment; every regional resource is placed in the stack's location."""
    rec = stacks[stack]
    group = rec.one("azure-native:resources:ResourceGroup")["inputs"]
    assert group["resourceGroupName"] == f"rg-altaviz-{stack}" == rec.outputs["resource_group_name"]
    assert group["location"] == "southcentralus"
    for resource in rec:
        if resource["type"].startswith("azure-native:") and "location" in resource["inputs"]:
            assert resource["inputs"]["location"] == "southcentralus", resource["name"]
            assert resource["inputs"]["resourceGroupName"] == f"rg-altaviz-{stack}", resource["name"]


def test_project_file_runs_infra_with_the_repo_virtualenv():
    """Pulumi.yaml: project `altaviz`, Python through pip in .venv, program in infra/; the policy pack likewise."""
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == "altaviz" and project["main"] == "infra/"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    pack = yaml.safe_load((REPO / "infra" / "policy" / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert pack["runtime"]["name"] == "python"
    assert (REPO / "infra" / "policy" / pack["runtime"]["options"]["virtualenv"]).resolve() == REPO / ".venv"


# --- Event Hubs -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ALL_STACKS)
def test_event_hubs_namespace_is_standard_tls12_and_kafka(stacks, stack):
    """Standard tier, TLS 1.2, Kafka on, SAS kept (Spark's Kafka endpoint), sizes and zones from the stack."""
    ns = stacks[stack].one(NAMESPACE)["inputs"]
    want = EXPECTED[stack]
    assert ns["sku"] == {"name": "Standard", "tier": "Standard", "capacity": want["throughput"]}
    assert ns["minimumTlsVersion"] == "1.2"
    assert ns["kafkaEnabled"] is True
    assert ns["disableLocalAuth"] is False
    assert ns["zoneRedundant"] is want["zones"]
    assert ns["isAutoInflateEnabled"] is bool(want["auto_inflate"])
    assert ns.get("maximumThroughputUnits", 0) == want["auto_inflate"]
    assert ns["publicNetworkAccess"] == "Enabled"


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_telemetry_hub_partitions_and_retention_come_from_the_stack(stacks, stack):
    """`telemetry` has 4 partitions in staging, 16 in prod, 2 on a personal stack, and the stack's retention."""
    hub = stacks[stack].one(HUB)["inputs"]
    assert hub["eventHubName"] == "telemetry"
    assert hub["partitionCount"] == EXPECTED[stack]["partitions"]
    assert hub["retentionDescription"] == {"cleanupPolicy": "Delete",
                                           "retentionTimeInHours": EXPECTED[stack]["retention_hours"]}


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_consumer_groups_for_streaming_and_adhoc(stacks, stack):
    """The hub has exactly the `fabric-streaming` and `adhoc` consumer groups."""
    groups = stacks[stack].of_type("azure-native:eventhub:ConsumerGroup")
    assert sorted(g["inputs"]["consumerGroupName"] for g in groups) == ["adhoc", "fabric-streaming"]
    assert {g["inputs"]["eventHubName"] for g in groups} == {"telemetry"}


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_one_listen_only_rule_on_the_hub_and_no_namespace_rules(stacks, stack):
    """The only SAS rule is Listen on the telemetry hub; there is no namespace-wide rule."""
    rec = stacks[stack]
    rule = rec.one("azure-native:eventhub:EventHubAuthorizationRule")["inputs"]
    assert rule["rights"] == ["Listen"]
    assert rule["eventHubName"] == "telemetry"
    assert not rec.of_type("azure-native:eventhub:NamespaceAuthorizationRule")


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_listen_connection_string_goes_only_into_key_vault_as_a_secret(stacks, stack):
    """The rule's connection string (listEventHubKeys) becomes a secret Key Vault value and no stack output."""
    rec = stacks[stack]
    keys_call = next(r for r in rec if r["name"] == "azure-native:eventhub:listEventHubKeys")
    assert keys_call["inputs"]["authorizationRuleName"] == "fabric-streaming-listen"
    assert keys_call["inputs"]["eventHubName"] == "telemetry"
    secret = next(s for s in rec.of_type(SECRET)
                  if s["inputs"]["secretName"] == "eventhubs-listen-connection-string")
    value = secret["inputs"]["properties"]["value"]
    assert "SharedAccessKeyName=fabric-streaming-listen;" in value and value.endswith("EntityPath=telemetry")
    assert "properties" in secret["secret_inputs"]
    assert secret["inputs"]["vaultName"] == rec.outputs["key_vault_name"]
    assert "SharedAccessKey=" not in repr(rec.outputs)


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_monitoring_settings_are_key_vault_secrets(stacks, stack):
    """Notebooks find the DCE endpoint, DCR immutable id and tenant in Key Vault under the names they read."""
    rec = stacks[stack]
    values = {s["inputs"]["secretName"]: s["inputs"]["properties"]["value"] for s in rec.of_type(SECRET)}
    assert values["monitor-dce-endpoint"] == rec.outputs["dce_logs_ingestion_endpoint"]
    assert values["monitor-dcr-id"] == rec.outputs["dcr_immutable_id"]
    assert values["monitor-tenant-id"] == TENANT_ID
    assert all("properties" in s["secret_inputs"] for s in rec.of_type(SECRET))


# --- Key Vault --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ALL_STACKS)
def test_key_vault_rbac_purge_protection_soft_delete_and_network(stacks, stack):
    """RBAC only, purge protection, 90-day soft delete, Azure services bypass and the stack's default action."""
    vault = stacks[stack].one(VAULT)["inputs"]
    props = vault["properties"]
    assert props["tenantId"] == TENANT_ID
    assert props["sku"] == {"family": "A", "name": "standard"}
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True
    assert props["softDeleteRetentionInDays"] == 90
    assert "accessPolicies" not in props
    assert props["networkAcls"]["bypass"] == "AzureServices"
    assert props["networkAcls"]["defaultAction"] == EXPECTED[stack]["kv_default"]
    assert props["publicNetworkAccess"] == "Enabled"


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_key_vault_name_is_planned_per_environment(stacks, stack):
    """The vault name carries the environment and the stable suffix, and fits Key Vault's 24 characters."""
    name = stacks[stack].one(VAULT)["inputs"]["vaultName"]
    suffix = stable_suffix(SUBSCRIPTION_ID, stack)
    assert name == ResourceNames(stack, suffix).key_vault
    assert name.startswith("kv-avz-") and name.endswith(f"-{suffix}") and len(name) <= 24
    assert stack[:5] in name


# --- Log Analytics and the Logs Ingestion API -------------------------------------------------------------------

@pytest.mark.parametrize("stack", ALL_STACKS)
def test_log_analytics_is_entra_only_with_deliberate_retention(stacks, stack):
    """Local (shared key) auth is disabled; retention is 30 days in staging, 90 in prod."""
    ws = stacks[stack].one(WORKSPACE)["inputs"]
    assert ws["features"]["disableLocalAuth"] is True
    assert ws["retentionInDays"] == EXPECTED[stack]["la_days"]
    assert ws["sku"] == {"name": "PerGB2018"}


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_one_custom_table_per_log_table(stacks, stack):
    """Each LogTable is a `_CL` table whose columns are exactly its `table_columns()`."""
    tables = {t["inputs"]["tableName"]: t["inputs"] for t in stacks[stack].of_type(TABLE)}
    assert sorted(tables) == sorted(t.table_name for t in LOG_TABLES)
    for log_table in LOG_TABLES:
        table = tables[log_table.table_name]
        assert table["workspaceName"] == f"log-altaviz-{stack}"
        assert table["schema"]["name"] == log_table.table_name
        assert table["schema"]["columns"] == log_table.table_columns()


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_data_collection_rule_streams_and_flows_are_generated(stacks, stack):
    """The DCR declares each table's stream with `stream_columns()` and routes it unchanged into that table."""
    rec = stacks[stack]
    dcr = rec.one(DCR)["inputs"]
    assert dcr["streamDeclarations"] == {t.stream_name: {"columns": t.stream_columns()} for t in LOG_TABLES}
    destination = dcr["destinations"]["logAnalytics"]
    assert destination == [{"name": "altaviz-workspace",
                            "workspaceResourceId": rec.outputs["log_analytics_workspace_resource_id"]}]
    assert dcr["dataFlows"] == [{"streams": [t.stream_name], "destinations": ["altaviz-workspace"],
                                 "transformKql": "source", "outputStream": t.stream_name} for t in LOG_TABLES]
    assert dcr["dataCollectionEndpointId"] == rec.one(DCE)["id"]
    assert rec.outputs["dcr_stream_names"] == {t.table_name: t.stream_name for t in LOG_TABLES}
    assert rec.outputs["dcr_immutable_id"].startswith("dcr-")


# --- roles ------------------------------------------------------------------------------------------------------

def test_role_names_map_to_the_built_in_guids():
    """Sender is 2b629674..., never Receiver's a638d3c7...; full ids name the subscription."""
    assert dict(BUILT_IN_ROLES) == {"Monitoring Metrics Publisher": METRICS_PUBLISHER,
                                    "Key Vault Secrets User": SECRETS_USER,
                                    "Azure Event Hubs Data Sender": DATA_SENDER}
    assert DATA_RECEIVER not in BUILT_IN_ROLES.values()
    assert role_definition_id("sub", "Azure Event Hubs Data Sender") == (
        f"/subscriptions/sub/providers/Microsoft.Authorization/roleDefinitions/{DATA_SENDER}")
    with pytest.raises(ValueError, match="Owner"):
        role_definition_id("sub", "Owner")


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_role_assignments_are_least_privilege(stacks, stack):
    """Publisher on the DCR and Secrets User on the vault for the pipeline identities; Sender on the hub for the
    producer; nothing else, all for service principals with full role definition ids."""
    rec = stacks[stack]
    dcr_id, vault_id, hub_id = rec.one(DCR)["id"], rec.one(VAULT)["id"], rec.one(HUB)["id"]
    who = identities(stack)
    pipeline = [rec.outputs["fabric_workspace_identity_id"]] + ([who["pipeline_sp"]] if who["pipeline_sp"] else [])
    expected = {(METRICS_PUBLISHER, dcr_id, p) for p in pipeline} | {(SECRETS_USER, vault_id, p) for p in pipeline}
    if who["producer"]:
        expected.add((DATA_SENDER, hub_id, who["producer"]))
    assignments = [r["inputs"] for r in rec.of_type(ROLE)]
    prefix = f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
    assert all(a["roleDefinitionId"].startswith(prefix) for a in assignments)
    assert all(a["principalType"] == "ServicePrincipal" for a in assignments)
    assert {(a["roleDefinitionId"].removeprefix(prefix), a["scope"], a["principalId"]) for a in assignments} == expected
    assert len(assignments) == len(expected)
    assert DEPLOYER_OBJECT_ID not in {a["principalId"] for a in assignments}


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_staging_and_prod_grant_the_producer_and_pipeline_principal(stacks, stack):
    """Both shared environments name a telemetry producer and a pipeline service principal."""
    who = identities(stack)
    assert who["producer"] and who["pipeline_sp"]
    senders = [a["inputs"] for a in stacks[stack].of_type(ROLE) if a["inputs"]["roleDefinitionId"].endswith(DATA_SENDER)]
    assert [(s["principalId"], s["scope"].rsplit("/", 2)[-2:]) for s in senders] == [
        (who["producer"], ["eventhubs", "telemetry"])]


# --- Fabric capacity and items ----------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ALL_STACKS)
def test_fabric_capacity_sku_and_assignment(stacks, stack):
    """staging F2, prod F8, dev F2 when created; a shared capacity id is used as is; the workspace gets it."""
    rec = stacks[stack]
    capacities = rec.of_type(CAPACITY)
    workspace = rec.fabric("Workspace")[0]["inputs"]
    sku = EXPECTED[stack]["capacity_sku"]
    if sku is None:
        assert not capacities
        shared = load_stack_config(stack, config_values_for(stack)).fabric.capacity.id
        assert workspace["capacity_id"] == shared == rec.outputs["fabric_capacity_id"]
        return
    capacity = capacities[0]["inputs"]
    assert capacity["sku"] == {"name": sku, "tier": "Fabric"}
    assert capacity["administration"]["members"]
    assert re.fullmatch(r"[a-z][a-z0-9]{2,62}", capacity["capacityName"])
    assert workspace["capacity_id"] == capacity["capacityName"] == rec.outputs["fabric_capacity_name"]
    assert rec.outputs["fabric_capacity_resource_id"] == capacities[0]["id"]


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_fabric_items_are_named_per_environment(stacks, stack):
    """Shared stacks use repo names in `altaviz-<env>`; a dev stack prefixes `dev-<name>-` (lakehouses excepted)."""
    rec = stacks[stack]
    prefix = f"{stack}-" if stack.startswith("dev-") else ""
    workspace = rec.fabric("Workspace")[0]["inputs"]
    assert workspace["display_name"] == (f"{prefix}altaviz" if prefix else f"altaviz-{stack}")
    assert workspace["provision_identity"] is True
    notebooks = {read_notebook(f).platform.display_name for f in find_items(REPO / "fabric_notebooks", "Notebook")}
    assert sorted(n["inputs"]["display_name"] for n in rec.fabric("Notebook")) == sorted(prefix + n for n in notebooks)
    assert [p["inputs"]["display_name"] for p in rec.fabric("DataPipeline")] == [f"{prefix}pl_altaviz_hourly"]
    assert rec.fabric("Environment")[0]["inputs"]["display_name"] == f"{prefix}altaviz_runtime"
    assert sorted(lh["inputs"]["display_name"] for lh in rec.fabric("Lakehouse")) == sorted(LAKEHOUSES)


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_items_live_in_the_workspace_and_ids_are_rebound(stacks, stack):
    """Lakehouses, environment, notebooks and pipeline sit in the deployed workspace; notebooks use the
    Environment; the pipeline's notebook references map repo logicalIds to deployed notebook ids."""
    rec = stacks[stack]
    workspace_id = rec.outputs["fabric_workspace_id"]
    for kind in ("Lakehouse", "Environment", "Notebook", "DataPipeline", "Schedule"):
        assert {r["inputs"]["workspace_id"] for r in rec.fabric(kind)} == {workspace_id}, kind
    environment = rec.fabric("Environment")[0]["inputs"]
    assert (environment["wheel_version"], environment["wheel_hash"]) == (FAKE_WHEEL_VERSION, FAKE_WHEEL_HASH)
    assert environment["wheel_path"].endswith(".whl")
    assert {n["inputs"]["environment_id"] for n in rec.fabric("Notebook")} == {rec.outputs["fabric_environment_id"]}
    logical = {read_notebook(f).platform.logical_id: read_notebook(f).platform.display_name
               for f in find_items(REPO / "fabric_notebooks", "Notebook")}
    pipeline = rec.fabric("DataPipeline")[0]["inputs"]
    assert pipeline["notebook_ids"] == {lid: rec.outputs["notebook_ids"][name] for lid, name in logical.items()}
    assert set(rec.outputs["lakehouse_ids"]) == set(LAKEHOUSES)


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_schedule_runs_in_staging_and_prod_and_is_paused_on_dev(stacks, stack):
    """The pipeline's `.schedules` entry is deployed on the pipeline; enabled only on shared stacks."""
    rec = stacks[stack]
    entry = read_pipeline(REPO / "pipelines" / "pl_altaviz_hourly.DataPipeline").schedules[0]
    schedule = rec.fabric("Schedule")[0]["inputs"]
    assert schedule["enabled"] is EXPECTED[stack]["schedule"]
    assert schedule["configuration"] == entry["configuration"]
    assert schedule["job_type"] == entry["jobType"]
    assert schedule["item_id"] == rec.outputs["pipeline_ids"]["pl_altaviz_hourly"]


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_scheduled_runs_default_to_the_stack_environment_and_its_key_vault(stacks, stack):
    """The deployed pipeline's `environment` defaults to the stack name and `key_vault_url` to the vault's URI."""
    rec = stacks[stack]
    pipeline = rec.fabric("DataPipeline")[0]["inputs"]
    content = json.loads(decode_parts(pipeline["parts"])["pipeline-content.json"])
    defaults = {name: p["defaultValue"] for name, p in content["properties"]["parameters"].items()}
    vault_uri = f"https://{rec.one(VAULT)['inputs']['vaultName']}.vault.azure.net/"
    assert (defaults["environment"], defaults["key_vault_url"]) == (stack, vault_uri)
    assert rec.outputs["key_vault_uri"] == vault_uri
    assert pipeline["parameter_defaults"] == {"environment": stack, "key_vault_url": vault_uri,
                                              "stream_trigger": EXPECTED[stack]["stream"]}
    assert defaults["stream_trigger"] == EXPECTED[stack]["stream"]
    repo = read_pipeline(REPO / "pipelines" / "pl_altaviz_hourly.DataPipeline").parameters
    assert defaults["sql_endpoint_lakehouses"] == repo["sql_endpoint_lakehouses"]["defaultValue"]


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_the_streaming_job_runs_the_wheel_on_bronze_with_the_stack_vault_and_retries(stacks, stack):
    """`sjd_bronze_stream` is deployed in the workspace with the Environment, lh_bronze_raw as its default
    lakehouse, its inline main file, a retry policy, and the stack's environment and vault on its command line."""
    rec = stacks[stack]
    (job,) = rec.fabric("SparkJobDefinition")
    inputs = job["inputs"]
    prefix = "" if stack in AZURE_STACKS else f"{stack}-"
    assert (inputs["display_name"], inputs["workspace_id"]) == (f"{prefix}sjd_bronze_stream",
                                                                 rec.outputs["fabric_workspace_id"])
    assert inputs["format"] == "SparkJobDefinitionV2"
    parts = decode_parts(inputs["parts"])
    settings = json.loads(parts["SparkJobDefinitionV1.json"])
    vault_uri = f"https://{rec.one(VAULT)['inputs']['vaultName']}.vault.azure.net/"
    assert settings["environmentArtifactId"] == rec.outputs["fabric_environment_id"]
    assert settings["defaultLakehouseArtifactId"] == rec.outputs["lakehouse_ids"]["lh_bronze_raw"]
    assert settings["commandLineArguments"] == (f"--trigger continuous --environment {stack} "
                                                f"--key-vault-url {vault_uri}")
    assert settings["retryPolicy"]["policyType"] == "SimpleRetry"
    assert parts[f"Main/{settings['executableFile']}"] == (
        REPO / "fabric_notebooks" / "sjd_bronze_stream.SparkJobDefinition" / "Main" / "bronze_stream_job.py"
    ).read_bytes()
    assert rec.outputs["spark_job_definition_ids"] == {"sjd_bronze_stream": job["id"]}
    assert rec.outputs["fabric_streaming"] == ("continuous" if EXPECTED[stack]["stream"] == "off" else "catch-up")


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_a_vault_closed_to_the_internet_gets_an_approved_managed_private_endpoint_from_the_workspace(stacks, stack):
    """Prod's vault denies public traffic: the workspace gets a managed private endpoint to it (sub-resource
    `vault`), approved on the vault by the same deployment; open vaults (staging, dev) get none."""
    rec = stacks[stack]
    endpoints = rec.fabric("ManagedPrivateEndpoint")
    if EXPECTED[stack]["kv_default"] == "Allow":
        assert endpoints == [] and rec.outputs["fabric_private_endpoint_ids"] == {}
        return
    (mpe,) = endpoints
    inputs = mpe["inputs"]
    assert inputs["workspace_id"] == rec.outputs["fabric_workspace_id"]
    assert inputs["target_resource_id"] == rec.one(VAULT)["id"]
    assert (inputs["target_subresource_type"], inputs["approve"]) == ("vault", True)
    assert inputs["name"] == f"altaviz-{stack}-key-vault" and len(inputs["request_message"]) <= 140
    assert rec.outputs["fabric_private_endpoint_ids"] == {inputs["name"]: mpe["id"]}


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_workspace_roles_come_from_the_stack(stacks, stack):
    """The workspace role assignments are exactly the stack's `fabric.workspace_roles`."""
    config = load_stack_config(stack, config_values_for(stack))
    workspace = stacks[stack].fabric("Workspace")[0]["inputs"]
    assert workspace["role_assignments"] == [
        {"principal_id": r.principal_id, "principal_type": r.principal_type, "role": r.role}
        for r in config.fabric.workspace_roles]


# --- outputs ----------------------------------------------------------------------------------------------------

OPERATOR_OUTPUTS = (
    "resource_group_name", "event_hubs_namespace", "event_hubs_fqdn", "event_hubs_kafka_bootstrap_server",
    "event_hub_name", "event_hub_consumer_group", "key_vault_uri", "key_vault_secret_names",
    "dce_logs_ingestion_endpoint", "dcr_immutable_id", "dcr_stream_names", "log_analytics_workspace_id",
    "fabric_workspace_id", "lakehouse_ids", "fabric_environment_id", "notebook_ids", "pipeline_ids",
    "fabric_pipeline_id", "pipeline_schedule_ids")


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_outputs_give_operators_and_notebooks_what_they_need(stacks, stack):
    """Every value a notebook or operator needs is exported, and none of them is a secret."""
    out = stacks[stack].outputs
    missing = [key for key in OPERATOR_OUTPUTS if not out.get(key)]
    assert not missing
    assert out["event_hubs_fqdn"] == f"{out['event_hubs_namespace']}.servicebus.windows.net"
    assert out["event_hubs_kafka_bootstrap_server"] == f"{out['event_hubs_fqdn']}:9093"
    assert out["event_hub_consumer_group"] == "fabric-streaming"
    assert out["key_vault_secret_names"]["eventhubs_listen_connection_string"] == "eventhubs-listen-connection-string"
    assert out["fabric_capacity_id"] if "fabric_capacity_id" in out else out["fabric_capacity_resource_id"]
    assert out[PIPELINE_OUTPUT] == out["pipeline_ids"]["pl_altaviz_hourly"]  # what `fabric run-pipeline` reads
    assert not stacks[stack].secret_outputs
