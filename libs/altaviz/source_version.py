"""What a build of altaviz is made of and the version it gets: `<pyproject version>+h<12 hex of its sources>`.

Shared by the deployer (`altaviz.deploy.wheel` builds the Environment's wheel under this version) and by
`altaviz.version` (a checkout reports the version a deploy of it would publish), so neither imports the other.
The hash covers the library (`libs/altaviz`), the `config` it reads at run time and the `pyproject.toml` tables
that shape a wheel; notebooks, pipelines and the README are deployed on their own and are left out.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

from altaviz.errors import ConfigError

SOURCE_DIRS = ("libs/altaviz", "config")
PYPROJECT = "pyproject.toml"
WHEEL_TABLES = ("build-system", "project", "tool.hatch")
IGNORED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo")
HASH_LABEL_LENGTH = 12


def source_files(root: Path) -> list[Path]:
    """The files the Environment's wheel is built from, relative to `root`, sorted (caches and bytecode left out)."""
    root = Path(root)
    found = [root / PYPROJECT] if (root / PYPROJECT).is_file() else []
    for folder in SOURCE_DIRS:
        for path in (root / folder).rglob("*"):
            relative = path.relative_to(root)
            if path.is_file() and not IGNORED_DIRS.intersection(relative.parts) and path.suffix not in IGNORED_SUFFIXES:
                found.append(path)
    return sorted((p.relative_to(root) for p in found), key=lambda p: p.as_posix())


def source_hash(root: Path) -> str:
    """The sha256 (hex) of the wheel's sources: each file's relative path and bytes, `pyproject.toml` by the
    tables that shape a wheel (so a pytest or ruff setting does not republish the Environment)."""
    digest = hashlib.sha256()
    for relative in source_files(root):
        path = Path(root) / relative
        body = wheel_settings(path) if relative.as_posix() == PYPROJECT else path.read_bytes()
        digest.update(relative.as_posix().encode("utf-8") + b"\0" + body + b"\0")
    return digest.hexdigest()


def wheel_settings(pyproject: Path) -> bytes:
    """The `pyproject.toml` tables that shape a wheel (`WHEEL_TABLES`), as canonical JSON."""
    settings = pyproject_settings(pyproject.parent)
    picked = {}
    for dotted in WHEEL_TABLES:
        table: object = settings
        for key in dotted.split("."):
            table = table.get(key) if isinstance(table, dict) else None
        picked[dotted] = table
    return json.dumps(picked, sort_keys=True).encode("utf-8")


def pyproject_settings(root: Path) -> dict:
    """`root`'s `pyproject.toml`, parsed."""
    with (Path(root) / PYPROJECT).open("rb") as handle:
        return tomllib.load(handle)


def base_version(root: Path) -> str:
    """The public version in `pyproject.toml` (any local label dropped)."""
    version = pyproject_settings(root).get("project", {}).get("version")
    if not version:
        raise ConfigError(f"{root}/pyproject.toml has no [project] version")
    return str(version).split("+")[0]


def wheel_version(root: Path) -> str:
    """The version the wheel gets: `<pyproject version>+h<first 12 hex of the source hash>`."""
    return f"{base_version(root)}+h{source_hash(root)[:HASH_LABEL_LENGTH]}"
