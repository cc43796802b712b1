"""The local stand-in for the SQL analytics endpoint: DuckDB over local Delta tables as `<lakehouse>.<table>`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altaviz.errors import ConfigError, EnvironmentSetupError, LakehouseError
from altaviz.lakehouse.paths import DEFAULT_SCHEMA, LAKEHOUSES, LocalLakehousePaths, TableRef

if TYPE_CHECKING:
    import pyarrow as pa

_LAKEHOUSE_SUFFIX = ".Lakehouse"


def list_tables(paths: LocalLakehousePaths) -> list[TableRef]:
    """Every Delta table under a local lakehouse root.

    A table is a folder `<root>/<lakehouse>.Lakehouse/Tables/<schema>/<table>` holding a `_delta_log`;
    folders of unknown lakehouses or with unsafe names are ignored.

    Args:
        paths: the local layout.

    Returns:
        The tables, sorted by lakehouse, schema and table.
    """
    root = Path(paths.root)
    found: list[TableRef] = []
    if not root.is_dir():
        return found
    for log in root.glob(f"*{_LAKEHOUSE_SUFFIX}/Tables/*/*/_delta_log"):
        table_dir = log.parent
        lakehouse = table_dir.parent.parent.parent.name.removesuffix(_LAKEHOUSE_SUFFIX)
        if lakehouse not in LAKEHOUSES or not log.is_dir():
            continue
        try:
            found.append(TableRef(lakehouse, table_dir.name, table_dir.parent.name))
        except ConfigError:
            continue
    return sorted(found, key=lambda ref: (LAKEHOUSES.index(ref.lakehouse), ref.schema, ref.table))


def _sql_name(ref: TableRef) -> str:
    """How a query names `ref`: `<lakehouse>.<table>` for `dbo`, else `<lakehouse>.<schema>.<table>`."""
    return str(ref) if ref.schema == DEFAULT_SCHEMA else f"{ref.lakehouse}.{ref.schema}.{ref.table}"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _unknown_tables(sql: str, known: list[TableRef]) -> list[str]:
    """`<lakehouse>.[<schema>.]<table>` names in `sql` that match no known table (for error messages)."""
    names = {str(ref) for ref in known if ref.schema == DEFAULT_SCHEMA}
    names |= {f"{ref.lakehouse}.{ref.schema}.{ref.table}" for ref in known}
    lakehouses = "|".join(LAKEHOUSES)
    found = re.findall(rf'\b({lakehouses})\s*\.\s*"?(\w+)"?(?:\s*\.\s*"?(\w+)"?)?', sql, flags=re.IGNORECASE)
    named = [".".join(part for part in parts if part) for parts in found]
    return sorted({name for name in named if name not in names})


def _arrow_result(relation: Any) -> pa.Table:
    """A DuckDB relation as an Arrow table, whichever name this DuckDB version gives the method."""
    for method in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        if hasattr(relation, method):
            result = getattr(relation, method)()
            return result if hasattr(result, "num_rows") else result.read_all()
    raise EnvironmentSetupError("this DuckDB version cannot return Arrow tables: install duckdb>=1.1")


def connect(paths: LocalLakehousePaths) -> Any:
    """A DuckDB connection in which every local Delta table is a view.

    Each lakehouse is a DuckDB catalog: a `dbo` table is `<lakehouse>.<table>` (as in Fabric's SQL
    endpoint) and every table is also `<lakehouse>.<schema>.<table>`. The views read the tables through
    delta-rs as lazy Arrow datasets (partition columns included, filters pushed down). The session time
    zone is UTC, so timestamps come back as UTC instants.

    Args:
        paths: the local layout.

    Returns:
        A `duckdb.DuckDBPyConnection`.
    """
    try:
        import duckdb
        from deltalake import DeltaTable
    except ImportError as exc:  # pragma: no cover - only in a wheel-only install
        raise EnvironmentSetupError("local SQL needs duckdb and deltalake: install `altaviz[local]`") from exc
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    attached: set[str] = set()
    schemas: set[tuple[str, str]] = set()
    for index, ref in enumerate(list_tables(paths)):
        path = paths.table_path(ref)
        try:
            dataset = DeltaTable(path).to_pyarrow_dataset()
        except Exception as exc:  # delta-rs raises several types; all mean "cannot expose this table"
            raise LakehouseError(f"cannot open table {ref} at {path} for SQL: {exc}") from exc
        internal = f"__altaviz_table_{index}"
        con.register(internal, dataset)
        if ref.lakehouse not in attached:
            con.execute(f"ATTACH ':memory:' AS {_quote(ref.lakehouse)}")
            attached.add(ref.lakehouse)
        names = [(ref.schema, f"{_quote(ref.lakehouse)}.{_quote(ref.schema)}.{_quote(ref.table)}")]
        if ref.schema == DEFAULT_SCHEMA:
            names.append(("main", f"{_quote(ref.lakehouse)}.main.{_quote(ref.table)}"))
        for schema, view in names:
            if (ref.lakehouse, schema) not in schemas and schema != "main":
                con.execute(f"CREATE SCHEMA {_quote(ref.lakehouse)}.{_quote(schema)}")
            schemas.add((ref.lakehouse, schema))
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM temp.main.{_quote(internal)}")
    return con


def query(paths: LocalLakehousePaths, sql: str) -> pa.Table:
    """Run one SQL statement over the local lakehouse tables.

    Args:
        paths: the local layout.
        sql: a DuckDB SQL query naming tables as `<lakehouse>.<table>`, e.g.
            `SELECT count(*) FROM lh_silver_cleaned.telemetry_clean`.

    Returns:
        The result as an Arrow table (empty for statements that return no rows).

    Raises:
        LakehouseError: the query names a table that does not exist (the message lists those that do),
            or DuckDB rejects it.
    """
    import duckdb

    con = connect(paths)
    try:
        relation = con.sql(sql)
        if relation is None:
            import pyarrow as pa

            return pa.table({})
        return _arrow_result(relation)
    except duckdb.CatalogException as exc:
        available = (", ".join(_sql_name(ref) for ref in list_tables(paths))
                     or f"none (no Delta tables under {paths.root})")
        unknown = _unknown_tables(sql, list_tables(paths))
        subject = f"no such table: {', '.join(unknown)}" if unknown else str(exc).splitlines()[0].rstrip("!.")
        raise LakehouseError(f"{subject}. Available tables: {available}") from exc
    except duckdb.Error as exc:
        raise LakehouseError(f"SQL failed: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()
