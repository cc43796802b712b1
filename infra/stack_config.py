"""Typed, validated stack configuration: the one place the Pulumi program reads its config.

Three kinds of stack:

- `staging` and `prod` state every size and network setting explicitly in `Pulumi.<stack>.yaml`; a missing key
  is an error, so nothing in those environments rests on a silent default.
- `dev-<name>` is a personal copy: Fabric item names are prefixed `dev-<name>-`, schedules are paused and every
  size defaults to the smallest that works (any key may still be set to override it).

Values arrive as Pulumi config (`altaviz:<section>` objects plus `azure-native:location`); `load_stack_config`
checks them against the dataclasses below and raises `ConfigError` naming the bad key and what would be valid.
Unknown keys are refused at every level.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, is_dataclass
from typing import Any

from altaviz.config import FieldPolicy, build_strict
from altaviz.errors import ConfigError

PROJECT = "altaviz"
LOCATION_KEY = "azure-native:location"
STACK_KINDS = ("staging", "prod", "dev-<name>")
_DEV_STACK = re.compile(r"^dev-[a-z][a-z0-9]{1,19}$")
_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_EMAIL_OR_GUID = r"^([^@\s]+@[^@\s]+\.[^@\s]+|" + _GUID[1:-1] + r")$"
_IPV4_RANGE = r"^(\d{1,3}\.){3}\d{1,3}(/\d{1,2})?$"
FABRIC_SKUS = ("F2", "F4", "F8", "F16", "F32", "F64", "F128", "F256", "F512", "F1024", "F2048")
STREAMING_MODES = ("catch-up", "continuous")
_REQUIRED = object()


@dataclass(frozen=True)
class Rule:
    """How one config value is checked, and what it is when not set.

    `default` applies to every stack (an optional value); `dev_default` only to `dev-<name>` stacks.
    """

    choices: tuple[Any, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    default: Any = _REQUIRED
    dev_default: Any = _REQUIRED
    why: str = ""


def setting(**rule: Any) -> Any:
    """A dataclass field carrying its `Rule`."""
    return field(metadata={"rule": Rule(**rule)})


@dataclass(frozen=True)
class EventHubsConfig:
    """The Event Hubs namespace and the telemetry hub."""

    sku: str = setting(choices=("Standard", "Premium"), dev_default="Standard",
                       why="Basic has no Kafka endpoint and a single consumer group")
    partitions: int = setting(minimum=1, maximum=32, dev_default=2,
                              why="Standard allows 1..32 and cannot change the count after creation")
    retention_hours: int = setting(minimum=1, maximum=168, dev_default=24, why="Standard keeps events 1..168 hours")
    throughput_units: int = setting(minimum=1, maximum=40, dev_default=1)
    max_throughput_units: int = setting(minimum=0, maximum=40, dev_default=0,
                                        why="auto-inflate ceiling; 0 turns auto-inflate off")
    zone_redundant: bool = setting(choices=(True, False), dev_default=False)
    public_network_access: str = setting(choices=("Enabled", "Disabled", "SecuredByPerimeter"),
                                         dev_default="Enabled")


@dataclass(frozen=True)
class KeyVaultConfig:
    """The Key Vault's network exposure (RBAC, purge protection and 90-day soft delete are not configurable)."""

    network_default_action: str = setting(choices=("Allow", "Deny"), dev_default="Allow")
    public_network_access: str = setting(choices=("Enabled", "Disabled"), dev_default="Enabled")
    allowed_ip_ranges: tuple[str, ...] = setting(pattern=_IPV4_RANGE, default=(),
                                                 why="IPv4 addresses or CIDR ranges allowed through the firewall")


@dataclass(frozen=True)
class LogAnalyticsConfig:
    """The Log Analytics workspace."""

    retention_days: int = setting(minimum=30, maximum=730, dev_default=30)


@dataclass(frozen=True)
class CapacityConfig:
    """Either an existing Fabric capacity (`id`) or one this stack creates (`sku` and `admins`)."""

    id: str | None = setting(pattern=_GUID, default=None, why="the Fabric capacity id (a GUID) of a shared capacity")
    sku: str | None = setting(choices=FABRIC_SKUS, default=None, dev_default="F2")
    admins: tuple[str, ...] = setting(pattern=_EMAIL_OR_GUID, default=(),
                                      why="capacity administrators: user principal names or object ids")


@dataclass(frozen=True)
class WorkspaceRole:
    """A principal's role in the Fabric workspace."""

    principal_id: str = setting(pattern=_GUID)
    principal_type: str = setting(choices=("User", "Group", "ServicePrincipal"))
    role: str = setting(choices=("Admin", "Member", "Contributor", "Viewer"))


@dataclass(frozen=True)
class FabricConfig:
    """The Fabric capacity, the pipeline schedule, how Event Hubs is read and who gets which workspace role."""

    capacity: CapacityConfig
    schedule_enabled: bool = setting(choices=(True, False), dev_default=False)
    streaming: str = setting(choices=STREAMING_MODES, dev_default="catch-up",
                             why="catch-up: the hourly pipeline drains Event Hubs before Silver; continuous: the "
                                 "sjd_bronze_stream Spark Job Definition reads it and the pipeline's catch-up "
                                 "steps aside (one reader per checkpoint)")
    workspace_roles: tuple[WorkspaceRole, ...] = setting(default=())


