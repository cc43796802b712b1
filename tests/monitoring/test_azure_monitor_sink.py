"""AzureMonitorSink: the real LogsIngestionClient against a local HTTPS Logs Ingestion API (trustme certificates)."""

from __future__ import annotations

import gzip
import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from local_servers import tls_httpserver
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from altaviz.monitoring.azure_monitor import (
    RETRY_DEFAULTS,
    AzureMonitorSink,
    StaticTokenCredential,
    monitor_credential,
)
from altaviz.monitoring.errors import MonitorSinkError
from altaviz.monitoring.records import FLEET_ALERTS, PIPELINE_RUNS

TOKEN = "eyJ0eXAi.monitor-secret-token"
RULE = "dcr-00000000000000000000000000000001"
STREAM_PATH = f"/dataCollectionRules/{RULE}/streams/{PIPELINE_RUNS.stream_name}"
STARTED = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 22, 5, 1, 30, tzinfo=UTC)


def run_record(stage: str = "silver", **overrides) -> dict:
    """A complete AltavizPipelineRuns_CL row, as the monitor shapes it."""
    record = {"TimeGenerated": ENDED, "RunId": "run-1", "Environment": "staging", "AltavizVersion": "1.2.0+abc",
              "Stage": stage, "Status": "Succeeded", "StartTime": STARTED, "EndTime": ENDED,
              "DurationSeconds": 90.0, "RowsIn": 1000, "RowsOut": 990, "RowsRejected": 10, "RejectRate": 0.01,
              "AlertsOpened": 0, "ErrorType": None, "ErrorMessage": None, "ErrorStack": None,
              "Details": {"files": ["a.parquet"], "watermark": STARTED}}
    return {**record, **overrides}


