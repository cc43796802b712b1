"""Tables are shared: what one Delta back end writes, the other reads, appends to and MERGEs, and `altaviz sql` reads."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from pyspark.sql.pandas.types import to_arrow_schema
from test_delta_contract import READINGS, SCHEMA

from altaviz.lakehouse import Lakehouse, LocalLakehousePaths
from altaviz.lakehouse.deltars import DeltaRsBackend
from altaviz.lakehouse.spark_delta import SparkDeltaBackend
from altaviz.lakehouse.sql import query

BACKENDS = {"spark-delta": SparkDeltaBackend, "delta-rs": DeltaRsBackend}


def _arrow(*rows: tuple[str, int, float]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"compressor_id": cid, "timestamp": datetime(2024, 3, day, 6, tzinfo=UTC), "date": date(2024, 3, day),
          "vibration_mms": vib} for cid, day, vib in rows], schema=to_arrow_schema(SCHEMA))


def _rows(lh: Lakehouse) -> list[tuple]:
    return sorted((r.compressor_id, r.date.day, r.vibration_mms) for r in lh.read(READINGS).collect())


@pytest.mark.parametrize(("writer", "other"), [("spark-delta", "delta-rs"), ("delta-rs", "spark-delta")],
                         ids=["spark-writes-deltars-continues", "deltars-writes-spark-continues"])
def test_a_table_written_by_one_backend_is_read_appended_and_merged_by_the_other(spark, tmp_path, writer, other):
    """Either back end reads, appends to and MERGEs a table the other created; DuckDB reads every version."""
    paths = LocalLakehousePaths(tmp_path / "lakehouse")
    first = Lakehouse(spark, paths, BACKENDS[writer](spark))
    second = Lakehouse(spark, paths, BACKENDS[other](spark))
    first.write(READINGS, spark.createDataFrame(_arrow(("C-1", 1, 1.0), ("C-2", 1, 2.0))), partition_by=["date"])
    assert _rows(second) == [("C-1", 1, 1.0), ("C-2", 1, 2.0)]

    second.write(READINGS, _arrow(("C-3", 2, 3.0)), partition_by=["date"])
    metrics = (second.merge(READINGS, _arrow(("C-1", 1, 10.0), ("C-4", 2, 4.0)), on=["compressor_id", "timestamp"],
                            partition_by=["date"]).when_matched_update_all().when_not_matched_insert_all().execute())
    assert (metrics.rows_inserted, metrics.rows_updated) == (1, 1)
    expected = [("C-1", 1, 10.0), ("C-2", 1, 2.0), ("C-3", 2, 3.0), ("C-4", 2, 4.0)]
    assert _rows(first) == _rows(second) == expected

    first.merge(READINGS, spark.createDataFrame(_arrow(("C-2", 1, 20.0))), on=["compressor_id", "timestamp"]
                ).when_matched_update_all().execute()
    table = query(paths, "select compressor_id, vibration_mms, timestamp from lh_silver_cleaned.telemetry_clean "
                         "order by compressor_id")
    assert table.column("vibration_mms").to_pylist() == [10.0, 20.0, 3.0, 4.0]
    assert table.schema.field("timestamp").type.tz is not None  # a UTC TIMESTAMP, never TIMESTAMP_NTZ
    protocols = [a["protocol"] for log in sorted(Path(first.table_path(READINGS), "_delta_log").glob("*.json"))
                 for a in map(json.loads, log.read_text().splitlines()) if "protocol" in a]
    # What the SQL analytics endpoint, Direct Lake, delta-rs and DuckDB all read: no reader features at all.
    assert protocols and all(p["minReaderVersion"] == 1 and "readerFeatures" not in p for p in protocols)


@pytest.mark.parametrize("backend", sorted(BACKENDS), ids=sorted(BACKENDS))
def test_concurrent_insert_only_merges_store_each_key_once(spark, tmp_path, backend):
    """Two writers inserting overlapping rows at once: one commit conflicts, retries, and adds only what is new."""
    lh = Lakehouse(spark, LocalLakehousePaths(tmp_path / "lakehouse"), BACKENDS[backend](spark))
    lh.write(READINGS, _arrow(("C-0", 1, 0.0)), partition_by=["date"])
    batches = [_arrow(*((f"C-{i}", 1, float(i)) for i in range(1, 40))),
               _arrow(*((f"C-{i}", 1, float(i)) for i in range(20, 60)))]
    inserted: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def insert(batch: pa.Table) -> None:
        try:
            start.wait()
            merge = lh.merge(READINGS, batch, on=["compressor_id"], partition_by=["date"],
                             target_partitions={"date": [date(2024, 3, 1)]})
            inserted.append(merge.when_not_matched_insert_all().execute().rows_inserted)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=insert, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    ids = [r.compressor_id for r in lh.read(READINGS).collect()]
    assert len(ids) == len(set(ids)) == 60
    assert sum(inserted) == 59
