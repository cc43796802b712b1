"""The Delta back-end interface: the operations every stage may use, whatever engine stores the table."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

WriteMode = Literal["append", "overwrite"]


@dataclass(frozen=True)
class MergeMetrics:
    """What a MERGE changed."""

    rows_inserted: int
    rows_updated: int
    version: int


@dataclass(frozen=True)
class OptimizeMetrics:
    """What an OPTIMIZE rewrote."""

    files_added: int
    files_removed: int
    version: int
    extra: dict[str, Any] = field(default_factory=dict)


def partition_predicate(partitions: Mapping[str, Sequence[Any]]) -> str:
    """A SQL predicate `col IN ('v', ...) AND ...` selecting partitions by value (values quoted as strings)."""
    def quoted(value: Any) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    return " AND ".join(f"`{column}` IN ({', '.join(quoted(v) for v in values)})"
                        for column, values in partitions.items())


def check_merge_clauses(path: str, keys: Sequence[str], *, update: bool, insert: bool) -> None:
    """Refuse a MERGE without keys or without any clause, naming the table."""
    from altaviz.errors import LakehouseError

    if not keys:
        raise LakehouseError(f"MERGE into {path} needs at least one key column")
    if not (update or insert):
        raise LakehouseError(f"MERGE into {path} needs an update or an insert clause")


class DeltaBackend(ABC):
    """One way of reading and writing Delta tables from Spark DataFrames.

    Writes and MERGEs also take an Arrow table, for rows a stage already holds on the driver.

    Paths are table folders produced by `LakehousePaths.table_path`. Timestamps are stored as UTC
    `TIMESTAMP` (never the time-zone-less timestamp type).
    """

    name: str

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def frame(self, rows: DataFrame | pa.Table) -> DataFrame:
        """`rows` as a Spark DataFrame (an Arrow table becomes a local relation; a DataFrame is returned as is)."""
        import pyarrow as pa

        return self.spark.createDataFrame(rows) if isinstance(rows, pa.Table) else rows

    @abstractmethod
    def exists(self, path: str) -> bool:
        """True when `path` holds a Delta table."""

    @abstractmethod
    def read(self, path: str, version: int | None = None) -> DataFrame:
        """The table (at `version`, or the latest) as a Spark DataFrame."""

    @abstractmethod
    def write(self, path: str, df: DataFrame | pa.Table, *, mode: WriteMode = "append", partition_by: Sequence[str] = (),
              merge_schema: bool = False) -> int:
        """Append or overwrite; creates the table when absent. Returns the new table version."""

    @abstractmethod
    def merge(self, path: str, source: DataFrame | pa.Table, keys: Sequence[str], *, update: bool = True,
              insert: bool = True, merge_schema: bool = False, partition_by: Sequence[str] = ()) -> MergeMetrics:
        """Upsert `source` on equality of `keys`; creates the table from `source` when absent."""

    @abstractmethod
    def optimize(self, path: str, zorder_by: Sequence[str] = (),
                 partitions: Mapping[str, Sequence[Any]] | None = None) -> OptimizeMetrics:
        """Compact small files, clustering by `zorder_by` when given; only in `partitions` (column -> values)."""

    @abstractmethod
    def vacuum(self, path: str, retention_hours: float = 168.0) -> list[str]:
        """Delete files no longer referenced and older than the retention; returns what was removed."""

    @abstractmethod
    def version(self, path: str) -> int:
        """The latest committed version."""

    @abstractmethod
    def history(self, path: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit history, newest first: at least `version`, `timestamp`, `operation`."""
