"""Build the altaviz wheel for a Fabric Environment, versioned by the hash of what it installs.

The Environment runs the library: `libs/altaviz` and the `config` it reads at run time. Notebooks and pipelines
are deployed as Fabric items of their own, and the README is no code, so neither the hash nor the wheel covers
them: editing a notebook redeploys that notebook and never republishes the Environment (a publish takes many
minutes). The wheel `pip install .` builds keeps bundling `fabric_notebooks/` and `pipelines/` (the pyproject's
force-include, for `altaviz run` outside a checkout); the Environment's wheel is built from a copy in which those
folders are empty and the README is a fixed text, so its bytes do not change with them either.

The version is `<pyproject version>+h<12 hex>` (a PEP 440 local label) where the hex comes from the library
sources and the `pyproject.toml` tables that shape a wheel (`[build-system]`, `[project]`, `[tool.hatch]`; not
pytest's or ruff's settings), so it is known before building and a changed wheel never carries the published
wheel's version. The build runs in a temporary copy (the checkout is never touched) with a fixed
`SOURCE_DATE_EPOCH`, and the returned hash covers the wheel's file contents, not its zip timestamps.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import NamedTuple

from altaviz.errors import AltavizError
from altaviz.source_version import (  # noqa: F401  (re-exported: what the wheel is built from and versioned by)
    PYPROJECT,
    SOURCE_DIRS,
    base_version,
    pyproject_settings,
    source_files,
    source_hash,
    wheel_version,
)

ENVIRONMENT_README = ("# altaviz\n\nThe altaviz library as a Fabric Environment runs it, built by "
                      "`altaviz.deploy.wheel`. Its notebooks and pipelines are deployed as Fabric items.\n")
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest a zip can record
DEFAULT_OUT_DIR = Path(tempfile.gettempdir()) / "altaviz-wheels"


class WheelBuildError(AltavizError):
    """The altaviz wheel could not be built from the checkout."""


class BuiltWheel(NamedTuple):
    """A built wheel: its file, its version (`0.1.0+h<hex>`) and the sha256 of its file contents."""

    path: Path
    version: str
    hash: str


def project_root() -> Path:
    """The checkout this module was imported from (the folder holding `pyproject.toml`)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file():
        raise WheelBuildError(f"{root} is not an altaviz checkout (no pyproject.toml): pass the checkout folder")
    return root


def wheel_content_hash(wheel: Path) -> str:
    """The sha256 (hex) of a wheel's entries, by name and content (zip timestamps and order do not count)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode("utf-8") + b"\0")
            digest.update(archive.read(name) + b"\0")
    return digest.hexdigest()


def build_wheel(root: Path | None = None, out_dir: Path | None = None, *, python: str = sys.executable) -> BuiltWheel:
    """Build the Environment's altaviz wheel (library and config, no notebooks or pipelines) from a temporary copy
    of the checkout, versioned by its source hash.

    Args:
        root: the checkout; the one this module lives in if None.
        out_dir: where the wheel is written; `<tmp>/altaviz-wheels` if None.
        python: the interpreter running `python -m build` (hatchling is fetched in an isolated build environment
            unless it is installed there).

    Returns:
        The wheel's path, version and content hash.

    Raises:
        WheelBuildError: the build failed (the message carries the end of its output).
    """
    root = Path(root) if root is not None else project_root()
    out_dir = Path(out_dir) if out_dir is not None else DEFAULT_OUT_DIR
    version = wheel_version(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="altaviz-wheel-") as tmp:
        copy = Path(tmp) / "src"
        for relative in source_files(root):
            target = copy / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / relative, target)
        _environment_only(copy)
        _set_version(copy / PYPROJECT, version)
        dist = Path(tmp) / "dist"
        command = [python, "-m", "build", "--wheel", "--outdir", str(dist), str(copy)]
        if python == sys.executable and importlib.util.find_spec("hatchling") is not None:
            command.insert(3, "--no-isolation")  # no download when the backend is already here
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
        built = sorted(dist.glob("*.whl"))
        if done.returncode != 0 or len(built) != 1:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise WheelBuildError(f"Building the altaviz wheel from {root} failed (exit {done.returncode}):\n{tail}")
        target = out_dir / built[0].name
        shutil.copyfile(built[0], target)
    return BuiltWheel(target, version, wheel_content_hash(target))


def _environment_only(copy: Path) -> None:
    """Give the copy a fixed README and an empty folder for each force-included source it lacks (notebooks and
    pipelines): hatchling needs both to exist, and the Environment's wheel carries neither."""
    settings = pyproject_settings(copy)
    readme = settings.get("project", {}).get("readme")
    readme = readme.get("file") if isinstance(readme, dict) else readme
    if isinstance(readme, str):
        (copy / readme).write_text(ENVIRONMENT_README, encoding="utf-8")
    wheel_target = settings.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    for source in wheel_target.get("force-include", {}):
        if not (copy / source).exists():
            (copy / source).mkdir(parents=True)


def _set_version(pyproject: Path, version: str) -> None:
    """Set `[project] version` in a (copied) pyproject.toml."""
    text = pyproject.read_text(encoding="utf-8")
    patched, count = re.subn(r'(?m)^version\s*=\s*"[^"]*"', f'version = "{version}"', text, count=1)
    if count != 1:
        raise WheelBuildError(f"{pyproject}: no `version = \"...\"` line to set the wheel version in")
    pyproject.write_text(patched, encoding="utf-8")
