"""Silver transforms: first received wins, stuck runs span batches, stats fall back (rules: test_silver_rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from altaviz.schemas import SENSOR_COLUMNS
from altaviz.transforms.silver import (
    preferred_stats,
    repeated_events,
    stuck_events,
    unit_sensor_stats,
)

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _frame(spark, rows, *, lineage=True):
    fields = [("compressor_id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
              *[(s, pa.float64()) for s in SENSOR_COLUMNS]]
    if lineage:
        fields += [("unparsed_values", pa.string()), ("ingested_at", pa.timestamp("us", tz="UTC")),
                   ("source_file", pa.string()), ("source_offset", pa.int64()), ("event_id", pa.string())]
    table = pa.Table.from_pylist(rows, pa.schema(fields))
    return spark.createDataFrame(table)


def _row(unit, step, value=1.0, *, file="a", offset=0, **sensors):
    row = {"compressor_id": unit, "timestamp": T0 + timedelta(minutes=5 * step),
           **{s: value for s in SENSOR_COLUMNS}, "unparsed_values": None, "ingested_at": T0,
           "source_file": file, "source_offset": offset, "event_id": f"{unit}-{step}-{file}-{value}"}
    row.update(sensors)
    return row


def test_first_received_copy_wins_and_stored_keys_count_as_received_first(spark):
    """Of two copies the earlier file wins; a key already in clean drops the new copy."""
    batch = _frame(spark, [_row("U1", 0, 2.0, file="b"), _row("U1", 0, 3.0, file="a"), _row("U1", 1, 4.0)])
    stored = _frame(spark, [{k: v for k, v in _row("U1", 1, 9.0).items()
                             if k in ("compressor_id", "timestamp", *SENSOR_COLUMNS)}], lineage=False)
    repeated = {r.event_id for r in batch.transform(repeated_events(stored)).collect()}
    kept = [(r.timestamp.replace(tzinfo=None), r.vibration_mms) for r in batch.collect() if r.event_id not in repeated]
    assert kept == [(datetime(2026, 11, 20), 3.0)]


def test_a_stuck_run_that_began_in_clean_history_is_caught_in_the_next_batch(spark):
    """Four identical clean readings plus two new ones make six in a row: the second new one is stuck."""
    history = _frame(spark, [{k: v for k, v in _row("U1", s, 7.5, gas_flow_mcf=float(s)).items()
                              if k in ("compressor_id", "timestamp", *SENSOR_COLUMNS)} for s in range(4)],
                     lineage=False)
    batch = _frame(spark, [_row("U1", 4, 7.5, gas_flow_mcf=4.0), _row("U1", 5, 7.5, gas_flow_mcf=5.0)])
    stuck = {r.event_id: r._stuck for r in batch.transform(stuck_events(history, 6)).collect()}
    ids = {r.timestamp.replace(tzinfo=None): r.event_id for r in batch.collect()}
    assert ids[datetime(2026, 11, 20, 0, 20)] not in stuck
    assert set(stuck[ids[datetime(2026, 11, 20, 0, 25)]].split(",")) == set(SENSOR_COLUMNS) - {"gas_flow_mcf"}


def _labelled(spark, rows, reasons=None):
    """Silver's labelled rows: readings with `reject_reason` / `reject_detail` (null for so-far clean)."""
    reasons = reasons or [None] * len(rows)
    table = pa.Table.from_pylist([{k: r[k] for k in ("compressor_id", "timestamp", *SENSOR_COLUMNS)} for r in rows])
    table = (table.append_column("reject_reason", pa.array(reasons, pa.string()))
             .append_column("reject_detail", pa.array([None if r is None else "why" for r in reasons], pa.string())))
    return spark.createDataFrame(table)


def test_stats_come_from_history_when_there_is_enough_else_from_the_batch(spark):
    """A unit with enough trailing history uses it; a unit without falls back to its batch readings."""
    history = unit_sensor_stats(_frame(spark, [_row("U1", s, 10.0 + s % 2) for s in range(60)]
                                       + [_row("U2", s, 50.0) for s in range(3)]))
    labelled = _labelled(spark, [_row("U1", s, 99.0) for s in range(5)] + [_row("U2", s, 70.0 + s) for s in range(5)]
                         + [_row("U2", 9, 5000.0)], reasons=[None] * 10 + ["impossible_value"])
    batch = unit_sensor_stats(labelled.where("reject_reason IS NULL"))
    stats = {r["compressor_id"]: r.asDict() for r in preferred_stats(history, batch, 48).collect()}
    assert set(stats) == {"U1", "U2"}
    assert stats["U1"]["_n"] == 60 and stats["U1"]["_mean_vibration_mms"] == pytest.approx(10.5)
    # The rejected 5000.0 does not count: U2's batch stats are of 70..74 only.
    assert stats["U2"]["_n"] == 5 and stats["U2"]["_mean_vibration_mms"] == pytest.approx(72.0)
    assert stats["U2"]["_std_vibration_mms"] == pytest.approx(1.5811388, rel=1e-6)  # sample std of 70..74
