"""Daily CH4, CO2 and CO2e estimate per compressor: the Subpart W per-compressor factor plus rod-packing excess."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, get_origin

from altaviz.config import FieldPolicy, build_strict, config_file, load_yaml
from altaviz.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructField, StructType

MINUTES_PER_HOUR = 60.0


def _require_positive(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ConfigError(f"{name} must be > 0 (got {value})")


def _require_fraction(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must be a mole fraction in [0, 1] (got {value})")


@dataclass(frozen=True)
class SubpartWFactors:
    """Per-compressor factors for gathering & boosting reciprocating compressors (40 CFR 98.233(p))."""

    citation: str
    ch4_scf_per_year: float
    co2_scf_per_year: float
    hours_per_year: float

    def __post_init__(self) -> None:
        _require_positive(self, ("ch4_scf_per_year", "co2_scf_per_year", "hours_per_year"))


@dataclass(frozen=True)
class GasComposition:
    """Mole fractions of the factors' reference gas and of the site's gas."""

    citation: str
    reference_ch4_fraction: float
    reference_co2_fraction: float
    site_ch4_fraction: float
    site_co2_fraction: float

    def __post_init__(self) -> None:
        _require_fraction(self, ("reference_ch4_fraction", "reference_co2_fraction",
                                 "site_ch4_fraction", "site_co2_fraction"))
        _require_positive(self, ("reference_ch4_fraction", "reference_co2_fraction"))
        for which in ("reference", "site"):
            total = getattr(self, f"{which}_ch4_fraction") + getattr(self, f"{which}_co2_fraction")
            if total > 1.0:
                raise ConfigError(f"{which}_ch4_fraction + {which}_co2_fraction must be <= 1 (got {total:g})")


@dataclass(frozen=True)
class GasDensities:
    """kg per standard cubic foot at 60 °F, 14.7 psia (40 CFR 98.233(v))."""

    citation: str
    ch4_kg_per_scf: float
    co2_kg_per_scf: float

    def __post_init__(self) -> None:
        _require_positive(self, ("ch4_kg_per_scf", "co2_kg_per_scf"))


@dataclass(frozen=True)
class GlobalWarmingPotentials:
    """100-year GWP of methane (40 CFR 98 Table A-1)."""

    citation: str
    ch4: float

    def __post_init__(self) -> None:
        _require_positive(self, ("ch4",))


@dataclass(frozen=True)
class PackingModel:
    """The rod-packing vent the factor already covers, the OOOOb repair threshold and cylinders per model."""

    citation: str
    baseline_packing_vent_scfm: float
    ooob_threshold_scfm_per_cylinder: float
    cylinders_by_model: Mapping[str, int]
    default_cylinders: int

    def __post_init__(self) -> None:
        _require_positive(self, ("ooob_threshold_scfm_per_cylinder", "default_cylinders"))
        if self.baseline_packing_vent_scfm < 0:
            raise ConfigError(f"baseline_packing_vent_scfm must be >= 0 (got {self.baseline_packing_vent_scfm})")
        for model, cylinders in self.cylinders_by_model.items():
            if cylinders <= 0:
                raise ConfigError(f"cylinders_by_model.{model} must be > 0 (got {cylinders})")

    def cylinders(self, model: str | None) -> int:
        """Cylinders of a model: its entry in `cylinders_by_model`, else `default_cylinders`."""
        return self.cylinders_by_model.get(model or "", self.default_cylinders)


@dataclass(frozen=True)
class EmissionFactors:
    """Everything the daily emissions estimate reads from `config/emissions.yaml`."""

    subpart_w: SubpartWFactors
    gas: GasComposition
    densities: GasDensities
    gwp: GlobalWarmingPotentials
    packing: PackingModel


class _EmissionsPolicy(FieldPolicy):
    """The YAML policy, plus `Mapping[str, int]` fields (read-only), carried into nested dataclasses."""

    def convert(self, f: dataclasses.Field[Any], hint: Any, value: Any, key: str) -> Any:
        if dataclasses.is_dataclass(hint):
            return build_strict(hint, value, key, self)
        if get_origin(hint) is Mapping:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key} must be a mapping of model name to cylinders (got {value!r})")
            to_int = super().convert
            return MappingProxyType({str(name): to_int(f, int, n, f"{key}.{name}") for name, n in value.items()})
        return super().convert(f, hint, value, key)


def load_emission_factors(path: Path | None = None) -> EmissionFactors:
    """Load and validate the emission factors.

    Args:
        path: The YAML file; default `emissions.yaml` in the config folder.

    Returns:
        The frozen, validated factors.

    Raises:
        ConfigError: The file is missing or invalid: an unknown or missing key, a wrong type, a fraction outside
            [0, 1], or a factor, density, GWP or cylinder count that is not positive. The message names the file
            and the key.
    """
    file = path if path is not None else config_file("emissions.yaml")
    try:
        return build_strict(EmissionFactors, load_yaml(file), "", _EmissionsPolicy())
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def emissions_daily_schema() -> StructType:
    """Emissions per compressor and UTC day: masses in kg, vents in scfm of whole gas.

    `ch4_factor_kg` is the Subpart W per-compressor factor's share for the day's operating hours and
    `ch4_packing_excess_kg` what the packing vent added above the baseline the factor covers; `ch4_kg` is both.
    `packing_vent_scfm` is the day's highest hourly estimate for the unit.
    """
    from pyspark.sql.types import (
        BooleanType,
        DateType,
        DoubleType,
        IntegerType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType([
        StructField("compressor_id", StringType(), False),
        StructField("date", DateType(), False),
        StructField("model", StringType(), True),
        StructField("station_id", StringType(), True),
        StructField("basin", StringType(), True),
        StructField("operating_hours", DoubleType(), True),
        StructField("cylinders", IntegerType(), True),
        StructField("ch4_kg", DoubleType(), True),
        StructField("co2_kg", DoubleType(), True),
        StructField("co2e_kg", DoubleType(), True),
        StructField("ch4_factor_kg", DoubleType(), True),
        StructField("ch4_packing_excess_kg", DoubleType(), True),
        StructField("packing_vent_scfm", DoubleType(), True),
        StructField("packing_vent_scfm_per_cylinder", DoubleType(), True),
        StructField("packing_exceeds_ooob", BooleanType(), True),
        StructField("gwp_ch4", DoubleType(), True),
        StructField("computed_at", TimestampType(), True),
    ])


def _cylinders(model: Column, packing: PackingModel) -> Column:
    """A model's cylinders as a Column: a CASE over `cylinders_by_model`, else the default."""
    from pyspark.sql import functions as F

    cylinders = F.lit(packing.default_cylinders)
    for name, count in sorted(packing.cylinders_by_model.items()):
        cylinders = F.when(model == F.lit(name), F.lit(count)).otherwise(cylinders)
    return cylinders


