"""Post Adaptive Cards to a Teams channel through its Workflows webhook, and build the cards altaviz sends.

The webhook URL carries its own signature, so it is a secret: no error message, log line or card shows it.
Cards are few by design: one per failed run, one per blocked quality gate, one digest of a run's new critical alerts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlsplit

import requests
from tenacity import RetryCallState

from altaviz.http_retry import is_retryable, last_response, retrying, wait_seconds
from altaviz.monitoring.errors import MonitorSinkError

CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ERROR_TEXT_CHARS = 1000
BODY_SNIPPET_CHARS = 200


class TeamsSink:
    """Posts cards to one Teams Workflows webhook, retrying throttling, server errors and network failures."""

    name = "teams"

    def __init__(self, webhook_url: str, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 max_total_seconds: float = 60, timeout_seconds: float = 10) -> None:
        """Create a sink.

        Args:
            webhook_url: the Workflows "When a Teams webhook request is received" URL (a secret).
            session: the HTTP session to post through; a new one (owned and closed by the sink) if None.
            sleep: waits between attempts.
            clock: monotonic seconds, to bound the attempts.
            max_total_seconds: the longest one `post` may take, waits and attempts included.
            timeout_seconds: the socket timeout of each attempt (cut to the time left).
        """
        if max_total_seconds <= 0 or timeout_seconds <= 0:
            raise ValueError(f"max_total_seconds and timeout_seconds must be positive, got {max_total_seconds} "
                             f"and {timeout_seconds}")
        self.sleep = sleep
        self.clock = clock
        self.max_total_seconds = float(max_total_seconds)
        self.timeout_seconds = float(timeout_seconds)
        self._url = webhook_url
        # What an error body might echo back: the URL, its path, and its long query values (the signature).
        parts = urlsplit(webhook_url)
        self._secrets = [webhook_url, parts._replace(query="").geturl(), *(v for v in (parts.path,) if len(v) > 1),
                         *(v for _, v in parse_qsl(parts.query) if len(v) >= 8)]
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()

    def __repr__(self) -> str:
        return "TeamsSink(webhook_url=***)"

    def close(self) -> None:
        """Close the HTTP session if this sink created it."""
        if self._owns_session:
            self._session.close()

    def post(self, card: dict[str, Any]) -> None:
        """Post one Adaptive Card (the `content` a card builder returns); any 2xx answer is success.

        429, 5xx, connection failures and timeouts are retried after `Retry-After` seconds when the webhook sends
        it, else after 1 s, 2 s, 4 s, ... until the next wait would pass `max_total_seconds`.

        Raises:
            MonitorSinkError: the webhook refused the card (other 4xx), or never took it in the time allowed.
        """
        payload = teams_message(card)
        started = self.clock()

        def send() -> requests.Response:
            left = self.max_total_seconds - (self.clock() - started)
            response = self._session.post(self._url, json=payload, timeout=max(min(self.timeout_seconds, left), 0.001))
            if not _is_success(response) and not is_retryable(response.status_code):
                raise MonitorSinkError(f"Teams webhook refused the card: {self._refusal(response)}") from None
            return response

        def out_of_time(state: RetryCallState) -> bool:
            # Checked before waiting: give up now rather than sleep past the budget.
            return self.clock() - started + wait_seconds(state) >= self.max_total_seconds

        def give_up(state: RetryCallState) -> NoReturn:
            attempts, elapsed = state.attempt_number, self.clock() - started
            # `from None`: a chained requests error would carry the URL into tracebacks.
            raise MonitorSinkError(f"Teams webhook did not take the card after {attempts} attempt"
                                   f"{'s' if attempts > 1 else ''} in {elapsed:.0f}s (limit "
                                   f"{self.max_total_seconds:.0f}s): {self._problem(state)}") from None

        retrying(sleep=self.sleep, stop=out_of_time, give_up=give_up,
                 failed=lambda response: not _is_success(response))(send)

    def _problem(self, state: RetryCallState) -> str:
        """What went wrong with the last attempt: the status and the start of the body, or the error's type."""
        response = last_response(state)
        if response is None:
            return type(state.outcome.exception()).__name__  # the type only: str() of a requests error names the URL
        return self._refusal(response)

    def _refusal(self, response: requests.Response) -> str:
        return f"HTTP {response.status_code}{self._snippet(response)}"

    def _snippet(self, response: requests.Response) -> str:
        """The start of an error body, on one line, with the webhook URL and its signature blanked out."""
        text = " ".join(response.text.split())
        for secret in self._secrets:  # before cutting, so no partial secret survives
            text = text.replace(secret, "***")
        return f": {text[:BODY_SNIPPET_CHARS]}" if text else ""


