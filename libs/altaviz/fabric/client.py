"""The one Fabric REST client: bearer auth, retries on throttling and server errors, long-running operations, paging.

Everything platform-specific is passed in (token provider, HTTP session, sleep and clock), so tests run against a
local server in milliseconds. Every failure is a `FabricApiError` whose one-line message names the call, the HTTP
status, Fabric's error code and message, and the request id to quote to Microsoft support; the token never appears.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, Self
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, stop_after_attempt

from altaviz.errors import FabricApiError
from altaviz.fabric import FABRIC_API_URL
from altaviz.http_retry import is_retryable, last_response, retry_after, retrying, wait_seconds

DEFAULT_BASE_URL = FABRIC_API_URL
DEFAULT_POLL_SECONDS = 5.0
OPERATION_RUNNING = frozenset({"NotStarted", "Running"})

log = logging.getLogger(__name__)


class FabricHttpError(FabricApiError):
    """A Fabric call answered with an error status, or a long-running operation ended Failed or Undefined."""

    def __init__(self, message: str, *, status: int | None = None, error_code: str | None = None,
                 request_id: str | None = None, operation_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status  # HTTP status; None when a long-running operation failed
        self.error_code = error_code
        self.request_id = request_id
        self.operation_id = operation_id


class FabricClient:
    """Calls the Fabric REST API with a fresh bearer token per request, bounded retries, LRO polling and paging."""

    #: The service named in errors and log lines (`ArmClient` reuses the retries for Azure Resource Manager).
    service: str = "Fabric"

    def __init__(self, token_provider: Callable[[], str], *, base_url: str = DEFAULT_BASE_URL,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, max_wait_seconds: float = 600, max_attempts: int = 6,
                 timeout_seconds: float = 60) -> None:
        """Create a client.

        Args:
            token_provider: returns an access token for `https://api.fabric.microsoft.com/.default`; called before
                every request, so it should cache and refresh tokens itself.
            base_url: the API root, `.../v1`.
            session: the HTTP session to send through; a new one (owned and closed by this client) if None.
            sleep: waits between retries and polls.
            clock: monotonic seconds, to bound retries and waits.
            max_wait_seconds: the longest one call spends retrying, and one long-running operation is waited for.
            max_attempts: the most times one request is sent (first try included).
            timeout_seconds: the socket timeout of each HTTP request.
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if max_wait_seconds <= 0 or timeout_seconds <= 0:
            raise ValueError(f"max_wait_seconds and timeout_seconds must be positive, got {max_wait_seconds} "
                             f"and {timeout_seconds}")
        self.base_url = base_url.rstrip("/")
        self.sleep = sleep
        self.clock = clock
        self.max_wait_seconds = float(max_wait_seconds)
        self.max_attempts = max_attempts
        self.timeout_seconds = timeout_seconds
        self._token_provider = token_provider
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        base = urlsplit(self.base_url)
        self._origin = (base.scheme, base.netloc)

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                data: bytes | None = None, content_type: str | None = None) -> requests.Response:
        """Send one call, retrying 429, 5xx and connection failures; return the 2xx response.

        Waits `Retry-After` seconds when the service sends it, else backs off exponentially (1 s, 2 s, 4 s, ...),
        for at most `max_attempts` sends and `max_wait_seconds` in all.

        Args:
            method: the HTTP method.
            path: relative to `base_url` (`workspaces/{id}/items`), or an absolute URL on the same host.
            json: the request body, sent as JSON; `params`: query parameters.
            data: a raw body (a file upload) sent instead of `json`, of `content_type` (default octet-stream).

        Returns:
            The response, with a 2xx status (202 included: see `wait_for_operation`).

        Raises:
            FabricHttpError: the final response had a non-2xx status.
            FabricApiError: the service could not be reached, or `path` points at another host.
        """
        method = method.upper()
        url, shown = self._url(path)
        started = self.clock()

        def send() -> requests.Response:
            try:
                headers = self._headers()
                if data is not None:
                    headers["Content-Type"] = content_type or "application/octet-stream"
                response = self._session.request(method, url, json=json if data is None else None, data=data,
                                                 params=params, headers=headers, timeout=self.timeout_seconds)
            except requests.RequestException as exc:
                # A read timeout may mean the service acted on the call: only GET is safe to send again.
                if not (isinstance(exc, requests.ConnectionError) or (
                        isinstance(exc, requests.Timeout) and method == "GET")):
                    raise FabricApiError(f"{self.service} {method} {shown} failed: {_problem(exc)}") from exc
                raise
            if not response.ok and not is_retryable(response.status_code):
                raise _http_error(method, shown, response, service=self.service)
            return response

        def out_of_time(state: RetryCallState) -> bool:  # checked before waiting: never sleep past the budget
            return self.clock() - started + wait_seconds(state) > self.max_wait_seconds

        def log_retry(state: RetryCallState) -> None:
            log.warning("%s %s %s: %s; retrying in %.0fs (attempt %d of %d)", self.service, method, shown,
                        _last_problem(state), state.next_action.sleep if state.next_action else 0,
                        state.attempt_number + 1, self.max_attempts)

        def give_up(state: RetryCallState) -> NoReturn:
            attempts = state.attempt_number
            tried = f"after {attempts} attempt{'s' if attempts > 1 else ''} in {self.clock() - started:.0f}s"
            response = last_response(state)
            if response is None:
                raise FabricApiError(f"{self.service} {method} {shown} failed {tried}: {_last_problem(state)}")
            raise _http_error(method, shown, response, suffix=f"; gave up {tried}", service=self.service)

        return retrying(sleep=self.sleep, stop=stop_after_attempt(self.max_attempts) | out_of_time,
                        give_up=give_up, failed=lambda response: not response.ok, before_sleep=log_retry)(send)

    def get(self, path: str, *, params: Mapping[str, Any] | None = None, missing_ok: bool = False) -> Any:
        """GET `path` and return its parsed JSON body, or None if the body is empty (or, with `missing_ok`, if the
        resource does not exist: HTTP 404)."""
        try:
            return _json_body(self.request("GET", path, params=params), "GET", path)
        except FabricHttpError as exc:
            if missing_ok and exc.status == 404:
                return None
            raise

    def post(self, path: str, json: Any = None, *, params: Mapping[str, Any] | None = None) -> Any:
        """POST `json` to `path` and return the parsed JSON body, or None if empty (a 202 is not followed)."""
        return _json_body(self.request("POST", path, json=json, params=params), "POST", path)

    def patch(self, path: str, json: Any) -> Any:
        """PATCH `json` to `path` and return the parsed JSON body, or None if empty."""
        return _json_body(self.request("PATCH", path, json=json), "PATCH", path)

    def delete(self, path: str, *, missing_ok: bool = False) -> bool:
        """DELETE `path`; True if deleted, False if it was already gone (HTTP 404) and `missing_ok` is set."""
        try:
            self.request("DELETE", path)
        except FabricHttpError as exc:
            if missing_ok and exc.status == 404:
                return False
            raise
        return True

    def wait_for_operation(self, response: requests.Response, *, max_wait_seconds: float | None = None,
                           has_result: bool = False) -> Any:
        """Follow a long-running operation to its end and return its result.

        A 200/201 response is already the result. For a 202, polls `GET {base_url}/operations/{x-ms-operation-id}`
        (built from the id: the `Location` header omits `/v1`), waiting `Retry-After` seconds between polls, until
        the operation succeeds, then reads `GET /operations/{id}/result`.

        Args:
            response: what the call that may have started the operation returned.
            max_wait_seconds: how long to wait for the operation; the client's `max_wait_seconds` if None.
            has_result: the call is documented to return a result (create, getDefinition): read `/result` even
                when the Succeeded poll carries no `Location` header.

        Returns:
            The parsed JSON result, or None when the operation has no result.

        Raises:
            FabricHttpError: the operation ended Failed or Undefined (carrying its error code and message).
            FabricApiError: the 202 named no operation id, or the operation was still running after the wait.
        """
        if response.status_code != 202:
            return _json_body(response, response.request.method or "", response.url)
        operation_id = response.headers.get("x-ms-operation-id") or _operation_id_from(response.headers.get("Location"))
        if not operation_id:
            raise FabricApiError(f"Fabric {response.request.method} {response.url} answered 202 without an "
                                 f"x-ms-operation-id header (Location: {response.headers.get('Location')}); "
                                 "it is not a long-running operation this client can follow")
        budget = self.max_wait_seconds if max_wait_seconds is None else max_wait_seconds
        started = self.clock()
        delay = retry_after(response, zero_means_now=True)
        status = "NotStarted"
        while True:
            remaining = budget - (self.clock() - started)
            if remaining <= 0:
                raise FabricApiError(f"Fabric operation {operation_id} was still {status} after "
                                     f"{self.clock() - started:.0f}s (limit {budget:.0f}s)")
            self.sleep(min(DEFAULT_POLL_SECONDS if delay is None else delay, remaining))
            poll = self.request("GET", f"operations/{operation_id}")
            state = _json_body(poll, "GET", f"operations/{operation_id}") or {}
            status = state.get("status", "Undefined")
            if status == "Succeeded":
                return self._operation_result(operation_id, poll, has_result)
            if status not in OPERATION_RUNNING:  # Failed, Undefined, or a status added after this was written
                raise _operation_error(operation_id, status, state.get("error") or {})
            delay = retry_after(poll, zero_means_now=True)

    def list_paged(self, path: str, key: str = "value", params: Mapping[str, Any] | None = None) -> list[Any]:
        """GET every page of a list, following `continuationToken` (or `continuationUri`) until it is absent.

        Args:
            path: the list call, relative to `base_url`.
            key: the field holding each page's items.
            params: query parameters for every page.

        Returns:
            The items of all pages, in order.

        Raises:
            FabricApiError: a page has no `key` list, or the service repeats a continuation token.
        """
        items: list[Any] = []
        url, query = path, dict(params or {})
        seen: set[str] = set()
        while True:
            body = self.get(url, params=query or None)
            page = body.get(key) if isinstance(body, dict) else None
            if not isinstance(page, list):
                found = sorted(body) if isinstance(body, dict) else type(body).__name__
                raise FabricApiError(f"Fabric GET {path}: expected a '{key}' list in the response, got {found}")
            items.extend(page)
            # Some list examples in the specs (environment libraries) send the string "null" for "no more pages".
            token, uri = (None if v == "null" else v for v in (body.get("continuationToken"), body.get("continuationUri")))
            if not token and not uri:
                return items
            marker = token or uri
            if marker in seen:
                raise FabricApiError(f"Fabric GET {path}: the service repeated continuation {marker!r}")
            seen.add(marker)
            # The token keeps paging on our base URL and query; the URI is only the fallback.
            url, query = (path, {**(params or {}), "continuationToken": token}) if token else (uri, {})

    def _operation_result(self, operation_id: str, poll: requests.Response, has_result: bool) -> Any:
        """The result of a succeeded operation, or None if it has none."""
        # Fabric signals a result with a Location header on the Succeeded poll; without it /result
        # answers OperationHasNoResult, so it is only asked for when the call is known to return one.
        if not poll.headers.get("Location") and not has_result:
            return None
        try:
            return _json_body(self.request("GET", f"operations/{operation_id}/result"), "GET",
                              f"operations/{operation_id}/result")
        except FabricHttpError as exc:
            if exc.status == 404 or (exc.error_code or "").lower() == "operationhasnoresult":
                return None
            raise

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token_provider()}", "Accept": "application/json"}

    def _url(self, path: str) -> tuple[str, str]:
        """The URL to send to and the form to show in messages; absolute URLs must stay on the API host."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            if (parts.scheme, parts.netloc) != self._origin:
                raise FabricApiError(f"Refusing to send a Fabric token to {parts.scheme}://{parts.netloc}: only "
                                     f"{self._origin[0]}://{self._origin[1]} is trusted")
            return path, parts.path + (f"?{parts.query}" if parts.query else "")
        relative = path.lstrip("/")
        return f"{self.base_url}/{relative}", f"/{relative}"


def _last_problem(state: RetryCallState) -> str:
    """What went wrong with the last attempt, for logs and the final error: `HTTP 503` or the connection error."""
    response = last_response(state)
    return f"HTTP {response.status_code}" if response is not None else _problem(state.outcome.exception())


def _problem(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


def _operation_id_from(location: str | None) -> str | None:
    """The operation id in a `Location` of the form `.../operations/{id}`, else None."""
    parts = urlsplit(location or "").path.rstrip("/").split("/")
    return parts[-1] if len(parts) >= 2 and parts[-2] == "operations" and parts[-1] else None


def _json_body(response: requests.Response, method: str, path: str) -> Any:
    """The parsed JSON body, or None for an empty one."""
    if not response.content or not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("Content-Type", "no content type")
        raise FabricApiError(f"Fabric {method} {path}: HTTP {response.status_code} body is not JSON ({kind})") from exc


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_fields(error: Any) -> tuple[str | None, str | None, str]:
    """(errorCode, message, ' (details: ...)') from a Fabric ErrorResponse (or an ARM `{"error": {code, message}}`)."""
    if not isinstance(error, dict):
        return None, None, ""
    if isinstance(error.get("error"), dict) and "errorCode" not in error:
        arm = error["error"]
        return arm.get("code"), arm.get("message"), ""
    details = [d for d in error.get("moreDetails") or [] if isinstance(d, dict)]
    shown = [": ".join(_one_line(str(d[k])) for k in ("errorCode", "message") if d.get(k)) for d in details]
    shown = [s for s in shown if s]
    return error.get("errorCode"), error.get("message"), f"; details: {'; '.join(shown)}" if shown else ""


def _http_error(method: str, shown: str, response: requests.Response, suffix: str = "",
                service: str = "Fabric") -> FabricHttpError:
    """A FabricHttpError naming the service and call, status, error code and message, and the request id."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code, message, details = _error_fields(body)
    if message is None:
        message = _one_line(response.text) or response.reason or "no error body"
    request_id = (body.get("requestId") if isinstance(body, dict) else None) or response.headers.get(
        "requestId") or response.headers.get("x-ms-request-id")
    text = (f"{service} {method} {shown} failed: HTTP {response.status_code} {code or response.reason or ''}: "
            f"{_one_line(message)}{details} (request id {request_id or 'unknown'}){suffix}")
    return FabricHttpError(text, status=response.status_code, error_code=code, request_id=request_id)


def _operation_error(operation_id: str, status: str, error: Any) -> FabricHttpError:
    """A FabricHttpError for an operation that ended Failed or Undefined, carrying the operation's error."""
    code, message, details = _error_fields(error)
    request_id = error.get("requestId") if isinstance(error, dict) else None
    text = (f"Fabric operation {operation_id} {status}: {code or 'no error code'}: "
            f"{_one_line(message or 'no error message')}{details} (request id {request_id or 'unknown'})")
    return FabricHttpError(text, error_code=code, request_id=request_id, operation_id=operation_id)
