"""Fixtures for deployment tests: a fake Fabric API on loopback, and Pulumi's dynamic provider server driving it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fabric_stack import copy_checkout
from fake_fabric import TOKEN, FakeFabric, FakeFabricServer
from fake_private_endpoints import ARM_TOKEN
from provider_protocol import Engine, ProviderServer

from altaviz.fabric.credentials import ARM_TOKEN_ENV, TOKEN_ENV


@pytest.fixture(scope="session")
def fake_fabric_server() -> Iterator[FakeFabricServer]:
    """One loopback server for the session (starting and stopping one per test costs half a second)."""
    server = FakeFabricServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def fake_fabric(fake_fabric_server, monkeypatch) -> Iterator[FakeFabric]:
    """A fresh, empty fake Fabric API (pages of 2, operations done on the 2nd poll); providers get its token.

    The test fails if anything sent to the fake, or answered by it, departed from the Fabric REST API specs.
    """
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(ARM_TOKEN_ENV, ARM_TOKEN)
    fake = fake_fabric_server.fresh()
    yield fake
    assert fake.spec_violations == [], "requests or answers outside the Fabric REST API specs"


@pytest.fixture(scope="session")
def provider_server() -> Iterator[ProviderServer]:
    """`python -m pulumi.dynamic`, as the engine runs it, for the session; it authenticates with the fake's token."""
    server = ProviderServer({TOKEN_ENV: TOKEN, ARM_TOKEN_ENV: ARM_TOKEN})
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def engine(provider_server) -> Engine:
    """An empty stack whose resources are changed only through the provider server's gRPC calls."""
    return Engine(provider_server)


@pytest.fixture()
def checkout(tmp_path) -> Path:
    """A copy of the checkout's library, config, notebooks, pipelines, pyproject and README that a test may edit."""
    return copy_checkout(tmp_path / "checkout")


@pytest.fixture()
def wheel(tmp_path) -> Path:
    """A stand-in wheel file (the fake stores bytes; it does not install them)."""
    path = tmp_path / "altaviz-0.1.0+h000000000001-py3-none-any.whl"
    path.write_bytes(b"PK first build")
    return path
