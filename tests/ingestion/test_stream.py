"""Streaming Bronze against a real Kafka broker set up as Event Hubs' Kafka endpoint: readings land once with the
event ids files give them, what is not a reading is dead-lettered with its reason, and replays add nothing."""

from __future__ import annotations

import os
from datetime import date

import pytest
from pyspark.sql import functions as F

from altaviz.ingestion.producer import KafkaSink, SendReport, kafka_producer
from altaviz.ingestion.replay import Replay
from altaviz.lakehouse.paths import LocalLakehousePaths
from altaviz.runtime.context import RunContext
from altaviz.simulator import simulate
from altaviz.stages import bronze, bronze_stream
from altaviz.tables import TELEMETRY_DEADLETTER, TELEMETRY_RAW

DAY = date(2026, 11, 20)
MALFORMED = {
    b"not json at all": "body is not a JSON object",
    b"[1, 2, 3]": "body is not a JSON object",
    b"": "empty body",
    b"\xff\xfe\x00garbage": "body is not UTF-8 text",
    b'{"compressor_id": "CMP-00001", "vibration_mms": 2.1}': "missing required field(s): timestamp",
    b'{"schema_version": "2.0", "compressor_id": "CMP-00001", "timestamp": "2026-11-20T00:00:00Z"}':
        "unsupported schema_version '2.0' (this reader takes 1.x)",
}


def _send(broker, topic, root, *, units=25, malformed=True):
    endpoint = broker.endpoint(topic)
    replay = Replay(KafkaSink(kafka_producer(endpoint.client_config()), topic), SendReport("kafka"))
    report = simulate(LocalLakehousePaths(str(root)), compressors=units, days=1, start=DAY, seed=5, send=replay)
    sent = replay.finish()
    assert sent.sent == report.readings and not sent.failed
    if malformed:
        producer = kafka_producer(endpoint.client_config())
        for body in MALFORMED:
            producer.produce(topic, value=body, key=b"bad-device")
        assert producer.flush(30) == 0
    return report


@pytest.fixture()
def streamed(spark, kafka_broker, kafka_topic, tmp_path):
    root = tmp_path / "streamed"
    report = _send(kafka_broker, kafka_topic, root)
    ctx = RunContext.create(spark, LocalLakehousePaths(str(root)))
    result = bronze_stream.run(ctx, kafka_broker.endpoint(kafka_topic))
    return ctx, report, result


def test_streamed_readings_land_once_with_the_ids_a_landing_file_gives_them(spark, streamed, tmp_path):
    """The same simulated day, once as events and once as Parquet landing files, lands the same event ids."""
    ctx, report, result = streamed
    files_root = tmp_path / "files"
    simulate(LocalLakehousePaths(str(files_root)), compressors=25, days=1, start=DAY, seed=5)
    by_file = RunContext.create(spark, LocalLakehousePaths(str(files_root)))
    bronze.run(by_file)
    streamed_ids = ctx.lakehouse.read(TELEMETRY_RAW).select("event_id")
    file_ids = by_file.lakehouse.read(TELEMETRY_RAW).select("event_id")
    assert streamed_ids.count() == streamed_ids.distinct().count() == file_ids.count()
    assert streamed_ids.exceptAll(file_ids).count() == 0 and file_ids.exceptAll(streamed_ids).count() == 0
    r = result.report
    assert r.events_read == report.readings + len(MALFORMED)
    assert r.rows_landed + r.rows_duplicate == report.readings and r.rows_landed == file_ids.count()
    lineage = ctx.lakehouse.read(TELEMETRY_RAW).select("source_file", "source_offset").distinct().count()
    assert lineage == r.rows_landed, "every stored reading names the partition and offset it came from"


def test_what_is_not_a_reading_is_dead_lettered_with_its_body_position_and_reason(streamed):
    ctx, _, result = streamed
    rows = ctx.lakehouse.read(TELEMETRY_DEADLETTER).collect()
    assert {bytes(r.raw_body): r.reason for r in rows} == MALFORMED
    assert all(r.event_key == "bad-device" and r.event_offset >= 0 and 0 <= r.event_partition < 4 and r.event_timestamp
               for r in rows)
    assert result.report.deadlettered == len(MALFORMED)
    assert result.report.reasons["body is not a JSON object"] == 2


