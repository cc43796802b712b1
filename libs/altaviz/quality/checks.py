"""The Silver quality checks: each a registered function returning an aggregate Column or a number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from altaviz.errors import ConfigError
from altaviz.quality.registry import Aggregate, NoParams, QualityInputs, Skipped, register_check
from altaviz.schemas import SENSOR_COLUMNS

_MICROS_PER_MINUTE = 60_000_000.0


@dataclass(frozen=True)
class SensorCompletenessParams:
    """Which sensors `sensor_completeness` measures (default: all six)."""

    sensors: tuple[str, ...] = SENSOR_COLUMNS

    def __post_init__(self) -> None:
        unknown = [s for s in self.sensors if s not in SENSOR_COLUMNS]
        if unknown:
            raise ConfigError(f"sensors: unknown sensor {unknown[0]!r}; allowed sensors: "
                              f"{', '.join(SENSOR_COLUMNS)}")
        if not self.sensors or len(set(self.sensors)) != len(self.sensors):
            raise ConfigError(f"sensors must list distinct sensors (got {list(self.sensors)!r})")


@dataclass(frozen=True)
class VolumeParams:
    """How many of the most recent trailing runs `volume_consistency` averages."""

    trailing_runs: int = 7

    def __post_init__(self) -> None:
        if self.trailing_runs < 1:
            raise ConfigError(f"trailing_runs must be >= 1 (got {self.trailing_runs})")


@dataclass(frozen=True)
class LookbackParams:
    """How far before `as_of` (in event time) a fleet check looks at the stored readings."""

    lookback_minutes: int = 60

    def __post_init__(self) -> None:
        if isinstance(self.lookback_minutes, bool) or not isinstance(self.lookback_minutes, int) \
                or self.lookback_minutes < 1:
            raise ConfigError(f"lookback_minutes must be a whole number of minutes >= 1 "
                              f"(got {self.lookback_minutes!r})")


def _recent(inputs: QualityInputs, start: datetime, end: datetime) -> DataFrame:
    """Stored clean readings with `start < timestamp <= end` (pruned by `date` where the frame has it)."""
    stored = inputs.stored
    if "date" in stored.columns:
        stored = stored.where(F.col("date").between(F.lit(start.date()), F.lit(end.date())))
    return stored.where((F.col("timestamp") > F.lit(start)) & (F.col("timestamp") <= F.lit(end)))


def _utc(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


@register_check("fleet_completeness", comparison=">=", params=LookbackParams,
                when_null="expected_units is 0: no fleet to measure completeness against")
def fleet_completeness(inputs: QualityInputs, params: LookbackParams) -> Aggregate | None:
    """Share of the expected units with a stored clean reading in the `lookback_minutes` before `as_of`.

    Judged in event time over the fleet (every run's stored readings), so a partial file, a backfill or a
    late batch does not move it: only units going silent do.
    """
    if inputs.expected_units == 0:
        return None
    start = inputs.as_of - timedelta(minutes=params.lookback_minutes)
    # size(collect_set) rather than count_distinct: a distinct aggregate makes Spark add a shuffle for the
    # whole agg; a set of a few thousand unit ids per partition is cheap and keeps the metric in one pass.
    units = F.size(F.collect_set("compressor_id"))
    note = F.format_string(f"%d of {inputs.expected_units:,} units in service sent a clean reading between "
                           f"{_utc(start)} and {_utc(inputs.as_of)}", units)
    return Aggregate(units / F.lit(float(inputs.expected_units)), note, _recent(inputs, start, inputs.as_of))


@register_check("freshness", comparison="<=", params=LookbackParams,
                when_null="no stored clean reading in the lookback before as_of")
def freshness(inputs: QualityInputs, params: LookbackParams) -> Aggregate:
    """Minutes from the fleet's newest stored clean reading at or before `as_of` (within the lookback) to it."""
    start = inputs.as_of - timedelta(minutes=params.lookback_minutes)
    newest = F.max("timestamp")
    lag_micros = F.unix_micros(F.lit(inputs.as_of)) - F.unix_micros(newest)
    frame = _recent(inputs, start, inputs.as_of)
    note = F.concat(F.lit("newest stored clean reading at "), F.date_format(newest, "yyyy-MM-dd HH:mm"),
                    F.lit(f" UTC, as of {_utc(inputs.as_of)}"))
    return Aggregate(lag_micros / F.lit(_MICROS_PER_MINUTE), note, frame)


@register_check("sensor_completeness", comparison=">=", params=SensorCompletenessParams,
                when_null="no clean rows to measure sensor completeness on")
def sensor_completeness(inputs: QualityInputs, params: SensorCompletenessParams) -> dict[str, Column]:
    """Per sensor, the share of clean rows whose value is not null (one result per sensor)."""
    rows = F.count(F.lit(1))
    return {sensor: F.try_divide(F.count(sensor), rows) for sensor in params.sensors}


@register_check("volume_consistency", comparison="abs_dev<=", params=VolumeParams,
                when_null="trailing runs average 0 clean rows: the volume ratio is undefined")
def volume_consistency(inputs: QualityInputs, params: VolumeParams) -> float | Skipped | None:
    """This run's clean row count over the average clean count of the most recent trailing runs."""
    history = inputs.trailing_clean_counts[-params.trailing_runs:]
    if not history:
        return Skipped("no trailing runs to compare this run's volume with")
    average = sum(history) / len(history)
    return None if average == 0 else inputs.clean_rows / average


@register_check("pressure_consistency", comparison=">=",
                when_null="no clean rows with both suction and discharge pressure")
def pressure_consistency(inputs: QualityInputs, params: NoParams) -> Column:
    """Share of clean rows with both pressures where discharge pressure exceeds suction pressure."""
    suction, discharge = F.col("suction_pressure_psi"), F.col("discharge_pressure_psi")
    both = suction.isNotNull() & discharge.isNotNull()
    return F.try_divide(F.count(F.when(both & (discharge > suction), 1)), F.count(F.when(both, 1)))


@register_check("reject_rate", comparison="<=")
def reject_rate(inputs: QualityInputs, params: NoParams) -> float:
    """Rejected rows over raw rows in the run's window (0 when nothing was read)."""
    return 0.0 if inputs.raw_rows == 0 else inputs.rejected_rows / inputs.raw_rows
