"""Which altaviz is running: its version with a content hash, so two builds of 0.1.0 are never confused."""

from __future__ import annotations

from functools import cache
from importlib import metadata
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


@cache
def version_info() -> str:
    """`0.1.0+h<12 hex>`: a deployed wheel's own version (it carries its hash); from a checkout, the version a
    deploy of this checkout would publish (`altaviz.source_version.wheel_version`), so the two always agree."""
    try:
        version = metadata.version("altaviz")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    if "+h" in version:
        return version
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "libs" / "altaviz").is_dir():
        from altaviz.source_version import wheel_version

        return wheel_version(_CHECKOUT)
    return version
