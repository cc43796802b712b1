"""Fixtures for runner tests: a repo-shaped folder to write notebooks and pipelines into."""

from __future__ import annotations

import pytest
from fabric_items import Workspace


@pytest.fixture()
def workspace(tmp_path) -> Workspace:
    """An empty repo-shaped folder (`fabric_notebooks/`, `pipelines/`)."""
    return Workspace(tmp_path / "repo")
