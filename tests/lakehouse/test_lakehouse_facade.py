"""The `Lakehouse` door: paths by TableRef, back-end selection, and a merge builder that waits for execute()."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import altaviz.runtime.spark as runtime_spark
from altaviz.errors import ConfigError, EnvironmentSetupError, LakehouseError
from altaviz.lakehouse import (
    Bounds,
    DeltaBackend,
    Lakehouse,
    LocalLakehousePaths,
    MergeMetrics,
    OneLakePaths,
    OptimizeMetrics,
    TableRef,
    select_backend,
)
from altaviz.lakehouse.deltars import DeltaRsBackend
from altaviz.lakehouse.lakehouse import BACKEND_ENV_VAR
from altaviz.lakehouse.spark_delta import SparkDeltaBackend

RAW = TableRef("lh_bronze_raw", "telemetry_raw")


class RecordingBackend(DeltaBackend):
    """A hand-written dummy back end: every table in `tables` exists; calls are recorded."""

    name = "recording"

    def __init__(self, tables: set[str] | None = None) -> None:
        super().__init__(spark=None)
        self.tables = tables or set()
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def _record(self, op: str, path: str, **kwargs: Any) -> None:
        self.calls.append((op, path, kwargs))

    def exists(self, path):
        return path in self.tables

    def read(self, path, version=None):
        self._record("read", path, version=version)
        return f"df@{version}"

    def write(self, path, df, *, mode="append", partition_by=(), merge_schema=False, cluster_by=()):
        self._record("write", path, mode=mode, partition_by=partition_by, merge_schema=merge_schema,
                     cluster_by=cluster_by)
        return 7

    def merge(self, path, source, keys, *, update=True, insert=True, merge_schema=False, partition_by=(),
              target_partitions=None, target_ranges=None, cluster_by=()):
        self._record("merge", path, keys=tuple(keys), update=update, insert=insert, merge_schema=merge_schema,
                     partition_by=tuple(partition_by), target_partitions=target_partitions,
                     target_ranges=target_ranges, cluster_by=cluster_by)
        return MergeMetrics(rows_inserted=1, rows_updated=2, version=3)

    def file_count(self, path, partitions=None):
        self._record("file_count", path, partitions=partitions)
        return 9

    def optimize(self, path, zorder_by=(), partitions=None):
        self._record("optimize", path, zorder_by=tuple(zorder_by))
        return OptimizeMetrics(files_added=1, files_removed=4, version=5)

    def vacuum(self, path, retention_hours=168.0):
        self._record("vacuum", path, retention_hours=retention_hours)
        return []

    def version(self, path):
        return 0

    def history(self, path, limit=None):
        return []


@pytest.fixture()
def root(tmp_path) -> Path:
    """A lakehouse root folder."""
    return tmp_path / "lakehouse"


def test_table_path_follows_the_local_layout(root):
    """A TableRef resolves to `<root>/<lakehouse>.Lakehouse/Tables/dbo/<table>`."""
    lh = Lakehouse(None, LocalLakehousePaths(root), RecordingBackend())
    expected = str(root.resolve() / "lh_bronze_raw.Lakehouse" / "Tables" / "dbo" / "telemetry_raw")
    assert lh.table_path(RAW) == expected
    assert lh.table_path("lh_bronze_raw.telemetry_raw") == expected
    assert lh.table_path(TableRef("lh_gold_curated", "alerts", "ops")).endswith(
        "lh_gold_curated.Lakehouse/Tables/ops/alerts")


def test_table_path_follows_onelake_layout():
    """With OneLake paths the same TableRef resolves to the lakehouse's ABFS table folder."""
    lh = Lakehouse(None, OneLakePaths("altaviz_prod"), RecordingBackend())
    assert lh.table_path(RAW) == ("abfss://altaviz_prod@onelake.dfs.fabric.microsoft.com/"
                                  "lh_bronze_raw.Lakehouse/Tables/dbo/telemetry_raw")


def test_unknown_lakehouse_name_is_rejected(root):
    """A table name outside the four lakehouses fails before touching storage."""
    lh = Lakehouse(None, LocalLakehousePaths(root), RecordingBackend())
    with pytest.raises(ConfigError, match="lh_platinum"):
        lh.read("lh_platinum.telemetry_raw")


def test_operations_reach_the_backend_with_resolved_paths(root):
    """Writes, reads, OPTIMIZE and VACUUM are passed to the back end with the table's folder."""
    backend = RecordingBackend()
    lh = Lakehouse(None, LocalLakehousePaths(root), backend)
    path = lh.table_path(RAW)
    backend.tables.add(path)
    assert lh.write(RAW, "df", mode="overwrite", partition_by=["ingestion_date"], merge_schema=True) == 7
    assert lh.read(RAW, version=2) == "df@2"
    assert lh.optimize(RAW, zorder_by=["compressor_id"]).files_removed == 4
    lh.vacuum(RAW, retention_hours=0)
    assert backend.calls == [
        ("write", path, {"mode": "overwrite", "partition_by": ("ingestion_date",), "merge_schema": True,
                         "cluster_by": ()}),
        ("read", path, {"version": 2}),
        ("optimize", path, {"zorder_by": ("compressor_id",)}),
        ("vacuum", path, {"retention_hours": 0}),
    ]


def test_missing_table_errors_name_table_and_path(root):
    """Reading or maintaining a table that does not exist names it and its folder."""
    lh = Lakehouse(None, LocalLakehousePaths(root), RecordingBackend())
    for operation in (lh.read, lh.optimize, lh.vacuum, lh.version, lh.history):
        with pytest.raises(LakehouseError, match=r"lh_bronze_raw\.telemetry_raw") as err:
            operation(RAW)
        assert lh.table_path(RAW) in str(err.value)


