"""Fixtures for deployment tests: a fake Fabric API on loopback, with the deployment token pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_fabric import TOKEN, FakeFabric, FakeFabricServer

from altaviz.deploy.credentials import TOKEN_ENV


@pytest.fixture(scope="session")
def fake_fabric_server() -> Iterator[FakeFabricServer]:
    """One loopback server for the session (starting and stopping one per test costs half a second)."""
    server = FakeFabricServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def fake_fabric(fake_fabric_server, monkeypatch) -> FakeFabric:
    """A fresh, empty fake Fabric API (pages of 2, operations done on the 2nd poll); providers get its token."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return fake_fabric_server.fresh()
