"""Delta tables through delta-rs (`deltalake`): Spark hands it Arrow to write and reads its active Parquet files."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from altaviz.errors import EnvironmentSetupError, LakehouseError
from altaviz.lakehouse.backend import (
    Bounds,
    DeltaBackend,
    MergeMetrics,
    OptimizeMetrics,
    WriteMode,
    check_merge_clauses,
    retry_on_conflict,
    target_partition_clause,
    target_range_clause,
)

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
# Reader features under which a table's active Parquet files, read as they are, still hold exactly its rows.
_RAW_READABLE_FEATURES = frozenset({"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"})
_WRITE_MODES = ("append", "overwrite")


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError as exc:  # pragma: no cover - only in a wheel-only install
        raise EnvironmentSetupError(
            "the delta-rs back end needs the `deltalake` package: install `altaviz[local]`") from exc
    return deltalake


@contextmanager
def _delta_errors(action: str, path: str) -> Iterator[None]:
    """Turn delta-rs and Arrow failures into a LakehouseError naming the operation and the table."""
    from deltalake.exceptions import DeltaError

    try:
        yield
    except (DeltaError, pa.ArrowException) as exc:
        raise LakehouseError(f"{action} failed for Delta table at {path}: {exc}") from exc


def is_conflict(exc: BaseException) -> bool:
    """True when a delta-rs failure (or its cause) is a lost race with another writer's commit."""
    from deltalake.exceptions import CommitFailedError

    while exc is not None:
        # A lost race to create the table says its version 0 "already exists".
        if isinstance(exc, CommitFailedError) or ("already exists" in str(exc) and "version" in str(exc).lower()):
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


