"""Log Analytics for the pipeline's records: workspace, custom `_CL` tables, data collection endpoint and rule.

The tables and the rule's stream declarations are generated from `altaviz.monitoring.records.LOG_TABLES`, the
same definitions the monitoring code shapes its records with, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pulumi import ComponentResource, Input, Output, ResourceOptions
from pulumi_azure_native import monitor, operationalinsights
from stack_config import LogAnalyticsConfig

from altaviz.monitoring.records import LOG_TABLES, LogTable

DESTINATION = "altaviz-workspace"


@dataclass
class MonitoringArgs:
    """Names of the workspace, endpoint and rule, the retention, and the tables to declare."""

    resource_group_name: Input[str]
    location: str
    workspace_name: Input[str]
    endpoint_name: Input[str]
    rule_name: Input[str]
    settings: LogAnalyticsConfig
    tables: Sequence[LogTable] = LOG_TABLES
    tags: Mapping[str, str] = field(default_factory=dict)


def stream_declarations(tables: Sequence[LogTable]) -> dict[str, dict[str, list[dict[str, str]]]]:
    """The rule's `streamDeclarations`: one `Custom-<table>` stream per table, DCR column spelling."""
    return {t.stream_name: {"columns": t.stream_columns()} for t in tables}


def data_flows(tables: Sequence[LogTable]) -> list[dict[str, object]]:
    """One flow per stream, unchanged (`source`) into its own table."""
    return [{"streams": [t.stream_name], "destinations": [DESTINATION], "transform_kql": "source",
             "output_stream": t.stream_name} for t in tables]


class Monitoring(ComponentResource):
    """A Log Analytics workspace (Entra ID only) fed through the Logs Ingestion API."""

    workspace_id: Output[str]
    workspace_customer_id: Output[str]
    logs_ingestion_endpoint: Output[str]
    rule_id: Output[str]
    rule_immutable_id: Output[str]
    stream_names: dict[str, str]

    def __init__(self, name: str, args: MonitoringArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("altaviz:monitoring:Monitoring", name, None, opts)
        child = ResourceOptions(parent=self)
        workspace = operationalinsights.Workspace(
            f"{name}-workspace",
            workspace_name=args.workspace_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=args.settings.retention_days,
            # Shared-key access would bypass Entra ID and RBAC; everything here authenticates with a token.
            features=operationalinsights.WorkspaceFeaturesArgs(
                disable_local_auth=True, enable_log_access_using_only_resource_permissions=True),
            public_network_access_for_ingestion="Enabled",
            public_network_access_for_query="Enabled",
            tags=dict(args.tags),
            opts=child)
        tables = [operationalinsights.Table(
            f"{name}-{t.table_name}",
            table_name=t.table_name,
            workspace_name=workspace.name,
            resource_group_name=args.resource_group_name,
            plan="Analytics",
            schema=operationalinsights.SchemaArgs(name=t.table_name, description=t.description,
                                                  columns=t.table_columns()),
            opts=child) for t in args.tables]
        endpoint = monitor.DataCollectionEndpoint(
            f"{name}-endpoint",
            data_collection_endpoint_name=args.endpoint_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            description="Logs Ingestion API endpoint for Altaviz pipeline records",
            network_acls=monitor.DataCollectionEndpointNetworkAclsArgs(public_network_access="Enabled"),
            tags=dict(args.tags),
            opts=child)
        rule = monitor.DataCollectionRule(
            f"{name}-rule",
            data_collection_rule_name=args.rule_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            description="Altaviz pipeline records -> custom tables",
            data_collection_endpoint_id=endpoint.id,
            stream_declarations=stream_declarations(args.tables),
            destinations=monitor.DataCollectionRuleDestinationsArgs(log_analytics=[
                monitor.LogAnalyticsDestinationArgs(name=DESTINATION, workspace_resource_id=workspace.id)]),
            data_flows=data_flows(args.tables),
            tags=dict(args.tags),
            # A flow's output stream must name an existing table.
            opts=ResourceOptions(parent=self, depends_on=tables))
        self.workspace_id = workspace.id
        self.workspace_customer_id = workspace.customer_id
        self.logs_ingestion_endpoint = endpoint.logs_ingestion.apply(lambda ingestion: ingestion.endpoint if ingestion else "")
        self.rule_id = rule.id
        self.rule_immutable_id = rule.immutable_id
        self.stream_names = {t.table_name: t.stream_name for t in args.tables}
        self.register_outputs({
            "workspace_id": self.workspace_id, "workspace_customer_id": self.workspace_customer_id,
            "logs_ingestion_endpoint": self.logs_ingestion_endpoint, "rule_id": self.rule_id,
            "rule_immutable_id": self.rule_immutable_id, "stream_names": self.stream_names,
        })