def teams_message(card: dict[str, Any]) -> dict[str, Any]:
    """The Workflows webhook payload carrying one Adaptive Card."""
    return {"type": "message",
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}]}


def failure_card(*, pipeline: str, run_id: str, environment: str, stage: str, error_type: str, error_message: str,
                 logs_url: str | None = None) -> dict[str, Any]:
    """The card for a failed pipeline run: where it failed and why, with an "Open logs" button when there is a link."""
    name = f"Altaviz pipeline {pipeline}" if pipeline else "Altaviz pipeline"
    message = error_message if len(error_message) <= ERROR_TEXT_CHARS else error_message[:ERROR_TEXT_CHARS - 3] + "..."
    body = [_title(f"{name} failed in {environment}"),
            _facts([("Pipeline", pipeline), ("Environment", environment), ("Run", run_id), ("Stage", stage),
                    ("Error", error_type)]),
            _text(message or "(no error message)", fontType="Monospace", spacing="Medium")]
    actions = [{"type": "Action.OpenUrl", "title": "Open logs", "url": logs_url}] if logs_url else None
    return _card(body, actions)


def quality_block_card(*, run_id: str, environment: str, failed_checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The card for a window held by blocking data-quality checks: each check, its metric and what it needed."""
    count = len(failed_checks)
    body = [_title(f"Altaviz quality gate held a window in {environment}"),
            _facts([("Environment", environment), ("Run", run_id)]),
            _text(f"{count} blocking quality check{'s' if count != 1 else ''} failed, so the window's rows are held "
                  "out of Gold until a later run passes it or `altaviz quality release` lets it through.",
                  spacing="Medium"),
            _facts([(str(check["name"]), _check_result(check)) for check in failed_checks])]
    return _card(body)


def critical_alerts_card(*, run_id: str, environment: str, alerts: list[dict[str, Any]],
                         top: int = 10) -> dict[str, Any]:
    """One digest of a run's new critical alerts: how many, then the first `top` in the order given, "and N more".

    Each alert has compressor_id, basin, sensor, value and opened_at; the caller orders them (most urgent first).
    """
    shown, hidden = alerts[:max(top, 0)], max(len(alerts) - max(top, 0), 0)
    count = len(alerts)
    body = [_title(f"{count} new critical alert{'s' if count != 1 else ''} in {environment}"),
            _facts([("Environment", environment), ("Run", run_id)]),
            _row(["Unit", "Basin", "Sensor", "Value", "Opened"], header=True)]
    body += [_row([str(a.get("compressor_id") or ""), str(a.get("basin") or ""), str(a.get("sensor") or ""),
                   _number(a.get("value")), _when(a.get("opened_at"))]) for a in shown]
    if hidden:
        body.append(_text(f"and {hidden} more", isSubtle=True, spacing="Small"))
    return _card(body)


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": CARD_SCHEMA, "version": CARD_VERSION, "body": body,
                            "msteams": {"width": "Full"}}
    if actions:
        card["actions"] = actions
    return card


def _title(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "color": "Attention",
            "wrap": True}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _facts(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A FactSet of the pairs with a value (a blank fact only takes space)."""
    return {"type": "FactSet", "facts": [{"title": title, "value": value} for title, value in pairs if value]}


# Relative widths of the alert digest's columns: unit, basin, sensor, value, opened.
_ALERT_WIDTHS = (2, 2, 3, 2, 3)


def _row(cells: list[str], *, header: bool = False) -> dict[str, Any]:
    """One row of a table (Adaptive Cards 1.4 has no Table element): a ColumnSet with fixed relative widths."""
    style = {"weight": "Bolder"} if header else {}
    return {"type": "ColumnSet", "spacing": "Small" if not header else "Medium",
            "columns": [{"type": "Column", "width": width, "items": [_text(cell or "-", **style)]}
                        for cell, width in zip(cells, _ALERT_WIDTHS, strict=True)]}


def _check_result(check: dict[str, Any]) -> str:
    needs = f"needs {check.get('comparison', '')} {_number(check.get('threshold'))}".replace("  ", " ")
    if check.get("metric") is None:
        why = check.get("message") or "not computable"
        return f"no value ({why}); {needs}"
    return f"{_number(check['metric'])}, {needs}"


def _number(value: Any) -> str:
    """A number as people read it: integers whole, others to 6 significant digits, big ones with separators."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.6g}"


def _when(value: Any) -> str:
    """A timestamp as `YYYY-MM-DD HH:MM UTC` (ISO strings too); anything else as given."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    return "" if value is None else str(value)


def _is_success(response: requests.Response) -> bool:
    return 200 <= response.status_code < 300


