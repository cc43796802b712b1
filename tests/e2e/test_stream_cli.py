"""`altaviz stream ingest` killed mid-stream and restarted, against a real Kafka broker set up as Event Hubs'
Kafka endpoint: no reading lost or doubled, malformed events dead-lettered with reasons, and the next
`altaviz run` carries the streamed readings through Silver and Gold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from altaviz.ingestion.producer import kafka_producer
from altaviz.lakehouse.paths import LocalLakehousePaths
from altaviz.runtime.context import RunContext
from altaviz.simulator import simulate
from altaviz.stages import bronze

ALTAVIZ = [sys.executable, "-m", "altaviz.cli"]
UNITS, START = 40, "2026-11-20"
MALFORMED = [b"{broken", b'{"compressor_id": "CMP-00003"}', b"",
             b'{"schema_version": "9.1", "compressor_id": "x", "timestamp": "2026-11-20T01:00:00Z"}'] * 3


def _env(broker, topic, root: Path) -> dict[str, str]:
    return {**os.environ, **broker.environment(topic), "ALTAVIZ_LAKEHOUSE_ROOT": str(root),
            "ALTAVIZ_DRIVER_MEMORY": "2g"}


def _sql(query: str, env: dict[str, str]) -> list[dict]:
    done = subprocess.run([*ALTAVIZ, "sql", query, "--format", "json"], capture_output=True, text=True, env=env,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _batches(folder: Path) -> int:
    return len([n for n in os.listdir(folder) if n.isdigit()]) if folder.is_dir() else 0


def _kill_mid_batch(process: subprocess.Popen, checkpoint: Path, timeout: float = 240) -> int:
    """SIGKILL once two batches are committed and a third is planned but not committed; the committed count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        committed, planned = _batches(checkpoint / "commits"), _batches(checkpoint / "offsets")
        if committed >= 2 and planned > committed:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()[1][-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return _batches(checkpoint / "commits")


@pytest.mark.slow
def test_a_killed_stream_restarts_with_nothing_lost_or_doubled_and_the_run_carries_it_to_gold(
        spark, kafka_broker, kafka_topic, tmp_path):
    root = tmp_path / "lh"
    env = _env(kafka_broker, kafka_topic, root)
    sent = subprocess.run([*ALTAVIZ, "simulate", "--to", "kafka", "--compressors", str(UNITS), "--days", "1",
                           "--start", START], check=False, capture_output=True, text=True, env=env, timeout=300)
    assert sent.returncode == 0, sent.stderr
    producer = kafka_producer(kafka_broker.endpoint(kafka_topic).client_config())
    for body in MALFORMED:
        producer.produce(kafka_topic, value=body, key=b"gateway-7")
    assert producer.flush(30) == 0

    stream = subprocess.Popen([*ALTAVIZ, "stream", "ingest", "--trigger", "continuous", "--interval", "1 second",
                               "--max-events", "1500", "--max-seconds", "600"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    checkpoint = root / "lh_bronze_raw.Lakehouse" / "Files" / "checkpoints" / "telemetry_stream"
    committed = _kill_mid_batch(stream, checkpoint)
    assert stream.returncode == -signal.SIGKILL and committed >= 2

    restarted = subprocess.run([*ALTAVIZ, "stream", "ingest"], check=False, capture_output=True, text=True,
                               env=env, timeout=600)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert "dead-lettered" in restarted.stdout, restarted.stdout

    # What the same readings give as landing files: every one exactly once.
    files_root = tmp_path / "files"
    simulate(LocalLakehousePaths(str(files_root)), compressors=UNITS, days=1, start=date.fromisoformat(START))
    expected = bronze.run(RunContext.create(spark, LocalLakehousePaths(str(files_root)))).report.rows_landed
    (raw,) = _sql("select count(*) as n, count(distinct event_id) as ids from lh_bronze_raw.telemetry_raw", env)
    assert raw["n"] == raw["ids"] == expected, "no reading lost, none doubled"
    dead = _sql("select reason, count(*) as n, count(distinct event_offset) as offsets "
                "from lh_bronze_raw.telemetry_deadletter group by reason order by reason", env)
    assert dead == [{"reason": "body is not a JSON object", "n": 3, "offsets": 3},
                    {"reason": "empty body", "n": 3, "offsets": 3},
                    {"reason": "missing required field(s): timestamp", "n": 3, "offsets": 3},
                    {"reason": "unsupported schema_version '9.1' (this reader takes 1.x)", "n": 3, "offsets": 3}]

    ran = subprocess.run([*ALTAVIZ, "run"], check=False, capture_output=True, text=True, env=env, timeout=900)
    assert ran.returncode == 0, ran.stderr[-3000:]
    (silver,) = _sql("select count(*) as clean from lh_silver_cleaned.telemetry_clean", env)
    (rejected,) = _sql("select count(*) as n from lh_silver_cleaned.telemetry_rejected", env)
    assert silver["clean"] + rejected["n"] <= expected and silver["clean"] > 0.9 * expected
    (gold,) = _sql("select count(distinct compressor_id) as units from lh_gold_curated.fleet_health", env)
    (hours,) = _sql("select count(*) as n from lh_gold_curated.sensor_readings_agg where window_type = '1hr'", env)
    assert gold["units"] == UNITS and hours["n"] >= UNITS * 20
