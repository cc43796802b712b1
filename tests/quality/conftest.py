"""Quality test fixtures: small clean-telemetry DataFrames built from Arrow, and QualityInputs around them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pytest
from quality_data import AS_OF, CLEAN_ARROW_SCHEMA

from altaviz.quality import CheckConfig, CheckResult, QualityConfig, QualityInputs, evaluate


@pytest.fixture(scope="session")
def clean_frame(spark) -> Callable[[Sequence[dict[str, Any]]], Any]:
    """Build a clean-telemetry DataFrame from reading dicts (via Arrow: no Python workers)."""

    def build(rows: Sequence[dict[str, Any]]):
        return spark.createDataFrame(pa.Table.from_pylist(list(rows), schema=CLEAN_ARROW_SCHEMA))

    return build


@pytest.fixture(scope="session")
def make_inputs(clean_frame) -> Callable[..., QualityInputs]:
    """QualityInputs over `rows`, counts defaulting to a run where every raw row came out clean."""

    def build(rows: Sequence[dict[str, Any]] = (), **overrides: Any) -> QualityInputs:
        fields = {"raw_rows": len(rows), "clean_rows": len(rows), "rejected_rows": 0, "duplicate_rows": 0,
                  "expected_units": 20, "as_of": AS_OF, **overrides}
        clean = fields.pop("clean") if "clean" in fields else clean_frame(rows)
        return QualityInputs(clean=clean, **fields)

    return build


@pytest.fixture(scope="session")
def run_check() -> Callable[..., list[CheckResult]]:
    """Evaluate a single declared check (name = check) against some inputs."""

    def run(inputs: QualityInputs, check: str, threshold: float, level: str = "warn",
            params: Any = None) -> list[CheckResult]:
        return evaluate(inputs, QualityConfig((CheckConfig(check, check, threshold, level, params),)))

    return run
