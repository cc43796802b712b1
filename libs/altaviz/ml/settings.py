"""Typed settings of the ML layer (`config/ml.yaml`), loaded strictly once per run or command."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from altaviz.config import build_strict, config_file, load_yaml
from altaviz.errors import ConfigError

#: The signals the models read, each derived from the hourly Gold windows (see `altaviz.ml.features`).
SIGNALS = ("vibration", "temperature", "suction", "discharge", "efficiency", "oscillation")


@dataclass(frozen=True)
class SigmaFloor:
    vibration: float = 0.01
    temperature: float = 0.004
    suction: float = 0.004
    discharge: float = 0.003
    efficiency: float = 0.003
    oscillation: float = 0.05


@dataclass(frozen=True)
class FeatureSettings:
    baseline_days: int = 7
    gap_days: int = 1
    min_baseline_hours: int = 36
    provisional_min_hours: int = 18
    reset_after_silence_hours: int = 12
    min_readings_per_hour: int = 6
    short_hours: int = 6
    long_hours: int = 24
    sigma_floor: SigmaFloor = field(default_factory=SigmaFloor)

    def __post_init__(self) -> None:
        if self.baseline_days < 1 or self.gap_days < 0 or self.min_baseline_hours < 6:
            raise ConfigError("ml.yaml: features: baseline_days >= 1, gap_days >= 0, min_baseline_hours >= 6")
        if not 6 <= self.provisional_min_hours <= self.min_baseline_hours:
            raise ConfigError("ml.yaml: features: provisional_min_hours must be in [6, min_baseline_hours]")
        if not 1 <= self.short_hours < self.long_hours:
            raise ConfigError("ml.yaml: features: short_hours must be >= 1 and below long_hours")

    @property
    def lookback_days(self) -> int:
        """Whole days of hourly windows before a scored day that its features need."""
        return self.baseline_days + self.gap_days + 1


@dataclass(frozen=True)
class AnomalySettings:
    n_estimators: int = 200
    max_samples: int = 512
    flag_quantile: float = 0.999
    min_flag_score: float = 3.0
    top_sensors: int = 3
    min_contribution_z: float = 2.5

    def __post_init__(self) -> None:
        if not 0.5 < self.flag_quantile < 1:
            raise ConfigError(f"ml.yaml: anomaly: flag_quantile must be in (0.5, 1) (got {self.flag_quantile})")


@dataclass(frozen=True)
class DriftSettings:
    min_slope_f_per_hour: float = 0.05


@dataclass(frozen=True)
class RulSettings:
    low_quantile: float = 0.1
    high_quantile: float = 0.9
    max_iter: int = 300
    learning_rate: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.low_quantile < 0.5 < self.high_quantile < 1:
            raise ConfigError("ml.yaml: rul: need 0 < low_quantile < 0.5 < high_quantile < 1")


@dataclass(frozen=True)
class PackingSettings:
    vent_scfm_per_psi_lost: float = 0.034


@dataclass(frozen=True)
class PredictiveAlertSettings:
    sustain_hours: int = 3
    warning_rul_hours: float = 168.0
    critical_rul_hours: float = 48.0
    resolve_after_hours: int = 12

    def __post_init__(self) -> None:
        if self.sustain_hours < 1 or self.resolve_after_hours < 1 or self.critical_rul_hours > self.warning_rul_hours:
            raise ConfigError("ml.yaml: alerts: sustain/resolve hours >= 1 and critical_rul_hours <= warning_rul_hours")


@dataclass(frozen=True)
class ModelSettings:
    name: str = "altaviz-maintenance"
    experiment: str = "altaviz-maintenance"


@dataclass(frozen=True)
class FleetVariation:
    """How one training fleet departs from the fleet profile: failure durations and sensor noise scaled."""

    duration_scale: float = 1.0
    noise_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (0.1 <= self.duration_scale <= 10 and 0.1 <= self.noise_scale <= 10):
            raise ConfigError("ml.yaml: training: variations: duration_scale and noise_scale in [0.1, 10]")


@dataclass(frozen=True)
class TrainingSettings:
    seeds: tuple[int, ...] = (9101, 9102)
    compressors: int = 80
    days: int = 21
    variations: tuple[FleetVariation, ...] = (FleetVariation(),)

    def __post_init__(self) -> None:
        if not self.seeds or self.compressors < 10 or self.days < 10:
            raise ConfigError("ml.yaml: training: at least one seed, 10 compressors and 10 days")
        if not self.variations:
            raise ConfigError("ml.yaml: training: variations must list at least one entry")

    def variation(self, index: int) -> FleetVariation:
        """The variation of the `index`-th training fleet (the list is cycled)."""
        return self.variations[index % len(self.variations)]


@dataclass(frozen=True)
class MlSettings:
    features: FeatureSettings = field(default_factory=FeatureSettings)
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    rul: RulSettings = field(default_factory=RulSettings)
    packing: PackingSettings = field(default_factory=PackingSettings)
    alerts: PredictiveAlertSettings = field(default_factory=PredictiveAlertSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)


def load_ml_settings(path: Path | None = None) -> MlSettings:
    """Read `config/ml.yaml` (or `path`) strictly: an unknown key or a wrong type is a ConfigError naming it."""
    source = path or config_file("ml.yaml")
    return build_strict(MlSettings, load_yaml(source), source.name)
