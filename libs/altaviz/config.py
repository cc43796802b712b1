"""Typed settings loaded once from config/*.yaml: frozen, strict, and validated where they are read."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from altaviz.errors import ConfigError

CONFIG_DIR_ENV_VAR = "ALTAVIZ_CONFIG_DIR"
_PACKAGE_DIR = Path(__file__).resolve().parent

T = TypeVar("T")


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
    raise ConfigError(f"no config directory found: set {CONFIG_DIR_ENV_VAR} to the folder holding pipeline.yaml")


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


def build_strict(cls: type[T], data: Mapping[str, Any] | None, where: str) -> T:
    """Build frozen dataclass `cls` from `data`, rejecting unknown keys and wrong scalar types.

    Nested dataclass fields are built recursively; the error names the dotted key and the allowed keys.
    """
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}; allowed keys: {', '.join(sorted(fields))}")
    kwargs: dict[str, Any] = {}
    hints = {f.name: f.type for f in fields.values()}
    for name, value in data.items():
        default = fields[name].default_factory if fields[name].default_factory is not dataclasses.MISSING else None
        nested = default() if default is not None else fields[name].default
        if dataclasses.is_dataclass(nested):
            kwargs[name] = build_strict(type(nested), value, f"{where}.{name}")
            continue
        expected = type(nested) if nested is not dataclasses.MISSING and nested is not None else None
        if expected is not None and not isinstance(value, expected) and not (
                expected is float and isinstance(value, int) and not isinstance(value, bool)):
            raise ConfigError(f"{where}.{name} must be {expected.__name__} (got {value!r}; declared {hints[name]})")
        if expected is int and isinstance(value, bool):
            raise ConfigError(f"{where}.{name} must be int (got {value!r})")
        kwargs[name] = float(value) if expected is float else value
    return cls(**kwargs)


@dataclass(frozen=True)
class BronzeSettings:
    """Where Bronze finds landing files and sets bad ones aside."""

    landing_dir: str = "landing/telemetry"
    rejected_dir: str = "rejected/telemetry"
    reread_landed_files: bool = False


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


@dataclass(frozen=True)
class Settings:
    """All pipeline settings (config/pipeline.yaml)."""

    bronze: BronzeSettings = field(default_factory=BronzeSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load `pipeline.yaml` (or `path`) into frozen, validated Settings."""
    file = Path(path) if path else config_file("pipeline.yaml")
    return build_strict(Settings, load_yaml(file), "pipeline")
