"""Delta tables through Spark-native Delta Lake (`delta-spark`): what Fabric Runtime 2.0 runs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from altaviz.errors import LakehouseError, one_line
from altaviz.lakehouse.backend import (
    CLUSTERED_FILE_ROWS,
    Bounds,
    DeltaBackend,
    MergeMetrics,
    OptimizeMetrics,
    WriteMode,
    check_merge_clauses,
    partition_predicate,
    retry_on_conflict,
    target_partition_clause,
    target_range_clause,
)
from altaviz.schemas import is_naive_timestamp

if TYPE_CHECKING:
    import pyarrow as pa
    from delta.tables import DeltaTable
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

AUTO_MERGE_CONF = "spark.databricks.delta.schema.autoMerge.enabled"
RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"
_WRITE_MODES = ("append", "overwrite")
# Delta's optimistic-concurrency failures (class names and error classes): the commit lost a race, retry it.
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
              "ConcurrentTransactionException", "ConcurrentWriteException", "ProtocolChangedException",
              "MetadataChangedException", "DELTA_CONCURRENT_", "DELTA_PROTOCOL_CHANGED", "DELTA_METADATA_CHANGED")


def is_conflict(exc: BaseException) -> bool:
    """True when a Spark/Delta failure (or its cause) is a concurrent-commit conflict."""
    while exc is not None:
        if any(marker in f"{type(exc).__name__}: {exc}" for marker in _CONFLICTS):
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


def _ident(name: str) -> str:
    """A column name quoted for Spark SQL expressions."""
    return "`" + name.replace("`", "``") + "`"


@contextmanager
def session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set a Spark SQL conf for the duration of a block, then restore what was there.

    Args:
        spark: the session.
        key: the conf key.
        value: the value while the block runs.
    """
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