@dataclass(frozen=True)
class IdentitiesConfig:
    """Object ids (Entra service principals or managed identities) that get data-plane roles."""

    telemetry_producer_object_id: str | None = setting(
        pattern=_GUID, dev_default=None, why="gets Azure Event Hubs Data Sender on the telemetry hub")
    pipeline_service_principal_object_id: str | None = setting(
        pattern=_GUID, default=None,
        why="the service principal the notebooks use for the Logs Ingestion API and Key Vault, if any")


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs to know about one stack, validated."""

    stack: str
    location: str
    event_hubs: EventHubsConfig
    key_vault: KeyVaultConfig
    log_analytics: LogAnalyticsConfig
    fabric: FabricConfig
    identities: IdentitiesConfig
    name_suffix: str | None = None

    @property
    def environment(self) -> str:
        """The environment name: the stack name (`staging`, `prod`, `dev-alice`)."""
        return self.stack

    @property
    def is_dev(self) -> bool:
        """True for a personal `dev-<name>` stack."""
        return self.stack.startswith("dev-")

    @property
    def fabric_prefix(self) -> str:
        """Prefix of Fabric item names: `dev-<name>-` for a personal stack, none otherwise."""
        return f"{self.stack}-" if self.is_dev else ""

    @property
    def fabric_workspace_name(self) -> str:
        """`altaviz-staging`, `altaviz-prod`, or `dev-<name>-altaviz` on a personal stack."""
        return f"{self.fabric_prefix}altaviz" if self.is_dev else f"altaviz-{self.stack}"

    def fabric_item_name(self, name: str) -> str:
        """A Fabric item's deployed name: the repo name, prefixed `dev-<name>-` on a personal stack."""
        return f"{self.fabric_prefix}{name}"


#: The `altaviz:` config sections, their dataclasses, and whether staging/prod must set them.
SECTIONS: Mapping[str, type] = types.MappingProxyType({
    "event_hubs": EventHubsConfig,
    "key_vault": KeyVaultConfig,
    "log_analytics": LogAnalyticsConfig,
    "fabric": FabricConfig,
    "identities": IdentitiesConfig,
})
_NAME_SUFFIX = re.compile(r"^[a-z0-9]{5}$")


def check_stack_name(stack: str) -> None:
    """Refuse a stack name that is not `staging`, `prod` or `dev-<name>`."""
    if stack in ("staging", "prod") or _DEV_STACK.match(stack):
        return
    raise ConfigError(f"stack {stack!r} is not one of {', '.join(STACK_KINDS)} (<name>: a lowercase letter, then "
                      "1-19 lowercase letters or digits, e.g. dev-alice)")


def load_stack_config(stack: str, values: Mapping[str, Any]) -> StackConfig:
    """Validate one stack's config.

    Args:
        stack: the stack name.
        values: Pulumi config by full key (`altaviz:event_hubs`, `azure-native:location`, ...); section values may
            be mappings or their JSON text, as Pulumi hands them over.

    Raises:
        ConfigError: a key is unknown, missing or invalid; the message names it and what would be valid.
    """
    check_stack_name(stack)
    dev = stack.startswith("dev-")
    own = {key: value for key, value in values.items() if key.startswith(f"{PROJECT}:")}
    allowed = [f"{PROJECT}:{name}" for name in (*SECTIONS, "name_suffix")]
    unknown = sorted(set(own) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]}; allowed keys: {', '.join(allowed)}")
    location = values.get(LOCATION_KEY)
    if not isinstance(location, str) or not re.match(r"^[a-z][a-z0-9]+$", location):
        raise ConfigError(f"{LOCATION_KEY} must name an Azure region like southcentralus (got {location!r}): "
                          f"pulumi config set {LOCATION_KEY} <region> -s {stack}")
    sections = {}
    for name, cls in SECTIONS.items():
        key = f"{PROJECT}:{name}"
        raw = _as_object(own.get(key), key)
        if raw is None:
            if not dev and name != "identities":
                raise ConfigError(f"{key} is required for stack {stack!r} (staging and prod set every value "
                                  "explicitly; only dev-<name> stacks get defaults)")
            raw = {}
        sections[name] = _build(cls, raw, key, dev=dev, stack=stack)
    suffix = own.get(f"{PROJECT}:name_suffix")
    if suffix is not None and not (isinstance(suffix, str) and _NAME_SUFFIX.match(suffix)):
        raise ConfigError(f"{PROJECT}:name_suffix must be 5 lowercase letters or digits (got {suffix!r})")
    config = StackConfig(stack=stack, location=location, name_suffix=suffix, **sections)
    _check_together(config)
    return config


