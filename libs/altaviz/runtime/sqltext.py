"""Spark expressions written as SQL text: one Python-to-JVM call per expression instead of one per operator.

A wide projection built from `Column` operators (`F.col(s).cast(t).alias(s)` over 50 columns, a rule per
sensor) costs a round trip to the JVM for every operator: thousands per stage, seconds on every run on the
driver, before any work starts. The same expressions as text are parsed by Spark in one call each, and
compile to the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType


def ident(name: str) -> str:
    """A column name as a SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def double(value: float) -> str:
    """A number as a SQL double (a bare `1.5` would be a DECIMAL)."""
    return f"CAST({float(value)!r} AS DOUBLE)"


def text(value: str) -> str:
    """A string as a SQL literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def literal(value: Any) -> str:
    """A Python value as a SQL literal: None, bool, int, float, str, date, time-zone-aware datetime.

    Timestamps, dates and numbers are written so that both Spark SQL and DataFusion (delta-rs) read them.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return double(value)
    if isinstance(value, str):
        return text(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"timestamps must be time-zone aware, got {value!r}")
        return f"TIMESTAMP '{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}+00:00'"
    if isinstance(value, date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    raise TypeError(f"no SQL literal for {value!r}")


def exprs(sql: Iterable[str]) -> list[Column]:
    """SQL expression texts (`... AS name` allowed) as Columns."""
    from pyspark.sql import functions as F

    return [F.expr(e) for e in sql]


def typed_select(df: DataFrame, schema: StructType, derived: Mapping[str, str] | None = None,
                 values: Mapping[str, Any] | None = None) -> DataFrame:
    """`df` with exactly the columns of `schema`, in order, each cast to its type.

    A column is taken from `derived` (SQL text) when there, else from `values` (a literal) when there,
    else from `df` by name.
    """
    derived, values = derived or {}, values or {}

    def source(name: str) -> str:
        if name in derived:
            return derived[name]
        if name in values:
            return literal(values[name])
        return ident(name)

    return df.select(*exprs(f"CAST({source(f.name)} AS {f.dataType.simpleString()}) AS {ident(f.name)}"
                            for f in schema.fields))
