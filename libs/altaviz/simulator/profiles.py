"""The fleet profile (config/fleet.yaml): basins, models, failure modes and dirt, loaded strictly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from altaviz.config import build_strict, config_file
from altaviz.errors import ConfigError
from altaviz.schemas import SENSOR_COLUMNS

PROFILE_FILE = "fleet.yaml"
EFFECT_KINDS = ("add", "scale")
EFFECT_SHAPES = ("linear", "power", "exponential", "oscillation")
DIRECTIONS = ("up", "down", "oscillation")


def _pair(value: tuple[float, float], what: str, *, low: float | None = None) -> None:
    if not value[0] <= value[1]:
        raise ConfigError(f"{what} must be [low, high] with low <= high (got {list(value)})")
    if low is not None and value[0] < low:
        raise ConfigError(f"{what} must not go below {low} (got {list(value)})")


def _fraction(value: float, what: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{what} must be between 0 and 1 (got {value})")


@dataclass(frozen=True)
class FleetSizing:
    """How a fleet of N units spreads over basins and stations."""

    units_per_basin: int
    units_per_station: int
    min_stations: int
    station_model_affinity: float
    install_years: tuple[int, int]

    def __post_init__(self) -> None:
        for name in ("units_per_basin", "units_per_station", "min_stations"):
            if getattr(self, name) < 1:
                raise ConfigError(f"fleet.{name} must be >= 1 (got {getattr(self, name)})")
        _fraction(self.station_model_affinity, "fleet.station_model_affinity")
        _pair(self.install_years, "fleet.install_years")


@dataclass(frozen=True)
class PlanSpec:
    """The failure planning horizon and the guaranteed share of failing units."""

    horizon: tuple[date, date]
    min_failing_fraction: float
    guaranteed_from_units: int
    critical_severity: float

    def __post_init__(self) -> None:
        if not self.horizon[0] < self.horizon[1]:
            raise ConfigError(f"plan.horizon must be [first day, last day] in order "
                              f"(got {list(self.horizon)})")
        if not 0.0 <= self.min_failing_fraction <= 0.5:
            raise ConfigError("plan.min_failing_fraction must be between 0 and 0.5 "
                              f"(got {self.min_failing_fraction})")
        _fraction(self.critical_severity, "plan.critical_severity")


@dataclass(frozen=True)
class BasinSpec:
    """One producing basin: its share of the fleet, where it is and its climate."""

    name: str
    code: str
    states: tuple[str, ...]
    region: str
    share: float
    center: tuple[float, float]
    spread: tuple[float, float]
    utc_offset_hours: float
    diurnal_swing_f: float
    seasonal_swing_f: float
    places: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0.0 < self.share <= 1.0:
            raise ConfigError(f"basin {self.name!r}: share must be in (0, 1] (got {self.share})")
        if not self.places:
            raise ConfigError(f"basin {self.name!r}: places must list at least one town")


@dataclass(frozen=True)
class SensorRanges:
    """A model's healthy operating band per sensor, as [low, high]."""

    vibration_mms: tuple[float, float]
    discharge_temp_f: tuple[float, float]
    suction_pressure_psi: tuple[float, float]
    discharge_pressure_psi: tuple[float, float]
    horsepower_consumption: tuple[float, float]
    gas_flow_mcf: tuple[float, float]

    def __post_init__(self) -> None:
        for sensor in SENSOR_COLUMNS:
            _pair(getattr(self, sensor), f"ranges.{sensor}", low=0.0)
        if self.suction_pressure_psi[1] >= self.discharge_pressure_psi[0]:
            raise ConfigError("ranges: suction pressure must stay below discharge pressure "
                              f"(got {list(self.suction_pressure_psi)} "
                              f"vs {list(self.discharge_pressure_psi)})")


@dataclass(frozen=True)
class ModelSpec:
    """One compressor model: its rating, fleet share and healthy ranges."""

    name: str
    manufacturer: str
    driver: str
    rated_hp: float
    share: float
    ranges: SensorRanges

    def __post_init__(self) -> None:
        if self.ranges.horsepower_consumption[1] > self.rated_hp:
            raise ConfigError(f"model {self.name!r}: horsepower range exceeds rated_hp {self.rated_hp}")
        if not 0.0 < self.share <= 1.0:
            raise ConfigError(f"model {self.name!r}: share must be in (0, 1] (got {self.share})")


@dataclass(frozen=True)
class EffectSpec:
    """How a failure moves one sensor as severity grows from 0 (onset) to 1 (failure)."""

    signal: str
    kind: str
    shape: str
    magnitude: float
    growth: float = 1.0
    period_minutes: float = 0.0
    spike_rate: float = 0.0
    spike_size: float = 0.0
    spike_after: float = 0.0

    def __post_init__(self) -> None:
        if self.signal not in SENSOR_COLUMNS:
            raise ConfigError(f"effect signal {self.signal!r} is not a sensor; "
                              f"expected one of {', '.join(SENSOR_COLUMNS)}")
        if self.kind not in EFFECT_KINDS:
            raise ConfigError(f"effect kind {self.kind!r}; expected one of {', '.join(EFFECT_KINDS)}")
        if self.shape not in EFFECT_SHAPES:
            raise ConfigError(f"effect shape {self.shape!r}; expected one of {', '.join(EFFECT_SHAPES)}")
        if self.shape == "oscillation" and self.period_minutes <= 0:
            raise ConfigError(f"oscillation effect on {self.signal} needs period_minutes > 0")
        _fraction(self.spike_rate, "effect spike_rate")
        _fraction(self.spike_after, "effect spike_after")


