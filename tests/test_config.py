"""Pipeline settings: loaded once, frozen, and strict about unknown keys and wrong types."""

from __future__ import annotations

import dataclasses

import pytest

from altaviz.config import CONFIG_DIR_ENV_VAR, config_dir, load_settings
from altaviz.errors import ConfigError


def test_repo_settings_load_with_demo_and_bronze_sections():
    """config/pipeline.yaml loads into frozen settings."""
    settings = load_settings()
    assert settings.demo.compressors >= 10 and settings.bronze.landing_dir
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.demo.compressors = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [("bronze:\n  landing: x\n", "unknown key bronze.landing; allowed keys: landing_dir"),
     ("demo:\n  compressors: many\n", "demo.compressors must be an integer"),
     ("demo:\n  days: 0\n", "demo.days must be >= 1"),
     ("bronze:\n  reread_landed_files: maybe\n", "must be true or false"),
     ("bronze: [1, 2]\n", "bronze must be a mapping")],
    ids=["unknown-key", "wrong-type", "out-of-range", "not-a-bool", "not-a-mapping"],
)
def test_bad_settings_name_the_key_and_what_is_allowed(tmp_path, yaml_text, message):
    """A bad key or value is a ConfigError naming it."""
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_config_dir_follows_the_environment_variable(tmp_path, monkeypatch):
    """ALTAVIZ_CONFIG_DIR points the loader at another folder; a missing folder is a clear error."""
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(tmp_path))
    assert config_dir() == tmp_path
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="is not a directory"):
        config_dir()
