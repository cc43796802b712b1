"""The fleet profile loader: finds config/fleet.yaml, builds frozen dataclasses and rejects bad keys."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from altaviz.config import CONFIG_DIR_ENV_VAR
from altaviz.errors import ConfigError
from altaviz.simulator import config_file, load_profile
from altaviz.simulator.profiles import PROFILE_FILE

REPO_PROFILE = Path(__file__).resolve().parents[2] / "config" / PROFILE_FILE


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / PROFILE_FILE
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture()
def raw() -> dict:
    """The repository profile as parsed YAML, ready to be spoiled."""
    return yaml.safe_load(REPO_PROFILE.read_text(encoding="utf-8"))


def test_repository_profile_loads(profile):
    """The shipped profile has ten basins, seven models and the six failure modes of the domain."""
    assert len(profile.basins) == 10
    assert len(profile.models) == 7
    assert [m.name for m in profile.failure_modes] == [
        "bearing_wear", "cooling_degradation", "valve_failure", "piston_ring_wear", "rod_packing_leak",
        "fouling"]
    assert [m.rate_per_month for m in profile.failure_modes] == [0.025, 0.02, 0.015, 0.02, 0.015, 0.03]


def test_profile_is_frozen(profile):
    """Config enters once and cannot be changed afterwards."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.dirt = None  # type: ignore[misc]


def test_models_have_their_own_ranges(profile):
    """Each model has its own rating and healthy horsepower band, within its rating."""
    assert len({m.rated_hp for m in profile.models}) == len(profile.models)
    assert len({m.ranges.horsepower_consumption for m in profile.models}) == len(profile.models)
    for model in profile.models:
        assert model.ranges.horsepower_consumption[1] <= model.rated_hp


@pytest.mark.parametrize(
    ("spoil", "bad_key"),
    [
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["fleet"].update(units_per_bason=3), "fleet.units_per_bason"),
        (lambda d: d["models"][2]["ranges"].update(oil_temp_f=[1, 2]), "models[2].ranges.oil_temp_f"),
        (lambda d: d["failure_modes"][0]["effects"][0].update(sign="up"),
         "failure_modes[0].effects[0].sign"),
        (lambda d: d["dirt"].update(dropout=0.1), "dirt.dropout"),
    ],
    ids=["top-level", "fleet", "model-ranges", "failure-effect", "dirt"],
)
def test_unknown_key_is_rejected_with_allowed_keys(tmp_path, raw, spoil, bad_key):
    """An unknown key anywhere is a ConfigError naming the key and listing the allowed ones."""
    spoil(raw)
    with pytest.raises(ConfigError, match="allowed keys") as err:
        load_profile(_write(tmp_path, raw))
    assert f"unknown key {bad_key}" in str(err.value)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda d: d["failure_modes"][1]["effects"][0].update(shape="zigzag"), "shape 'zigzag'"),
        (lambda d: d["failure_modes"][1].update(primary_signal="oil_pressure"),
         "primary_signal 'oil_pressure'"),
        (lambda d: d["dirt"].update(null_rate=1.5), "dirt.null_rate must be between 0 and 1"),
        (lambda d: d["dirt"].update(late_hours=[1, 30]), "late_hours"),
        (lambda d: d["models"][0].update(rated_hp="lots"), "rated_hp must be a number"),
        (lambda d: d["plan"].update(horizon=["2030-01-01", "2020-01-01"]), "plan.horizon"),
        (lambda d: d.pop("dirt"), "missing key dirt"),
    ],
    ids=["effect-shape", "primary-signal", "rate-range", "late-too-long", "wrong-type", "horizon-order",
         "missing-section"],
)
def test_invalid_value_is_rejected(tmp_path, raw, spoil, message):
    """Invalid values are ConfigErrors that say what is wrong."""
    spoil(raw)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_profile(_write(tmp_path, raw))


def test_config_file_prefers_env_dir(tmp_path, monkeypatch, raw):
    """$ALTAVIZ_CONFIG_DIR wins over the repository's config folder."""
    _write(tmp_path, raw)
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(tmp_path))
    assert config_file(PROFILE_FILE) == tmp_path / PROFILE_FILE


def test_config_file_missing_in_env_dir_is_an_error(tmp_path, monkeypatch):
    """A config dir without the file is a ConfigError naming the file and the folder."""
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(tmp_path))
    with pytest.raises(ConfigError, match=r"fleet\.yaml"):
        config_file(PROFILE_FILE)


def test_config_file_falls_back_to_repository(monkeypatch):
    """Without the env var the repository's config/ folder is used."""
    monkeypatch.delenv(CONFIG_DIR_ENV_VAR, raising=False)
    assert config_file(PROFILE_FILE).resolve() == REPO_PROFILE
