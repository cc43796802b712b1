"""Where the repo's Fabric items are: `fabric_notebooks/` and `pipelines/` in a checkout, or the wheel's copies."""

from __future__ import annotations

import os
from pathlib import Path

from altaviz.errors import ConfigError

PROJECT_DIR_ENV_VAR = "ALTAVIZ_PROJECT_DIR"
NOTEBOOKS = "fabric_notebooks"
PIPELINES = "pipelines"
MEDALLION_PIPELINE = "pl_altaviz_hourly.DataPipeline"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def item_folder(name: str) -> Path:
    """`fabric_notebooks` or `pipelines`: from `$ALTAVIZ_PROJECT_DIR`, the checkout, else the wheel's copy."""
    explicit = os.environ.get(PROJECT_DIR_ENV_VAR)
    candidates = [Path(explicit).expanduser() / name] if explicit else []
    candidates += [_PACKAGE_DIR.parent.parent / name, _PACKAGE_DIR / f"_bundled_{name}"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"no {name}/ folder found (looked in {', '.join(str(c) for c in candidates)}): "
                      f"set {PROJECT_DIR_ENV_VAR} to the repo checkout")


def medallion_pipeline() -> Path:
    """The pipeline `altaviz run` executes."""
    return item_folder(PIPELINES) / MEDALLION_PIPELINE


def notebooks_for(pipeline_folder: Path) -> Path:
    """Where a pipeline's notebook logicalIds resolve: the pipeline's own folder when notebooks sit beside it (a
    flat Fabric Git workspace folder), else `fabric_notebooks/` beside its `pipelines/` folder (this repo's layout),
    else the project's."""
    parent = Path(pipeline_folder).resolve().parent
    if any(parent.glob("*.Notebook")):
        return parent
    sibling = parent.parent / NOTEBOOKS
    return sibling if sibling.is_dir() else item_folder(NOTEBOOKS)
