"""Event Hubs: the namespace, the telemetry hub, its consumer groups and the one Listen-only SAS rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from pulumi import ComponentResource, Input, InvokeOptions, Output, ResourceOptions
from pulumi_azure_native import eventhub
from stack_config import EventHubsConfig

TELEMETRY_HUB = "telemetry"
STREAMING_CONSUMER_GROUP = "fabric-streaming"
ADHOC_CONSUMER_GROUP = "adhoc"
LISTEN_RULE = "fabric-streaming-listen"
KAFKA_PORT = 9093


@dataclass
class EventHubsArgs:
    """Where the namespace goes, its name and sizes (see `EventHubsConfig`)."""

    resource_group_name: Input[str]
    location: str
    namespace_name: Input[str]
    settings: EventHubsConfig
    tags: Mapping[str, str] = field(default_factory=dict)


class EventHubs(ComponentResource):
    """A Kafka-enabled namespace (TLS 1.2) with the `telemetry` hub, its consumer groups and a Listen-only rule.

    Producers send with Entra ID (Azure Event Hubs Data Sender, see `roles`). Local (SAS) auth stays enabled only
    because Spark's Kafka source in Fabric authenticates with a connection string (SASL PLAIN); the one SAS rule
    is scoped to Listen on this hub and its connection string goes straight into Key Vault.
    """

    namespace_name: Output[str]
    namespace_fqdn: Output[str]
    kafka_bootstrap_server: Output[str]
    hub_name: Output[str]
    hub_id: Output[str]
    consumer_groups: tuple[str, ...]
    listen_connection_string: Output[str]

    def __init__(self, name: str, args: EventHubsArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("altaviz:eventhubs:EventHubs", name, None, opts)
        child = ResourceOptions(parent=self)
        settings = args.settings
        namespace = eventhub.Namespace(
            f"{name}-namespace",
            namespace_name=args.namespace_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=eventhub.SkuArgs(name=settings.sku, tier=settings.sku, capacity=settings.throughput_units),
            is_auto_inflate_enabled=settings.max_throughput_units > 0,
            maximum_throughput_units=settings.max_throughput_units or None,
            kafka_enabled=True,
            minimum_tls_version="1.2",
            # Spark's Kafka endpoint (Fabric) only speaks SASL PLAIN with a connection string: SAS must stay on.
            disable_local_auth=False,
            public_network_access=settings.public_network_access,
            zone_redundant=settings.zone_redundant,
            tags=dict(args.tags),
            opts=child)
        hub = eventhub.EventHub(
            f"{name}-{TELEMETRY_HUB}",
            event_hub_name=TELEMETRY_HUB,
            namespace_name=namespace.name,
            resource_group_name=args.resource_group_name,
            partition_count=settings.partitions,
            retention_description=eventhub.RetentionDescriptionArgs(
                cleanup_policy="Delete", retention_time_in_hours=settings.retention_hours),
            opts=child)
        self.consumer_groups = (STREAMING_CONSUMER_GROUP, ADHOC_CONSUMER_GROUP)
        for group in self.consumer_groups:
            eventhub.ConsumerGroup(
                f"{name}-{group}",
                consumer_group_name=group,
                event_hub_name=hub.name,
                namespace_name=namespace.name,
                resource_group_name=args.resource_group_name,
                opts=child)
        rule = eventhub.EventHubAuthorizationRule(
            f"{name}-{LISTEN_RULE}",
            authorization_rule_name=LISTEN_RULE,
            event_hub_name=hub.name,
            namespace_name=namespace.name,
            resource_group_name=args.resource_group_name,
            rights=["Listen"],
            opts=child)
        keys = eventhub.list_event_hub_keys_output(
            authorization_rule_name=rule.name, event_hub_name=hub.name, namespace_name=namespace.name,
            resource_group_name=args.resource_group_name, opts=InvokeOptions(parent=self))
        self.listen_connection_string = Output.secret(keys.primary_connection_string)
        self.namespace_name = namespace.name
        self.namespace_fqdn = namespace.service_bus_endpoint.apply(lambda url: urlparse(url).hostname or url)
        self.kafka_bootstrap_server = self.namespace_fqdn.apply(lambda host: f"{host}:{KAFKA_PORT}")
        self.hub_name = hub.name
        self.hub_id = hub.id
        self.register_outputs({
            "namespace_name": self.namespace_name, "namespace_fqdn": self.namespace_fqdn,
            "kafka_bootstrap_server": self.kafka_bootstrap_server, "hub_name": self.hub_name, "hub_id": self.hub_id,
            "consumer_groups": list(self.consumer_groups),
            "listen_connection_string": self.listen_connection_string,
        })
