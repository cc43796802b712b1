"""Send Log Analytics records through the Logs Ingestion API with the real `azure-monitor-ingestion` client.

The SDK splits the records into chunks of at most 1 MiB, gzips and posts each; azure-core's RetryPolicy retries
throttling (429, honouring Retry-After) and server errors with exponential backoff. `DeadlineRetryPolicy` holds
every request of one `send` to a single deadline, so a slow or throttling service never stalls a pipeline run for
longer than `max_total_seconds`.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy
from azure.monitor.ingestion import LogsIngestionClient, LogsUploadError

from altaviz.monitoring.errors import MonitorSinkError
from altaviz.monitoring.records import LogTable

#: Retry settings for azure-core's RetryPolicy (at most 1 + retry_total sends per chunk, waits 0, 1.6, 3.2, 6.4 s ...
#: unless Retry-After says otherwise); `retry_*` keys in `client_kwargs` override them.
RETRY_DEFAULTS: dict[str, Any] = {"retry_total": 5, "retry_status": 5, "retry_backoff_factor": 0.8,
                                  "retry_backoff_max": 30}
#: The longest one HTTP attempt may take to connect, and then to answer (the transport's own default is 300 s).
ATTEMPT_TIMEOUT_SECONDS = 30.0
STATIC_TOKEN_LIFETIME_SECONDS = 3600
# azure-core retries a POST only on 500/503/504 or when the answer carries Retry-After. An ingestion POST is also
# retried on 408, 429 and 502 and on connection failures: a rare duplicate row is better than a lost run record.
_RETRY_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})


class DeadlineRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy held to one deadline across all the requests (chunks and retries) of a send.

    RetryPolicy alone bounds each request by its `timeout` but still sleeps a Retry-After that runs past it, and
    leaves each attempt's read timeout at the transport's 300 s. This policy gives up when the next wait would end
    past the deadline, and caps each attempt's connect and read timeouts at the time left.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 attempt_timeout: float = ATTEMPT_TIMEOUT_SECONDS, **kwargs: Any) -> None:
        """Create the policy; `kwargs` are RetryPolicy's (`retry_total`, `retry_backoff_factor`, ...)."""
        super().__init__(**kwargs)
        self._clock = clock
        self._attempt_timeout = attempt_timeout
        self._deadline = math.inf

    def start(self, seconds: float) -> None:
        """Begin a budget of `seconds` shared by every request sent from now on."""
        self._deadline = self._clock() + seconds

    def time_left(self) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return self._deadline - self._clock()

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        """RetryPolicy's settings for one request, with its timeout cut to the time left."""
        options.setdefault("retry_on_methods", _RETRY_METHODS)
        settings = super().configure_retries(options)
        settings["timeout"] = min(settings["timeout"], self.time_left())
        self._cap_attempt(options, settings["timeout"])
        return settings

    def increment(self, settings: dict[str, Any], response: PipelineRequest | PipelineResponse | None = None,
                  error: Exception | None = None) -> bool:
        """RetryPolicy's decision, but no retry whose wait (Retry-After or backoff) would end past the deadline."""
        if not super().increment(settings, response=response, error=error):
            return False
        retry_after = self.get_retry_after(response) if isinstance(response, PipelineResponse) else None
        left_after_wait = self.time_left() - (retry_after or self.get_backoff_time(settings))
        if left_after_wait <= 0:
            return False
        if response is not None:
            self._cap_attempt(response.context.options, left_after_wait)
        return True

    def _cap_attempt(self, options: dict[str, Any], seconds: float) -> None:
        # Per-request options reach the transport (RequestsTransport reads both keys) and override its defaults.
        if seconds > 0:
            for key in ("connection_timeout", "read_timeout"):
                options[key] = min(options.get(key) or self._attempt_timeout, seconds)


