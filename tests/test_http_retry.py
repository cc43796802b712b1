"""The one retry policy the Fabric client and the Teams sink share: what is retried and how long each wait is."""

from __future__ import annotations

import pytest
import requests
from tenacity import stop_after_attempt

from altaviz.http_retry import is_retryable, retry_after, retrying


def _response(status: int, retry_after_header: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if retry_after_header is not None:
        response.headers["Retry-After"] = retry_after_header
    return response


def test_waits_follow_retry_after_when_positive_else_back_off_exponentially_up_to_a_minute():
    """`Retry-After: 7` is waited exactly; `Retry-After: 0`, a date or none back off 1, 2, 4 ... s, capped at 60 s."""
    answers = iter([_response(503), _response(429, "0"), _response(429, "7"),
                    _response(503, "Wed, 21 Oct 2026 07:28:00 GMT"), *[_response(502)] * 4, _response(200)])
    waits: list[float] = []
    final = retrying(sleep=waits.append, stop=stop_after_attempt(20), give_up=lambda state: None,
                     failed=lambda r: not r.ok)(lambda: next(answers))
    assert final.status_code == 200
    assert waits == [1, 2, 7, 8, 16, 32, 60, 60]


def test_the_last_failure_is_handed_to_give_up_when_attempts_run_out():
    """After the last attempt the caller's `give_up` decides what to raise; a request error is retried too."""
    calls = iter([requests.ConnectionError("refused"), _response(503)])

    def send() -> requests.Response:
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def give_up(state):
        raise RuntimeError(f"gave up after {state.attempt_number}: HTTP {state.outcome.result().status_code}")

    with pytest.raises(RuntimeError, match="gave up after 2: HTTP 503"):
        retrying(sleep=lambda s: None, stop=stop_after_attempt(2), give_up=give_up, failed=lambda r: not r.ok)(send)


@pytest.mark.parametrize(("status", "expected"), [(429, True), (500, True), (503, True), (400, False), (404, False)])
def test_throttling_and_server_errors_are_retryable_client_errors_are_not(status, expected):
    assert is_retryable(status) is expected


@pytest.mark.parametrize(("header", "expected"), [("3", 3.0), ("0.5", 0.5), ("0", None), ("-1", None), ("soon", None),
                                                  (None, None)])
def test_retry_after_is_a_positive_number_of_seconds_or_nothing(header, expected):
    assert retry_after(_response(429, header)) == expected


def test_an_operations_retry_after_zero_means_poll_now():
    """Between polls of a long-running operation `Retry-After: 0` is kept (poll at once), unlike an error retry."""
    assert retry_after(_response(202, "0"), zero_means_now=True) == 0.0
    assert retry_after(_response(202, "-1"), zero_means_now=True) is None
    assert retry_after(_response(202, "20"), zero_means_now=True) == 20.0
