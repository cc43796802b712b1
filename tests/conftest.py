"""Shared fixtures: one local Spark session for the whole test run, and a throw-away lakehouse root."""

from __future__ import annotations

import os
import time

import pytest

# Spark hands naive datetimes to Python in the process's local zone: pin it so results read as UTC.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(scope="session", autouse=True)
def shared_model_store(tmp_path_factory):
    """One MLflow store for the whole run (`$MLFLOW_TRACKING_URI`, which subprocesses inherit) holding a plumbing
    model, so every test that runs the pipeline scores without training on simulated fleets first. Tests of the
    per-lakehouse store unset the variable."""
    from ml_plumbing import register_plumbing_model

    store = tmp_path_factory.mktemp("mlflow-store")
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = store.resolve().as_uri()
    register_plumbing_model(os.environ["MLFLOW_TRACKING_URI"])
    yield os.environ["MLFLOW_TRACKING_URI"]
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


@pytest.fixture(scope="session")
def spark():
    """A local[2] Spark session in UTC with few shuffle partitions and no UI."""
    from altaviz.runtime.spark import get_spark

    session = get_spark("altaviz-tests", cores="2", shuffle_partitions=4, driver_memory="4g")
    yield session
    session.stop()


@pytest.fixture()
def lakehouse_root(tmp_path, monkeypatch):
    """An empty local lakehouse root, also exported as ALTAVIZ_LAKEHOUSE_ROOT."""
    root = tmp_path / "lakehouse"
    root.mkdir()
    monkeypatch.setenv("ALTAVIZ_LAKEHOUSE_ROOT", str(root))
    return root


class FakeTime:
    """A clock that moves only when slept on, and remembers every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture()
def fake_time() -> FakeTime:
    """Sleeps that take no time, on a clock they advance."""
    return FakeTime()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A real Kafka broker on loopback, authenticating as Event Hubs' Kafka endpoint does (SASL_SSL, PLAIN with
    `$ConnectionString`, a test CA); started once, for the tests that ask for it. Each test uses its own topic."""
    from altaviz.ingestion.local_broker import start_broker

    broker = start_broker(tmp_path_factory.mktemp("kafka-broker"))
    yield broker
    broker.stop()


@pytest.fixture()
def kafka_topic(kafka_broker, request):
    """A fresh 4-partition topic for this test."""
    import re

    name = "t-" + re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:80]
    kafka_broker.create_topic(name, partitions=4)
    return name
