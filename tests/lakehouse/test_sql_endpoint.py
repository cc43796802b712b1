"""The local SQL endpoint: DuckDB over the lakehouse's Delta tables, addressed as `<lakehouse>.<table>`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from altaviz.errors import LakehouseError
from altaviz.lakehouse import LocalLakehousePaths, TableRef
from altaviz.lakehouse.sql import list_tables, query

UTC_TS = pa.timestamp("us", tz="UTC")
DIM = TableRef("lh_silver_cleaned", "dim_compressor")
AGG = TableRef("lh_gold_curated", "sensor_readings_agg")


@pytest.fixture()
def paths(tmp_path) -> LocalLakehousePaths:
    """A local root with a Silver dimension and a Gold table partitioned by date."""
    paths = LocalLakehousePaths(tmp_path / "lakehouse")
    write_deltalake(paths.table_path(DIM), pa.table({
        "compressor_id": ["C-1", "C-2"], "basin": ["Permian", "Bakken"]}))
    write_deltalake(paths.table_path(AGG), pa.table({
        "compressor_id": ["C-1", "C-1", "C-2"],
        "agg_timestamp": pa.array([datetime(2024, 3, 1, 23, tzinfo=UTC), datetime(2024, 3, 2, 0, tzinfo=UTC),
                                   datetime(2024, 3, 2, 1, tzinfo=UTC)], UTC_TS),
        "date": [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 2)],
        "vibration_mean": [1.0, 2.0, 4.0],
    }), partition_by=["date"])
    return paths


def test_list_tables_finds_delta_folders_only(paths, tmp_path):
    """Only folders holding a `_delta_log` under a known lakehouse count as tables."""
    (tmp_path / "lakehouse" / "lh_ml_serving.Lakehouse" / "Tables" / "dbo" / "not_a_table").mkdir(parents=True)
    (tmp_path / "lakehouse" / "scratch.Lakehouse" / "Tables" / "dbo" / "x" / "_delta_log").mkdir(parents=True)
    assert list_tables(paths) == [DIM, AGG]


def test_join_across_lakehouses(paths):
    """A query can join tables of two lakehouses by their `<lakehouse>.<table>` names."""
    result = query(paths, """
        SELECT d.basin, sum(a.vibration_mean) AS total
        FROM lh_gold_curated.sensor_readings_agg a
        JOIN lh_silver_cleaned.dim_compressor d USING (compressor_id)
        GROUP BY d.basin ORDER BY d.basin""")
    assert result.to_pylist() == [{"basin": "Bakken", "total": 4.0}, {"basin": "Permian", "total": 3.0}]


def test_partition_column_is_visible_and_filterable(paths):
    """The partition column reads back as a date and can be filtered on."""
    result = query(paths, "SELECT date, count(*) AS n FROM lh_gold_curated.sensor_readings_agg "
                          "WHERE date = DATE '2024-03-02' GROUP BY date")
    assert result.schema.field("date").type == pa.date32()
    assert result.to_pylist() == [{"date": date(2024, 3, 2), "n": 2}]


def test_timestamps_come_back_as_utc(paths):
    """Timestamp columns come back as UTC-zoned Arrow timestamps with their instants intact."""
    result = query(paths, "SELECT max(agg_timestamp) AS latest FROM lh_gold_curated.sensor_readings_agg")
    assert result.schema.field("latest").type == UTC_TS
    assert result.column("latest")[0].as_py() == datetime(2024, 3, 2, 1, tzinfo=UTC)


def test_three_part_names_work_like_fabric(paths):
    """`<lakehouse>.dbo.<table>`, as the Fabric SQL endpoint writes it, names the same table."""
    result = query(paths, "SELECT count(*) AS n FROM lh_silver_cleaned.dbo.dim_compressor")
    assert result.to_pylist() == [{"n": 2}]


def test_missing_table_lists_available_tables(paths):
    """Naming a table that does not exist fails with the list of tables that do."""
    with pytest.raises(LakehouseError, match="lh_gold_curated.alerts") as err:
        query(paths, "SELECT * FROM lh_gold_curated.alerts")
    assert "lh_silver_cleaned.dim_compressor" in str(err.value)
    assert "lh_gold_curated.sensor_readings_agg" in str(err.value)


def test_empty_root_says_there_are_no_tables(tmp_path):
    """With no tables at all, queries without tables still run and a table name gets a clear error."""
    paths = LocalLakehousePaths(tmp_path / "nothing")
    assert query(paths, "SELECT 1 AS one").to_pylist() == [{"one": 1}]
    with pytest.raises(LakehouseError, match="no Delta tables under"):
        query(paths, "SELECT * FROM lh_gold_curated.fleet_health")


def test_sql_errors_are_lakehouse_errors(paths):
    """A syntax error surfaces as a one-line LakehouseError."""
    with pytest.raises(LakehouseError, match="SQL failed"):
        query(paths, "SELEC 1")


def test_empty_table_is_queryable(tmp_path):
    """A table with a schema and no rows answers with zero rows."""
    paths = LocalLakehousePaths(tmp_path / "lakehouse")
    ref = TableRef("lh_gold_curated", "alerts")
    write_deltalake(paths.table_path(ref), pa.table({"alert_id": pa.array([], pa.string())}))
    assert query(paths, "SELECT count(*) AS n FROM lh_gold_curated.alerts").to_pylist() == [{"n": 0}]
