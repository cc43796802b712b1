"""The one path resolver: local folders, OneLake names and GUIDs, and which root wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from altaviz.errors import ConfigError
from altaviz.lakehouse.paths import LocalLakehousePaths, OneLakePaths, TableRef, resolve_paths


@pytest.mark.parametrize(
    ("root", "environ", "expected"),
    [("explicit", {"ALTAVIZ_LAKEHOUSE_ROOT": "from-env"}, "explicit"),
     (None, {"ALTAVIZ_LAKEHOUSE_ROOT": "from-env"}, "from-env"),
     (None, {}, ".lakehouse")],
    ids=["argument-wins", "environment-next", "default-dot-lakehouse"],
)
def test_local_root_is_argument_then_environment_then_default(tmp_path, monkeypatch, root, environ, expected):
    """`--lakehouse-root` beats ALTAVIZ_LAKEHOUSE_ROOT, which beats ./.lakehouse."""
    monkeypatch.chdir(tmp_path)
    paths = resolve_paths(root, environ=environ)
    assert isinstance(paths, LocalLakehousePaths)
    assert paths.root == (tmp_path / expected).resolve()


def test_local_table_and_files_paths_follow_the_fabric_layout(tmp_path):
    """Tables under <lakehouse>.Lakehouse/Tables/dbo/<table>, files under <lakehouse>.Lakehouse/Files/."""
    paths = LocalLakehousePaths(tmp_path)
    assert Path(paths.table_path(TableRef("lh_bronze_raw", "telemetry_raw"))) == (
        tmp_path / "lh_bronze_raw.Lakehouse" / "Tables" / "dbo" / "telemetry_raw")
    assert Path(paths.files_path("lh_bronze_raw", "landing/telemetry", "date=2026-11-20")) == (
        tmp_path / "lh_bronze_raw.Lakehouse" / "Files" / "landing" / "telemetry" / "date=2026-11-20")


def test_onelake_paths_use_names_when_safe_and_guids_otherwise():
    """Safe workspace names give the name form; unsafe ones need and use the GUID form."""
    ref = TableRef("lh_gold_curated", "alerts")
    assert OneLakePaths("altaviz-prod").table_path(ref) == (
        "abfss://altaviz-prod@onelake.dfs.fabric.microsoft.com/lh_gold_curated.Lakehouse/Tables/dbo/alerts")
    guid = OneLakePaths("Altaviz Prod", {"lh_gold_curated": "1111"}, workspace_id="ws-guid")
    assert guid.table_path(ref) == "abfss://ws-guid@onelake.dfs.fabric.microsoft.com/1111/Tables/dbo/alerts"
    with pytest.raises(ConfigError, match="GUID form"):
        OneLakePaths("Altaviz Prod").table_path(ref)


@pytest.mark.parametrize(
    ("name", "message"),
    [("lh_nowhere.telemetry_raw", "unknown lakehouse"), ("telemetry_raw", "expected <lakehouse>.<table>"),
     ("lh_bronze_raw.bad-name", "invalid table name")],
    ids=["unknown-lakehouse", "no-lakehouse", "unsafe-table"],
)
def test_bad_table_names_are_rejected_with_what_is_valid(name, message):
    """A table name that cannot be resolved says what would be valid."""
    with pytest.raises(ConfigError, match=message):
        TableRef.parse(name)


def test_schema_qualified_names_parse():
    """`lakehouse.schema.table` (Fabric's three-part form) is accepted."""
    assert TableRef.parse("lh_silver_cleaned.dbo.telemetry_clean") == TableRef("lh_silver_cleaned", "telemetry_clean")
