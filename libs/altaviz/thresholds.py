"""Sensor status thresholds (`config/thresholds.yaml`): fleet defaults with per-model overrides."""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from altaviz.config import config_file, load_yaml
from altaviz.errors import ConfigError
from altaviz.schemas import SENSOR_COLUMNS

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
STATUSES = ("normal", "warning", "critical")


@dataclass(frozen=True)
class SensorThreshold:
    """When one sensor's value is `warning` or `critical` (no levels: always `normal`)."""

    sensor: str
    comparison: str = ">="
    warning: float | None = None
    critical: float | None = None
    unit: str = ""
    normal: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        where = f"thresholds: {self.sensor}"
        if self.comparison not in COMPARISONS:
            raise ConfigError(f"{where}: comparison must be one of {', '.join(COMPARISONS)} (got {self.comparison!r})")
        if (self.warning is None) != (self.critical is None):
            raise ConfigError(f"{where}: give both warning and critical, or neither")
        if self.warning is not None and self.critical is not None:
            rising = self.comparison in (">=", ">")
            if (self.critical <= self.warning) if rising else (self.critical >= self.warning):
                raise ConfigError(f"{where}: critical ({self.critical:g}) must be "
                                  f"{'above' if rising else 'below'} warning ({self.warning:g}) for {self.comparison}")

    @property
    def alerting(self) -> bool:
        """True when the sensor has warning and critical levels."""
        return self.warning is not None

    def status(self, value: float | None) -> str | None:
        """`critical`, `warning` or `normal` for a value; None when there is no value."""
        if value is None:
            return None
        test = COMPARISONS[self.comparison]
        if self.critical is not None and test(value, self.critical):
            return "critical"
        if self.warning is not None and test(value, self.warning):
            return "warning"
        return "normal"

    def level(self, severity: str) -> float | None:
        """The threshold value of a severity."""
        return self.critical if severity == "critical" else self.warning


@dataclass(frozen=True)
class Thresholds:
    """Fleet-default thresholds per sensor and the per-model overrides."""

    defaults: Mapping[str, SensorThreshold]
    overrides: Mapping[str, Mapping[str, SensorThreshold]]

    def for_model(self, model: str | None) -> Mapping[str, SensorThreshold]:
        """Thresholds per sensor for a model (the defaults where it has no override)."""
        return {**self.defaults, **self.overrides.get(model or "", {})}

    @property
    def alerting_sensors(self) -> tuple[str, ...]:
        """Sensors that have warning/critical levels (for the fleet or for any model)."""
        models = [self.defaults, *self.overrides.values()]
        return tuple(s for s in SENSOR_COLUMNS if any(m[s].alerting for m in models if s in m))


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number (got {value!r})")
    return float(value)


def _sensor(name: str, entry: Any, where: str, base: SensorThreshold | None = None) -> SensorThreshold:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping (got {entry!r})")
    allowed = {"comparison", "warning", "critical"} | (set() if base else {"unit", "normal"})
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    values: dict[str, Any] = {}
    for key in ("warning", "critical"):
        if key in entry:
            values[key] = _number(entry[key], f"{where}.{key}")
    if "comparison" in entry:
        values["comparison"] = str(entry["comparison"])
    if "unit" in entry:
        values["unit"] = str(entry["unit"])
    if "normal" in entry:
        normal = entry["normal"]
        if not (isinstance(normal, list) and len(normal) == 2):
            raise ConfigError(f"{where}.normal must be [low, high] (got {normal!r})")
        values["normal"] = (_number(normal[0], f"{where}.normal"), _number(normal[1], f"{where}.normal"))
    return replace(base, **values) if base else SensorThreshold(sensor=name, **values)


def parse_thresholds(data: Mapping[str, Any]) -> Thresholds:
    """Validate the parsed YAML: every sensor present, known keys only, critical beyond warning."""
    unknown = sorted(set(data) - {"sensors", "models"})
    if unknown:
        raise ConfigError(f"thresholds: unknown top-level key(s) {', '.join(unknown)}; allowed: models, sensors")
    sensors = data.get("sensors")
    if not isinstance(sensors, Mapping):
        raise ConfigError("thresholds: `sensors` must map each sensor column to its thresholds")
    missing = [s for s in SENSOR_COLUMNS if s not in sensors]
    extra = sorted(set(sensors) - set(SENSOR_COLUMNS))
    if missing or extra:
        raise ConfigError(f"thresholds.sensors: missing {missing or 'none'}, unknown {extra or 'none'} "
                          f"(sensors: {', '.join(SENSOR_COLUMNS)})")
    defaults = {s: _sensor(s, sensors[s], f"thresholds.sensors.{s}") for s in SENSOR_COLUMNS}
    overrides: dict[str, dict[str, SensorThreshold]] = {}
    models = data.get("models") or {}
    if not isinstance(models, Mapping):
        raise ConfigError("thresholds: `models` must map model names to sensor overrides")
    for model, entries in models.items():
        if not isinstance(entries, Mapping):
            raise ConfigError(f"thresholds.models.{model} must map sensors to overrides")
        for sensor, entry in entries.items():
            if sensor not in defaults:
                raise ConfigError(f"thresholds.models.{model}: unknown sensor {sensor!r}")
            overrides.setdefault(str(model), {})[sensor] = _sensor(
                sensor, entry, f"thresholds.models.{model}.{sensor}", defaults[sensor])
    return Thresholds(defaults=defaults, overrides=overrides)


def load_thresholds(path: str | os.PathLike[str] | None = None) -> Thresholds:
    """Load `thresholds.yaml` from the config folder (or `path`)."""
    file = Path(path) if path else config_file("thresholds.yaml")
    return parse_thresholds(load_yaml(file))
