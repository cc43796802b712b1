"""Build the altaviz wheel for a Fabric Environment, versioned by the hash of what goes into it.

The version is `<pyproject version>+h<12 hex>` (a PEP 440 local label) where the hex comes from the sources the
wheel is built from (`libs/altaviz`, `config`, `fabric_notebooks`, `pipelines`, `pyproject.toml`, `README.md`),
so it is known before building and a changed wheel never carries the published wheel's version. The build runs
in a temporary copy (the checkout is never touched) with a fixed `SOURCE_DATE_EPOCH`, and the returned hash covers
the wheel's file contents, not its zip timestamps.
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
import tomllib
import zipfile
from pathlib import Path
from typing import NamedTuple

from altaviz.errors import AltavizError

SOURCE_DIRS = ("libs/altaviz", "config", "fabric_notebooks", "pipelines")
PROJECT_FILES = ("pyproject.toml", "README.md")
IGNORED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo")
HASH_LABEL_LENGTH = 12
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


def source_files(root: Path) -> list[Path]:
    """The files the wheel is built from, relative to `root`, sorted (caches and bytecode left out)."""
    root = Path(root)
    found = [root / name for name in PROJECT_FILES if (root / name).is_file()]
    for folder in SOURCE_DIRS:
        for path in (root / folder).rglob("*"):
            relative = path.relative_to(root)
            if path.is_file() and not IGNORED_DIRS.intersection(relative.parts) and path.suffix not in IGNORED_SUFFIXES:
                found.append(path)
    return sorted((p.relative_to(root) for p in found), key=lambda p: p.as_posix())


def source_hash(root: Path) -> str:
    """The sha256 (hex) of the wheel's source files: each one's relative path and bytes."""
    digest = hashlib.sha256()
    for relative in source_files(root):
        digest.update(relative.as_posix().encode("utf-8") + b"\0")
        digest.update((Path(root) / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def base_version(root: Path) -> str:
    """The public version in `pyproject.toml` (any local label dropped)."""
    with (Path(root) / "pyproject.toml").open("rb") as handle:
        version = tomllib.load(handle).get("project", {}).get("version")
    if not version:
        raise WheelBuildError(f"{root}/pyproject.toml has no [project] version")
    return str(version).split("+")[0]


def wheel_version(root: Path) -> str:
    """The version the wheel gets: `<pyproject version>+h<first 12 hex of the source hash>`."""
    return f"{base_version(root)}+h{source_hash(root)[:HASH_LABEL_LENGTH]}"


def wheel_content_hash(wheel: Path) -> str:
    """The sha256 (hex) of a wheel's entries, by name and content (zip timestamps and order do not count)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode("utf-8") + b"\0")
            digest.update(archive.read(name) + b"\0")
    return digest.hexdigest()


def build_wheel(root: Path | None = None, out_dir: Path | None = None, *, python: str = sys.executable) -> BuiltWheel:
    """Build the altaviz wheel from a temporary copy of the checkout, versioned by its source hash.

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
        _set_version(copy / "pyproject.toml", version)
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


def _set_version(pyproject: Path, version: str) -> None:
    """Set `[project] version` in a (copied) pyproject.toml."""
    text = pyproject.read_text(encoding="utf-8")
    patched, count = re.subn(r'(?m)^version\s*=\s*"[^"]*"', f'version = "{version}"', text, count=1)
    if count != 1:
        raise WheelBuildError(f"{pyproject}: no `version = \"...\"` line to set the wheel version in")
    pyproject.write_text(patched, encoding="utf-8")
