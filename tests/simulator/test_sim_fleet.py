"""Fleet layout: sizes, basins and stations at demo and production scale, models and reference tables."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from altaviz.errors import UsageError
from altaviz.simulator import basins_table, build_fleet, compressors_table, stations_table
from altaviz.simulator.fleet import apportion


@pytest.fixture(scope="module")
def production_fleet(profile):
    """The production-size fleet of 4,700 units."""
    return build_fleet(4700, 42, profile)


@pytest.mark.parametrize("units", [1, 10, 200, 299, 1000, 4700], ids=lambda n: f"{n}-units")
def test_every_unit_gets_an_id_station_and_model(profile, units):
    """Any fleet size gives that many units with unique CMP ids, each at a station of its basin."""
    fleet = build_fleet(units, 7, profile)
    ids = fleet.compressor_ids.to_pylist()
    assert len(ids) == units == len(set(ids))
    assert ids[0] == "CMP-00001" and ids[-1] == f"CMP-{units:05d}"
    assert (fleet.station_basin[fleet.station] == fleet.basin).all()
    assert np.bincount(fleet.station).min() >= 1, "every station runs at least one unit"


@pytest.mark.parametrize("units", [10, 200, 299], ids=lambda n: f"{n}-units")
def test_demo_fleets_are_one_permian_basin_with_a_few_stations(profile, units):
    """Demo fleets (under 300 units) sit in the Permian at a handful of stations."""
    fleet = build_fleet(units, 7, profile)
    assert [profile.basins[b].name for b in fleet.basins_used] == ["Permian"]
    assert 4 <= len(fleet.station_ids) <= 15


def test_production_fleet_spans_ten_basins_and_200_stations(production_fleet):
    """At 4,700 units the fleet covers all ten basins and 200+ stations, the Permian largest."""
    basins = basins_table(production_fleet)
    assert basins.num_rows == 10
    assert len(production_fleet.station_ids) >= 200
    counts = dict(zip(basins["basin"].to_pylist(), basins["compressor_count"].to_pylist(), strict=True))
    assert max(counts, key=counts.get) == "Permian"
    assert sum(counts.values()) == 4700
    assert sum(basins["station_count"].to_pylist()) == len(production_fleet.station_ids)


def test_production_fleet_runs_all_seven_models_in_proportion(production_fleet, profile):
    """All seven models appear, roughly in their configured shares."""
    shares = np.bincount(production_fleet.model, minlength=7) / production_fleet.size
    expected = np.array([m.share for m in profile.models])
    assert (shares > 0).all()
    assert np.abs(shares - expected / expected.sum()).max() < 0.05


def test_fleet_is_deterministic(profile):
    """The same (size, seed) gives the same fleet; another seed gives another."""
    a, b, c = build_fleet(300, 5, profile), build_fleet(300, 5, profile), build_fleet(300, 6, profile)
    assert compressors_table(a).equals(compressors_table(b))
    assert stations_table(a).equals(stations_table(b))
    assert not compressors_table(a).equals(compressors_table(c))


def test_reference_tables_describe_the_fleet(demo_fleet):
    """compressors, stations and basins tables agree with each other and carry locations."""
    compressors, stations = compressors_table(demo_fleet), stations_table(demo_fleet)
    basins = basins_table(demo_fleet)
    assert compressors.column_names == ["compressor_id", "model", "manufacturer", "driver", "rated_hp",
                                        "station_id", "basin", "install_date", "latitude", "longitude"]
    assert str(compressors.schema.field("install_date").type) == "date32[day]"
    assert set(compressors["station_id"].to_pylist()) == set(stations["station_id"].to_pylist())
    assert sum(stations["compressor_count"].to_pylist()) == compressors.num_rows
    assert basins["compressor_count"].to_pylist() == [compressors.num_rows]
    lat = compressors["latitude"]
    assert pc.min(lat).as_py() > 25 and pc.max(lat).as_py() < 50, "units sit in the continental US"


def test_apportion_keeps_total_and_minimum():
    """Largest-remainder split sums to the total and honours the minimum part."""
    parts = apportion(17, np.array([0.7, 0.2, 0.1, 0.0]), minimum=1)
    assert parts.sum() == 17 and parts.min() >= 1
    assert parts.tolist() == [10, 4, 2, 1]


@pytest.mark.parametrize(("units", "seed"), [(0, 1), (5, -1)], ids=["no-units", "negative-seed"])
def test_bad_sizes_are_usage_errors(profile, units, seed):
    """A fleet needs at least one unit and a non-negative seed."""
    with pytest.raises(UsageError):
        build_fleet(units, seed, profile)
