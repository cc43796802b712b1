"""The AMQP producer against a fake client at the SDK boundary: real `EventDataBatch` sizing, partition keys,
overflow into new batches, an event too large for any batch, and retries of a transient failure."""

from __future__ import annotations

from datetime import date

import pytest
from azure.eventhub import EventDataBatch
from azure.eventhub.exceptions import AuthenticationError, ConnectionLostError

from altaviz.ingestion.contract import encode
from altaviz.ingestion.producer import EventHubSink, SendError, SendReport
from altaviz.ingestion.replay import Replay
from altaviz.simulator.failures import build_plan, day_us
from altaviz.simulator.fleet import build_fleet
from altaviz.simulator.landing import hour_files
from altaviz.simulator.telemetry import generate_day


class FakeProducerClient:
    """`create_batch` hands out real batches of the hub's limit; `send_batch` records them, failing as told."""

    def __init__(self, max_size: int = 1024 * 1024, failures: list[Exception] | None = None) -> None:
        self.max_size, self.failures = max_size, list(failures or [])
        self.sent: list[tuple[str, int, list[bytes]]] = []
        self.closed = False

    def create_batch(self, *, partition_key=None):
        return EventDataBatch(max_size_in_bytes=self.max_size, partition_key=partition_key)

    def send_batch(self, batch):
        if self.failures:
            raise self.failures.pop(0)
        bodies = [b"".join(e.body) for e in batch._internal_events]
        self.sent.append((batch._partition_key, batch.size_in_bytes, bodies))

    def close(self):
        self.closed = True


def _hour(units: int = 60):
    fleet = build_fleet(units, 7)
    day = date(2026, 11, 20)
    hours, _ = hour_files(day_us(day), generate_day(fleet, build_plan(fleet), day), None, last_day=True,
                          with_arrival=True)
    return next(iter(hours))[1]


def test_every_event_is_sent_once_in_batches_of_one_key_within_the_limit_in_arrival_order():
    hour = _hour()
    events = list(encode(hour))
    client = FakeProducerClient(max_size=4096)
    report = SendReport("eventhub")
    replay = Replay(EventHubSink(client), report)
    replay(hour)
    replay.finish()
    assert client.closed and report.sent == report.events == len(events) and not report.oversize
    assert all(size <= 4096 and bodies for _, size, bodies in client.sent)
    by_key: dict[str, list[bytes]] = {}
    for key, body in events:
        by_key.setdefault(key, []).append(body)
    sent_by_key: dict[str, list[bytes]] = {}
    for key, _, bodies in client.sent:
        sent_by_key.setdefault(key, []).extend(bodies)
    assert sent_by_key == by_key, "each unit's events, all of them, in the order they arrived"
    assert report.batches > len(by_key), "a unit's hour overflows a 4 KB batch into more batches"


def test_an_event_too_large_for_any_batch_is_reported_and_the_rest_still_go():
    client = FakeProducerClient(max_size=1024)
    report = SendReport("eventhub")
    sink = EventHubSink(client)
    sink.send([("A", b"1" * 100), ("A", b"x" * 5000), ("B", b"2" * 100)], report)
    assert report.oversize == [("A", 5000)] and report.sent == 2
    assert sorted(key for key, _, _ in client.sent) == ["A", "B"]
    assert "1 too large to send" in report.line()


def test_a_transient_failure_is_retried_with_backoff_and_a_lasting_one_fails_loudly(fake_time):
    client = FakeProducerClient(failures=[ConnectionLostError("link detached")])
    report = SendReport("eventhub")
    EventHubSink(client, sleep=fake_time.sleep).send([("A", b"1"), ("B", b"2")], report)
    assert report.sent == 2 and report.retries == 1 and fake_time.sleeps == [0.8]

    lasting = FakeProducerClient(failures=[ConnectionLostError("down")] * 10)
    with pytest.raises(SendError, match="after 3 retries"):
        EventHubSink(lasting, sleep=fake_time.sleep).send([("A", b"1")], SendReport("eventhub"))


def test_an_authentication_failure_is_not_retried():
    client = FakeProducerClient(failures=[AuthenticationError("unauthorized")])
    report = SendReport("eventhub")
    with pytest.raises(SendError, match="refused the credentials"):
        EventHubSink(client, sleep=lambda _: pytest.fail("no retry")).send([("A", b"1")], report)


def test_a_paced_replay_waits_for_each_second_of_arrivals(fake_time):
    """At speed 60 an hour of arrivals is spread over about a minute of wall time, never sent ahead of time."""
    hour = _hour(20)
    client = FakeProducerClient()
    report = SendReport("eventhub")
    replay = Replay(EventHubSink(client), report, speed=60, clock=fake_time.clock, sleep=fake_time.sleep)
    replay(hour)
    replay.finish()
    assert report.sent == hour.num_rows
    assert 50 <= sum(fake_time.sleeps) <= 61
