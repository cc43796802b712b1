"""Silver data quality: row rules and checks declared in config/quality.yaml, evaluated in one pass, gated by level."""

from altaviz.quality import checks as _checks  # noqa: F401  (registers the built-in checks)
from altaviz.quality import silver_rules as _rules  # noqa: F401  (registers the built-in row rules)
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
from altaviz.quality.rules import RowEnv, RuleConfig, RuleSpec, get_rule, label, register_rule, registered_rules, split

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
    "RowEnv",
    "RuleConfig",
    "RuleSpec",
    "Skipped",
    "enforce",
    "evaluate",
    "failed_blocks",
    "format_report",
    "get_check",
    "get_rule",
    "label",
    "load_quality_config",
    "parse_quality_config",
    "register_check",
    "register_rule",
    "registered_checks",
    "registered_rules",
    "results_frame",
    "split",
]
