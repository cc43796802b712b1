"""The Delta back-end interface: the operations every stage may use, whatever engine stores the table."""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

WriteMode = Literal["append", "overwrite"]
T = TypeVar("T")
#: Tries of a write that lost a race with a concurrent commit (each re-reads the table as it now is).
CONFLICT_ATTEMPTS = 8
#: Rows per file when a write clusters its rows (`cluster_by`): small enough that a file spans a few hours
#: of a fleet-day, large enough that a day stays a few dozen files.
CLUSTERED_FILE_ROWS = 50_000


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


@dataclass(frozen=True)
class Bounds:
    """The range of a column's values in a MERGE source, inclusive (`lo`/`hi` None: no non-null values).

    Passed as `target_ranges`, it restricts the target rows a MERGE reads to that range, so Delta skips
    every file whose statistics lie outside it (a table partitioned by date then opens only the files of
    the hours a batch touches). It must contain every value of the source column: a source row outside it
    can match nothing. `or_null` keeps target rows whose value is null (for a source holding nulls).
    """

    lo: Any
    hi: Any
    or_null: bool = False

    def __post_init__(self) -> None:
        if (self.lo is None) != (self.hi is None):
            raise ValueError(f"bounds need both ends or neither, got {self.lo!r}..{self.hi!r}")
        if self.lo is None and not self.or_null:
            raise ValueError("bounds without values must keep nulls (or_null=True)")
        if self.lo is not None and self.lo > self.hi:
            raise ValueError(f"bounds are reversed: {self.lo!r} > {self.hi!r}")

    @classmethod
    def covering(cls, values: Iterable[Any], *, or_null: bool = False) -> Bounds | None:
        """The bounds of `values` (None entries ignored), or None when there is nothing to bound.

        Args:
            values: the source's values, or the minima and maxima of its summaries.
            or_null: some source rows hold null in the column.
        """
        present = [v for v in values if v is not None]
        if not present and not or_null:
            return None
        return cls(min(present, default=None), max(present, default=None), or_null=or_null)


def range_literal(value: Any) -> str:
    """A SQL literal both engines read for a bound: UTC timestamps, dates and numbers."""
    from altaviz.runtime.sqltext import literal

    if isinstance(value, (datetime, date, int, float)) and not isinstance(value, bool):
        return literal(value)
    raise TypeError(f"range bounds are timestamps, dates or numbers, not {value!r}")


def target_range_clause(ranges: Mapping[str, Bounds | None] | None) -> str:
    """` AND (target.`col` BETWEEN lo AND hi [OR target.`col` IS NULL])` for each bounded column (None: unbounded)."""
    parts = []
    for column, bounds in (ranges or {}).items():
        if bounds is None:
            continue
        name = "target.`" + column.replace("`", "``") + "`"
        tests = ([f"{name} >= {range_literal(bounds.lo)} AND {name} <= {range_literal(bounds.hi)}"]
                 if bounds.lo is not None else [])
        if bounds.or_null:
            tests.append(f"{name} IS NULL")
        parts.append(" AND (" + " OR ".join(f"({t})" for t in tests) + ")")
    return "".join(parts)


def partition_predicate(partitions: Mapping[str, Sequence[Any]]) -> str:
    """A SQL predicate `col IN ('v', ...) AND ...` selecting partitions by value (values quoted as strings)."""
    def quoted(value: Any) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    return " AND ".join(f"`{column}` IN ({', '.join(quoted(v) for v in values)})"
                        for column, values in partitions.items())


def target_partition_clause(partitions: Mapping[str, Sequence[Any]] | None) -> str:
    """` AND target.`col` IN (...)` restricting a MERGE's target to partition values (dates typed as DATE).

    Both engines prune the target's files by it, so the MERGE reads only those partitions, and Delta's
    conflict check then covers exactly them.
    """
    def literal(value: Any) -> str:
        if isinstance(value, datetime):
            raise TypeError(f"partition values are dates, strings or integers, not {value!r}")
        if isinstance(value, date):
            return f"CAST('{value.isoformat()}' AS DATE)"
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    return "".join(f" AND target.`{column}` IN ({', '.join(literal(v) for v in values)})"
                   for column, values in (partitions or {}).items() if values)


def retry_on_conflict(path: str, attempt: Callable[[], T], is_conflict: Callable[[BaseException], bool], *,
                      attempts: int = CONFLICT_ATTEMPTS, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `attempt` again when it lost a race with another writer's commit; other failures pass through.

    Delta commits optimistically: a writer whose read partitions changed under it fails instead of committing,
    and its retry sees the other commit (an insert-only MERGE then skips the rows the other writer stored).
    """
    from altaviz.errors import LakehouseError

    for number in range(1, attempts + 1):
        try:
            return attempt()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            if number == attempts:
                raise LakehouseError(f"gave up on Delta table at {path} after {attempts} concurrent-write "
                                     f"conflicts: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                     ) from exc
            sleep(min(2.0, 0.05 * 2 ** number) * (0.5 + random.random()))
    raise AssertionError("unreachable")


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
    #: Whether reads and writes of different tables may run side by side. A back end that brings each batch
    #: to the driver says no: two batches would be held at once.
    side_by_side: bool = False

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
              merge_schema: bool = False, cluster_by: Sequence[str] = ()) -> int:
        """Append or overwrite; creates the table when absent. Returns the new table version.

        `cluster_by` sorts the rows within each partition before writing (files then cover narrow ranges of
        those columns, so later range-bounded reads and MERGEs skip most of them).
        """

    @abstractmethod
    def merge(self, path: str, source: DataFrame | pa.Table, keys: Sequence[str], *, update: bool = True,
              insert: bool = True, merge_schema: bool = False, partition_by: Sequence[str] = (),
              target_partitions: Mapping[str, Sequence[Any]] | None = None,
              target_ranges: Mapping[str, Bounds | None] | None = None, cluster_by: Sequence[str] = ()) -> MergeMetrics:
        """Upsert `source` on equality of `keys`; creates the table from `source` when absent.

        One atomic commit; one that conflicts with a concurrent writer is retried on the table as it then is.
        `target_partitions` (partition column -> values) and `target_ranges` (column -> `Bounds` holding every
        source value) limit the target rows a source row can match, so the MERGE reads only those files.
        `cluster_by` orders the rows of a table created by the MERGE within each partition (see `write`).
        """

    @abstractmethod
    def optimize(self, path: str, zorder_by: Sequence[str] = (),
                 partitions: Mapping[str, Sequence[Any]] | None = None) -> OptimizeMetrics:
        """Compact small files, clustering by `zorder_by` when given; only in `partitions` (column -> values)."""

    @abstractmethod
    def file_count(self, path: str, partitions: Mapping[str, Sequence[Any]] | None = None) -> int:
        """Data files the latest version references (only in `partitions` when given), read from the log."""

    @abstractmethod
    def vacuum(self, path: str, retention_hours: float = 168.0) -> list[str]:
        """Delete files no longer referenced and older than the retention; returns what was removed."""

    @abstractmethod
    def version(self, path: str) -> int:
        """The latest committed version."""

    @abstractmethod
    def history(self, path: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit history, newest first: at least `version`, `timestamp`, `operation`."""