def test_a_rerun_reads_nothing_and_a_replayed_batch_adds_nothing(spark, kafka_broker, kafka_topic, tmp_path):
    """After a drained run the checkpoint starts where it stopped; with the checkpoint's last commit removed (a
    run killed between its writes and its commit), that batch is read again and both tables stay as they were."""
    root = tmp_path / "replayed"
    _send(kafka_broker, kafka_topic, root)
    ctx = RunContext.create(spark, LocalLakehousePaths(str(root)))
    first = bronze_stream.run(ctx, kafka_broker.endpoint(kafka_topic), max_offsets_per_trigger=2_500)
    assert first.report.batches >= 3
    counts = (ctx.lakehouse.read(TELEMETRY_RAW).count(), ctx.lakehouse.read(TELEMETRY_DEADLETTER).count())
    again = bronze_stream.run(ctx, kafka_broker.endpoint(kafka_topic))
    assert again.report.events_read == 0
    commits = os.path.join(bronze_stream.checkpoint_path(ctx), "commits")
    last = max(int(name) for name in os.listdir(commits) if name.isdigit())
    for name in (str(last), f".{last}.crc"):
        if os.path.exists(os.path.join(commits, name)):
            os.remove(os.path.join(commits, name))
    replayed = bronze_stream.run(ctx, kafka_broker.endpoint(kafka_topic), max_offsets_per_trigger=2_500)
    assert replayed.report.batches == 1 and replayed.report.events_read > 0 and replayed.report.rows_landed == 0
    assert (ctx.lakehouse.read(TELEMETRY_RAW).count(), ctx.lakehouse.read(TELEMETRY_DEADLETTER).count()) == counts
    ids = ctx.lakehouse.read(TELEMETRY_RAW).groupBy("event_id").count().where(F.col("count") > 1)
    assert ids.count() == 0


def test_a_reading_sent_both_as_a_file_and_as_an_event_lands_once(spark, kafka_broker, kafka_topic, tmp_path):
    root = tmp_path / "both"
    simulate(LocalLakehousePaths(str(root)), compressors=10, days=1, start=DAY, seed=5)
    ctx = RunContext.create(spark, LocalLakehousePaths(str(root)))
    landed = bronze.run(ctx).report.rows_landed
    _send(kafka_broker, kafka_topic, root, units=10, malformed=False)
    result = bronze_stream.run(ctx, kafka_broker.endpoint(kafka_topic))
    assert result.report.rows_landed == 0 and result.report.events_read > 0
    assert ctx.lakehouse.read(TELEMETRY_RAW).count() == landed


def test_without_an_endpoint_the_stage_says_so_and_does_nothing(spark, tmp_path):
    ctx = RunContext.create(spark, LocalLakehousePaths(str(tmp_path / "none")))
    result = bronze_stream.run(ctx, None)
    assert result.report.skipped and "no Event Hubs endpoint" in result.report.message
    assert not ctx.lakehouse.exists(TELEMETRY_RAW)


def test_text_that_does_not_parse_gets_the_same_id_in_a_json_lines_file_and_in_an_event(
        spark, kafka_broker, kafka_topic, tmp_path):
    """A value like "abc" lands as null with the text kept in unparsed_values, and its event id is the one a JSON
    lines file gives the same line: sent both ways it lands once."""
    line = (b'{"schema_version": "1.0", "compressor_id": "CMP-00009", "timestamp": "2026-11-20T03:05:00Z", '
            b'"vibration_mms": "abc", "discharge_temp_f": 201.5, "suction_pressure_psi": null, '
            b'"discharge_pressure_psi": 990, "horsepower_consumption": 1200.25, "gas_flow_mcf": " 12 "}')
    source = tmp_path / "one.jsonl"
    source.write_bytes(line + b"\n")
    ctx = RunContext.create(spark, LocalLakehousePaths(str(tmp_path / "lh")))
    assert bronze.run(ctx, sources=[str(source)]).report.rows_landed == 1
    producer = kafka_producer(kafka_broker.endpoint(kafka_topic).client_config())
    producer.produce(kafka_topic, value=line, key=b"CMP-00009")
    assert producer.flush(30) == 0
    result = bronze_stream.run(ctx, kafka_broker.endpoint(kafka_topic))
    assert result.report.events_read == 1 and result.report.rows_landed == 0 and result.report.rows_duplicate == 1
    (row,) = ctx.lakehouse.read(TELEMETRY_RAW).collect()
    assert row.vibration_mms is None and row.gas_flow_mcf == 12.0 and row.discharge_pressure_psi == 990.0
    assert row.unparsed_values == '{"vibration_mms":"abc"}'