def _as_field(value: Column, field: StructField) -> Column:
    """`value` cast and named as `field`, nullable when the field is (literals would otherwise be NOT NULL)."""
    from pyspark.sql import functions as F

    typed = value.cast(field.dataType)
    # A CASE without ELSE is nullable and, for a value that is never null, the identity.
    return (F.when(typed.isNotNull(), typed) if field.nullable else typed).alias(field.name)


def _daily_totals(hourly: DataFrame, packing: PackingModel) -> DataFrame:
    """Sum each compressor's UTC day: operating hours, excess packing whole-gas scf and the highest vent.

    Rows without a compressor or an hour cannot be attributed to a unit-day and are left out.
    """
    from pyspark.sql import functions as F

    # Minutes outside 0..60 cannot happen in one hour; an hour without a value counts as not operating.
    minutes = F.least(F.greatest(F.coalesce(F.col("operating_minutes").cast("double"), F.lit(0.0)), F.lit(0.0)),
                      F.lit(MINUTES_PER_HOUR))
    baseline = F.lit(packing.baseline_packing_vent_scfm)
    vent = F.coalesce(F.col("packing_vent_scfm").cast("double"), baseline)
    # The keys are never null once those rows are out; the coalesce only tells Spark so (they are NOT NULL).
    keys = (F.coalesce(F.col("compressor_id"), F.lit("")).alias("compressor_id"),
            F.coalesce(F.to_date(F.col("hour")), F.lit(date(1970, 1, 1))).alias("date"))
    return (hourly
            .where(F.col("compressor_id").isNotNull() & F.col("hour").isNotNull())
            .groupBy(*keys)
            .agg(F.max("model").alias("model"),
                 F.max("station_id").alias("station_id"),
                 F.max("basin").alias("basin"),
                 (F.sum(minutes) / MINUTES_PER_HOUR).alias("operating_hours"),
                 F.sum(F.greatest(vent - baseline, F.lit(0.0)) * minutes).alias("excess_scf"),
                 F.max(vent).alias("packing_vent_scfm")))


