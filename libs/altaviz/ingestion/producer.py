"""Send telemetry events to Event Hubs over AMQP (`azure-eventhub`) or to any Kafka endpoint (librdkafka).

Both sinks take `(key, body)` events (`altaviz.ingestion.contract.encode`) and fill a `SendReport`; nothing is
dropped silently: an event too large for any batch is counted and named in `oversize`, a send that still fails
after the retries raises `SendError` with what was sent so far, and a Kafka delivery failure is counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from altaviz.errors import AltavizError, one_line
from altaviz.ingestion.settings import MAX_REQUEST_BYTES

Event = tuple[str, bytes]
#: The SDK's own retry policy (its defaults, stated): a batch the SDK gives up on is retried here `retries` times
#: more; re-sending a batch that did arrive is harmless, because Bronze lands a reading once per event id.
SDK_RETRY = {"retry_total": 3, "retry_backoff_factor": 0.8, "retry_backoff_max": 120, "retry_mode": "exponential"}
#: Largest message a Kafka broker/Event Hubs takes, less room for the key and record overhead.
_KAFKA_RECORD_OVERHEAD = 512


class SendError(AltavizError):
    """Events could not be delivered after the retries."""


@dataclass
class SendReport:
    """What a send did: events offered, sent, in how many batches (AMQP; Kafka's are librdkafka's), set aside as
    too large, failed, retried."""

    transport: str
    events: int = 0
    sent: int = 0
    batches: int = 0
    oversize: list[tuple[str, int]] = field(default_factory=list)
    failed: int = 0
    retries: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line for the terminal."""
        extra = [f"{len(self.oversize):,} too large to send (not sent)"] if self.oversize else []
        extra += [f"{self.failed:,} failed"] if self.failed else []
        extra += [f"{self.retries} batch retr{'y' if self.retries == 1 else 'ies'}"] if self.retries else []
        tail = f"; {', '.join(extra)}" if extra else ""
        batches = f" in {self.batches:,} batch(es)" if self.transport == "eventhub" else ""
        return (f"{self.transport}: {self.sent:,} of {self.events:,} event(s) sent{batches}, "
                f"{self.rate:,.0f} events/s{tail}")


def _retryable() -> tuple[tuple[type[BaseException], ...], type[BaseException]]:
    """(what a retry may cure, what it never does: bad credentials, a subclass of ConnectError)."""
    from azure.eventhub.exceptions import AuthenticationError, ConnectError, ConnectionLostError, OperationTimeoutError

    return (ConnectError, ConnectionLostError, OperationTimeoutError), AuthenticationError


