"""Opening a replay for `altaviz simulate --to eventhub|kafka` from options and `ALTAVIZ_EVENTHUBS_*` settings."""

from __future__ import annotations

import os
from collections.abc import Callable

from altaviz.errors import UsageError
from altaviz.ingestion.producer import EventHubSink, KafkaSink, SendReport, eventhub_client, kafka_producer
from altaviz.ingestion.replay import Replay
from altaviz.ingestion.settings import DEFAULT_HUB, HUB_ENV, NAMESPACE_ENV, SEND_ENV, kafka_endpoint


def open_replay(to: str, *, speed: float, namespace: str | None, hub: str | None,
                progress: Callable[[SendReport], None]) -> Replay:
    """A replay into Event Hubs over AMQP (`eventhub`) or over Kafka (`kafka`), configured from the environment.

    AMQP authenticates with `$ALTAVIZ_EVENTHUBS_SEND_CONNECTION_STRING` when set, else Entra ID against
    `namespace`. Kafka uses the same connection string for SASL PLAIN (Event Hubs) or, without one, the broker at
    `$ALTAVIZ_EVENTHUBS_KAFKA_BOOTSTRAP` (TLS when `$ALTAVIZ_EVENTHUBS_KAFKA_TRUSTSTORE` names a CA file).
    """
    for module in ("azure.eventhub", "confluent_kafka"):
        try:
            __import__(module)
        except ImportError as exc:
            raise UsageError(f"--to {to} needs the ingest extra: pip install 'altaviz[ingest]' ({exc})") from exc
    connection_string = os.environ.get(SEND_ENV, "").strip() or None
    topic = hub or os.environ.get(HUB_ENV, "").strip() or None
    if to == "eventhub":
        namespace = namespace or os.environ.get(NAMESPACE_ENV, "").strip() or None
        if connection_string is None and namespace is None:
            raise UsageError(f"--to eventhub needs --namespace (Entra ID) or {SEND_ENV}")
        entity = topic or _entity(connection_string) or DEFAULT_HUB
        sink: EventHubSink | KafkaSink = EventHubSink(eventhub_client(hub=entity, namespace=namespace,
                                                                      connection_string=connection_string))
    else:
        endpoint = kafka_endpoint(connection_string, topic=topic)
        sink = KafkaSink(kafka_producer(endpoint.client_config()), endpoint.topic)
    return Replay(sink, SendReport(to), speed=speed, progress=progress)


def _entity(connection_string: str | None) -> str | None:
    from altaviz.ingestion.settings import parse_connection_string

    return parse_connection_string(connection_string).get("EntityPath") if connection_string else None