def test_a_second_reader_of_the_checkpoint_steps_aside_while_a_stream_holds_it(spark, kafka_broker, kafka_topic,
                                                                                tmp_path):
    """A continuous `altaviz stream ingest` holds the lakehouse's stream lease: the pipeline's catch-up (or a
    second CLI) says so and reads nothing, instead of racing it on the checkpoint's offset log."""
    from altaviz.runner.lease import STREAM_LEASE_FILE, RunLease

    root = tmp_path / "busy"
    _send(kafka_broker, kafka_topic, root, units=3, malformed=False)
    ctx = RunContext.create(spark, LocalLakehousePaths(str(root)))
    with RunLease(root, "altaviz stream ingest (the continuous one)", name=STREAM_LEASE_FILE) as held:
        assert held.try_acquire()
        result = bronze_stream.run(ctx, kafka_broker.endpoint(kafka_topic))
    assert result.report.skipped == "stream running" and "(altaviz stream ingest (the continuous one))" in (
        result.report.message)
    assert not ctx.lakehouse.exists(TELEMETRY_RAW)
    assert bronze_stream.run(ctx, kafka_broker.endpoint(kafka_topic)).report.rows_landed > 0  # free again


def test_the_pipeline_catch_up_steps_aside_when_the_continuous_job_owns_the_hub(spark, kafka_broker, kafka_topic,
                                                                             tmp_path):
    """`stream_trigger=off` (a stack streaming continuously) skips the catch-up with the reason and reads nothing."""
    root = tmp_path / "continuous-stack"
    _send(kafka_broker, kafka_topic, root, units=2, malformed=False)
    ctx = RunContext.create(spark, LocalLakehousePaths(str(root)))

    result = bronze_stream.run(ctx, kafka_broker.endpoint(kafka_topic), trigger=bronze_stream.OFF)

    assert (result.report.skipped, result.rows_in) == ("continuous job", 0)
    assert "continuous streaming job" in result.report.message
    assert not ctx.lakehouse.exists(TELEMETRY_RAW)


@pytest.mark.slow
def test_the_spark_job_main_file_streams_continuously_and_fails_loudly_without_a_hub(kafka_broker, kafka_topic,
                                                                                     tmp_path):
    """The deployed Spark Job Definition's own main file, run as Fabric runs it (a Python process with its
    command-line arguments), streams the hub into Bronze until --max-seconds; with no hub configured it exits 1
    instead of "succeeding" without streaming (so its retry policy, not silence, follows)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    main = (Path(__file__).resolve().parents[2] / "fabric_notebooks" / "sjd_bronze_stream.SparkJobDefinition" /
            "Main" / "bronze_stream_job.py")
    root = tmp_path / "job"
    report = _send(kafka_broker, kafka_topic, root, units=3, malformed=False)
    env = {**os.environ, **kafka_broker.environment(kafka_topic), "ALTAVIZ_DRIVER_MEMORY": "1g"}
    done = subprocess.run([sys.executable, str(main), "--trigger", "continuous", "--max-seconds", "90",
                           "--lakehouse-root", str(root)], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    details = result["details"]
    assert (details["trigger"], details["events_read"]) == ("continuous", report.readings)
    assert details["rows_landed"] + details["rows_duplicate"] == report.readings and details["rows_landed"] > 0

    bare = {k: v for k, v in os.environ.items() if not k.startswith("ALTAVIZ_EVENTHUBS")}
    done = subprocess.run([sys.executable, str(main), "--lakehouse-root", str(tmp_path / "none")], capture_output=True,
                          text=True, env=bare, timeout=300, check=False)
    assert done.returncode == 1
    assert "sjd_bronze_stream: error: nothing streamed (no endpoint)" in done.stderr.strip().splitlines()[-1]
