"""The Fabric capacity an environment runs on, when the stack creates its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pulumi import ComponentResource, Input, Output, ResourceOptions
from pulumi_azure_native import fabric


@dataclass
class CapacityArgs:
    """Name (lowercase letters and digits, 3-63), SKU (F2..F2048) and administrators of the capacity."""

    resource_group_name: Input[str]
    location: str
    capacity_name: Input[str]
    sku: str
    admins: Sequence[str]
    tags: Mapping[str, str] = field(default_factory=dict)


class Capacity(ComponentResource):
    """A Fabric capacity. It bills while it runs: pause it (an ARM action) when the environment is idle."""

    capacity_name: Output[str]
    capacity_resource_id: Output[str]

    def __init__(self, name: str, args: CapacityArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("altaviz:capacity:Capacity", name, None, opts)
        capacity = fabric.FabricCapacity(
            f"{name}-capacity",
            capacity_name=args.capacity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=fabric.RpSkuArgs(name=args.sku, tier="Fabric"),
            administration=fabric.CapacityAdministrationArgs(members=list(args.admins)),
            tags=dict(args.tags),
            opts=ResourceOptions(parent=self))
        self.capacity_name = capacity.name
        self.capacity_resource_id = capacity.id
        self.register_outputs({"capacity_name": self.capacity_name,
                               "capacity_resource_id": self.capacity_resource_id})
