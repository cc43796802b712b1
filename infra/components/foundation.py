"""The base of an environment: who deploys where (tenant, subscription), its planned names and resource group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from naming import ResourceNames, stable_suffix
from pulumi import ComponentResource, InvokeOptions, Output, ResourceOptions
from pulumi_azure_native import authorization, resources


@dataclass
class FoundationArgs:
    """The environment and stack the names are planned for, and where the resource group lives."""

    environment: str
    stack: str
    location: str
    name_suffix: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


class Foundation(ComponentResource):
    """Tenant and subscription of the deploying identity, the environment's names and its resource group."""

    tenant_id: Output[str]
    subscription_id: Output[str]
    names: Output[ResourceNames]
    resource_group_name: Output[str]

    def __init__(self, name: str, args: FoundationArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("altaviz:foundation:Foundation", name, None, opts)
        client = authorization.get_client_config_output(opts=InvokeOptions(parent=self))
        self.tenant_id = client.tenant_id
        self.subscription_id = client.subscription_id
        self.names = client.subscription_id.apply(lambda subscription: ResourceNames(
            args.environment, args.name_suffix or stable_suffix(subscription, args.stack)))
        group = resources.ResourceGroup(
            f"{name}-resource-group",
            resource_group_name=self.names.apply(lambda n: n.resource_group),
            location=args.location,
            tags=dict(args.tags),
            opts=ResourceOptions(parent=self))
        self.resource_group_name = group.name
        self.register_outputs({"tenant_id": self.tenant_id, "subscription_id": self.subscription_id,
                               "resource_group_name": self.resource_group_name})


def name_of(names: Output[ResourceNames], attribute: str) -> Output[str]:
    """One planned name, e.g. `name_of(foundation.names, "key_vault")`."""
    return names.apply(lambda n: getattr(n, attribute))

