"""Silver data quality: checks declared in config/quality.yaml, evaluated in one pass, gated by level."""

from altaviz.quality import checks as _checks  # noqa: F401  (registers the built-in checks)
from altaviz.quality.config import LEVELS, CheckConfig, QualityConfig, load_quality_config, parse_quality_config
from altaviz.quality.engine import CheckResult, evaluate
from altaviz.quality.registry import (
    COMPARISONS,
    CheckSpec,
    NoParams,
    QualityInputs,
    Skipped,
    get_check,
    register_check,
    registered_checks,
)
from altaviz.quality.results import QualityGateError, enforce, failed_blocks, format_report, results_frame

__all__ = [
    "COMPARISONS",
    "LEVELS",
    "CheckConfig",
    "CheckResult",
    "CheckSpec",
    "NoParams",
    "QualityConfig",
    "QualityGateError",
    "QualityInputs",
    "Skipped",
    "enforce",
    "evaluate",
    "failed_blocks",
    "format_report",
    "get_check",
    "load_quality_config",
    "parse_quality_config",
    "register_check",
    "registered_checks",
    "results_frame",
]