def daily_emissions(hourly: DataFrame, factors: EmissionFactors, *, computed_at: datetime) -> DataFrame:
    """Estimate CH4, CO2 and CO2e per compressor and UTC day from hourly operation and packing-vent estimates.

    The factor share is the per-compressor factor x operating hours / hours per year x site / reference mole
    fraction. Packing vent above the baseline the factor covers (whole gas, scfm x operating minutes) adds its
    CH4 and CO2 by the site mole fractions. An hour with a null vent estimate is taken at the baseline. A day is
    flagged under OOOOb when its highest hourly vent per cylinder is above the threshold.

    Args:
        hourly: One row per compressor and hour: `compressor_id`, `hour` (UTC start of the hour), `model`,
            `station_id`, `basin`, `operating_minutes` (0..60) and `packing_vent_scfm` (nullable, whole gas).
        factors: The emission factors (`load_emission_factors`).
        computed_at: When the estimate was computed (timezone-aware).

    Returns:
        One row per compressor and date, conforming to `emissions_daily_schema()`.

    Raises:
        ValueError: `computed_at` has no time zone.
    """
    if computed_at.tzinfo is None or computed_at.utcoffset() is None:
        raise ValueError(f"computed_at must be timezone-aware (got naive {computed_at.isoformat()})")
    from pyspark.sql import functions as F

    w, gas, rho, packing = factors.subpart_w, factors.gas, factors.densities, factors.packing
    hours = F.col("operating_hours")
    excess = F.col("excess_scf")
    ch4_factor_kg = (hours * (w.ch4_scf_per_year / w.hours_per_year)
                     * (gas.site_ch4_fraction / gas.reference_ch4_fraction) * rho.ch4_kg_per_scf)
    co2_factor_kg = (hours * (w.co2_scf_per_year / w.hours_per_year)
                     * (gas.site_co2_fraction / gas.reference_co2_fraction) * rho.co2_kg_per_scf)
    ch4_excess_kg = excess * (gas.site_ch4_fraction * rho.ch4_kg_per_scf)
    ch4_kg = ch4_factor_kg + ch4_excess_kg
    co2_kg = co2_factor_kg + excess * (gas.site_co2_fraction * rho.co2_kg_per_scf)
    cylinders = _cylinders(F.col("model"), packing)
    per_cylinder = F.col("packing_vent_scfm") / cylinders
    columns = {
        "compressor_id": F.col("compressor_id"),
        "date": F.col("date"),
        "model": F.col("model"),
        "station_id": F.col("station_id"),
        "basin": F.col("basin"),
        "operating_hours": hours,
        "cylinders": cylinders,
        "ch4_kg": ch4_kg,
        "co2_kg": co2_kg,
        "co2e_kg": co2_kg + F.lit(factors.gwp.ch4) * ch4_kg,
        "ch4_factor_kg": ch4_factor_kg,
        "ch4_packing_excess_kg": ch4_excess_kg,
        "packing_vent_scfm": F.col("packing_vent_scfm"),
        "packing_vent_scfm_per_cylinder": per_cylinder,
        "packing_exceeds_ooob": per_cylinder > F.lit(packing.ooob_threshold_scfm_per_cylinder),
        "gwp_ch4": F.lit(factors.gwp.ch4),
        "computed_at": F.lit(computed_at.astimezone(UTC)),
    }
    return _daily_totals(hourly, packing).select(
        *[_as_field(columns[f.name], f) for f in emissions_daily_schema().fields])