def test_merge_builder_does_nothing_until_execute(root):
    """Building a MERGE records nothing; execute() runs it once with the chosen clauses."""
    backend = RecordingBackend()
    lh = Lakehouse(None, LocalLakehousePaths(root), backend)
    builder = (lh.merge(RAW, "source", on=["event_id"], partition_by=["ingestion_date"],
                        target_partitions={"ingestion_date": ["2026-01-05"]},
                        target_ranges={"timestamp": Bounds(1, 2)}, cluster_by=["timestamp"])
               .when_not_matched_insert_all().with_schema_evolution())
    assert backend.calls == []
    assert builder.execute() == MergeMetrics(rows_inserted=1, rows_updated=2, version=3)
    assert backend.calls == [("merge", lh.table_path(RAW), {
        "keys": ("event_id",), "update": False, "insert": True, "merge_schema": True,
        "partition_by": ("ingestion_date",), "target_partitions": {"ingestion_date": ["2026-01-05"]},
        "target_ranges": {"timestamp": Bounds(1, 2)}, "cluster_by": ("timestamp",)})]


def test_merge_without_a_clause_is_refused(root):
    """A MERGE with neither update nor insert clause fails instead of silently doing nothing."""
    lh = Lakehouse(None, LocalLakehousePaths(root), RecordingBackend())
    with pytest.raises(LakehouseError, match="no clause"):
        lh.merge(RAW, "source", on=["event_id"]).execute()
    with pytest.raises(LakehouseError, match="key column"):
        lh.merge(RAW, "source", on=[])


def test_select_backend_prefers_spark_native_delta(monkeypatch):
    """Sessions with Delta's jars get the Spark-native back end; others get delta-rs."""
    monkeypatch.delenv(BACKEND_ENV_VAR, raising=False)
    monkeypatch.setattr(runtime_spark, "has_spark_delta", lambda spark: False)
    assert isinstance(select_backend(object()), DeltaRsBackend)
    monkeypatch.setattr(runtime_spark, "has_spark_delta", lambda spark: True)
    assert isinstance(select_backend(object()), SparkDeltaBackend)


def test_default_backend_is_spark_native_delta_with_the_fetched_jars(root, spark, monkeypatch):
    """The set-up fetched Delta's jars, so a local session runs Spark-native Delta, the code path Fabric runs."""
    monkeypatch.delenv(BACKEND_ENV_VAR, raising=False)
    assert runtime_spark.has_spark_delta(spark)
    assert Lakehouse(spark, LocalLakehousePaths(root)).backend.name == "spark-delta"


@pytest.mark.parametrize(("choice", "expected"), [("deltars", "delta-rs"), ("spark", "spark-delta"),
                                                  (" Spark ", "spark-delta"), ("", "spark-delta")],
                         ids=["deltars", "spark", "case-and-spaces", "empty-is-automatic"])
def test_the_backend_variable_chooses_the_backend(root, spark, monkeypatch, choice, expected):
    """ALTAVIZ_DELTA_BACKEND=spark|deltars chooses the back end; unset or empty picks the best available."""
    monkeypatch.setenv(BACKEND_ENV_VAR, choice)
    assert Lakehouse(spark, LocalLakehousePaths(root)).backend.name == expected


def test_a_bad_backend_choice_or_spark_without_jars_is_one_clear_error(monkeypatch):
    """An unknown back end names the valid ones; asking for Spark Delta without its jars says how to get them."""
    monkeypatch.setenv(BACKEND_ENV_VAR, "duckdb")
    with pytest.raises(ConfigError, match="spark, deltars"):
        select_backend(object())
    monkeypatch.setattr(runtime_spark, "has_spark_delta", lambda spark: False)
    with pytest.raises(EnvironmentSetupError, match="altaviz.runtime.jvm fetch"):
        select_backend(object(), "spark")


@pytest.mark.parametrize(("min_files", "dates", "optimized"), [(8, ["2026-01-05"], True), (9, ["2026-01-05"], False),
                                                              (4, ["2026-01-05", "2026-01-06"], True),
                                                              (5, ["2026-01-05", "2026-01-06"], False)],
                         ids=["fragmented", "compact-enough", "two-dates-fragmented", "two-dates-compact"])
def test_optimize_runs_only_once_small_files_accumulate(root, min_files, dates, optimized):
    """OPTIMIZE rewrites the partitions a run wrote only when they average more than the configured file count."""
    backend = RecordingBackend({LocalLakehousePaths(root).table_path(RAW)})
    lh = Lakehouse(None, LocalLakehousePaths(root), backend)
    result = lh.optimize_if_fragmented(RAW, ["compressor_id"], {"date": dates}, min_files)
    assert (result is not None) == optimized
    assert [c[0] for c in backend.calls] == ["file_count", *(["optimize"] if optimized else [])]


def test_bounds_cover_the_values_given_and_say_when_nulls_must_match():
    """Bounds span the non-null values; nothing to bound gives None, only nulls gives a null-only bound."""
    assert Bounds.covering([3, None, 1, 2]) == Bounds(1, 3)
    assert Bounds.covering([None, None]) is None
    assert Bounds.covering([], or_null=True) == Bounds(None, None, or_null=True)
    with pytest.raises(ValueError, match="reversed"):
        Bounds(2, 1)
