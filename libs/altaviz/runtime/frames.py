"""Small DataFrames from driver-side rows (run records, ledgers, collected id lists), built through Arrow."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


def small_frame(spark: SparkSession, rows: Sequence[Any], schema: StructType | str) -> DataFrame:
    """A DataFrame of `rows` (dicts or Spark Rows) with exactly `schema` (a StructType or DDL string).

    Going through Arrow keeps this a local relation: `createDataFrame` on Python tuples would start
    Python worker processes, which costs seconds for a handful of rows.
    """
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import _parse_datatype_string

    if isinstance(schema, str):
        schema = _parse_datatype_string(schema)
    records = [r if isinstance(r, dict) else r.asDict() for r in rows]
    table = pa.Table.from_pylist(records, schema=to_arrow_schema(schema))
    return spark.createDataFrame(table, schema=schema)


def as_utc(value: datetime | None) -> datetime | None:
    """A datetime collected from Spark (naive, local time) or given by a caller, as aware UTC."""
    return value.astimezone(UTC) if value is not None else None


def dates_through(first: date, last: date) -> list[date]:
    """Every date from `first` to `last`, both included (the `date` partitions a window touches)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
