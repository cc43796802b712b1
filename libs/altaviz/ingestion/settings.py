"""Where telemetry events go and come from: Event Hubs (AMQP or its Kafka endpoint) or any Kafka broker.

In Fabric the streaming notebook reads the Listen connection string from Key Vault
(`eventhubs-listen-connection-string`); locally it comes from `ALTAVIZ_EVENTHUBS_LISTEN_CONNECTION_STRING`.
The Kafka address is the namespace's `<fqdn>:9093` unless `ALTAVIZ_EVENTHUBS_KAFKA_BOOTSTRAP` says otherwise, and
`ALTAVIZ_EVENTHUBS_KAFKA_TRUSTSTORE` names a PEM CA file for a broker with its own certificate (a local one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from altaviz.config import secret_env_var
from altaviz.errors import ConfigError

LISTEN_SECRET = "eventhubs-listen-connection-string"
#: The sender's connection string (a Send rule); Entra ID (`--namespace`) needs none.
SEND_ENV = "ALTAVIZ_EVENTHUBS_SEND_CONNECTION_STRING"
BOOTSTRAP_ENV = "ALTAVIZ_EVENTHUBS_KAFKA_BOOTSTRAP"
TRUSTSTORE_ENV = "ALTAVIZ_EVENTHUBS_KAFKA_TRUSTSTORE"
NAMESPACE_ENV = "ALTAVIZ_EVENTHUBS_NAMESPACE"
HUB_ENV = "ALTAVIZ_EVENTHUBS_HUB"
DEFAULT_HUB = "telemetry"
KAFKA_PORT = 9093
#: Event Hubs closes idle Kafka connections after 240 s: clients close and refresh before that.
IDLE_MS = 180_000
#: Event Hubs' Kafka endpoint takes requests below 1,046,528 bytes and wants a request timeout of 60 s or more.
MAX_REQUEST_BYTES = 1_046_527
REQUEST_TIMEOUT_MS = 60_000


def parse_connection_string(text: str) -> dict[str, str]:
    """The `Key=Value;` pairs of an Event Hubs connection string (values may contain `=`)."""
    pairs: dict[str, str] = {}
    for part in text.strip().split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError("the Event Hubs connection string is not a list of Key=Value; pairs")
        pairs[key.strip()] = value.strip()
    if "Endpoint" not in pairs:
        raise ConfigError("the Event Hubs connection string has no Endpoint=sb://<namespace>/ part")
    return pairs


def namespace_of(connection_string: str) -> str:
    """The namespace host of a connection string (`Endpoint=sb://<host>/`)."""
    host = urlparse(parse_connection_string(connection_string)["Endpoint"]).hostname
    if not host:
        raise ConfigError("the Event Hubs connection string's Endpoint names no host (expected sb://<namespace>/)")
    return host


def _jaas_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class KafkaEndpoint:
    """One Kafka topic to read or write: Event Hubs' Kafka endpoint (SASL PLAIN with the connection string) or a
    plain broker. The connection string never appears in `repr()`."""

    bootstrap: str
    topic: str
    connection_string: str | None = None
    truststore: str | None = None

    def __repr__(self) -> str:
        secret = "'***'" if self.connection_string else "None"
        return (f"KafkaEndpoint(bootstrap={self.bootstrap!r}, topic={self.topic!r}, connection_string={secret}, "
                f"truststore={self.truststore!r})")

    @property
    def security_protocol(self) -> str:
        if self.connection_string:
            return "SASL_SSL"
        return "SSL" if self.truststore else "PLAINTEXT"

    def spark_options(self) -> dict[str, str]:
        """Options of Spark's Kafka source (`kafka.*` go to kafka-clients), set as Event Hubs needs them."""
        options = {"kafka.bootstrap.servers": self.bootstrap, "subscribe": self.topic,
                   "kafka.security.protocol": self.security_protocol,
                   "kafka.connections.max.idle.ms": str(IDLE_MS), "kafka.metadata.max.age.ms": str(IDLE_MS),
                   "kafka.request.timeout.ms": str(REQUEST_TIMEOUT_MS)}
        if self.connection_string:
            options["kafka.sasl.mechanism"] = "PLAIN"
            options["kafka.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="$ConnectionString" password={_jaas_quoted(self.connection_string)};')
        if self.truststore:
            options["kafka.ssl.truststore.type"] = "PEM"
            options["kafka.ssl.truststore.location"] = self.truststore
        return options

    def client_config(self) -> dict[str, object]:
        """The same settings for a librdkafka producer (`confluent_kafka.Producer`)."""
        config: dict[str, object] = {
            "bootstrap.servers": self.bootstrap, "security.protocol": self.security_protocol,
            "connections.max.idle.ms": IDLE_MS, "metadata.max.age.ms": IDLE_MS,
            "request.timeout.ms": REQUEST_TIMEOUT_MS, "message.max.bytes": MAX_REQUEST_BYTES,
            "compression.type": "gzip",  # the one codec Event Hubs' Kafka endpoint takes
        }
        if self.connection_string:
            config.update({"sasl.mechanisms": "PLAIN", "sasl.username": "$ConnectionString",
                           "sasl.password": self.connection_string})
        if self.truststore:
            config["ssl.ca.location"] = self.truststore
        return config


def kafka_endpoint(connection_string: str | None, *, bootstrap: str | None = None, topic: str | None = None,
                   truststore: str | None = None, environ: Mapping[str, str] | None = None) -> KafkaEndpoint:
    """The Kafka endpoint for a connection string (or none, for a plain broker), with the local overrides.

    The bootstrap address: `bootstrap`, else `$ALTAVIZ_EVENTHUBS_KAFKA_BOOTSTRAP`, else `<namespace>:9093` of the
    connection string. The topic: `topic`, else the connection string's `EntityPath` (a hub-scoped rule), else
    `$ALTAVIZ_EVENTHUBS_HUB`, else `telemetry`.
    """
    env = os.environ if environ is None else environ
    connection_string = (connection_string or "").strip() or None
    pairs = parse_connection_string(connection_string) if connection_string else {}
    bootstrap = bootstrap or env.get(BOOTSTRAP_ENV, "").strip() or None
    if bootstrap is None:
        if connection_string is None:
            raise ConfigError(f"no Kafka address: set {BOOTSTRAP_ENV} or an Event Hubs connection string")
        bootstrap = f"{namespace_of(connection_string)}:{KAFKA_PORT}"
    topic = topic or pairs.get("EntityPath") or env.get(HUB_ENV, "").strip() or DEFAULT_HUB
    truststore = truststore or env.get(TRUSTSTORE_ENV, "").strip() or None
    if truststore is not None and not os.path.isfile(truststore):
        raise ConfigError(f"{TRUSTSTORE_ENV} names {truststore!r}, which is not a file (a PEM CA bundle)")
    return KafkaEndpoint(bootstrap, topic, connection_string, truststore)


def listen_endpoint(lookup_secret=None, *, environ: Mapping[str, str] | None = None) -> KafkaEndpoint | None:
    """Where streaming Bronze reads: the Listen connection string from Key Vault (`lookup_secret(name)`) or
    `$ALTAVIZ_EVENTHUBS_LISTEN_CONNECTION_STRING`; None when neither it nor a bootstrap address is configured."""
    env = os.environ if environ is None else environ
    secret = lookup_secret(LISTEN_SECRET) if lookup_secret is not None else env.get(secret_env_var(LISTEN_SECRET))
    if not (secret or "").strip() and not env.get(BOOTSTRAP_ENV, "").strip():
        return None
    return kafka_endpoint(secret, environ=env)
