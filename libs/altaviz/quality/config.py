"""Silver's declared row rules and quality checks (config/quality.yaml): frozen, strict, validated against
the rule and check registries."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from altaviz.config import build_strict, config_file, load_yaml
from altaviz.errors import ConfigError
from altaviz.quality.registry import declared_params, get_check
from altaviz.quality.rules import RuleConfig, get_rule

LEVELS: tuple[str, ...] = ("warn", "block")
_TOP_LEVEL_KEYS: tuple[str, ...] = ("rules", "checks")


@dataclass(frozen=True)
class CheckConfig:
    """One declared check: a unique name, the registered check it runs, its threshold, level and params.

    `params` is an instance of the check's own parameters dataclass; left as None it takes that class's
    defaults.
    """

    name: str
    check: str
    threshold: float
    level: str
    params: Any = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("name must not be empty")
        if self.level not in LEVELS:
            raise ConfigError(f"level {self.level!r} is not allowed; allowed levels: {', '.join(LEVELS)}")
        if not math.isfinite(self.threshold):
            raise ConfigError(f"threshold must be a finite number (got {self.threshold!r})")
        object.__setattr__(self, "params",
                           declared_params("check", self.check, self.params, get_check(self.check).params_type))

    @property
    def comparison(self) -> str:
        """How this check's metric is compared with its threshold (declared with the check function)."""
        return get_check(self.check).comparison


@dataclass(frozen=True)
class QualityConfig:
    """All declared checks, in the order results are reported, and the row rules, in the order they apply."""

    checks: tuple[CheckConfig, ...]
    rules: tuple[RuleConfig, ...] = ()

    def __post_init__(self) -> None:
        first_rule: dict[str, int] = {}
        for index, declared in enumerate(self.rules):
            if declared.rule in first_rule:
                raise ConfigError(f"rules[{index}].rule: rule {declared.rule!r} is declared twice "
                                  f"(first as rules[{first_rule[declared.rule]}])")
            first_rule[declared.rule] = index
        first_index: dict[str, int] = {}
        for index, check in enumerate(self.checks):
            if check.name in first_index:
                raise ConfigError(f"checks[{index}].name: duplicate check name {check.name!r} "
                                  f"(first used by checks[{first_index[check.name]}]); names must be unique")
            first_index[check.name] = index


def _build_entry(cls: type, entry: Any, where: str, params_of: Any) -> Any:
    """Build one entry: its own keys strictly, then `params` strictly into its check's or rule's params class."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping (got {entry!r})")
    declared = build_strict(cls, {k: v for k, v in entry.items() if k != "params"}, where)
    raw_params = entry.get("params")
    if raw_params is None:
        return declared
    kind, name, params_type = params_of(declared)
    if not dataclasses.fields(params_type) and raw_params != {}:
        raise ConfigError(f"{where}.params: {kind} {name!r} takes no params (got {raw_params!r})")
    params = build_strict(params_type, raw_params, f"{where}.params")
    return dataclasses.replace(declared, params=params)


def _entries(data: Mapping[str, Any], key: str) -> list[Any]:
    if key not in data:
        raise ConfigError(f"missing key {key}")
    entries = data[key] or []
    if not isinstance(entries, list):
        raise ConfigError(f"{key} must be a list (got {entries!r})")
    return entries


def parse_quality_config(data: Mapping[str, Any]) -> QualityConfig:
    """Build a QualityConfig from an already parsed mapping (the contents of quality.yaml).

    Raises:
        ConfigError: An unknown or missing key, unknown check name, bad level or duplicate name; the message
            names the offending key or value and what is allowed.
    """
    unknown = sorted(set(data) - set(_TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]}; allowed keys: {', '.join(_TOP_LEVEL_KEYS)}")
    checks = tuple(_build_entry(CheckConfig, entry, f"checks[{i}]",
                                lambda c: ("check", c.check, get_check(c.check).params_type))
                   for i, entry in enumerate(_entries(data, "checks")))
    rules = tuple(_build_entry(RuleConfig, entry, f"rules[{i}]",
                               lambda r: ("rule", r.rule, get_rule(r.rule).params_type))
                  for i, entry in enumerate(_entries(data, "rules")))
    return QualityConfig(checks, rules)


def load_quality_config(path: str | os.PathLike[str] | None = None) -> QualityConfig:
    """Load `quality.yaml` (or `path`) into a frozen, validated QualityConfig.

    Args:
        path: The YAML file; defaults to `quality.yaml` in the config folder.

    Raises:
        ConfigError: The file is missing or invalid; the message names the file and the bad key or value.
    """
    file = Path(path) if path else config_file("quality.yaml")
    if not file.is_file():
        raise ConfigError(f"quality config {file} not found")
    try:
        return parse_quality_config(load_yaml(file))
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(str(file)) else f"{file}: {message}") from None