class AzureMonitorSink:
    """Uploads records to the custom Log Analytics tables through a data collection rule (DCR)."""

    name = "azure_monitor"

    def __init__(self, endpoint: str, rule_id: str, credential: TokenCredential, *, max_total_seconds: float = 60,
                 client_kwargs: dict[str, Any] | None = None) -> None:
        """Create a sink.

        Args:
            endpoint: the data collection endpoint's logs ingestion URL (`https://<dce>.<region>.ingest.monitor...`).
            rule_id: the DCR's immutable id (`dcr-...`).
            credential: gets tokens for `https://monitor.azure.com/.default`; see `monitor_credential`. The sink
                does not close it.
            max_total_seconds: the longest one `send` may take, retries and waits included.
            client_kwargs: extra `LogsIngestionClient` keywords (e.g. `connection_verify`, `transport`); `retry_*`
                keys configure the retry policy instead.
        """
        if max_total_seconds <= 0:
            raise ValueError(f"max_total_seconds must be positive, got {max_total_seconds}")
        self.endpoint = endpoint
        self.rule_id = rule_id
        self.max_total_seconds = float(max_total_seconds)
        self._credential = credential
        self._client_kwargs = dict(client_kwargs or {})

    def send(self, table: LogTable, records: list[dict[str, Any]]) -> int:
        """Upload `records` to `table`'s stream and return how many the service accepted (all, or an error).

        Raises:
            ValueError: a record has a column the table does not declare (checked before anything is sent).
            MonitorSinkError: some records were not accepted after the bounded retries; the message names how many,
                the stream and the first error.
        """
        for record in records:
            table.check_record(record)
        if not records:
            return 0
        logs = [{column: _json_value(value) for column, value in record.items()} for record in records]
        retry = {k: v for k, v in self._client_kwargs.items() if k.startswith("retry_")}
        others = {k: v for k, v in self._client_kwargs.items() if not k.startswith("retry_")}
        policy = DeadlineRetryPolicy(**{**RETRY_DEFAULTS, **retry})
        failures: list[LogsUploadError] = []
        policy.start(self.max_total_seconds)
        with LogsIngestionClient(self.endpoint, self._credential, retry_policy=policy, **others) as client:
            client.upload(rule_id=self.rule_id, stream_name=table.stream_name, logs=logs, on_error=failures.append)
        failed = sum(len(f.failed_logs) for f in failures)
        if failed:
            raise MonitorSinkError(f"Azure Monitor did not accept {failed} of {len(logs)} records for stream "
                                   f"{table.stream_name} (rule {self.rule_id}): {_describe(failures[0].error)}")
        return len(logs)


class StaticTokenCredential:
    """A credential that always hands out one fixed bearer token, valid for another hour: for local fakes only."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "StaticTokenCredential(token=***)"

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        """The fixed token, for any scope."""
        return AccessToken(self._token, int(time.time()) + STATIC_TOKEN_LIFETIME_SECONDS)


def monitor_credential(*, tenant_id: str | None = None, client_id: str | None = None,
                       client_secret: str | None = None, static_token: str | None = None) -> TokenCredential:
    """The credential the Logs Ingestion client authenticates with.

    A fixed token when `static_token` is given (local fakes); else a service principal when all of tenant id,
    client id and secret are given (Fabric notebooks, where DefaultAzureCredential finds nothing); else
    DefaultAzureCredential without the interactive browser (managed identity, Azure CLI, environment).
    """
    if static_token:
        return StaticTokenCredential(static_token)
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    if tenant_id and client_id and client_secret:
        return ClientSecretCredential(tenant_id, client_id, client_secret)
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def _json_value(value: Any) -> Any:
    """`value` as JSON the service takes: datetimes as ISO 8601 UTC, non-finite numbers as null, nested for dynamic."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, (numbers.Real, Decimal)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime):
        # Naive datetimes are taken as UTC, the zone every altaviz timestamp is in.
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_value(v) for v in value]
    return str(value)


def _describe(error: Exception) -> str:
    """One line about an upload error: type, HTTP status when there was one, first line of the message."""
    status = f" HTTP {error.status_code}" if isinstance(error, HttpResponseError) and error.status_code else ""
    lines = str(error).strip().splitlines()
    text = " ".join(lines[0].split()) if lines else ""
    return f"{type(error).__name__}{status}: {text[:300]}"
