"""`altaviz bench --scenario stream`: what one fleet-hour of events costs to send and to land.

Three timings per repeat, each on one simulated arrival hour of the fleet (4,700 units: ~56,400 readings):

- `amqp_batching`: encode the readings (`contract.encode`) and pack them into real `EventDataBatch`es per partition
  key, handed to a client that takes each batch and sends nothing (the SDK boundary; no Event Hubs here);
- `kafka_send`: the same readings produced to a real Kafka broker on loopback (SASL_SSL, as Event Hubs' Kafka
  endpoint), until every delivery is acknowledged;
- `stream_ingest`: `altaviz stream ingest --trigger available-now` as a new process (Spark start included) reading
  that topic into `telemetry_raw` of a fresh lakehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time as clock
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from altaviz.bench import BENCH_START, PeakMemory, stage_summary

STREAM_STAGES = ("amqp_batching", "kafka_send", "stream_ingest")
#: Seconds allowed per fleet-hour of 4,700 units (scaled up for larger fleets).
LIMITS_PER_FLEET_HOUR: dict[str, float] = {"amqp_batching": 5.0, "stream_ingest": 30.0}


class DiscardingClient:
    """An `EventHubProducerClient` stand-in at the SDK boundary: real batches of the hub's 1 MB limit, and a send
    that only counts them."""

    def __init__(self, max_size: int = 1024 * 1024) -> None:
        self.max_size, self.batches, self.events = max_size, 0, 0

    def create_batch(self, *, partition_key: str | None = None) -> Any:
        from azure.eventhub import EventDataBatch

        return EventDataBatch(max_size_in_bytes=self.max_size, partition_key=partition_key)

    def send_batch(self, batch: Any) -> None:
        self.batches += 1
        self.events += len(batch)

    def close(self) -> None:
        pass


def _hours(compressors: int, seed: int, repeat: int) -> list[Any]:
    """`repeat` consecutive arrival hours of one simulated day (contract columns plus arrival time)."""
    from altaviz.simulator.failures import build_plan, day_us
    from altaviz.simulator.fleet import build_fleet
    from altaviz.simulator.landing import hour_files
    from altaviz.simulator.telemetry import generate_day

    fleet = build_fleet(compressors, seed)
    day = BENCH_START + timedelta(days=1)
    hours, _ = hour_files(day_us(day), generate_day(fleet, build_plan(fleet), day, seed), None, last_day=False,
                          with_arrival=True)
    return [table for _, table in list(hours)[1:repeat + 1]]  # hour 0 also holds yesterday's late arrivals


def _timed(action: Callable[[], int], memory: PeakMemory, timings: list[float], rows: list[int],
           peaks: list[dict[str, float]]) -> None:
    memory.reset()
    started = clock.perf_counter()
    rows.append(action())
    timings.append(clock.perf_counter() - started)
    peaks.append(memory.read_mb())


def _batch_amqp(hour: Any) -> int:
    from altaviz.ingestion.producer import EventHubSink, SendReport
    from altaviz.ingestion.replay import Replay

    client = DiscardingClient()
    report = SendReport("eventhub")
    replay = Replay(EventHubSink(client), report)
    replay(hour)
    replay.finish()
    if report.sent != hour.num_rows:
        raise RuntimeError(f"{hour.num_rows - report.sent} event(s) not batched")
    return report.sent


def _send_kafka(broker: Any, topic: str, hour: Any) -> int:
    from altaviz.ingestion.producer import KafkaSink, SendReport, kafka_producer
    from altaviz.ingestion.replay import Replay

    endpoint = broker.endpoint(topic)
    report = SendReport("kafka")
    replay = Replay(KafkaSink(kafka_producer(endpoint.client_config()), topic), report)
    replay(hour)
    replay.finish()
    if report.failed or report.sent != hour.num_rows:
        raise RuntimeError(f"kafka send: {report.line()}")
    return report.sent


def _ingest(broker: Any, topic: str, root: Path, backends: set[str]) -> int:
    env = {**os.environ, **broker.environment(topic), "ALTAVIZ_LAKEHOUSE_ROOT": str(root)}
    done = subprocess.run([sys.executable, "-m", "altaviz.cli", "stream", "ingest", "--trigger", "available-now"],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"altaviz stream ingest failed: {done.stderr.strip()[-500:]}")
    backends.update(line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
                    if line.startswith("Delta back end:"))
    from deltalake import DeltaTable

    return DeltaTable(str(root / "lh_bronze_raw.Lakehouse" / "Tables" / "dbo" / "telemetry_raw")).to_pyarrow_dataset(
    ).count_rows()


def run_stream_bench(*, compressors: int, repeat: int = 3, seed: int = 7,
                     progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Time `repeat` fleet-hours through each stage (a new hour and a new topic and lakehouse each time)."""
    from altaviz.ingestion.local_broker import start_broker

    memory = PeakMemory(None)
    timings: dict[str, list[float]] = {s: [] for s in STREAM_STAGES}
    peaks: dict[str, list[dict[str, float]]] = {s: [] for s in STREAM_STAGES}
    rows: dict[str, list[int]] = {s: [] for s in STREAM_STAGES}
    backends: set[str] = set()
    progress(f"bench: simulating {repeat} arrival hour(s) of {compressors:,} compressors")
    hours = _hours(compressors, seed, repeat)
    with tempfile.TemporaryDirectory(prefix="altaviz-bench-stream-") as work:
        progress("bench: starting a Kafka broker on loopback (SASL_SSL, PLAIN)")
        broker = start_broker(Path(work) / "broker")
        try:
            for i, hour in enumerate(hours):
                topic = f"bench-{i}"
                broker.create_topic(topic, partitions=4)
                progress(f"bench: hour {i + 1}/{len(hours)}: {hour.num_rows:,} readings")
                lakehouse = Path(work) / f"lh-{i}"
                steps = {"amqp_batching": lambda h=hour: _batch_amqp(h),
                         "kafka_send": lambda h=hour, t=topic: _send_kafka(broker, t, h),
                         "stream_ingest": lambda t=topic, r=lakehouse: _ingest(broker, t, r, backends)}
                for stage, action in steps.items():
                    _timed(action, memory, timings[stage], rows[stage], peaks[stage])
        finally:
            broker.stop()
    return {
        "scenario": "stream",
        "compressors": compressors,
        "repeat": repeat,
        "cores": os.cpu_count(),
        "delta_backend": ", ".join(sorted(backends)) or "unknown",
        "model": "-",
        "stages": [stage_summary(stage, round(sum(rows[stage]) / len(rows[stage])), timings[stage], peaks[stage],
                                 compressors, LIMITS_PER_FLEET_HOUR) for stage in STREAM_STAGES if timings[stage]],
    }