@dataclass(frozen=True)
class FailureModeSpec:
    """One failure mode: its monthly rate, how long it takes to fail and what it does to the sensors."""

    name: str
    primary_signal: str
    direction: str
    rate_per_month: float
    duration_days: tuple[float, float]
    downtime_days: tuple[float, float]
    effects: tuple[EffectSpec, ...]
    vent_scfm: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.primary_signal not in SENSOR_COLUMNS:
            raise ConfigError(f"failure mode {self.name!r}: primary_signal {self.primary_signal!r}; "
                              f"expected one of {', '.join(SENSOR_COLUMNS)}")
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"failure mode {self.name!r}: direction {self.direction!r}; "
                              f"expected one of {', '.join(DIRECTIONS)}")
        _fraction(self.rate_per_month, f"failure mode {self.name!r}: rate_per_month")
        # The failure plan needs positive lengths so severity (t - onset) / (failure - onset) is defined.
        _pair(self.duration_days, f"failure mode {self.name!r}: duration_days", low=0.5)
        _pair(self.downtime_days, f"failure mode {self.name!r}: downtime_days", low=0.0)
        if not self.effects:
            raise ConfigError(f"failure mode {self.name!r}: effects must list at least one effect")
        if self.vent_scfm is not None:
            _pair(self.vent_scfm, f"failure mode {self.name!r}: vent_scfm", low=0.0)


@dataclass(frozen=True)
class DirtSpec:
    """Rates of the data problems real telemetry has (and Silver exists to catch)."""

    dropout_rate: float
    outage_rate: float
    outage_slots: tuple[int, int]
    null_rate: float
    stuck_rate: float
    stuck_slots: tuple[int, int]
    duplicate_rate: float
    duplicate_delay_hours: tuple[int, int]
    late_rate: float
    late_hours: tuple[float, float]
    latency_seconds: float
    garbage_rate: float
    garbage_values: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("dropout_rate", "outage_rate", "null_rate", "stuck_rate", "duplicate_rate", "late_rate",
                     "garbage_rate"):
            _fraction(getattr(self, name), f"dirt.{name}")
        _pair(self.outage_slots, "dirt.outage_slots", low=1)
        _pair(self.stuck_slots, "dirt.stuck_slots", low=2)
        _pair(self.duplicate_delay_hours, "dirt.duplicate_delay_hours", low=1)
        _pair(self.late_hours, "dirt.late_hours", low=1)
        # Readings must land by the end of the next day: landing carries at most one day over.
        if self.late_hours[1] + self.duplicate_delay_hours[1] > 22:
            raise ConfigError("dirt.late_hours + dirt.duplicate_delay_hours must not exceed 22 hours "
                              "in total")
        if not 0.0 <= self.latency_seconds <= 120.0:
            raise ConfigError(f"dirt.latency_seconds must be between 0 and 120 (got {self.latency_seconds})")
        if not self.garbage_values:
            raise ConfigError("dirt.garbage_values must list at least one value")


@dataclass(frozen=True)
class NoiseSpec:
    """How noisy healthy sensors are: every signal's reading-to-reading spread times `scale` (1: as calibrated)."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.scale <= 10.0:
            raise ConfigError(f"noise.scale must be in (0, 10] (got {self.scale})")


@dataclass(frozen=True)
class FleetProfile:
    """Everything the simulator knows about the fleet it imitates (config/fleet.yaml)."""

    fleet: FleetSizing
    plan: PlanSpec
    basins: tuple[BasinSpec, ...]
    models: tuple[ModelSpec, ...]
    failure_modes: tuple[FailureModeSpec, ...]
    dirt: DirtSpec
    noise: NoiseSpec = field(default_factory=NoiseSpec)

    def __post_init__(self) -> None:
        sections = (("basins", self.basins), ("models", self.models), ("failure_modes", self.failure_modes))
        for what, items in sections:
            names = [item.name for item in items]
            if not names:
                raise ConfigError(f"{what} must list at least one entry")
            if len(set(names)) != len(names):
                raise ConfigError(f"{what}: names must be unique (got {names})")


def load_profile(path: str | os.PathLike[str] | None = None) -> FleetProfile:
    """Load and validate the fleet profile.

    Args:
        path: A YAML file; default `config_file("fleet.yaml")`.

    Returns:
        The frozen profile.

    Raises:
        ConfigError: The file is missing, is not valid YAML, or has an unknown, missing or invalid key.
    """
    file = Path(path) if path is not None else config_file(PROFILE_FILE)
    try:
        # The C loader (when PyYAML has it) parses the profile ten times faster than the pure-Python one.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=loader)
    except OSError as exc:
        raise ConfigError(f"cannot read fleet profile {file}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: invalid YAML: {exc}") from exc
    try:
        return build_strict(FleetProfile, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