def pulumi_config_values(project: str = PROJECT) -> dict[str, Any]:
    """This stack's config from the Pulumi runtime: every `<project>:` key, plus `azure-native:location`."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    wanted = sorted(k for k in keys if k.startswith(f"{project}:") or k == LOCATION_KEY)
    return {key: runtime_config.get_config(key) for key in wanted}


def _check_together(config: StackConfig) -> None:
    """Rules that span several values."""
    hubs = config.event_hubs
    if hubs.max_throughput_units and hubs.sku != "Standard":
        raise ConfigError(f"{PROJECT}:event_hubs.max_throughput_units: auto-inflate exists on the Standard tier only "
                          f"(sku is {hubs.sku}); set it to 0")
    if hubs.max_throughput_units and hubs.max_throughput_units < hubs.throughput_units:
        raise ConfigError(f"{PROJECT}:event_hubs.max_throughput_units ({hubs.max_throughput_units}) must be 0 or at "
                          f"least event_hubs.throughput_units ({hubs.throughput_units})")
    capacity = config.fabric.capacity
    key = f"{PROJECT}:fabric.capacity"
    if capacity.id and capacity.admins:
        raise ConfigError(f"{key}: give either id (use an existing capacity) or sku and admins (create one), not both")
    if not capacity.id and not capacity.admins:
        raise ConfigError(f"{key}: give id (the GUID of an existing Fabric capacity) or admins (and sku, one of "
                          f"{', '.join(FABRIC_SKUS)}) to create one")
    if capacity.admins and not capacity.sku:
        raise ConfigError(f"{key}.sku is required to create a capacity; allowed: {', '.join(FABRIC_SKUS)}")


def _as_object(value: Any, key: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{key} must be an object (got {value!r})") from exc
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be an object of keys and values (got {value!r})")
    return dict(value)


class _StackPolicy(FieldPolicy):
    """The stack config's reading of the shared strict loader: Pulumi hands values over as text or JSON,
    each field carries a `Rule`, and `dev-<name>` stacks get defaults staging and prod must state."""

    def __init__(self, *, dev: bool, stack: str) -> None:
        self.dev, self.stack = dev, stack

    def unknown(self, key: str, allowed: list[str], where: str) -> ConfigError:
        return ConfigError(f"unknown config key {key}; allowed keys under {where}: {', '.join(allowed)}")

    def given(self, value: Any) -> bool:
        return value is not None

    def missing(self, f: Any, hint: Any, key: str) -> Any:
        rule: Rule = f.metadata.get("rule", Rule())
        if self.dev and rule.dev_default is not _REQUIRED:
            return rule.dev_default
        if rule.default is not _REQUIRED:
            return rule.default
        if is_dataclass(hint) and self.dev:
            return _build(hint, {}, key, dev=self.dev, stack=self.stack)
        why = f" ({rule.why})" if rule.why else ""
        raise ConfigError(f"{key} is required for stack {self.stack!r}{why}{_allowed(rule)}")

    def convert(self, f: Any, hint: Any, value: Any, key: str) -> Any:
        return _value(hint, value, f.metadata.get("rule", Rule()), key, dev=self.dev, stack=self.stack)


def _build(cls: type, raw: Mapping[str, Any], key: str, *, dev: bool, stack: str) -> Any:
    """One dataclass from a mapping, every field checked against its Rule (the shared strict loader)."""
    return build_strict(cls, raw, key, _StackPolicy(dev=dev, stack=stack))


def _value(hint: Any, value: Any, rule: Rule, path: str, *, dev: bool, stack: str) -> Any:
    """One value converted to its field's type and checked."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):  # `X | None`
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if is_dataclass(hint):
        return _build(hint, _as_object(value, path) or {}, path, dev=dev, stack=stack)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path} must be a list (got {value!r})")
        item = args[0]
        return tuple(_value(item, v, rule, f"{path}[{i}]", dev=dev, stack=stack) for i, v in enumerate(value))
    if hint is bool:
        value = {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false (got {value!r})")
    elif hint is int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} must be a whole number (got {value!r}){_allowed(rule)}")
        if (rule.minimum is not None and value < rule.minimum) or (rule.maximum is not None and value > rule.maximum):
            why = f" ({rule.why})" if rule.why else ""
            raise ConfigError(f"{path}: {value} is out of range; allowed {rule.minimum}..{rule.maximum}{why}")
    elif hint is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path} must be a non-empty string (got {value!r}){_allowed(rule)}")
        if rule.pattern and not re.match(rule.pattern, value):
            why = f": {rule.why}" if rule.why else ""
            raise ConfigError(f"{path}: {value!r} is not valid{why} (expected to match {rule.pattern})")
    if rule.choices and value not in rule.choices:
        raise ConfigError(f"{path}: {value!r} is not allowed{_allowed(rule)}")
    return value


def _allowed(rule: Rule) -> str:
    if rule.choices:
        return "; allowed: " + ", ".join(json.dumps(c) if isinstance(c, bool) else str(c) for c in rule.choices)
    if rule.minimum is not None:
        return f"; allowed: {rule.minimum}..{rule.maximum}"
    return ""
