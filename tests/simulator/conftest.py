"""Simulator fixtures: a demo fleet with its plan and one day of readings, and one simulated lakehouse."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from altaviz.lakehouse.paths import LocalLakehousePaths
from altaviz.simulator import build_fleet, build_plan, generate_day, load_profile, simulate

DEMO_UNITS = 200
DEMO_SEED = 42
DEMO_START = date(2025, 6, 1)
DEMO_DAYS = 2


@pytest.fixture(scope="session")
def profile():
    """The repository's fleet profile."""
    return load_profile()


@pytest.fixture(scope="session")
def demo_fleet(profile):
    """A 200-unit demo fleet (seed 42)."""
    return build_fleet(DEMO_UNITS, DEMO_SEED, profile)


@pytest.fixture(scope="session")
def demo_plan(demo_fleet):
    """The demo fleet's failure plan."""
    return build_plan(demo_fleet)


@pytest.fixture(scope="session")
def demo_day(demo_fleet, demo_plan):
    """One generated day of the demo fleet, with arrival times."""
    return generate_day(demo_fleet, demo_plan, DEMO_START, DEMO_SEED)


@pytest.fixture(scope="session")
def simulated(tmp_path_factory):
    """A lakehouse root holding a 200-unit, 2-day simulation, and its report."""
    root = tmp_path_factory.mktemp("simulated")
    report = simulate(LocalLakehousePaths(root), compressors=DEMO_UNITS, days=DEMO_DAYS, start=DEMO_START,
                      seed=DEMO_SEED)
    return root, report


@pytest.fixture(scope="session")
def landed(simulated) -> pa.Table:
    """Every row of the simulated landing files, plus a `file` column naming each row's file."""
    _, report = simulated
    tables = []
    for path in report.files:
        table = pq.read_table(path)
        tables.append(table.append_column("file", pa.array([Path(path).name] * table.num_rows)))
    return pa.concat_tables(tables)
