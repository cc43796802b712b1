"""The Environment's altaviz wheel: versioned by the library it installs, blind to notebooks, pipelines and README."""

from __future__ import annotations

import zipfile

import pytest

from altaviz.deploy.wheel import build_wheel, source_files, source_hash, wheel_content_hash, wheel_version


def test_wheel_version_carries_the_source_hash(checkout):
    """The version is the pyproject version plus a local label h<first 12 hex of the source hash>."""
    assert wheel_version(checkout) == f"0.1.0+h{source_hash(checkout)[:12]}"


def test_the_sources_are_the_library_its_config_and_pyproject(checkout):
    """Every source is under libs/altaviz or config, or is pyproject.toml; no notebook, pipeline or README."""
    tops = {relative.parts[0] for relative in source_files(checkout)}

    assert tops == {"libs", "config", "pyproject.toml"}
    assert {relative.parts[1] for relative in source_files(checkout) if relative.parts[0] == "libs"} == {"altaviz"}


@pytest.mark.parametrize("changed", ["libs/altaviz/config.py", "config/pipeline.yaml"], ids=["package", "config"])
def test_changing_what_the_environment_runs_changes_the_version(checkout, changed):
    """An edit to the library or its config gives a new hash, hence a new version (and a publish)."""
    before = wheel_version(checkout)
    with (checkout / changed).open("a", encoding="utf-8") as handle:
        handle.write("\n")
    assert wheel_version(checkout) != before


@pytest.mark.parametrize(("changed", "text"), [
    ("fabric_notebooks/nb_bronze_ingest.Notebook/notebook-content.py", "\nprint('edited')\n"),
    ("pipelines/pl_altaviz_hourly.DataPipeline/pipeline-content.json", "\n"),
    ("README.md", "\nMore docs.\n"),
    ("pyproject.toml", '\n[tool.coverage.run]\nbranch = true\n'),
], ids=["notebook", "pipeline", "readme", "pyproject-tool-settings"])
def test_changing_what_is_deployed_separately_keeps_the_version(checkout, changed, text):
    """Notebooks and pipelines (deployed as items), the README and non-build settings do not touch the version."""
    before = wheel_version(checkout)
    with (checkout / changed).open("a", encoding="utf-8") as handle:
        handle.write(text)
    assert wheel_version(checkout) == before


def test_changing_the_packaging_metadata_changes_the_version(checkout):
    """A dependency added to [project] changes the wheel's METADATA, so the version changes."""
    before = wheel_version(checkout)
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pyyaml>=6",', '"pyyaml>=6", "attrs>=23",', 1))
    assert wheel_version(checkout) != before


def test_caches_and_bytecode_do_not_change_the_version(checkout):
    """__pycache__ folders and .pyc files are not sources."""
    before = wheel_version(checkout)
    (checkout / "libs/altaviz/__pycache__").mkdir(exist_ok=True)
    (checkout / "libs/altaviz/__pycache__/config.cpython-311.pyc").write_bytes(b"\0")
    (checkout / "libs/altaviz/stray.pyc").write_bytes(b"\0")
    assert wheel_version(checkout) == before


@pytest.mark.slow
def test_building_twice_gives_the_same_versioned_wheel_and_hash(checkout, tmp_path):
    """Two builds give one version (file name, METADATA) and content hash; library and config in, no items."""
    pyproject = (checkout / "pyproject.toml").read_bytes()
    first = build_wheel(checkout, tmp_path / "one")
    second = build_wheel(checkout, tmp_path / "two")

    assert first.version == second.version == wheel_version(checkout)
    assert first.path.name == f"altaviz-{first.version}-py3-none-any.whl"
    assert first.hash == second.hash == wheel_content_hash(second.path)
    with zipfile.ZipFile(first.path) as archive:
        names = archive.namelist()
        metadata = archive.read(f"altaviz-{first.version}.dist-info/METADATA").decode()
    assert f"Version: {first.version}" in metadata.splitlines()
    assert metadata.rstrip().endswith("Its notebooks and pipelines are deployed as Fabric items.")  # fixed README
    assert "altaviz/deploy/wheel.py" in names and "altaviz/_bundled_config/pipeline.yaml" in names
    assert not [n for n in names if n.startswith(("altaviz/_bundled_fabric_notebooks", "altaviz/_bundled_pipelines"))]
    assert (checkout / "pyproject.toml").read_bytes() == pyproject


@pytest.mark.slow
def test_editing_a_notebook_or_the_readme_rebuilds_the_same_bytes(checkout, tmp_path):
    """After a notebook and README edit the rebuilt wheel has the same version and content hash."""
    first = build_wheel(checkout, tmp_path / "one")
    for changed in ("fabric_notebooks/nb_gold_aggregate.Notebook/notebook-content.py", "README.md"):
        with (checkout / changed).open("a", encoding="utf-8") as handle:
            handle.write("\n# edited\n")

    second = build_wheel(checkout, tmp_path / "two")

    assert (second.version, second.hash) == (first.version, first.hash)
