"""Typed settings loaded once from config/*.yaml: frozen, strict, and validated where they are read."""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from altaviz.errors import ConfigError

CONFIG_DIR_ENV_VAR = "ALTAVIZ_CONFIG_DIR"
_PACKAGE_DIR = Path(__file__).resolve().parent

def config_dir() -> Path:
    """The config folder: `$ALTAVIZ_CONFIG_DIR`, else the repo's `config/`, else the copy bundled in the wheel."""
    explicit = os.environ.get(CONFIG_DIR_ENV_VAR)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise ConfigError(f"{CONFIG_DIR_ENV_VAR}={explicit!r} is not a directory")
        return path
    for candidate in (_PACKAGE_DIR.parent.parent / "config", _PACKAGE_DIR / "_bundled_config"):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"no config directory found: set {CONFIG_DIR_ENV_VAR} to the folder holding the YAML files")


def config_file(name: str) -> Path:
    """Path of one YAML file in the config folder; a clear error when it is missing."""
    path = config_dir() / name
    if not path.is_file():
        raise ConfigError(f"config file {name!r} not found in {path.parent}")
    return path


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping, naming the file on error."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Turn a parsed YAML value into the declared type, or say which key is wrong and why."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if dataclasses.is_dataclass(tp):
        return build_strict(tp, value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list (got {value!r})")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} must have {len(args)} items (got {value!r})")
        return tuple(_convert(a, v, f"{where}[{i}]")
                     for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false (got {value!r})")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number (got {value!r})")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer (got {value!r})")
        return value
    if tp is date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{where} must be a date YYYY-MM-DD (got {value!r})") from None
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be text (got {value!r})")
        return value
    raise TypeError(f"no converter for {tp!r} at {where}")  # a programming error, not a config error


class FieldPolicy:
    """How `build_strict` words an unknown key, fills a missing one and converts a value (one loader).

    The YAML files use this default; the Pulumi stack config (`infra/stack_config.py`) subclasses it for its
    string-typed values, per-field rules and per-stack defaults, over the same walk of the dataclasses.
    """

    def unknown(self, key: str, allowed: list[str], where: str) -> ConfigError:
        """The error for unknown key `key` (dotted) among `allowed`."""
        return ConfigError(f"unknown key {key}; allowed keys: {', '.join(allowed)}")

    def given(self, value: Any) -> bool:
        """Whether a key present with `value` counts as set (YAML: always, a null is then checked as a value)."""
        return True

    def missing(self, f: dataclasses.Field[Any], hint: Any, key: str) -> Any:
        """The value of a field the mapping lacks: `dataclasses.MISSING` to take the field's default."""
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {key}")
        return dataclasses.MISSING

    def convert(self, f: dataclasses.Field[Any], hint: Any, value: Any, key: str) -> Any:
        """`value` as the field's type (nested dataclasses are built with this policy)."""
        return _convert(hint, value, key)


_YAML = FieldPolicy()


def build_strict(cls: type, data: Any, where: str, policy: FieldPolicy = _YAML) -> Any:
    """Build the frozen dataclass `cls` from a mapping, rejecting unknown and missing keys.

    Args:
        cls: The dataclass to build (nested dataclasses and tuples of them are built recursively).
        data: The parsed YAML mapping.
        where: Dotted location used in error messages, e.g. ``"models[2]"``; empty at the top level.
        policy: How keys are worded, missing keys filled and values converted (default: the YAML files').

    Raises:
        ConfigError: A key is unknown (the message lists the allowed keys), missing or of the wrong type.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping (got {data!r})")
    fields = {f.name: f for f in dataclasses.fields(cls)}

    def key(name: str) -> str:
        return f"{where}.{name}" if where else name

    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise policy.unknown(key(unknown[0]), list(fields), where)
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data and policy.given(data[name]):
            kwargs[name] = policy.convert(f, hints[name], data[name], key(name))
        else:
            value = policy.missing(f, hints[name], key(name))
            if value is not dataclasses.MISSING:
                kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None



@dataclass(frozen=True)
class BronzeSettings:
    """Where Bronze finds landing files and sets bad ones aside."""

    landing_dir: str = "landing/telemetry"
    rejected_dir: str = "rejected/telemetry"
    reread_landed_files: bool = False
    #: The longest a Bronze writer takes from stamping `ingested_at` to committing (a file ingest, a stream
    #: micro-batch retried on a conflict); Silver looks back this far for batches it has not taken yet.
    late_commit_minutes: int = 120

    def __post_init__(self) -> None:
        _require_positive(self, "bronze", ("late_commit_minutes",))


@dataclass(frozen=True)
class DemoSettings:
    """The demo fleet `altaviz run` simulates when nothing has landed."""

    compressors: int = 200
    days: int = 2
    seed: int = 42

    def __post_init__(self) -> None:
        if self.compressors < 1:
            raise ConfigError(f"demo.compressors must be >= 1 (got {self.compressors})")
        if self.days < 1:
            raise ConfigError(f"demo.days must be >= 1 (got {self.days})")


def _require_positive(settings: object, section: str, names: tuple[str, ...]) -> None:
    """Refuse a zero or negative value for any of `names`, naming `section.name`."""
    for name in names:
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{section}.{name} must be > 0 (got {getattr(settings, name)})")


@dataclass(frozen=True)
class GoldSettings:
    """Alert lifecycle timings (see config/pipeline.yaml)."""

    escalate_after_hours: float = 4.0
    resolve_after_hours: float = 2.0
    stale_after_hours: float = 3.0
    close_after_days: float = 7.0
    #: OPTIMIZE (Z-order) the dates a run wrote only once they hold more than this many files per date.
    optimize_min_files: int = 8
    #: Count those files on every this-many-th run (and on any run that writes more dates than an hourly run: a backfill).
    optimize_check_every_runs: int = 6

    def __post_init__(self) -> None:
        _require_positive(self, "gold", ("escalate_after_hours", "resolve_after_hours", "stale_after_hours",
                                         "close_after_days", "optimize_min_files", "optimize_check_every_runs"))


@dataclass(frozen=True)
class Settings:
    """All pipeline settings (config/pipeline.yaml)."""

    bronze: BronzeSettings = field(default_factory=BronzeSettings)
    gold: GoldSettings = field(default_factory=GoldSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load `pipeline.yaml` (or `path`) into frozen, validated Settings."""
    file = Path(path) if path else config_file("pipeline.yaml")
    data = load_yaml(file)
    if isinstance(data, dict) and "silver" in data:
        raise ConfigError(f"{file}: key silver is no longer read: Silver's rules and their parameters "
                          "(lateness, stuck readings, outlier sigma, physical limits) are declared under "
                          "`rules:` in config/quality.yaml")
    return build_strict(Settings, data, "")


def secret_env_var(name: str) -> str:
    """The environment variable holding Key Vault secret `name` locally: `teams-webhook-url` ->
    `ALTAVIZ_TEAMS_WEBHOOK_URL`."""
    return "ALTAVIZ_" + "".join(c if c.isalnum() else "_" for c in name).upper()
