"""quality.yaml: the shipped checks, and a strict loader whose errors name the bad key or value."""

from __future__ import annotations

import pytest

from altaviz.errors import ConfigError
from altaviz.quality import CheckConfig, QualityConfig, load_quality_config
from altaviz.quality.checks import SensorCompletenessParams, VolumeParams
from altaviz.quality.registry import NoParams

VALID_ENTRY = "  - {name: freshness, check: freshness, threshold: 15, level: warn}\n"


@pytest.mark.parametrize(("name", "threshold", "level", "comparison"), [
    ("fleet_completeness", 0.85, "block", ">="),
    ("freshness", 15, "warn", "<="),
    ("sensor_completeness", 0.95, "warn", ">="),
    ("volume_consistency", 0.5, "warn", "abs_dev<="),
    ("pressure_consistency", 0.99, "warn", ">="),
    ("reject_rate", 0.05, "warn", "<="),
], ids=["fleet_completeness", "freshness", "sensor_completeness", "volume_consistency", "pressure_consistency",
        "reject_rate"])
def test_shipped_config_declares_the_silver_checks(name, threshold, level, comparison):
    """config/quality.yaml declares each check with its documented threshold, level and comparison."""
    declared = {c.name: c for c in load_quality_config().checks}[name]
    assert (declared.check, declared.threshold, declared.level, declared.comparison) == (
        name, threshold, level, comparison)


def test_shipped_config_has_typed_params_with_defaults():
    """Params load into each check's own frozen dataclass; absent params take its defaults."""
    declared = {c.name: c for c in load_quality_config().checks}
    assert len(declared) == 6
    assert declared["volume_consistency"].params == VolumeParams(trailing_runs=7)
    assert declared["sensor_completeness"].params == SensorCompletenessParams()
    assert declared["reject_rate"].params == NoParams()


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("check:\n" + VALID_ENTRY, ["unknown key check", "allowed keys: rules, checks"]),
    ("checks:\n  - {name: f, check: freshness, treshold: 15, level: warn}\n",
     ["unknown key checks[0].treshold", "allowed keys: name, check, threshold, level, params"]),
    ("checks:\n  - {name: f, check: freshnes, threshold: 15, level: warn}\n",
     ["checks[0]", "'freshnes'", "allowed checks: fleet_completeness, freshness, pressure_consistency"]),
    ("checks:\n  - {name: f, check: freshness, threshold: 15, level: error}\n",
     ["checks[0]", "level 'error'", "allowed levels: warn, block"]),
    ("checks:\n" + VALID_ENTRY + "  - {name: reject_rate, check: reject_rate, threshold: 0.05, level: warn}\n"
     + VALID_ENTRY, ["checks[2].name", "duplicate check name 'freshness'", "checks[0]"]),
    ("checks:\n  - {name: v, check: volume_consistency, threshold: 0.5, level: warn, params: {window: 7}}\n",
     ["unknown key checks[0].params.window", "allowed keys: trailing_runs"]),
    ("checks:\n  - {name: r, check: reject_rate, threshold: 0.05, level: warn, params: {window: 7}}\n",
     ["checks[0].params", "'reject_rate' takes no params"]),
    ("checks:\n  - {name: f, check: freshness, threshold: 15, level: warn, params: {lookback_minutes: 0}}\n",
     ["checks[0].params", "lookback_minutes must be a whole number of minutes >= 1"]),
    ("checks:\n  - {name: s, check: sensor_completeness, threshold: 0.9, level: warn, params: {sensors: [rpm]}}\n",
     ["checks[0].params", "unknown sensor 'rpm'", "allowed sensors: vibration_mms"]),
    ("checks:\n  - {name: f, check: freshness, level: warn}\n", ["missing key checks[0].threshold"]),
    ("checks:\n  - {name: f, check: freshness, threshold: soon, level: warn}\n",
     ["checks[0].threshold must be a number", "'soon'"]),
    ("rules: null\nchecks: []\n", None),
    ("checks: []\n", ["missing key rules"]),
    ("rules:\n  - {rule: stuck_sensr}\nchecks: []\n",
     ["rules[0]", "'stuck_sensr' is not a registered rule", "allowed rules: before_commissioning"]),
    ("rules:\n  - {rule: impossible_value, params: {vibration_mms: [5, 1]}}\nchecks: []\n",
     ["rules[0].params", "vibration_mms must be [low, high] with low < high"]),
    ("rules:\n  - {rule: null_required_field, params: {strict: true}}\nchecks: []\n",
     ["rules[0].params", "rule 'null_required_field' takes no params"]),
], ids=["unknown_top_level_key", "unknown_entry_key", "unknown_check", "bad_level", "duplicate_name",
        "unknown_param", "params_on_paramless_check", "lookback_not_positive", "unknown_sensor", "missing_threshold",
        "threshold_not_number", "empty_rules_is_allowed", "missing_rules", "unknown_rule", "bad_rule_param",
        "params_on_paramless_rule"])
def test_loader_rejects_bad_config_naming_the_problem(tmp_path, yaml_text, expected):
    """Each invalid file raises ConfigError naming the file, the bad key or value and what is allowed (an empty
    `rules:` is valid: no reading is rejected)."""
    path = tmp_path / "quality.yaml"
    if not yaml_text.startswith(("rules", "checks: []")):
        yaml_text = "rules: []\n" + yaml_text
    path.write_text(yaml_text, encoding="utf-8")
    if expected is None:
        assert load_quality_config(path).rules == ()
        return
    with pytest.raises(ConfigError) as raised:
        load_quality_config(path)
    message = str(raised.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_loader_reports_a_missing_file(tmp_path):
    """A path that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="not found"):
        load_quality_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"check": "no_such_check"}, "'no_such_check' is not a registered check"),
    ({"level": "fatal"}, "allowed levels: warn, block"),
    ({"params": VolumeParams()}, "must be a LookbackParams"),
], ids=["unknown_check", "bad_level", "params_of_another_check"])
def test_check_config_validates_when_built_in_code(kwargs, fragment):
    """CheckConfig built directly (not from YAML) is validated just the same."""
    fields = {"name": "f", "check": "freshness", "threshold": 15.0, "level": "warn", **kwargs}
    with pytest.raises(ConfigError, match=fragment):
        CheckConfig(**fields)


def test_config_is_frozen():
    """Loaded config cannot be changed after the fact."""
    config = QualityConfig((CheckConfig("f", "freshness", 15.0, "warn"),))
    with pytest.raises(AttributeError):
        config.checks[0].threshold = 1.0  # type: ignore[misc]
