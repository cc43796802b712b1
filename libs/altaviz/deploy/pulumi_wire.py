"""What Pulumi's wire format does to property values, undone where a dynamic provider receives them.

The engine hands a dynamic provider its properties as protobuf `Struct`s, which have a single number type: every
int a program passes arrives as a float (a schedule's `"interval": 60` becomes 60.0, which the Fabric API rejects
where its spec says integer). And in Check and Diff, a value not known during a preview arrives as a
`pulumi.output.Unknown` object, not as the UNKNOWN sentinel string the lifecycle handlers look for. `from_engine`
restores both, for every value of a property bag, before a handler sees it, so every request body built from
provider properties carries integers where the program wrote integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN


def from_engine(value: Any) -> Any:
    """`value` with whole floats as ints and `Unknown` objects as the UNKNOWN sentinel, nested values included.

    A float with a fraction (`publish_timeout_minutes: 0.5`) stays a float; booleans stay booleans.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, Mapping):
        return {key: from_engine(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [from_engine(item) for item in value]
    return value