def _clustered(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """`table` sorted by `columns` (nulls last), or as it is when there are none."""
    if not columns:
        return table
    if int(pa.__version__.split(".")[0]) >= 25:  # null placement per sort key (the table-wide option is deprecated)
        return table.sort_by([(c, "ascending", "at_end") for c in columns])
    return table.sort_by([(c, "ascending") for c in columns], null_placement="at_end")


def _delta_type(dtype: pa.DataType) -> pa.DataType:
    """`dtype` as the lakehouse stores it: every timestamp `timestamp[us, UTC]`, nested fields nullable."""
    if pa.types.is_timestamp(dtype):
        # A naive value is read as UTC wall-clock time (the telemetry contract); zoned values keep their instant.
        return UTC_TIMESTAMP
    if pa.types.is_map(dtype):
        return pa.map_(dtype.key_field.with_type(_delta_type(dtype.key_type)),
                       _delta_field(dtype.item_field), keys_sorted=dtype.keys_sorted)
    if pa.types.is_struct(dtype):
        return pa.struct([_delta_field(dtype.field(i)) for i in range(dtype.num_fields)])
    if pa.types.is_large_list(dtype):
        return pa.large_list(_delta_field(dtype.value_field))
    if pa.types.is_list(dtype):
        return pa.list_(_delta_field(dtype.value_field))
    return dtype


def _delta_field(field: pa.Field) -> pa.Field:
    # Spark-native Delta stores DataFrame writes as nullable; doing the same keeps later appends compatible.
    return pa.field(field.name, _delta_type(field.type), nullable=True, metadata=field.metadata)


def arrow_for_delta(table: pa.Table) -> pa.Table:
    """Cast an Arrow table to the types the lakehouse stores.

    Every timestamp (any unit, any or no time zone; nested too) becomes `timestamp[us, tz="UTC"]`, which
    Delta records as `timestamp` rather than `timestamp_ntz`; every column becomes nullable. Dates,
    decimals, maps and structs keep their types.

    Args:
        table: the data, typically `DataFrame.toArrow()`.

    Returns:
        The same rows with the normalised schema.
    """
    schema = pa.schema([_delta_field(f) for f in table.schema], metadata=table.schema.metadata)
    return table if schema.equals(table.schema) else table.cast(schema)


def spark_schema(delta_schema: Any) -> StructType:
    """The Spark schema of a delta-rs `Schema` (Delta's schema JSON is Spark's StructType JSON).

    Args:
        delta_schema: `DeltaTable.schema()`.

    Returns:
        The equivalent `StructType`, columns in table order.
    """
    from pyspark.sql.types import StructType

    return StructType.fromJson(json.loads(delta_schema.to_json()))


def _check_raw_readable(table: DeltaTable, path: str) -> None:
    """Refuse tables whose Parquet files do not hold the rows as they are (deletion vectors, column mapping)."""
    protocol = table.protocol()
    column_mapping = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    if protocol.min_reader_version == 2 or column_mapping not in ("none", None):
        raise LakehouseError(
            f"Delta table at {path} uses column mapping (mode {column_mapping!r}), which the delta-rs back end "
            "cannot read through Spark; read it with Spark-native Delta")
    features = set(protocol.reader_features or ())
    if "deletionVectors" in features:
        features.discard("deletionVectors")
        if table.deletion_vectors().read_all().num_rows:
            raise LakehouseError(
                f"Delta table at {path} has deletion vectors, which the delta-rs back end cannot apply when "
                "reading through Spark; run OPTIMIZE/PURGE with Spark-native Delta or read it there")
    unsupported = sorted(features - _RAW_READABLE_FEATURES)
    if unsupported:
        raise LakehouseError(
            f"Delta table at {path} needs reader features {unsupported} that the delta-rs back end does not "
            f"support; supported: {sorted(_RAW_READABLE_FEATURES | {'deletionVectors'})}")


def _sql_literal(value: Any, dtype: pa.DataType) -> str | None:
    """A SQL literal for a partition value, or None when the type is not one pruning handles."""
    if pa.types.is_date32(dtype):
        return f"CAST('{value.isoformat()}' AS DATE)"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "'" + str(value).replace("'", "''") + "'"
    if pa.types.is_integer(dtype):
        return str(int(value))
    return None


def _partition_pruning(data: pa.Table, columns: Sequence[str]) -> str:
    """`AND target.p IN (...)` for key columns that are also partition columns.

    A matching target row must then share the source row's partition value, so MERGE only needs to read
    the partitions the source touches instead of the whole table.
    """
    import pyarrow.compute as pc

    clauses = []
    for column in columns:
        values = pc.unique(data[column]).to_pylist()
        literals = [_sql_literal(v, data.schema.field(column).type) for v in values if v is not None]
        if values and None not in values and None not in literals:
            clauses.append(f" AND target.`{column}` IN ({', '.join(literals)})")
    return "".join(clauses)


class DeltaRsBackend(DeltaBackend):
    """Delta through delta-rs: the local back end when Spark has no Delta jars.

    Writes collect the DataFrame to the driver as Arrow (local data sizes); reads never do: Spark reads the
    table's active Parquet files with the schema from the Delta log.
    """

    name = "delta-rs"

    def __init__(self, spark: SparkSession, storage_options: dict[str, str] | None = None) -> None:
        super().__init__(spark)
        self.storage_options = storage_options

    def _open(self, path: str, version: int | None = None) -> DeltaTable:
        deltalake = _deltalake()
        if not self.exists(path):
            raise LakehouseError(f"no Delta table at {path}")
        if version is None:
            with _delta_errors("opening", path):
                return deltalake.DeltaTable(path, storage_options=self.storage_options)
        latest = self.version(path)
        if not 0 <= version <= latest:
            raise LakehouseError(f"Delta table at {path} has no version {version} (versions 0..{latest})")
        with _delta_errors(f"opening version {version}", path):
            return deltalake.DeltaTable(path, version=version, storage_options=self.storage_options)

    def _to_arrow(self, rows: DataFrame | pa.Table) -> pa.Table:
        return arrow_for_delta(rows if isinstance(rows, pa.Table) else rows.toArrow())

    def exists(self, path: str) -> bool:
        """True when `path` holds a Delta table."""
        return bool(_deltalake().DeltaTable.is_deltatable(path, storage_options=self.storage_options))

    def read(self, path: str, version: int | None = None) -> DataFrame:
        """The table (at `version`, or the latest) as a lazy Spark DataFrame over its active files."""
        from pyspark.errors import AnalysisException
        from pyspark.sql import functions as F

        table = self._open(path, version)
        _check_raw_readable(table, path)
        schema = spark_schema(table.schema())
        files = table.file_uris()
        if not files:
            return self._empty(schema)
        try:
            # basePath makes Spark read `col=value` folders as partition columns, typed by the given schema.
            df = (self.spark.read.schema(schema).option("basePath", table.table_uri.rstrip("/"))
                  .parquet(*files))
        except AnalysisException as exc:
            at = f"version {version}" if version is not None else "the latest version"
            reason = str(exc).splitlines()[0]
            if (exc.getCondition() or "") == "PATH_NOT_FOUND":
                reason = f"a data file it references is gone (removed by VACUUM?): {reason}"
            raise LakehouseError(f"cannot read {at} of Delta table at {path}: {reason}") from exc
        return df.select(*[F.col(f"`{name}`") for name in schema.fieldNames()])

    def _empty(self, schema: StructType) -> DataFrame:
        """An empty DataFrame with exactly `schema`, built from Arrow (a local relation: no Python workers)."""
        from pyspark.sql.pandas.types import to_arrow_schema

        return self.spark.createDataFrame(to_arrow_schema(schema).empty_table(), schema=schema)

    def _pad_missing_columns(self, path: str, data: pa.Table) -> pa.Table:
        """Add, as nulls, table columns the data lacks (Spark-native Delta does the same on append)."""
        if not self.exists(path):
            return data
        target = self._open(path).schema().to_arrow()
        target = pa.schema(target) if not isinstance(target, pa.Schema) else target
        for field in target:
            if field.name not in data.column_names:
                data = data.append_column(pa.field(field.name, _delta_type(field.type)),
                                          pa.nulls(data.num_rows, _delta_type(field.type)))
        return data

    def write(self, path: str, df: DataFrame | pa.Table, *, mode: WriteMode = "append",
              partition_by: Sequence[str] = (), merge_schema: bool = False, cluster_by: Sequence[str] = ()) -> int:
        """Append or overwrite; creates the table when absent. Returns the new table version.

        With `merge_schema`, an append adds new columns and an overwrite replaces the schema (and the
        partitioning) with the DataFrame's. With `cluster_by`, rows are sorted by partition then by those
        columns before they are written.
        """
        if mode not in _WRITE_MODES:
            raise LakehouseError(f"unknown write mode {mode!r}; expected one of {', '.join(_WRITE_MODES)}")
        deltalake = _deltalake()
        data = _clustered(self._to_arrow(df), [*partition_by, *cluster_by] if cluster_by else [])
        if mode == "append":
            data = self._pad_missing_columns(path, data)
        schema_mode = ("overwrite" if mode == "overwrite" else "merge") if merge_schema else None
        with _delta_errors(f"{mode} write", path):
            deltalake.write_deltalake(path, data, mode=mode, partition_by=list(partition_by) or None,
                                      schema_mode=schema_mode, storage_options=self.storage_options)
        return self.version(path)

    def merge(self, path: str, source: DataFrame | pa.Table, keys: Sequence[str], *, update: bool = True,
              insert: bool = True, merge_schema: bool = False, partition_by: Sequence[str] = (),
              target_partitions: Mapping[str, Sequence[Any]] | None = None,
              target_ranges: Mapping[str, Bounds | None] | None = None, cluster_by: Sequence[str] = ()) -> MergeMetrics:
        """Upsert `source` on equality of `keys`; creates the table from `source` when absent.

        A commit that conflicts with a concurrent writer is retried on the table as it then is.
        `target_ranges` are target-only conditions, which delta-rs uses to skip files by their statistics.
        """
        check_merge_clauses(path, keys, update=update, insert=insert)
        data = self._to_arrow(source)
        missing = [k for k in keys if k not in data.column_names]
        if missing:
            raise LakehouseError(f"MERGE into {path}: key columns {missing} are not in the source "
                                 f"(columns: {', '.join(data.column_names)})")
        predicate = (" AND ".join(f"target.`{k}` = source.`{k}`" for k in keys)
                     + _partition_pruning(data, [p for p in partition_by if p in keys])
                     + target_partition_clause(target_partitions) + target_range_clause(target_ranges))

        def attempt() -> MergeMetrics:
            if not self.exists(path):
                rows = _clustered(data, [*partition_by, *cluster_by] if cluster_by else []) if insert else data.slice(0, 0)
                with _delta_errors("MERGE (create)", path):
                    _deltalake().write_deltalake(path, rows, mode="append", partition_by=list(partition_by) or None,
                                                 storage_options=self.storage_options)
                return MergeMetrics(rows_inserted=rows.num_rows, rows_updated=0, version=self.version(path))
            table = self._open(path)
            with _delta_errors("MERGE", path):
                merger = table.merge(source=data, predicate=predicate, source_alias="source", target_alias="target",
                                     merge_schema=merge_schema)
                if update:
                    merger = merger.when_matched_update_all()
                if insert:
                    merger = merger.when_not_matched_insert_all()
                metrics = merger.execute()
            return MergeMetrics(rows_inserted=int(metrics.get("num_target_rows_inserted", 0)),
                                rows_updated=int(metrics.get("num_target_rows_updated", 0)),
                                version=self.version(path))

        return retry_on_conflict(path, attempt, is_conflict)

    def optimize(self, path: str, zorder_by: Sequence[str] = (),
                 partitions: Mapping[str, Sequence[Any]] | None = None) -> OptimizeMetrics:
        """Compact small files, clustering by `zorder_by` when given; only in `partitions` when given."""
        table = self._open(path)
        filters = [(column, "in", [str(v) for v in values]) for column, values in (partitions or {}).items()] or None
        with _delta_errors("OPTIMIZE", path):
            metrics = (table.optimize.z_order(list(zorder_by), partition_filters=filters) if zorder_by
                       else table.optimize.compact(partition_filters=filters))
        return OptimizeMetrics(files_added=int(metrics.get("numFilesAdded", 0)),
                               files_removed=int(metrics.get("numFilesRemoved", 0)),
                               version=self.version(path), extra=dict(metrics))

    def file_count(self, path: str, partitions: Mapping[str, Sequence[Any]] | None = None) -> int:
        """Data files the latest version references, in `partitions` when given (from the log)."""
        filters = [(column, "in", [str(v) for v in values]) for column, values in (partitions or {}).items()] or None
        with _delta_errors("listing files", path):
            return len(self._open(path).file_uris(partition_filters=filters))

    def vacuum(self, path: str, retention_hours: float = 168.0) -> list[str]:
        """Delete unreferenced files older than the retention (hours, rounded up); returns what was removed.

        Runs in full mode, like Spark-native VACUUM: files the log never referenced (left by failed
        writes) go too, and tombstones from before the last checkpoint are not missed.
        """
        if retention_hours < 0:
            raise LakehouseError(f"VACUUM retention must be >= 0 hours, got {retention_hours}")
        table = self._open(path)
        with _delta_errors("VACUUM", path):
            return list(table.vacuum(retention_hours=math.ceil(retention_hours), dry_run=False,
                                     enforce_retention_duration=False, full=True))

    def version(self, path: str) -> int:
        """The latest committed version."""
        return int(self._open(path).version())

    def history(self, path: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit history, newest first: `version`, `timestamp` (UTC), `operation`, parameters and metrics."""
        table = self._open(path)
        with _delta_errors("reading history", path):
            commits = table.history(limit)
        return [_history_entry(commit) for commit in commits]


def _history_entry(commit: dict[str, Any]) -> dict[str, Any]:
    """One delta-rs commit info in the shape both back ends return."""
    millis = commit.get("timestamp")
    return {
        "version": int(commit["version"]),
        "timestamp": datetime.fromtimestamp(millis / 1000, tz=UTC) if millis is not None else None,
        "operation": commit.get("operation"),
        "operation_parameters": dict(commit.get("operationParameters") or {}),
        "operation_metrics": dict(commit.get("operationMetrics") or {}),
        "engine": commit.get("engineInfo") or commit.get("clientVersion"),
    }