class EventHubSink:
    """Batches events per partition key (`compressor_id`) into `EventDataBatch`es at the hub's size limit.

    `client` is an `EventHubProducerClient` (`eventhub_client`) or anything with its `create_batch(partition_key=)`
    and `send_batch(batch)`. A batch is sent when the next event does not fit; an event that does not fit an empty
    batch is reported in `oversize`.
    """

    def __init__(self, client: Any, *, retries: int = 3, backoff: float = 0.8,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client, self.retries, self.backoff, self.sleep = client, retries, backoff, sleep

    def send(self, events: Sequence[Event], report: SendReport) -> None:
        from azure.eventhub import EventData

        by_key: dict[str, list[bytes]] = {}
        for key, body in events:
            by_key.setdefault(key, []).append(body)
        report.events += len(events)
        for key, bodies in by_key.items():
            batch = self.client.create_batch(partition_key=key)
            for body in bodies:
                try:
                    batch.add(EventData(body))
                    continue
                except ValueError:
                    if len(batch) == 0:
                        report.oversize.append((key, len(body)))
                        continue
                self._send(batch, report)
                batch = self.client.create_batch(partition_key=key)
                try:
                    batch.add(EventData(body))
                except ValueError:
                    report.oversize.append((key, len(body)))
            if len(batch):
                self._send(batch, report)

    def _send(self, batch: Any, report: SendReport) -> None:
        retryable, fatal = _retryable()
        for attempt in range(self.retries + 1):
            try:
                self.client.send_batch(batch)
                report.sent += len(batch)
                report.batches += 1
                return
            except retryable as exc:
                if isinstance(exc, fatal):
                    raise SendError(f"Event Hubs refused the credentials (the sender needs the Azure Event Hubs "
                                    f"Data Sender role or a Send rule): {one_line(exc)}") from exc
                if attempt == self.retries:
                    raise SendError(f"Event Hubs send failed after {self.retries} retries ({report.sent:,} event(s) "
                                    f"sent before it): {one_line(exc)}") from exc
                report.retries += 1
                self.sleep(self.backoff * 2 ** attempt)

    def close(self, report: SendReport) -> None:
        self.client.close()


class KafkaSink:
    """Produces events to a Kafka topic (Event Hubs' Kafka endpoint or a broker) with `compressor_id` as the key.

    librdkafka packs records into batches up to the endpoint's request limit and retries on its own; a record
    larger than that limit is reported in `oversize`, a delivery that fails in the end is counted in `failed`.
    """

    def __init__(self, producer: Any, topic: str, *, max_bytes: int = MAX_REQUEST_BYTES,
                 flush_timeout: float = 120.0) -> None:
        self.producer, self.topic, self.flush_timeout = producer, topic, flush_timeout
        self.max_record = max_bytes - _KAFKA_RECORD_OVERHEAD
        self._report: SendReport | None = None

    def _delivered(self, error: Any, message: Any) -> None:
        report = self._report
        if report is None:
            return
        if error is None:
            report.sent += 1
        else:
            report.failed += 1
            if len(report.errors) < 5:
                report.errors.append(str(error))

    def send(self, events: Sequence[Event], report: SendReport) -> None:
        self._report = report
        report.events += len(events)
        produced = 0
        for key, body in events:
            if len(body) + len(key) > self.max_record:
                report.oversize.append((key, len(body)))
                continue
            while True:
                try:
                    self.producer.produce(self.topic, value=body, key=key, on_delivery=self._delivered)
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    self.producer.poll(0.1)
            produced += 1
            if produced % 5_000 == 0:
                self.producer.poll(0)
        self.producer.poll(0)

    def close(self, report: SendReport) -> None:
        self._report = report
        left = self.producer.flush(self.flush_timeout)
        if left:
            report.failed += left
            report.errors.append(f"{left:,} event(s) still undelivered after {self.flush_timeout:.0f} s")


def eventhub_client(*, hub: str, namespace: str | None = None, connection_string: str | None = None) -> Any:
    """An `EventHubProducerClient`: by connection string, else Entra ID (`DefaultAzureCredential`; the identity
    needs the Azure Event Hubs Data Sender role on the hub or namespace)."""
    from azure.eventhub import EventHubProducerClient

    if connection_string:
        return EventHubProducerClient.from_connection_string(connection_string, eventhub_name=hub, **SDK_RETRY)
    if not namespace:
        raise SendError("Event Hubs needs --namespace <name>.servicebus.windows.net (Entra ID) or "
                        "ALTAVIZ_EVENTHUBS_SEND_CONNECTION_STRING")
    from azure.identity import DefaultAzureCredential

    fqdn = namespace if "." in namespace else f"{namespace}.servicebus.windows.net"
    return EventHubProducerClient(fully_qualified_namespace=fqdn, eventhub_name=hub,
                                  credential=DefaultAzureCredential(), **SDK_RETRY)


def kafka_producer(config: dict[str, object]) -> Any:
    """A librdkafka producer for `KafkaEndpoint.client_config()`, sized for bulk replay."""
    from confluent_kafka import Producer

    return Producer({**config, "linger.ms": 20, "queue.buffering.max.messages": 500_000, "acks": "all"})
