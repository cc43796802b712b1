"""A real Apache Kafka broker on loopback, set up the way Event Hubs' Kafka endpoint authenticates.

KRaft (broker and controller in one process), a SASL_SSL listener taking PLAIN with user `$ConnectionString` and a
connection string as the password, and a server certificate from a throwaway CA (`trustme`), whose PEM file
streaming Bronze is given as `ALTAVIZ_EVENTHUBS_KAFKA_TRUSTSTORE`. The broker's jars come from Maven Central
(`python -m altaviz.runtime.jvm fetch --broker`, run by `make test`). The tests and `altaviz bench --scenario
stream` start one; nothing in the product does.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from altaviz.errors import AltavizError
from altaviz.ingestion.settings import KafkaEndpoint
from altaviz.runtime import jvm

CONNECTION_STRING = ("Endpoint=sb://localhost/;SharedAccessKeyName=altaviz-listen;"
                     "SharedAccessKey=bG9jYWwtYnJva2VyLWtleQ==")


class BrokerError(AltavizError):
    """The local broker could not be started."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _certificates(folder: Path) -> tuple[Path, Path]:
    """(server PEM: PKCS#8 key + chain, CA PEM) for 127.0.0.1/localhost."""
    import trustme
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    server, authority = folder / "server.pem", folder / "ca.pem"
    server.write_bytes(pkcs8 + b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(str(authority))
    return server, authority


def _properties(folder: Path, server_pem: Path, port: int, controller: int, internal: int,
                connection_string: str, partitions: int) -> str:
    return "\n".join([
        "process.roles=broker,controller", "node.id=1", f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller},INTERNAL://127.0.0.1:{internal}",
        f"advertised.listeners=SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal}",
        "controller.listener.names=CONTROLLER", "inter.broker.listener.name=INTERNAL",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT",
        "sasl.enabled.mechanisms=PLAIN",
        ("listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
        f'required user_$ConnectionString="{connection_string}";'),
        "ssl.keystore.type=PEM", f"ssl.keystore.location={server_pem}",
        f"log.dirs={folder / 'data'}", f"num.partitions={partitions}", "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=1",
        "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0", "message.max.bytes=1048576", ""])


@dataclass
class LocalBroker:
    """A running broker: where it listens, the credentials it takes, its CA file."""

    bootstrap: str
    connection_string: str
    ca_file: str
    folder: Path
    process: subprocess.Popen[bytes]

    def endpoint(self, topic: str = "telemetry") -> KafkaEndpoint:
        return KafkaEndpoint(self.bootstrap, topic, self.connection_string, self.ca_file)

    def environment(self, topic: str = "telemetry") -> dict[str, str]:
        """The `ALTAVIZ_EVENTHUBS_*` variables that point streaming Bronze and the producer at this broker."""
        return {"ALTAVIZ_EVENTHUBS_LISTEN_CONNECTION_STRING": self.connection_string,
                "ALTAVIZ_EVENTHUBS_SEND_CONNECTION_STRING": self.connection_string,
                "ALTAVIZ_EVENTHUBS_KAFKA_BOOTSTRAP": self.bootstrap,
                "ALTAVIZ_EVENTHUBS_KAFKA_TRUSTSTORE": self.ca_file, "ALTAVIZ_EVENTHUBS_HUB": topic}

    def create_topic(self, name: str, partitions: int = 4) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(self.endpoint(name).client_config())
        for future in admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30).values():
            future.result(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java:
        raise BrokerError("no java on PATH (the broker needs Java 17+)")
    return java


def start_broker(folder: Path, *, partitions: int = 4, timeout: float = 90.0,
                 connection_string: str = CONNECTION_STRING) -> LocalBroker:
    """Start a broker in `folder` (its data, certificates and log) and wait until it answers over SASL_SSL."""
    classpath = jvm.cached_classpath(jvm.broker_dir(), jvm.BROKER_JARS)
    if not classpath:
        raise BrokerError("the Kafka broker's jars are not cached: run `python -m altaviz.runtime.jvm fetch "
                          "--broker` (make test does)")
    folder.mkdir(parents=True, exist_ok=True)
    server_pem, ca = _certificates(folder)
    port, controller, internal = _free_port(), _free_port(), _free_port()
    config = folder / "server.properties"
    config.write_text(_properties(folder, server_pem, port, controller, internal, connection_string, partitions))
    java, cp = _java(), os.pathsep.join(classpath)
    cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    formatted = subprocess.run([java, "-Xmx256m", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster,
                                "-c", str(config)], capture_output=True, text=True, timeout=120, check=False)
    if formatted.returncode != 0:
        raise BrokerError(f"formatting the broker's storage failed: {formatted.stderr.strip()[-300:]}")
    log = open(folder / "broker.log", "wb")  # noqa: SIM115 - the broker writes to it while it runs
    process = subprocess.Popen([java, "-Xmx512m", "-XX:+UseSerialGC", "-cp", cp, "kafka.Kafka", str(config)],
                               stdout=log, stderr=subprocess.STDOUT)
    broker = LocalBroker(f"127.0.0.1:{port}", connection_string, str(ca), folder, process)
    _wait_ready(broker, timeout)
    return broker


def _wait_ready(broker: LocalBroker, timeout: float) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(broker.endpoint().client_config())
    deadline = time.monotonic() + timeout
    while True:
        if broker.process.poll() is not None:
            raise BrokerError(f"the broker exited with {broker.process.returncode}; see {broker.folder / 'broker.log'}")
        try:
            admin.list_topics(timeout=2)
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                broker.stop()
                raise BrokerError(f"the broker did not answer within {timeout:.0f} s: {exc}") from exc
            time.sleep(0.5)