@contextmanager
def _spark_errors(action: str, path: str) -> Iterator[None]:
    """Turn Spark/Delta failures into a LakehouseError naming the operation and the table."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        yield
    except (PySparkException, Py4JJavaError) as exc:
        raise LakehouseError(f"{action} failed for Delta table at {path}: {one_line(exc)}") from exc


def _without_ntz(dtype: DataType) -> DataType:
    """`dtype` with every time-zone-less timestamp (nested too) replaced by TIMESTAMP."""
    from pyspark.sql import types as T

    if is_naive_timestamp(dtype):
        return T.TimestampType()
    if isinstance(dtype, T.StructType):
        return T.StructType([T.StructField(f.name, _without_ntz(f.dataType), f.nullable, f.metadata)
                             for f in dtype.fields])
    if isinstance(dtype, T.ArrayType):
        return T.ArrayType(_without_ntz(dtype.elementType), dtype.containsNull)
    if isinstance(dtype, T.MapType):
        return T.MapType(_without_ntz(dtype.keyType), _without_ntz(dtype.valueType), dtype.valueContainsNull)
    return dtype


def utc_timestamps(df: DataFrame) -> DataFrame:
    """Cast time-zone-less timestamp columns to TIMESTAMP so Delta records `timestamp` only.

    Naive values are read in the session time zone, which altaviz sessions set to UTC.

    Args:
        df: any DataFrame.

    Returns:
        `df` unchanged when it holds no time-zone-less timestamp, else one `select` casting those columns.
    """
    from pyspark.sql import functions as F

    fields = df.schema.fields
    if all(_without_ntz(f.dataType) == f.dataType for f in fields):
        return df
    return df.select(*[
        F.col(_ident(f.name)).cast(_without_ntz(f.dataType)).alias(f.name)
        if _without_ntz(f.dataType) != f.dataType else F.col(_ident(f.name))
        for f in fields])


def _metric(metrics: dict[str, Any] | None, key: str) -> int:
    value = (metrics or {}).get(key)
    return int(value) if value not in (None, "") else 0


def _plain_metrics(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """Delta reports history metrics as strings; numbers become ints."""
    return {k: int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v for k, v in (metrics or {}).items()}


class SparkDeltaBackend(DeltaBackend):
    """Delta through `delta.tables.DeltaTable` and `DataFrameWriter.format("delta")`.

    Needs a session with Delta's extension and jars (always true in Fabric). `delta.tables` is imported
    inside methods so that the wheel imports without delta-spark.
    """

    name = "spark-delta"
    side_by_side = True  # each write is a Spark job; the driver holds no batch

    def _table(self, path: str) -> DeltaTable:
        from delta.tables import DeltaTable

        with _spark_errors("opening", path):
            return DeltaTable.forPath(self.spark, path)

    def _last_commit(self, path: str) -> dict[str, Any]:
        history = self.history(path, limit=1)
        if not history:
            raise LakehouseError(f"Delta table at {path} has no commits")
        return history[0]

    def exists(self, path: str) -> bool:
        """True when `path` holds a Delta table."""
        from delta.tables import DeltaTable
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        try:
            return bool(DeltaTable.isDeltaTable(self.spark, path))
        except (PySparkException, Py4JJavaError):  # an unreachable or malformed location holds no table
            return False

    def read(self, path: str, version: int | None = None) -> DataFrame:
        """The table (at `version` via `versionAsOf`, or the latest) as a Spark DataFrame."""
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        at = f"reading version {version}" if version is not None else "reading"
        with _spark_errors(at, path):
            return reader.load(path)

    def write(self, path: str, df: DataFrame | pa.Table, *, mode: WriteMode = "append",
              partition_by: Sequence[str] = (), merge_schema: bool = False, cluster_by: Sequence[str] = ()) -> int:
        """Append or overwrite; creates the table when absent. Returns the new table version.

        With `merge_schema`, an append adds new columns (`mergeSchema`) and an overwrite replaces the
        schema and partitioning (`overwriteSchema`). An overwrite always replaces the whole table, even
        when the session asks for dynamic partition overwrite. With `cluster_by`, each task sorts its rows
        by partition then by those columns (the sort the writer makes by partition anyway) and cuts files
        every `CLUSTERED_FILE_ROWS` rows, so each file spans a narrow range of them.
        """
        if mode not in _WRITE_MODES:
            raise LakehouseError(f"unknown write mode {mode!r}; expected one of {', '.join(_WRITE_MODES)}")
        frame = utc_timestamps(self.frame(df))
        if cluster_by:
            frame = frame.sortWithinPartitions(*partition_by, *cluster_by)
        writer = frame.write.format("delta").mode(mode)
        if cluster_by:
            writer = writer.option("maxRecordsPerFile", str(CLUSTERED_FILE_ROWS))
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if mode == "overwrite":
            writer = writer.option("partitionOverwriteMode", "static")
        if merge_schema:
            writer = writer.option("overwriteSchema" if mode == "overwrite" else "mergeSchema", "true")
        with _spark_errors(f"{mode} write", path):
            writer.save(path)
        return self.version(path)

    def merge(self, path: str, source: DataFrame | pa.Table, keys: Sequence[str], *, update: bool = True,
              insert: bool = True, merge_schema: bool = False, partition_by: Sequence[str] = (),
              target_partitions: Mapping[str, Sequence[Any]] | None = None,
              target_ranges: Mapping[str, Bounds | None] | None = None, cluster_by: Sequence[str] = ()) -> MergeMetrics:
        """Upsert `source` on equality of `keys`; creates the table from `source` when absent.

        A commit that conflicts with a concurrent writer (Delta's optimistic concurrency) is retried.
        `target_ranges` are target-only conditions, which Delta uses to skip files by their statistics.
        """
        check_merge_clauses(path, keys, update=update, insert=insert)
        source = self.frame(source)
        missing = [k for k in keys if k not in source.columns]
        if missing:
            raise LakehouseError(f"MERGE into {path}: key columns {missing} are not in the source "
                                 f"(columns: {', '.join(source.columns)})")
        source = utc_timestamps(source)
        condition = (" AND ".join(f"target.{_ident(k)} = source.{_ident(k)}" for k in keys)
                     + target_partition_clause(target_partitions) + target_range_clause(target_ranges))

        def attempt() -> MergeMetrics:
            if not self.exists(path):
                version = self.write(path, source if insert else source.limit(0), mode="append",
                                     partition_by=partition_by, cluster_by=cluster_by)
                inserted = _metric(self._last_commit(path)["operation_metrics"], "numOutputRows")
                return MergeMetrics(rows_inserted=inserted, rows_updated=0, version=version)
            with _spark_errors("MERGE", path):
                builder = self._table(path).alias("target").merge(source.alias("source"), condition)
                if update:
                    builder = builder.whenMatchedUpdateAll()
                if insert:
                    builder = builder.whenNotMatchedInsertAll()
                if merge_schema and hasattr(builder, "withSchemaEvolution"):  # Delta 3.2+
                    result = builder.withSchemaEvolution().execute()
                elif merge_schema:
                    with session_conf(self.spark, AUTO_MERGE_CONF, "true"):
                        result = builder.execute()
                else:
                    result = builder.execute()
                # The MERGE's own counts: the table's latest commit may already be another writer's.
                counts = result.first()
            return MergeMetrics(rows_inserted=int(counts["num_inserted_rows"] or 0) if counts else 0,
                                rows_updated=int(counts["num_updated_rows"] or 0) if counts else 0,
                                version=self.version(path))

        return retry_on_conflict(path, attempt, is_conflict)

    def optimize(self, path: str, zorder_by: Sequence[str] = (),
                 partitions: Mapping[str, Sequence[Any]] | None = None) -> OptimizeMetrics:
        """Compact small files (`executeCompaction`), or Z-order by `zorder_by` (`executeZOrderBy`)."""
        with _spark_errors("OPTIMIZE", path):
            builder = self._table(path).optimize()
            if partitions:
                builder = builder.where(partition_predicate(partitions))
            result = builder.executeZOrderBy(*zorder_by) if zorder_by else builder.executeCompaction()
            row = result.first()
        metrics = row["metrics"].asDict(recursive=True) if row is not None and row["metrics"] is not None else {}
        return OptimizeMetrics(files_added=_metric(metrics, "numFilesAdded"),
                               files_removed=_metric(metrics, "numFilesRemoved"),
                               version=self.version(path), extra=metrics)

    def file_count(self, path: str, partitions: Mapping[str, Sequence[Any]] | None = None) -> int:
        """Data files the latest version references, in `partitions` when given (partition pruning, no scan)."""
        with _spark_errors("listing files", path):
            table = self.read(path)
            if partitions:
                table = table.where(partition_predicate(partitions))
            return len(table.inputFiles())

    def vacuum(self, path: str, retention_hours: float = 168.0) -> list[str]:
        """Delete unreferenced files older than the retention; returns what was removed.

        Delta refuses retentions under its configured minimum (7 days) unless the retention check is off;
        it is switched off for this call only, since asking for a short retention is deliberate here.
        """
        if retention_hours < 0:
            raise LakehouseError(f"VACUUM retention must be >= 0 hours, got {retention_hours}")
        location = "delta.`" + path.replace("`", "``") + "`"
        with session_conf(self.spark, RETENTION_CHECK_CONF, "false"), _spark_errors("VACUUM", path):
            # VACUUM itself returns nothing useful; the dry run lists what it is about to delete.
            doomed = [row["path"] for row in
                      self.spark.sql(f"VACUUM {location} RETAIN {float(retention_hours)} HOURS DRY RUN").collect()]
            self._table(path).vacuum(float(retention_hours))
        return doomed

    def version(self, path: str) -> int:
        """The latest committed version, from the Delta log itself (no Spark job; history as the fallback)."""
        from py4j.protocol import Py4JError

        jvm = self.spark._jvm  # type: ignore[attr-defined]
        try:
            log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self.spark._jsparkSession, path)  # type: ignore[attr-defined]
            snapshot = log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty())
            version = int(snapshot.version())
        except Py4JError:  # another Delta release's internal signature: ask the public history instead
            return int(self._last_commit(path)["version"])
        if version < 0:
            raise LakehouseError(f"Delta table at {path} has no commits")
        return version

    def history(self, path: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit history, newest first: `version`, `timestamp` (UTC), `operation`, parameters and metrics."""
        from pyspark.sql import functions as F

        with _spark_errors("reading history", path):
            rows = (self._table(path).history(limit)
                    .select("version", F.unix_micros("timestamp").alias("timestamp_us"), "operation",
                            "operationParameters", "operationMetrics", "engineInfo")
                    .orderBy(F.col("version").desc())
                    .collect())
        return [{
            "version": int(row["version"]),
            # unix micros, not the timestamp itself: collect() would give a naive local-time datetime.
            "timestamp": datetime.fromtimestamp(row["timestamp_us"] / 1_000_000, tz=UTC),
            "operation": row["operation"],
            "operation_parameters": dict(row["operationParameters"] or {}),
            "operation_metrics": _plain_metrics(row["operationMetrics"]),
            "engine": row["engineInfo"],
        } for row in rows]
