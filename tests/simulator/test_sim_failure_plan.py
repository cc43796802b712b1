"""Failure plan and labels: rates, the guaranteed share of failing units, consistency and determinism."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow.compute as pc
import pytest

from altaviz.simulator import build_fleet, build_plan, failing_units, labels_table
from altaviz.simulator.failures import DAYS_PER_MONTH, US_PER_DAY, day_us


@pytest.fixture(scope="module")
def production(profile):
    """The 4,700-unit fleet and its plan."""
    fleet = build_fleet(4700, 42, profile)
    return fleet, build_plan(fleet)


def _instants(count: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    first, last = day_us(date(2016, 1, 1)), day_us(date(2040, 6, 1))
    return [int(t) for t in rng.integers(first, last, count)]


@pytest.mark.parametrize(("units", "seed"), [(10, 1), (33, 2), (200, 42), (1000, 3)],
                         ids=["10-units", "33-units", "200-units", "1000-units"])
def test_demo_fleets_always_have_failing_units(profile, units, seed):
    """At any instant at least max(1, 3%) of a fleet of 10+ units is degrading."""
    plan = build_plan(build_fleet(units, seed, profile))
    need = max(1, int(np.ceil(0.03 * units)))
    for t in _instants(200, seed):
        degrading = (plan.onset_us <= t) & (t < plan.failure_us)
        assert len(np.unique(plan.unit[degrading])) >= need


def test_fleet_wide_degrading_and_critical_shares(production):
    """Across the fleet about 5% of units are degrading and about 1% critical at a time."""
    _, plan = production
    everything = np.arange(len(plan))
    degrading, critical = [], []
    for t in _instants(40, 9):
        active = (plan.onset_us <= t) & (t < plan.failure_us)
        degrading.append(active.sum() / 4700)
        critical.append((active & (plan.severity(everything, t) >= 0.8)).sum() / 4700)
    assert 0.035 < np.mean(degrading) < 0.065
    assert 0.005 < np.mean(critical) < 0.015


def test_failure_rates_follow_the_profile(production, profile):
    """Each mode fails at about its configured monthly rate."""
    _, plan = production
    months = (day_us(profile.plan.horizon[1]) - day_us(profile.plan.horizon[0])) / US_PER_DAY / DAYS_PER_MONTH
    for m, mode in enumerate(profile.failure_modes):
        rate = (plan.mode == m).sum() / 4700 / months
        assert rate == pytest.approx(mode.rate_per_month, rel=0.12), mode.name


def test_episodes_never_overlap_on_a_unit(production):
    """A unit has one failure at a time: the next onset comes after the previous repair."""
    _, plan = production
    order = np.lexsort((plan.onset_us, plan.unit))
    unit, onset, repaired = plan.unit[order], plan.onset_us[order], plan.repaired_us[order]
    same_unit = unit[1:] == unit[:-1]
    assert not (same_unit & (onset[1:] < repaired[:-1])).any()


def test_plan_is_deterministic(demo_fleet, demo_plan):
    """Planning the same fleet twice gives the same episodes."""
    again = build_plan(demo_fleet)
    for name in ("unit", "mode", "onset_us", "failure_us", "repaired_us", "intensity", "phase"):
        assert np.array_equal(getattr(demo_plan, name), getattr(again, name)), name


def test_labels_are_consistent(demo_fleet, demo_plan):
    """Labels cover the window's episodes, in order onset < critical < failure < repaired, states matching."""
    start = day_us(date(2025, 6, 1))
    end = start + 7 * US_PER_DAY
    labels = labels_table(demo_fleet, demo_plan, start, end)
    assert labels.num_rows == len(demo_plan.overlapping(start, end)) > 0
    onset, critical, failure, repaired = (labels[c].cast("int64").to_numpy() for c in
                                          ("onset_time", "critical_time", "failure_time", "repaired_time"))
    assert (onset < critical).all() and (critical < failure).all() and (failure < repaired).all()
    assert (onset < end).all() and (repaired > start).all()
    assert str(labels.schema.field("onset_time").type) == "timestamp[us, tz=UTC]"
    state = np.array(labels["state_at_window_end"].to_pylist())
    severity = labels["severity_at_window_end"].to_numpy()
    assert (severity[state == "critical"] >= 0.8).all() and (severity[state == "degrading"] < 0.8).all()
    assert (state[failure <= end] != "degrading").all()
    assert labels["failed_in_window"].to_numpy(zero_copy_only=False).tolist() == ((failure >= start)
                                                                                  & (failure < end)).tolist()


def test_only_rod_packing_labels_carry_vent_rates(demo_fleet, demo_plan):
    """Packing vent rates appear on rod packing leak labels only, rising with severity."""
    start = day_us(date(2025, 1, 1))
    labels = labels_table(demo_fleet, demo_plan, start, start + 365 * US_PER_DAY)
    is_packing = pc.equal(labels["failure_mode"], "rod_packing_leak")
    vent = labels["vent_scfm_at_window_end"]
    assert pc.all(pc.is_null(pc.filter(vent, pc.invert(is_packing)))).as_py()
    assert pc.filter(vent, is_packing).null_count == 0


def test_failing_units_counts_distinct_units(demo_plan):
    """failing_units lists each unit with an episode overlapping the window once."""
    start = day_us(date(2025, 6, 1))
    units = failing_units(demo_plan, start, start + 2 * US_PER_DAY)
    assert len(units) == len(set(units.tolist())) >= 6


def test_episodes_straddling_the_window_are_labelled(demo_fleet, demo_plan):
    """An episode that began before the window and fails inside it is in the window's labels."""
    start = day_us(date(2025, 6, 1))
    end = start + US_PER_DAY
    straddling = np.flatnonzero((demo_plan.onset_us < start) & (demo_plan.repaired_us > start))
    labels = labels_table(demo_fleet, demo_plan, start, end)
    assert set(straddling.tolist()) <= set(labels["episode_id"].to_pylist())
