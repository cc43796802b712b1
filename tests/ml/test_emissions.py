"""The daily emissions estimate: Subpart W factor share by operating hours, packing excess, OOOOb flag, config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from altaviz.config import config_file
from altaviz.errors import ConfigError
from altaviz.ml.emissions import EmissionFactors, daily_emissions, emissions_daily_schema, load_emission_factors

DAY = datetime(2025, 3, 1, tzinfo=UTC)
COMPUTED_AT = datetime(2025, 3, 3, 6, 30, tzinfo=UTC)
HOURLY_DDL = ("compressor_id string, hour timestamp, model string, station_id string, basin string, "
              "operating_minutes double, packing_vent_scfm double")


@pytest.fixture(scope="module")
def factors() -> EmissionFactors:
    """The repo's config/emissions.yaml."""
    return load_emission_factors()


def _hours(day: datetime, minutes: float, vent: float | None, *, unit: str = "C-001",
           model: str = "Ariel JGK/4", count: int = 24) -> list[tuple]:
    return [(unit, day + timedelta(hours=h), model, "ST-01", "Permian", minutes, vent) for h in range(count)]


def _estimate(spark, rows: list[tuple], factors: EmissionFactors):
    hourly = spark.createDataFrame(rows, HOURLY_DDL)
    return daily_emissions(hourly, factors, computed_at=COMPUTED_AT)


def _one(spark, rows: list[tuple], factors: EmissionFactors):
    (row,) = _estimate(spark, rows, factors).collect()
    return row


def _factor_share_kg(f: EmissionFactors, hours: float) -> tuple[float, float]:
    """CH4 and CO2 kg of the per-compressor factor for `hours` of operation, by hand from the config."""
    ch4 = (f.subpart_w.ch4_scf_per_year * hours / 8760 * f.gas.site_ch4_fraction / f.gas.reference_ch4_fraction
           * f.densities.ch4_kg_per_scf)
    co2 = (f.subpart_w.co2_scf_per_year * hours / 8760 * f.gas.site_co2_fraction / f.gas.reference_co2_fraction
           * f.densities.co2_kg_per_scf)
    return ch4, co2


@pytest.mark.parametrize("vent", [None, 0.41, 0.2], ids=["no-estimate", "at-baseline", "below-baseline"])
def test_a_day_at_or_below_the_baseline_vent_is_exactly_the_factor_share(spark, factors, vent):
    """24 operating hours with no excess packing vent give one day's factor share and nothing more."""
    row = _one(spark, _hours(DAY, 60.0, vent), factors)
    ch4, co2 = _factor_share_kg(factors, 24.0)
    assert row.operating_hours == pytest.approx(24.0)
    assert row.ch4_kg == pytest.approx(ch4) and row.ch4_factor_kg == pytest.approx(ch4)
    assert row.ch4_packing_excess_kg == pytest.approx(0.0)
    assert row.co2_kg == pytest.approx(co2)
    assert row.co2e_kg == pytest.approx(co2 + 28.0 * ch4)
    assert ch4 == pytest.approx(2.13e5 / 365 * 0.0192)


@pytest.mark.parametrize("rows", [
    _hours(DAY, 60.0, None, count=12) + _hours(DAY + timedelta(hours=12), 0.0, None, count=12),
    _hours(DAY, 30.0, None),
], ids=["12-full-hours", "24-half-hours"])
def test_twelve_operating_hours_give_half_the_day(spark, factors, rows):
    """Half a day in operating mode, however it is spread, is half the factor share."""
    row = _one(spark, rows, factors)
    ch4, co2 = _factor_share_kg(factors, 24.0)
    assert row.operating_hours == pytest.approx(12.0)
    assert row.ch4_kg == pytest.approx(ch4 / 2) and row.co2_kg == pytest.approx(co2 / 2)


def test_a_rising_packing_vent_raises_ch4_and_co2e(spark, factors):
    """Vent above the baseline adds its whole gas by operating minutes: more CH4, CO2 and CO2e day by day."""
    rows = [r for day, vent in enumerate([0.41, 1.5, 3.0])
            for r in _hours(DAY + timedelta(days=day), 60.0, vent)]
    days = _estimate(spark, rows, factors).orderBy("date").collect()
    assert [d.ch4_kg for d in days] == sorted(d.ch4_kg for d in days) and days[0].ch4_kg < days[2].ch4_kg
    assert days[0].co2e_kg < days[1].co2e_kg < days[2].co2e_kg
    excess_scf = (3.0 - 0.41) * 60 * 24
    assert days[2].ch4_packing_excess_kg == pytest.approx(excess_scf * 0.98 * 0.0192)
    _, co2 = _factor_share_kg(factors, 24.0)
    assert days[2].co2_kg == pytest.approx(co2 + excess_scf * 0.02 * 0.0526)
    assert days[2].packing_vent_scfm == pytest.approx(3.0)


@pytest.mark.parametrize(("model", "vent", "cylinders", "flagged"), [
    ("Ariel JGT/2", 4.5, 2, True),
    ("Ariel JGK/4", 4.5, 4, False),
    ("Ariel JGK/4", 8.5, 4, True),
    ("Gardner Denver", 3.9, 2, False),
    ("an unlisted model", 8.5, 4, True),
], ids=["2-cyl-flags-at-4.5", "4-cyl-not-at-4.5", "4-cyl-flags-at-8.5", "2-cyl-not-at-3.9", "default-4-cyl"])
def test_the_ooob_flag_is_the_days_highest_vent_per_cylinder_above_2_scfm(spark, factors, model, vent, cylinders,
                                                                         flagged):
    """A 2-cylinder unit is flagged at a lower unit vent than a 4-cylinder one; one leaking hour is enough."""
    rows = _hours(DAY, 60.0, None, model=model, count=23) + _hours(DAY + timedelta(hours=23), 60.0, vent,
                                                                    model=model, count=1)
    row = _one(spark, rows, factors)
    assert row.cylinders == cylinders
    assert row.packing_vent_scfm == pytest.approx(vent)
    assert row.packing_vent_scfm_per_cylinder == pytest.approx(vent / cylinders)
    assert row.packing_exceeds_ooob is flagged


