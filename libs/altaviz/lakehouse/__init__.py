"""Where tables live and how Delta is read and written: the one door to storage."""

from altaviz.lakehouse.backend import Bounds, DeltaBackend, MergeMetrics, OptimizeMetrics
from altaviz.lakehouse.lakehouse import Lakehouse, MergeBuilder, select_backend
from altaviz.lakehouse.paths import (
    LAKEHOUSES,
    LakehousePaths,
    LocalLakehousePaths,
    OneLakePaths,
    TableRef,
    resolve_paths,
)

__all__ = [
    "LAKEHOUSES",
    "Bounds",
    "DeltaBackend",
    "Lakehouse",
    "LakehousePaths",
    "LocalLakehousePaths",
    "MergeBuilder",
    "MergeMetrics",
    "OneLakePaths",
    "OptimizeMetrics",
    "TableRef",
    "resolve_paths",
    "select_backend",
]
