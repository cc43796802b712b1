"""Silver's rejection rules as declared data: order, removal, and an outlier test that keeps genuine degradation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from altaviz.config import config_file, load_yaml
from altaviz.errors import ConfigError
from altaviz.quality import RowEnv, label, load_quality_config, parse_quality_config, split
from altaviz.schemas import SENSOR_COLUMNS
from altaviz.transforms.silver import with_reference

T0 = datetime(2026, 11, 20, tzinfo=UTC)
RULES = load_quality_config().rules
RULE_NAMES = [r.rule for r in RULES]
FIELDS = [("compressor_id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
          *[(s, pa.float64()) for s in SENSOR_COLUMNS], ("unparsed_values", pa.string()),
          ("ingested_at", pa.timestamp("us", tz="UTC")), ("source_file", pa.string()), ("source_offset", pa.int64()),
          ("event_id", pa.string())]
CLEAN_FIELDS = [("compressor_id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
                *[(s, pa.float64()) for s in SENSOR_COLUMNS]]


def _row(unit, at, value=10.0, **sensors):
    row = {"compressor_id": unit, "timestamp": at, **{s: value for s in SENSOR_COLUMNS}, "unparsed_values": None,
           "ingested_at": T0, "source_file": "f", "source_offset": 0, "event_id": f"{unit}-{at}-{value}-{sensors}"}
    row.update(sensors)
    return row


def _dims(spark, units=("U1", "U2", "U3"), installed=date(2020, 1, 1)):
    return spark.createDataFrame(pa.table({
        "compressor_id": list(units), "model": ["m"] * len(units), "station_id": ["S"] * len(units),
        "basin": ["B"] * len(units), "install_date": pa.array([installed] * len(units), pa.date32())}))


def _window(spark, rows, dims=None):
    frame = spark.createDataFrame(pa.Table.from_pylist(rows, pa.schema(FIELDS)))
    return frame.transform(with_reference(dims if dims is not None else _dims(spark)))


def _clean_frame(spark, rows):
    return spark.createDataFrame(pa.Table.from_pylist(
        [{k: r[k] for k, _ in CLEAN_FIELDS} for r in rows], pa.schema(CLEAN_FIELDS)))


def _env(spark, rows, *, as_of=T0 + timedelta(days=1), newest_seen=None, history=(), rejected=None):
    times = [r["timestamp"] for r in rows if r["timestamp"] is not None] or [as_of]
    stored = _clean_frame(spark, list(history)) if history else None

    def clean_between(start, end):
        return None if stored is None else stored.where(f"timestamp BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'")

    return RowEnv(spark, as_of, (min(times), max(times)), newest_seen=newest_seen, context=stored,
                  clean_between=clean_between, rejected_between=lambda start, end: rejected)


def _reasons(spark, rows, rules=RULES, **env):
    environment = _env(spark, rows, **env)
    try:
        return {r.event_id: (r.reject_reason, r.reject_detail)
                for r in label(_window(spark, rows), rules, environment).collect()}
    finally:
        environment.release()


def _steady(unit, start, steps, value=10.0, noise=0.05, seed=1):
    """`steps` readings every 5 minutes from `start`, all sensors near `value` (small, seeded noise)."""
    rng = np.random.default_rng(seed)
    return [_row(unit, start + timedelta(minutes=5 * k), **{s: value + float(rng.normal(0, noise))
                                                            for s in SENSOR_COLUMNS}) for k in range(steps)]


#: Per rule: readings the first of which breaks that rule before any other (a unit, U1, installed in 2020).
BREAKERS = {
    "null_required_field": [_row(None, T0)],
    "unparseable_value": [_row("U1", T0, unparsed_values='{"vibration_mms":"x"}', vibration_mms=None)],
    "unknown_compressor": [_row("U9", T0)],
    "future_timestamp": [_row("U1", T0 + timedelta(days=3))],
    "before_commissioning": [_row("U1", datetime(2019, 1, 1, tzinfo=UTC))],
    "late_beyond_lateness": [_row("U1", T0 - timedelta(days=30))],
    "impossible_value": [_row("U1", T0, -5.0)],
    # The sixth identical reading in a row is stuck.
    "stuck_sensor": [_row("U1", T0 + timedelta(minutes=5 * k), 7.5, event_id=f"s{5 - k}") for k in range(5, -1, -1)],
    # A unit reading steadily, then one isolated jump.
    "outlier_4sigma": [_row("U1", T0 + timedelta(minutes=300), 25.0, event_id="spike")] + _steady("U1", T0, 60),
}


def test_every_registered_rejection_rule_is_declared_in_the_yaml_in_order():
    assert RULE_NAMES == list(BREAKERS)


@pytest.mark.parametrize("rule", list(BREAKERS))
def test_each_declared_rule_rejects_its_reading_first_and_removing_it_from_the_yaml_stops_it(spark, rule):
    """With every rule declared, the first reading gets this rule's reason; with this rule's entry removed from
    quality.yaml, no reading is rejected for it."""
    rows = BREAKERS[rule]
    env = {"newest_seen": T0} if rule == "late_beyond_lateness" else {}
    first = rows[0]["event_id"]
    reason, detail = _reasons(spark, rows, **env)[first]
    assert reason == rule and detail
    data = load_yaml(config_file("quality.yaml"))
    data["rules"] = [entry for entry in data["rules"] if entry["rule"] != rule]
    without = parse_quality_config(data).rules
    assert rule not in [r.rule for r in without] and len(without) == len(RULES) - 1
    labelled = _reasons(spark, rows, rules=without, **env)
    assert rule not in {reason for reason, _ in labelled.values()}


def test_split_returns_the_valid_readings_and_the_rejected_ones_with_their_reasons(spark):
    rows = [_row("U1", T0), _row("U1", T0 + timedelta(minutes=5), -1.0), _row("U9", T0)]
    env = _env(spark, rows)
    valid, rejected = split(_window(spark, rows), RULES, env)
    assert [r.event_id for r in valid.collect()] == [rows[0]["event_id"]] and "reject_reason" not in valid.columns
    assert sorted((r.compressor_id, r.reject_reason) for r in rejected.collect()) == [
        ("U1", "impossible_value"), ("U9", "unknown_compressor")]
    env.release()


def test_rule_params_are_strict_and_a_rule_declared_twice_is_an_error():
    data = load_yaml(config_file("quality.yaml"))
    stuck = next(e for e in data["rules"] if e["rule"] == "stuck_sensor")
    with pytest.raises(ConfigError, match=r"unknown key rules\[7\]\.params\.length; allowed keys: readings"):
        parse_quality_config({**data, "rules": [*data["rules"][:7], {**stuck, "params": {"length": 3}}]})
    with pytest.raises(ConfigError, match="rule 'stuck_sensor' is declared twice"):
        parse_quality_config({**data, "rules": [*data["rules"], stuck]})
    with pytest.raises(ConfigError, match="rule 'nope' is not a registered rule; allowed rules: before_commissioning"):
        parse_quality_config({**data, "rules": [{"rule": "nope"}]})


def test_a_steady_drift_far_beyond_the_band_is_kept_while_a_spike_on_top_of_it_is_rejected(spark):
    """A day of steady readings (std 0.05), then two hours drifting up 0.1 a reading: 2.4 above the mean by
    the end, ~50 sigma. Each reading is close to the one before, so none is an outlier; a single jump of +5
    on top of the drift is, and the reading after it (back on the drift) is not."""
    history = _steady("U1", T0 - timedelta(days=1), 288)
    drift = [_row("U1", T0 + timedelta(minutes=5 * k), **{s: 10.0 + 0.1 * (k + 1) for s in SENSOR_COLUMNS})
             for k in range(24)]
    drift[12] = _row("U1", drift[12]["timestamp"], vibration_mms=10.0 + 0.1 * 13 + 5.0,
                     **{s: 10.0 + 0.1 * 13 for s in SENSOR_COLUMNS if s != "vibration_mms"})
    labelled = _reasons(spark, drift, history=history)
    rejected = {e: r for e, r in labelled.items() if r[0] is not None}
    assert rejected == {drift[12]["event_id"]: (
        "outlier_4sigma", "beyond 4 sigma of the unit's trailing mean and of its previous reading: vibration_mms")}


def _bearing_episode():
    """A simulated fleet's first bearing-wear episode of a week or more: (fleet, plan, index, unit id)."""
    from altaviz.simulator.failures import build_plan
    from altaviz.simulator.fleet import build_fleet

    fleet = build_fleet(30, seed=11)
    plan = build_plan(fleet)
    modes = [m.name for m in fleet.profile.failure_modes]
    index = next(i for i in range(len(plan)) if modes[plan.mode[i]] == "bearing_wear"
                 and plan.failure_us[i] - plan.onset_us[i] >= 7 * 86_400_000_000)
    return fleet, plan, index, fleet.compressor_ids[plan.unit[index]].as_py()


