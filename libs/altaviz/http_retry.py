"""The one HTTP retry policy of every outbound call (the Fabric REST API, the Teams webhook).

Throttling (429), server errors (5xx) and network failures are retried. The wait is the response's
`Retry-After` seconds when it gives a positive number, else exponential backoff (1 s, 2 s, 4 s, ... capped at
60 s); `Retry-After: 0` or an HTTP date falls back to the backoff rather than retrying in a tight loop
(a long-running operation's `Retry-After: 0` between polls still means "poll now").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, retry_if_result, wait_exponential

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
_BACKOFF = wait_exponential(multiplier=FIRST_BACKOFF_SECONDS, max=MAX_BACKOFF_SECONDS)


def is_retryable(status: int) -> bool:
    """True for the statuses worth sending again: 429 and 5xx."""
    return status == 429 or status >= 500


def last_response(state: RetryCallState) -> requests.Response | None:
    """The response the last attempt returned, or None if it raised."""
    outcome = state.outcome
    return None if outcome is None or outcome.failed else outcome.result()


def retry_after(response: requests.Response | None, *, zero_means_now: bool = False) -> float | None:
    """`Retry-After` in seconds when the response gives a positive number, else None.

    With `zero_means_now` (a long-running operation pacing its polls, not an error being retried), `0` is
    kept: poll again at once.
    """
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or seconds < 0:
        return None
    return seconds if seconds > 0 or zero_means_now else None


def wait_seconds(state: RetryCallState) -> float:
    """How long to wait before the next attempt: `Retry-After`, else the exponential backoff."""
    delay = retry_after(last_response(state))
    return delay if delay is not None else _BACKOFF(state)


def retrying(*, sleep: Callable[[float], Any], stop: Any, give_up: Callable[[RetryCallState], Any],
             failed: Callable[[requests.Response], bool],
             before_sleep: Callable[[RetryCallState], Any] | None = None) -> Retrying:
    """A tenacity `Retrying` with this policy: retries request errors and responses `failed` says are failures.

    Args:
        sleep: how to wait (injected by tests).
        stop: when to stop (attempts, a time budget); checked before each wait.
        give_up: called with the last state once `stop` holds; it raises the caller's error.
        failed: true for a response that is not a success (the caller has already raised on the final ones).
        before_sleep: called before each wait (logging).
    """
    return Retrying(sleep=sleep, stop=stop, wait=wait_seconds, before_sleep=before_sleep,
                    retry_error_callback=give_up,
                    retry=retry_if_exception_type(requests.RequestException) | retry_if_result(failed))
