"""Where events go and come from: connection strings, the Kafka settings Event Hubs needs, and local overrides."""

from __future__ import annotations

import pytest

from altaviz.errors import ConfigError
from altaviz.ingestion.settings import KafkaEndpoint, kafka_endpoint, listen_endpoint, parse_connection_string

LISTEN = ("Endpoint=sb://altaviz-prod-ehns.servicebus.windows.net/;SharedAccessKeyName=listen;"
          "SharedAccessKey=Zm9vYmFy+/==;EntityPath=telemetry")


def test_a_connection_string_gives_the_namespace_kafka_address_the_hub_and_sasl_plain():
    """Event Hubs' Kafka endpoint: <namespace>:9093, SASL_SSL, PLAIN with user $ConnectionString, idle timeouts
    below the hub's 240 s, the topic from EntityPath."""
    endpoint = kafka_endpoint(LISTEN, environ={})
    options = endpoint.spark_options()
    assert endpoint.bootstrap == "altaviz-prod-ehns.servicebus.windows.net:9093" and endpoint.topic == "telemetry"
    assert options["kafka.security.protocol"] == "SASL_SSL" and options["kafka.sasl.mechanism"] == "PLAIN"
    assert options["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.plain.PlainLoginModule required username="$ConnectionString" '
        f'password="{LISTEN}";')
    assert options["kafka.connections.max.idle.ms"] == options["kafka.metadata.max.age.ms"] == "180000"
    assert options["subscribe"] == "telemetry" and "kafka.ssl.truststore.location" not in options
    client = endpoint.client_config()
    assert client["sasl.username"] == "$ConnectionString" and client["sasl.password"] == LISTEN
    assert client["compression.type"] == "gzip" and client["message.max.bytes"] < 1_046_528


def test_local_overrides_point_the_same_settings_at_a_broker_with_its_own_ca(tmp_path):
    """ALTAVIZ_EVENTHUBS_KAFKA_BOOTSTRAP replaces <namespace>:9093; the truststore is a PEM file."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"ALTAVIZ_EVENTHUBS_KAFKA_BOOTSTRAP": "127.0.0.1:19093", "ALTAVIZ_EVENTHUBS_KAFKA_TRUSTSTORE": str(ca)}
    options = kafka_endpoint(LISTEN, environ=env).spark_options()
    assert options["kafka.bootstrap.servers"] == "127.0.0.1:19093"
    assert options["kafka.ssl.truststore.type"] == "PEM" and options["kafka.ssl.truststore.location"] == str(ca)


def test_a_plain_broker_needs_no_connection_string_and_the_hub_variable_names_the_topic():
    endpoint = kafka_endpoint(None, environ={"ALTAVIZ_EVENTHUBS_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
                                             "ALTAVIZ_EVENTHUBS_HUB": "readings"})
    assert endpoint.security_protocol == "PLAINTEXT" and endpoint.topic == "readings"
    assert "kafka.sasl.jaas.config" not in endpoint.spark_options()


def test_the_connection_string_never_shows_in_repr_and_quotes_are_escaped_for_jaas():
    endpoint = KafkaEndpoint("h:9093", "t", 'Endpoint=sb://h/;SharedAccessKey=a"b\\c')
    assert "SharedAccessKey" not in repr(endpoint) and "'***'" in repr(endpoint)
    assert 'password="Endpoint=sb://h/;SharedAccessKey=a\\"b\\\\c";' in endpoint.spark_options()["kafka.sasl.jaas.config"]


@pytest.mark.parametrize(("text", "env", "message"), [
    ("SharedAccessKey=abc", {}, "no Endpoint=sb://"),
    ("Endpoint=sb://h/;garbage", {}, "not a list of Key=Value"),
    (None, {}, "no Kafka address"),
    (LISTEN, {"ALTAVIZ_EVENTHUBS_KAFKA_TRUSTSTORE": "/nope/ca.pem"}, "not a file"),
])
def test_bad_settings_are_one_clear_error(text, env, message):
    with pytest.raises(ConfigError, match=message):
        kafka_endpoint(text, environ=env)


def test_nothing_configured_means_nothing_to_stream_and_a_secret_lookup_wins():
    assert listen_endpoint(environ={}) is None
    assert listen_endpoint(lambda name: LISTEN if name == "eventhubs-listen-connection-string" else None,
                           environ={}).topic == "telemetry"
    assert parse_connection_string(LISTEN)["SharedAccessKey"] == "Zm9vYmFy+/=="