def _simulated(fleet, plan, units, start, end):
    """The simulator's readings of `units` in [start, end), one per (unit, time), as window rows."""
    from altaviz.simulator.telemetry import generate_day

    rows, seen = [], set()
    day = start.date()
    while day <= end.date():
        table = generate_day(fleet, plan, day)
        table = table.filter(pc.is_in(table["compressor_id"], pa.array(units)))
        for r in table.to_pylist():
            at = r["timestamp"].replace(tzinfo=UTC) if r["timestamp"] else None
            if at is None or not start <= at < end or (r["compressor_id"], at) in seen:
                continue
            seen.add((r["compressor_id"], at))
            rows.append(_row(r["compressor_id"], at, **{s: r[s] for s in SENSOR_COLUMNS},
                             event_id=f"{r['compressor_id']}-{at:%Y%m%d%H%M}"))
        day += timedelta(days=1)
    return sorted(rows, key=lambda r: r["timestamp"])


def _hourly(spark, rows, dims, rules, start, hours, step=3):
    """Label `rows` window by window (`step` hours each) from `start`, as hourly Silver runs do: each
    window's clean readings become the next one's history and its outliers the next one's rejections.

    Returns:
        The outliers as (unit, event id), and every reading labelled clean.
    """
    stored = [r for r in rows if r["timestamp"] < start]
    rejected, outliers, clean = [], [], []
    for k in range(0, hours, step):
        lo, hi = start + timedelta(hours=k), start + timedelta(hours=k + step)
        window = [r for r in rows if lo <= r["timestamp"] < hi]
        frame = _window(spark, window, dims)
        env = _env(spark, window, as_of=hi, history=[r for r in stored if r["timestamp"] >= lo - timedelta(days=1)],
                   rejected=(spark.createDataFrame(pa.Table.from_pylist(rejected, pa.schema(
                       [("compressor_id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
                        ("reject_reason", pa.string()), ("reject_detail", pa.string())]))) if rejected else None))
        by_id = {r["event_id"]: r for r in window}
        for r in label(frame, rules, env).collect():
            if r.reject_reason is None:
                stored.append(by_id[r.event_id])
                clean.append(by_id[r.event_id])
            else:
                rejected.append({"compressor_id": r.compressor_id, "timestamp": r.timestamp.replace(tzinfo=UTC),
                                 "reject_reason": r.reject_reason, "reject_detail": r.reject_detail})
                if r.reject_reason == "outlier_4sigma":
                    outliers.append((r.compressor_id, r.event_id))
        env.release()
    return outliers, clean


def test_a_simulated_bearing_failure_is_not_censored_as_outliers_but_a_glitch_on_a_healthy_unit_is(spark):
    """The last day before a simulated bearing failure, run through the declared rules three hours at a time
    after a day of history: the worn unit's rising vibration and its recurring impacts all stay clean, a
    healthy unit's single glitch is rejected. The band test alone (no previous-reading or recurrence test)
    would have thrown away part of the failure."""
    fleet, plan, index, worn = _bearing_episode()
    failure = datetime.fromtimestamp(plan.failure_us[index] / 1e6, UTC).replace(minute=0, second=0, microsecond=0)
    start = failure - timedelta(days=1)
    span_us = int((start - timedelta(days=1)).timestamp() * 1e6), int(failure.timestamp() * 1e6)
    failing = set(plan.unit[plan.overlapping(*span_us)].tolist())
    healthy = next(fleet.compressor_ids[u].as_py() for u in range(fleet.size) if u not in failing)
    rows = _simulated(fleet, plan, [worn, healthy], start - timedelta(days=1), failure)
    glitch = next(i for i, r in enumerate(rows) if r["compressor_id"] == healthy and r["timestamp"] >= start
                  + timedelta(hours=10) and r["vibration_mms"] is not None)
    rows[glitch] = {**rows[glitch], "vibration_mms": rows[glitch]["vibration_mms"] + 8.0}
    dims = _dims(spark, (worn, healthy), installed=date(2010, 1, 1))
    outliers, clean = _hourly(spark, rows, dims, RULES, start, 24)
    assert outliers == [(healthy, rows[glitch]["event_id"])]
    # The failure shows in the clean readings: most of the worn unit's last day, far above its day before.
    before = np.array([r["vibration_mms"] for r in rows if r["compressor_id"] == worn and r["timestamp"] < start
                       and r["vibration_mms"] is not None])
    last_day = [r for r in rows if r["compressor_id"] == worn and r["timestamp"] >= start]
    kept = [r["vibration_mms"] for r in clean if r["compressor_id"] == worn and r["vibration_mms"] is not None]
    assert len(kept) >= 0.95 * len(last_day)
    assert max(kept) > before.mean() + 4 * before.std(ddof=1)
    outlier = next(r for r in RULES if r.rule == "outlier_4sigma")
    band_only = dataclasses.replace(outlier, params=dataclasses.replace(
        outlier.params, previous_within_minutes=1e-6, recurring=10**6))
    censored, _ = _hourly(spark, rows, dims, [*RULES[:-1], band_only], start, 24)
    assert sum(unit == worn for unit, _ in censored) >= 5