class FakeIngestion:
    """Answers each POST with the next scripted (status, headers), the last one repeating; remembers each request."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.requests: list[dict] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append({"path": request.path, "query": dict(request.args), "headers": dict(request.headers),
                              "body": json.loads(gzip.decompress(request.get_data()))})
        status, headers = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return Response(status=status, headers=headers)


@pytest.fixture(scope="module")
def tls() -> Iterator[tuple[HTTPServer, str]]:
    """A loopback HTTPS server with a trustme certificate for 127.0.0.1, and the path of the CA to trust."""
    with tls_httpserver() as (server, ca_path):
        yield server, ca_path


@pytest.fixture()
def ingestion(tls) -> Iterator[FakeIngestion]:
    """The fake Logs Ingestion API behind the TLS server, answering 204 unless a test scripts otherwise."""
    server, _ = tls
    fake = FakeIngestion()
    fake.script = [(204, {})]
    server.expect_request(STREAM_PATH, method="POST").respond_with_handler(fake)
    yield fake
    server.clear()


def sink(tls, **kwargs) -> AzureMonitorSink:
    """A sink aimed at the TLS server with a static token; backoff kept short so retries take milliseconds."""
    server, ca_path = tls
    client_kwargs = {"connection_verify": ca_path, "retry_backoff_factor": 0.01, **kwargs.pop("client_kwargs", {})}
    return AzureMonitorSink(server.url_for("/").rstrip("/"), RULE, StaticTokenCredential(TOKEN),
                            client_kwargs=client_kwargs, **kwargs)


def test_accepted_records_reach_the_stream_gzipped_with_the_bearer_token(tls, ingestion):
    """A 204 accepts every record: one gzipped POST to the rule's stream, with the token and the api-version."""
    accepted = sink(tls).send(PIPELINE_RUNS, [run_record("bronze"), run_record("silver")])

    assert accepted == 2
    [sent] = ingestion.requests
    assert sent["path"] == STREAM_PATH
    assert sent["query"] == {"api-version": "2023-01-01"}
    assert sent["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert sent["headers"]["Content-Encoding"] == "gzip"
    assert [r["Stage"] for r in sent["body"]] == ["bronze", "silver"]
    assert all(set(r) == {c.name for c in PIPELINE_RUNS.columns} for r in sent["body"])


def test_values_are_sent_as_json_the_service_takes(tls, ingestion):
    """Datetimes become ISO 8601 UTC strings, dynamic values stay JSON objects, NaN becomes null."""
    naive = datetime(2026, 11, 22, 5, 0)
    sink(tls).send(PIPELINE_RUNS, [run_record(RejectRate=math.nan, StartTime=naive)])

    [row] = ingestion.requests[0]["body"]
    assert row["TimeGenerated"] == "2026-11-22T05:01:30Z"
    assert row["StartTime"] == "2026-11-22T05:00:00Z"
    assert row["Details"] == {"files": ["a.parquet"], "watermark": "2026-11-22T05:00:00Z"}
    assert row["RejectRate"] is None


def test_a_throttled_upload_is_retried_after_retry_after_and_accepted(tls, ingestion):
    """A 429 with Retry-After: 1 is waited out and sent again; the retry's 204 accepts all records."""
    ingestion.script = [(429, {"Retry-After": "1"}), (204, {})]
    started = time.monotonic()

    assert sink(tls).send(PIPELINE_RUNS, [run_record(), run_record("gold")]) == 2
    assert len(ingestion.requests) == 2
    assert ingestion.requests[1]["body"] == ingestion.requests[0]["body"]
    assert time.monotonic() - started >= 1.0


def test_a_server_that_keeps_failing_raises_one_error_after_bounded_retries(tls, ingestion):
    """500 every time: a few retries, then one MonitorSinkError naming the count, the stream and the status."""
    ingestion.script = [(500, {})]

    with pytest.raises(MonitorSinkError) as caught:
        sink(tls).send(PIPELINE_RUNS, [run_record(), run_record("gold")])

    message = str(caught.value)
    assert len(ingestion.requests) == 1 + RETRY_DEFAULTS["retry_total"]
    assert "2 of 2 records" in message and PIPELINE_RUNS.stream_name in message and "HTTP 500" in message
    assert TOKEN not in message and "\n" not in message


def test_a_retry_after_longer_than_the_time_left_is_not_waited_for(tls, ingestion):
    """When the service asks for a wait past max_total_seconds, the sink gives up at once instead of stalling."""
    ingestion.script = [(429, {"Retry-After": "30"})]

    with pytest.raises(MonitorSinkError, match="HTTP 429"):
        sink(tls, max_total_seconds=2).send(PIPELINE_RUNS, [run_record()])
    assert len(ingestion.requests) == 1


def test_a_record_with_an_undeclared_column_is_refused_before_any_request(tls, ingestion):
    """A column the table does not declare is a ValueError, and nothing is sent."""
    with pytest.raises(ValueError, match="undeclared column"):
        sink(tls).send(PIPELINE_RUNS, [run_record(), run_record(Colour="blue")])
    assert ingestion.requests == []


def test_no_records_send_nothing(tls, ingestion):
    """An empty batch accepts zero records without a request."""
    assert sink(tls).send(FLEET_ALERTS, []) == 0
    assert ingestion.requests == []


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"static_token": "t", "tenant_id": "x", "client_id": "y", "client_secret": "z"}, StaticTokenCredential),
    ({"tenant_id": "00000000-0000-0000-0000-000000000001", "client_id": "y", "client_secret": "z"},
     ClientSecretCredential),
    ({"tenant_id": "00000000-0000-0000-0000-000000000001", "client_id": "y"}, DefaultAzureCredential),
    ({}, DefaultAzureCredential),
], ids=["static-token-wins", "service-principal", "incomplete-principal", "default"])
def test_monitor_credential_picks_the_credential_the_settings_allow(kwargs, expected):
    """A static token for fakes, else a complete service principal, else DefaultAzureCredential."""
    assert isinstance(monitor_credential(**kwargs), expected)


def test_the_static_token_is_valid_for_another_hour_and_hidden_from_repr():
    """The static credential hands out its token with an expiry an hour ahead, and repr() does not show it."""
    credential = StaticTokenCredential(TOKEN)
    token = credential.get_token("https://monitor.azure.com/.default")

    assert token.token == TOKEN
    assert 3500 < token.expires_on - time.time() <= 3600
    assert TOKEN not in repr(credential)
