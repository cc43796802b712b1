"""The one door to storage: stages read, write, merge and maintain tables by `TableRef`, never by path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from altaviz.errors import LakehouseError
from altaviz.lakehouse.backend import Bounds, DeltaBackend, MergeMetrics, OptimizeMetrics, WriteMode
from altaviz.lakehouse.paths import LakehousePaths, TableRef

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession


BACKEND_ENV_VAR = "ALTAVIZ_DELTA_BACKEND"
BACKEND_CHOICES = ("spark", "deltars")


def select_backend(spark: SparkSession, choice: str | None = None) -> DeltaBackend:
    """The Delta back end for this session: `choice` (or `$ALTAVIZ_DELTA_BACKEND`), else the best available.

    Without a choice, Spark-native Delta when its jars are loaded (always in Fabric; locally once
    `python -m altaviz.runtime.jvm fetch` has filled the cache), else delta-rs.

    Args:
        spark: the active session.
        choice: "spark" or "deltars"; None reads `$ALTAVIZ_DELTA_BACKEND` (empty means automatic).

    Returns:
        A `SparkDeltaBackend` or a `DeltaRsBackend`.

    Raises:
        ConfigError: the choice is not one of "spark", "deltars".
        EnvironmentSetupError: "spark" was asked for and the session has no Delta jars.
    """
    import os

    from altaviz.errors import ConfigError, EnvironmentSetupError
    from altaviz.runtime.spark import has_spark_delta

    choice = (choice if choice is not None else os.environ.get(BACKEND_ENV_VAR, "")).strip().lower()
    if choice and choice not in BACKEND_CHOICES:
        raise ConfigError(f"{BACKEND_ENV_VAR}={choice!r} is not a Delta back end; use one of "
                          f"{', '.join(BACKEND_CHOICES)} (or leave it unset)")
    if choice != "deltars" and has_spark_delta(spark):
        from altaviz.lakehouse.spark_delta import SparkDeltaBackend

        return SparkDeltaBackend(spark)
    if choice == "spark":
        raise EnvironmentSetupError(
            f"{BACKEND_ENV_VAR}=spark but this Spark session has no Delta jars: run `make venv` or "
            "`python -m altaviz.runtime.jvm fetch` (needs Maven and Maven Central), or set ALTAVIZ_DELTA_JARS")
    from altaviz.lakehouse.deltars import DeltaRsBackend

    return DeltaRsBackend(spark)


class MergeBuilder:
    """An upsert described like Delta's merge builder; nothing runs until `execute()`.

    Example:
        `lh.merge(ref, df, on=["id"]).when_matched_update_all().when_not_matched_insert_all().execute()`
    """

    def __init__(self, lakehouse: Lakehouse, ref: TableRef, source: DataFrame | pa.Table, on: Sequence[str],
                 partition_by: Sequence[str] = (), target_partitions: Mapping[str, Sequence[Any]] | None = None,
                 target_ranges: Mapping[str, Bounds | None] | None = None, cluster_by: Sequence[str] = ()) -> None:
        if isinstance(on, str):
            on = [on]
        if not on:
            raise LakehouseError(f"MERGE into {ref} needs at least one key column in `on`")
        self._lakehouse = lakehouse
        self._ref = ref
        self._source = source
        self._on = tuple(on)
        self._partition_by = tuple(partition_by)
        self._target_partitions = dict(target_partitions) if target_partitions else None
        self._target_ranges = dict(target_ranges) if target_ranges else None
        self._cluster_by = tuple(cluster_by)
        self._update = False
        self._insert = False
        self._schema_evolution = False

    def when_matched_update_all(self) -> MergeBuilder:
        """Overwrite every column of target rows whose keys match a source row.

        Returns:
            This builder.
        """
        self._update = True
        return self

    def when_not_matched_insert_all(self) -> MergeBuilder:
        """Insert source rows whose keys match no target row.

        Returns:
            This builder.
        """
        self._insert = True
        return self

    def with_schema_evolution(self) -> MergeBuilder:
        """Add source columns the target lacks (existing rows get nulls).

        Returns:
            This builder.
        """
        self._schema_evolution = True
        return self

    def execute(self) -> MergeMetrics:
        """Run the MERGE (creating the table from the source when absent).

        Returns:
            Rows inserted and updated, and the table version the MERGE committed.

        Raises:
            LakehouseError: no clause was given, or the MERGE failed.
        """
        if not (self._update or self._insert):
            raise LakehouseError(
                f"MERGE into {self._ref} has no clause: call when_matched_update_all() and/or "
                "when_not_matched_insert_all() before execute()")
        lh = self._lakehouse
        return lh.backend.merge(lh.table_path(self._ref), self._source, self._on, update=self._update,
                                insert=self._insert, merge_schema=self._schema_evolution,
                                partition_by=self._partition_by, target_partitions=self._target_partitions,
                                target_ranges=self._target_ranges, cluster_by=self._cluster_by)

    def __repr__(self) -> str:
        clauses = [name for name, on in (("update", self._update), ("insert", self._insert),
                                         ("schema_evolution", self._schema_evolution)) if on]
        return f"MergeBuilder({self._ref}, on={list(self._on)}, {'+'.join(clauses) or 'no clauses'})"


class Lakehouse:
    """Tables addressed by `TableRef`, stored where `paths` says, through one Delta back end."""

    def __init__(self, spark: SparkSession, paths: LakehousePaths, backend: DeltaBackend | None = None) -> None:
        self.spark = spark
        self.paths = paths
        self.backend = backend if backend is not None else select_backend(spark)

    @staticmethod
    def _ref(ref: TableRef | str) -> TableRef:
        return ref if isinstance(ref, TableRef) else TableRef.parse(ref)

    def table_path(self, ref: TableRef | str) -> str:
        """The Delta folder of a table.

        Args:
            ref: the table, or its name `lakehouse.table`.

        Returns:
            The path the configured `LakehousePaths` resolves it to.
        """
        return self.paths.table_path(self._ref(ref))

    def exists(self, ref: TableRef | str) -> bool:
        """True when the table has been created.

        Args:
            ref: the table.
        """
        return self.backend.exists(self.table_path(ref))

    def read(self, ref: TableRef | str, version: int | None = None) -> DataFrame:
        """Read a table, at `version` (time travel) or the latest.

        Args:
            ref: the table.
            version: a committed version, or None for the latest.

        Returns:
            A Spark DataFrame with the table's columns in table order.

        Raises:
            LakehouseError: the table does not exist, or the version cannot be read.
        """
        ref = self._ref(ref)
        path = self.table_path(ref)
        if not self.backend.exists(path):
            raise LakehouseError(f"table {ref} does not exist (no Delta table at {path})")
        return self.backend.read(path, version)

    def write(self, ref: TableRef | str, df: DataFrame | pa.Table, *, mode: WriteMode = "append",
              partition_by: Sequence[str] = (), merge_schema: bool = False, cluster_by: Sequence[str] = ()) -> int:
        """Append to or overwrite a table in one atomic commit, creating it when absent.

        Args:
            ref: the table.
            df: the rows: a Spark DataFrame, or an Arrow table already on the driver.
            mode: "append" or "overwrite".
            partition_by: partition columns (used when the table is created or its schema overwritten).
            merge_schema: on append, add new columns; on overwrite, replace the schema.
            cluster_by: sort rows by these columns within each partition, so each file covers a narrow range.

        Returns:
            The version the write committed.
        """
        return self.backend.write(self.table_path(ref), df, mode=mode, partition_by=tuple(partition_by),
                                  merge_schema=merge_schema, cluster_by=tuple(cluster_by))

    def merge(self, ref: TableRef | str, source: DataFrame | pa.Table, on: Sequence[str], *,
              partition_by: Sequence[str] = (),
              target_partitions: Mapping[str, Sequence[Any]] | None = None,
              target_ranges: Mapping[str, Bounds | None] | None = None, cluster_by: Sequence[str] = ()) -> MergeBuilder:
        """Start an upsert of `source` into a table on equality of the key columns `on`.

        The MERGE is one atomic commit; one that conflicts with a concurrent writer is retried.

        Args:
            ref: the target table.
            source: the rows to upsert (keys unique and non-null): a Spark DataFrame or an Arrow table.
            on: the key columns.
            partition_by: partition columns, used if the MERGE creates the table.
            target_partitions: only target rows in these partitions (column -> values) can match, so only
                those are read: the caller knows a source row cannot match anywhere else.
            target_ranges: per column, `Bounds` holding every source value of it: only target rows within
                them can match, and files whose statistics lie outside are skipped.
            cluster_by: when the MERGE creates the table, sort its rows by these columns (see `write`).

        Returns:
            A `MergeBuilder`; add clauses, then call `execute()`.
        """
        return MergeBuilder(self, self._ref(ref), source, on, partition_by, target_partitions, target_ranges,
                            cluster_by)

    def optimize(self, ref: TableRef | str, zorder_by: Sequence[str] = (),
                 partitions: Mapping[str, Sequence[Any]] | None = None) -> OptimizeMetrics:
        """Compact a table's small files, Z-ordering by `zorder_by` when given.

        Args:
            ref: the table.
            zorder_by: columns to cluster by (not partition columns).
            partitions: only these partitions (partition column -> values), e.g. the dates a run wrote.

        Returns:
            Files added and removed and the resulting version.
        """
        return self.backend.optimize(self._existing_path(ref), tuple(zorder_by), partitions)

    def optimize_if_fragmented(self, ref: TableRef | str, zorder_by: Sequence[str], partitions: Mapping[str, Sequence[Any]],
                               min_files_per_partition: int) -> OptimizeMetrics | None:
        """OPTIMIZE `partitions` only once they average more than `min_files_per_partition` files.

        Each MERGE adds a few files; compacting on every run would rewrite the same data hourly.

        Args:
            ref: the table.
            zorder_by: columns to cluster by.
            partitions: the partitions a run wrote (partition column -> values).
            min_files_per_partition: the average number of files per partition that triggers OPTIMIZE.

        Returns:
            What OPTIMIZE rewrote, or None when the partitions were still compact enough.
        """
        path = self._existing_path(ref)
        count = max(1, max((len(v) for v in partitions.values()), default=1))
        if self.backend.file_count(path, partitions) <= min_files_per_partition * count:
            return None
        return self.backend.optimize(path, tuple(zorder_by), partitions)

    def vacuum(self, ref: TableRef | str, retention_hours: float = 168.0) -> list[str]:
        """Delete files no longer referenced and older than the retention; old versions become unreadable.

        Args:
            ref: the table.
            retention_hours: keep files removed less than this long ago.

        Returns:
            The files removed.
        """
        return self.backend.vacuum(self._existing_path(ref), retention_hours)

    def version(self, ref: TableRef | str) -> int:
        """The latest committed version of a table.

        Args:
            ref: the table.
        """
        return self.backend.version(self._existing_path(ref))

    def history(self, ref: TableRef | str, limit: int | None = None) -> list[dict[str, Any]]:
        """A table's commits, newest first.

        Args:
            ref: the table.
            limit: at most this many commits.

        Returns:
            Dicts with `version`, `timestamp` (UTC datetime), `operation`, `operation_parameters`,
            `operation_metrics` and `engine`.
        """
        return self.backend.history(self._existing_path(ref), limit)

    def _existing_path(self, ref: TableRef | str) -> str:
        ref = self._ref(ref)
        path = self.table_path(ref)
        if not self.backend.exists(path):
            raise LakehouseError(f"table {ref} does not exist (no Delta table at {path})")
        return path

    def __repr__(self) -> str:
        return f"Lakehouse({self.paths!r}, backend={self.backend.name!r})"