def _config_text() -> str:
    return config_file("emissions.yaml").read_text(encoding="utf-8")


def test_the_gwp_from_config_changes_co2e(spark, factors, tmp_path):
    """An AR4 GWP of 25 in the YAML lowers CO2e by 3 x CH4 and leaves the masses alone."""
    text = _config_text()
    assert "  ch4: 28.0\n" in text
    path = tmp_path / "emissions.yaml"
    path.write_text(text.replace("  ch4: 28.0\n", "  ch4: 25.0\n"), encoding="utf-8")
    ar4 = load_emission_factors(path)
    rows = _hours(DAY, 60.0, 2.0)
    ar5_row, ar4_row = _one(spark, rows, factors), _one(spark, rows, ar4)
    assert ar4.gwp.ch4 == 25.0 and ar4_row.gwp_ch4 == 25.0 and ar5_row.gwp_ch4 == 28.0
    assert ar4_row.ch4_kg == pytest.approx(ar5_row.ch4_kg)
    assert ar4_row.co2e_kg == pytest.approx(ar4_row.co2_kg + 25.0 * ar4_row.ch4_kg)
    assert ar5_row.co2e_kg - ar4_row.co2e_kg == pytest.approx(3.0 * ar5_row.ch4_kg)


@pytest.mark.parametrize(("old", "new", "named"), [
    ("  default_cylinders: 4\n", "  default_cylinders: 4\n  leak_factor: 1.5\n", "packing.leak_factor"),
    ("gwp:\n", "region: Permian\ngwp:\n", "region"),
    ("  site_ch4_fraction: 0.98\n", "  site_ch4_fraction: 1.2\n", "site_ch4_fraction"),
    ("  ch4: 28.0\n", "  ch4: 0\n", "ch4"),
    ("  ch4_kg_per_scf: 0.0192\n", "  ch4_kg_per_scf: heavy\n", "densities.ch4_kg_per_scf"),
    ("    Ariel JGT/2: 2\n", "    Ariel JGT/2: two\n", "packing.cylinders_by_model.Ariel JGT/2"),
    ("  hours_per_year: 8760.0\n", "", "subpart_w.hours_per_year"),
], ids=["unknown-key", "unknown-section", "fraction-above-1", "zero-gwp", "text-density", "text-cylinders",
        "missing-key"])
def test_a_bad_emissions_yaml_is_a_config_error_naming_the_key(tmp_path, old, new, named):
    """Unknown, missing and mistyped keys and out-of-range values are refused with the key in the message."""
    text = _config_text()
    assert old in text
    path = tmp_path / "emissions.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError, match="emissions.yaml") as raised:
        load_emission_factors(path)
    assert named in str(raised.value)


def test_the_output_conforms_to_the_schema_with_utc_timestamps(spark, factors):
    """Columns, order, types and nullability are emissions_daily_schema(); computed_at is a UTC TIMESTAMP."""
    result = _estimate(spark, _hours(DAY, 60.0, None), factors)
    assert result.schema == emissions_daily_schema()
    assert "timestamp_ntz" not in result.schema.simpleString()
    assert result.schema["computed_at"].dataType.typeName() == "timestamp"
    (row,) = result.collect()
    assert row.computed_at == COMPUTED_AT.replace(tzinfo=None)
    assert row.date == DAY.date() and (row.model, row.station_id, row.basin) == ("Ariel JGK/4", "ST-01", "Permian")


def test_two_days_and_two_units_give_one_row_per_unit_and_day(spark, factors):
    """Hours are grouped by compressor and UTC date of the hour."""
    rows = [r for unit in ("C-001", "C-002") for day in (0, 1)
            for r in _hours(DAY + timedelta(days=day), 60.0, None, unit=unit)]
    result = _estimate(spark, rows, factors)
    keys = sorted((r.compressor_id, r.date) for r in result.collect())
    assert keys == [(u, (DAY + timedelta(days=d)).date()) for u in ("C-001", "C-002") for d in (0, 1)]


def test_a_naive_computed_at_is_refused(spark, factors):
    """computed_at without a time zone would be read in the session's zone: refused."""
    hourly = spark.createDataFrame(_hours(DAY, 60.0, None), HOURLY_DDL)
    with pytest.raises(ValueError, match="timezone-aware"):
        daily_emissions(hourly, factors, computed_at=datetime(2025, 3, 3, 6, 30))


def test_hours_without_a_compressor_or_an_hour_are_left_out(spark, factors):
    """A row that cannot be attributed to a unit-day adds nothing to any day."""
    stray = [(None, DAY, "Ariel JGK/4", "ST-01", "Permian", 60.0, 9.0),
             ("C-001", None, "Ariel JGK/4", "ST-01", "Permian", 60.0, 9.0)]
    row = _one(spark, _hours(DAY, 60.0, None) + stray, factors)
    assert row.compressor_id == "C-001" and row.operating_hours == pytest.approx(24.0)
    assert row.packing_exceeds_ooob is False
