"""Where tables live and how Delta is read and written: the one door to storage."""

from altaviz.lakehouse.backend import DeltaBackend, MergeMetrics, OptimizeMetrics
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
    "DeltaBackend",
    "LakehousePaths",
    "LocalLakehousePaths",
    "MergeMetrics",
    "OneLakePaths",
    "OptimizeMetrics",
    "TableRef",
    "resolve_paths",
]
