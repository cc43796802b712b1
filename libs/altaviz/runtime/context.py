"""The run context every stage receives: Spark, the lakehouse, the configuration, a clock and a progress sink.

The configuration (pipeline settings, quality rules and checks, thresholds, ML settings, emission factors) is loaded once, strictly, when the
context is made: a bad file fails the run before any stage starts, and no stage reads YAML mid-run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from altaviz.config import Settings, load_settings
from altaviz.lakehouse.files import FileStore, file_store_for
from altaviz.lakehouse.paths import LakehousePaths, resolve_paths
from altaviz.ml.settings import MlSettings, load_ml_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from altaviz.lakehouse.lakehouse import Lakehouse
    from altaviz.ml.emissions import EmissionFactors
    from altaviz.quality import QualityConfig
    from altaviz.thresholds import Thresholds


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def _default_emissions() -> EmissionFactors:
    from altaviz.ml.emissions import load_emission_factors

    return load_emission_factors()


def _no_progress(message: str) -> None:
    """Default progress sink: silent."""


@dataclass
class RunContext:
    """Dependencies of a pipeline run, passed in rather than looked up (tests swap any of them)."""

    spark: SparkSession
    lakehouse: Lakehouse
    files: FileStore
    settings: Settings
    quality: QualityConfig
    thresholds: Thresholds
    ml: MlSettings = field(default_factory=MlSettings)
    emissions: EmissionFactors = field(default_factory=lambda: _default_emissions())
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    clock: Callable[[], datetime] = utc_now
    progress: Callable[[str], None] = _no_progress

    @property
    def paths(self) -> LakehousePaths:
        """The path resolver of this run's lakehouse."""
        return self.lakehouse.paths

    @classmethod
    def create(cls, spark: SparkSession, paths: LakehousePaths | None = None, *,
               settings: Settings | None = None, quality: QualityConfig | None = None,
               thresholds: Thresholds | None = None, ml: MlSettings | None = None,
               emissions: EmissionFactors | None = None, progress: Callable[[str], None] | None = None,
               clock: Callable[[], datetime] | None = None) -> RunContext:
        """Wire a context from a Spark session and a path layout (default: the local root).

        Settings, quality rules and checks, and thresholds not given are loaded from the config folder.

        Raises:
            ConfigError: A config file is missing or invalid (the message names the file and the key).
        """
        from altaviz.lakehouse.lakehouse import Lakehouse
        from altaviz.quality import load_quality_config
        from altaviz.thresholds import load_thresholds

        resolved = paths or resolve_paths()
        return cls(
            spark=spark,
            lakehouse=Lakehouse(spark, resolved),
            files=file_store_for(resolved, spark),
            settings=settings or load_settings(),
            quality=quality or load_quality_config(),
            thresholds=thresholds or load_thresholds(),
            ml=ml or load_ml_settings(),
            emissions=emissions or _default_emissions(),
            clock=clock or utc_now,
            progress=progress or _no_progress,
        )
