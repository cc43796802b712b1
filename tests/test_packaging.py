"""The wheel: builds from the repo, installs without pyspark, imports, and carries its config."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
                   check=True, capture_output=True, text=True)
    (built,) = out.glob("altaviz-*.whl")
    return built


def test_wheel_declares_no_spark_or_delta_spark_dependency(wheel):
    """Fabric provides Spark and Delta: the wheel must not ask pip to install them."""
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        metadata = next(zf.read(n).decode() for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        names = zf.namelist()
    required = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert required, "runtime dependencies are declared"
    assert not any(dep in line.lower() for line in required for dep in ("pyspark", "delta-spark", "deltalake"))
    assert "altaviz/_bundled_config/pipeline.yaml" in names
    assert "altaviz/cli.py" in names
    assert "altaviz/_bundled_pipelines/pl_altaviz_hourly.DataPipeline/pipeline-content.json" in names
    assert "altaviz/_bundled_fabric_notebooks/nb_gold_aggregate.Notebook/notebook-content.py" in names


@pytest.mark.slow
def test_wheel_installs_into_a_clean_venv_without_pyspark_and_imports(wheel, tmp_path):
    """In a fresh virtualenv the wheel installs, `import altaviz` works, pyspark is absent, the CLI answers."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
                   check=True, capture_output=True, text=True)
    probe = (
        "import importlib.util, altaviz, altaviz.config, altaviz.lakehouse, altaviz.simulator, altaviz.cli,"
        " altaviz.entrypoints, altaviz.runner.execute;"
        "assert importlib.util.find_spec('pyspark') is None, 'pyspark got installed';"
        "assert importlib.util.find_spec('delta') is None, 'delta-spark got installed';"
        "print(altaviz.config.load_settings().demo.compressors)"
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().isdigit()
    helped = subprocess.run([str(env_dir / "bin" / "altaviz"), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "simulate" in helped.stdout
    checked = subprocess.run([str(env_dir / "bin" / "altaviz"), "pipeline", "check",
                              str(next(env_dir.glob("lib/python*/site-packages/altaviz/_bundled_pipelines")) /
                                  "pl_altaviz_hourly.DataPipeline")],
                             capture_output=True, text=True, check=False, cwd=tmp_path)
    assert checked.returncode == 0 and "pl_altaviz_hourly: OK, 7 activities" in checked.stdout, checked.stderr
