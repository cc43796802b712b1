"""FabricClient against a local HTTP server speaking the Fabric REST API's shapes (fabric-rest-api-specs examples)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from altaviz.errors import FabricApiError
from altaviz.fabric.client import FabricClient, FabricHttpError

TOKEN = "eyJ0eXAi.secret-token-value"
WS = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
OP = "cfafbeb1-8037-4d0c-896e-a46fb27ff227"
ITEMS = f"/v1/workspaces/{WS}/items"
# platform/examples/platform/ModifyOneLakeImmutabilityPolicyError.json
ERROR_BODY = {
    "requestId": "e7d4be9d-423c-4b26-b4e4-35de77c89e26",
    "errorCode": "BadRequest",
    "moreDetails": [{"errorCode": "RetentionDaysReductionNotAllowed", "message": "",
                     "relatedResource": {"resourceId": "4a0afce7-520f-4542-b7ff-6f6252c7008b",
                                         "resourceType": "Workspace"}}],
    "message": "The request could not be processed due to missing or invalid information",
}
# platform/examples/platform/GetLongRunningOperationState{Running,Completed}.json and GetLongRunningOperationResult.json
RUNNING = {"status": "Running", "createdTimeUtc": "2023-09-13T14:56:18.477Z",
           "lastUpdatedTimeUtc": "2023-09-13T15:01:10.532Z", "percentComplete": 25}
SUCCEEDED = {**RUNNING, "status": "Succeeded", "percentComplete": 100}
RESULT = {"id": "f2d65699-dd22-4889-980c-15226deb0e1b", "type": "Notebook", "displayName": "Notebook1",
          "description": "", "workspaceId": "f2d65699-dd22-4889-980c-15226deb0e1b"}
THROTTLED = {"requestId": "5d4a7d1e-0000-4000-8000-000000000429", "errorCode": "RequestBlocked",
             "message": "Request is blocked by the upstream service until: 2024-01-01 00:00:03 (UTC)"}


@pytest.fixture()
def client(httpserver: HTTPServer, fake_time) -> Iterator[FabricClient]:
    """A client aimed at the local server's /v1, with fake time and a 600 s wait budget."""
    with FabricClient(lambda: TOKEN, base_url=httpserver.url_for("/v1"), sleep=fake_time.sleep,
                      clock=fake_time.clock) as fabric:
        yield fabric


def accepted(httpserver: HTTPServer, *, retry_after: str = "2") -> None:
    """The server answers POST /items with 202 and the LRO headers (Location without /v1, as in the examples)."""
    httpserver.expect_ordered_request(ITEMS, method="POST").respond_with_data(
        "", status=202, headers={"x-ms-operation-id": OP, "Retry-After": retry_after,
                                 "Location": httpserver.url_for(f"/operations/{OP}")})


def test_every_request_carries_a_bearer_token_from_the_provider(httpserver, fake_time):
    """Each request asks the token provider again and sends `Authorization: Bearer <token>`."""
    tokens = iter(["token-1", "token-2"])
    httpserver.expect_request(ITEMS, headers={"Authorization": "Bearer token-1"}).respond_with_json({"value": []})
    httpserver.expect_request(ITEMS, headers={"Authorization": "Bearer token-2"}).respond_with_json({"value": [1]})
    fabric = FabricClient(lambda: next(tokens), base_url=httpserver.url_for("/v1"), sleep=fake_time.sleep)

    assert fabric.get(f"workspaces/{WS}/items") == {"value": []}
    assert fabric.get(f"/workspaces/{WS}/items") == {"value": [1]}


def test_post_sends_json_and_returns_the_parsed_body_or_none_when_empty(client, httpserver):
    """`post` sends its body as JSON and returns the parsed response, None for an empty one."""
    httpserver.expect_ordered_request(ITEMS, method="POST", json={"displayName": "nb"}).respond_with_json(
        RESULT, status=201)
    httpserver.expect_ordered_request(ITEMS, method="POST", json={}).respond_with_data("", status=200)

    assert client.post(f"workspaces/{WS}/items", {"displayName": "nb"}) == RESULT
    assert client.post(f"workspaces/{WS}/items", {}) is None


def test_throttled_request_waits_retry_after_then_succeeds(client, httpserver, fake_time):
    """A 429 is retried after exactly the Retry-After seconds the service asked for."""
    httpserver.expect_ordered_request(ITEMS).respond_with_json(THROTTLED, status=429, headers={"Retry-After": "3"})
    httpserver.expect_ordered_request(ITEMS).respond_with_json({"value": ["ok"]})

    assert client.get(f"workspaces/{WS}/items") == {"value": ["ok"]}
    assert fake_time.sleeps == [3.0]
    assert len(httpserver.log) == 2


def test_server_errors_are_retried_with_exponential_backoff(client, httpserver, fake_time):
    """Two 500s without Retry-After are retried after 1 s and 2 s, and the third answer is returned."""
    httpserver.expect_ordered_request(ITEMS).respond_with_data("oops", status=500)
    httpserver.expect_ordered_request(ITEMS).respond_with_data("oops", status=500)
    httpserver.expect_ordered_request(ITEMS).respond_with_json({"value": []})

    assert client.get(f"workspaces/{WS}/items") == {"value": []}
    assert fake_time.sleeps == [1.0, 2.0]


def test_fabric_error_becomes_one_line_naming_code_and_request_id_but_not_the_token(client, httpserver, caplog):
    """A 400 raises at once with method, path, status, errorCode, message, details and request id; no token."""
    httpserver.expect_request(ITEMS, method="POST").respond_with_json(ERROR_BODY, status=400)

    with caplog.at_level(logging.DEBUG), pytest.raises(FabricHttpError) as caught:
        client.post(f"workspaces/{WS}/items", {"displayName": "nb"})

    message = str(caught.value)
    assert f"POST /workspaces/{WS}/items" in message
    assert "HTTP 400 BadRequest" in message and ERROR_BODY["message"] in message
    assert "RetentionDaysReductionNotAllowed" in message
    assert "e7d4be9d-423c-4b26-b4e4-35de77c89e26" in message
    assert "\n" not in message
    assert TOKEN not in message and TOKEN not in caplog.text
    assert (caught.value.status, caught.value.error_code, caught.value.request_id) == (
        400, "BadRequest", "e7d4be9d-423c-4b26-b4e4-35de77c89e26")
    assert isinstance(caught.value, FabricApiError)
    assert len(httpserver.log) == 1


def test_request_id_falls_back_to_the_response_header(client, httpserver):
    """Without a requestId in the body, the error quotes the x-ms-request-id header."""
    httpserver.expect_request(ITEMS).respond_with_data("Not Found", status=404,
                                                       headers={"x-ms-request-id": "hdr-req-1"})

    with pytest.raises(FabricHttpError, match=r"HTTP 404 .*request id hdr-req-1"):
        client.get(f"workspaces/{WS}/items")


def test_retries_stop_after_max_attempts_with_the_last_error(httpserver, fake_time, caplog):
    """A service that keeps answering 503 is tried max_attempts times, then the last error is raised."""
    httpserver.expect_request(ITEMS).respond_with_json({"errorCode": "ServiceUnavailable", "message": "busy"},
                                                       status=503)
    fabric = FabricClient(lambda: TOKEN, base_url=httpserver.url_for("/v1"), sleep=fake_time.sleep,
                          clock=fake_time.clock, max_attempts=3)

    with caplog.at_level(logging.WARNING), pytest.raises(FabricHttpError, match="ServiceUnavailable.*after 3 attempts"):
        fabric.get(f"workspaces/{WS}/items")

    assert len(httpserver.log) == 3
    assert fake_time.sleeps == [1.0, 2.0]
    assert "retrying" in caplog.text and TOKEN not in caplog.text


def test_retry_after_beyond_the_wait_budget_fails_without_sleeping(httpserver, fake_time):
    """A Retry-After longer than max_wait_seconds raises the 429 at once instead of sleeping past the budget."""
    httpserver.expect_request(ITEMS).respond_with_json(THROTTLED, status=429, headers={"Retry-After": "900"})
    fabric = FabricClient(lambda: TOKEN, base_url=httpserver.url_for("/v1"), sleep=fake_time.sleep,
                          clock=fake_time.clock, max_wait_seconds=60)

    with pytest.raises(FabricHttpError, match="HTTP 429 RequestBlocked.*after 1 attempt in 0s") as caught:
        fabric.get(f"workspaces/{WS}/items")

    assert caught.value.status == 429
    assert fake_time.sleeps == []


def test_unreachable_service_is_retried_then_reported(fake_time):
    """Connection failures are retried like 5xx, then raised as one FabricApiError naming the call."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fabric = FabricClient(lambda: TOKEN, base_url=f"http://127.0.0.1:{port}/v1", sleep=fake_time.sleep,
                          clock=fake_time.clock, max_attempts=2)

    with pytest.raises(FabricApiError, match=r"GET /workspaces failed after 2 attempts.*ConnectionError"):
        fabric.get("workspaces")

    assert fake_time.sleeps == [1.0]


def test_absolute_urls_to_another_host_are_refused(client):
    """The token is never sent to a host other than the API's, even when a response points there."""
    with pytest.raises(FabricApiError, match="Refusing to send a Fabric token to https://evil.example"):
        client.get("https://evil.example/v1/workspaces")


def test_long_running_operation_is_polled_until_it_succeeds_then_its_result_is_read(client, httpserver, fake_time):
    """A 202 is polled at /v1/operations/{id} (not the Location), honouring Retry-After, then /result is returned."""
    accepted(httpserver, retry_after="2")
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json(
        RUNNING, headers={"Retry-After": "20", "x-ms-operation-id": OP})
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json(
        SUCCEEDED, headers={"Location": httpserver.url_for(f"/operations/{OP}/result"), "x-ms-operation-id": OP})
    httpserver.expect_ordered_request(f"/v1/operations/{OP}/result").respond_with_json(RESULT)

    response = client.request("POST", f"workspaces/{WS}/items", json={"displayName": "Notebook1"})

    assert client.wait_for_operation(response) == RESULT
    assert fake_time.sleeps == [2.0, 20.0]
    httpserver.check_assertions()


def test_succeeded_operation_without_a_result_location_returns_none(client, httpserver):
    """An operation that succeeds with no Location header has no result, and /result is not called."""
    accepted(httpserver)
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json(SUCCEEDED)

    assert client.wait_for_operation(client.request("POST", f"workspaces/{WS}/items")) is None
    assert [entry[0].path for entry in httpserver.log] == [ITEMS, f"/v1/operations/{OP}"]


def test_result_not_found_returns_none(client, httpserver):
    """A succeeded operation whose /result answers 404 returns None rather than failing."""
    accepted(httpserver)
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json(
        SUCCEEDED, headers={"Location": httpserver.url_for(f"/operations/{OP}/result")})
    httpserver.expect_ordered_request(f"/v1/operations/{OP}/result").respond_with_json(
        {"errorCode": "OperationHasNoResult", "message": "no result"}, status=404)

    assert client.wait_for_operation(client.request("POST", f"workspaces/{WS}/items")) is None


def test_failed_operation_raises_with_the_operations_error(client, httpserver):
    """An operation that ends Failed raises FabricHttpError carrying its errorCode, message and request id."""
    accepted(httpserver)
    failed = {**RUNNING, "status": "Failed", "error": {
        "errorCode": "ItemDisplayNameAlreadyInUse", "message": "Requested item name is already in use",
        "requestId": "0b6b3f3c-5d4e-4b3a-9f4b-2f0e6c1d7a11"}}
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json(failed)

    with pytest.raises(FabricHttpError) as caught:
        client.wait_for_operation(client.request("POST", f"workspaces/{WS}/items"))

    message = str(caught.value)
    assert f"operation {OP} Failed" in message
    assert "ItemDisplayNameAlreadyInUse: Requested item name is already in use" in message
    assert "0b6b3f3c-5d4e-4b3a-9f4b-2f0e6c1d7a11" in message
    assert (caught.value.operation_id, caught.value.error_code, caught.value.status) == (
        OP, "ItemDisplayNameAlreadyInUse", None)


def test_operation_still_running_after_max_wait_raises_naming_it(httpserver, fake_time):
    """An operation still Running when max_wait_seconds is spent raises, naming the id and the time waited."""
    accepted(httpserver, retry_after="2")
    httpserver.expect_request(f"/v1/operations/{OP}").respond_with_json(RUNNING, headers={"Retry-After": "20"})
    fabric = FabricClient(lambda: TOKEN, base_url=httpserver.url_for("/v1"), sleep=fake_time.sleep,
                          clock=fake_time.clock, max_wait_seconds=30)

    with pytest.raises(FabricApiError, match=rf"operation {OP} was still Running after 30s \(limit 30s\)"):
        fabric.wait_for_operation(fabric.request("POST", f"workspaces/{WS}/items"))

    assert fake_time.sleeps == [2.0, 20.0, 8.0]  # the last sleep is cut to the budget, then one final poll


def test_completed_response_is_its_own_result(client, httpserver):
    """A 200 or 201 from a long-running-capable call is returned as is, without polling."""
    httpserver.expect_request(ITEMS, method="POST").respond_with_json(RESULT, status=201)

    assert client.wait_for_operation(client.request("POST", f"workspaces/{WS}/items")) == RESULT
    assert len(httpserver.log) == 1


def test_accepted_without_operation_id_is_reported(client, httpserver):
    """A 202 with only a Location (a job instance, say) is not mistaken for an operation."""
    httpserver.expect_request(ITEMS, method="POST").respond_with_data(
        "", status=202, headers={"Location": httpserver.url_for("/v1/jobs/instances/1")})

    with pytest.raises(FabricApiError, match="without an x-ms-operation-id header"):
        client.wait_for_operation(client.request("POST", f"workspaces/{WS}/items"))


def test_accepted_with_only_an_operations_location_is_followed(client, httpserver):
    """A 202 with a Location `.../operations/{id}` but no x-ms-operation-id is still followed, and a call known to
    return a result reads `/result` even when the Succeeded poll names no Location."""
    httpserver.expect_ordered_request(ITEMS, method="POST").respond_with_data(
        "", status=202, headers={"Retry-After": "1", "Location": httpserver.url_for(f"/v1/operations/{OP}")})
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json(SUCCEEDED)
    httpserver.expect_ordered_request(f"/v1/operations/{OP}/result").respond_with_json(RESULT)

    response = client.request("POST", f"workspaces/{WS}/items")
    assert client.wait_for_operation(response, has_result=True) == RESULT


def test_paging_follows_continuation_tokens_across_three_pages(client, httpserver):
    """list_paged keeps the original query, adds each continuationToken, and stops when none is returned."""
    page = {"type": "Lakehouse"}
    httpserver.expect_ordered_request(ITEMS, query_string=page).respond_with_json(
        {"value": [{"id": "a"}, {"id": "b"}], "continuationToken": "LDEsMTAwMDAwLDA%3D",
         "continuationUri": httpserver.url_for(f"{ITEMS}?continuationToken=LDEsMTAwMDAwLDA%3D")})
    httpserver.expect_ordered_request(ITEMS, query_string={**page, "continuationToken": "LDEsMTAwMDAwLDA%3D"}) \
        .respond_with_json({"value": [{"id": "c"}], "continuationToken": "page-3"})
    httpserver.expect_ordered_request(ITEMS, query_string={**page, "continuationToken": "page-3"}) \
        .respond_with_json({"value": [{"id": "d"}]})

    items = client.list_paged(f"workspaces/{WS}/items", params=page)

    assert [item["id"] for item in items] == ["a", "b", "c", "d"]
    httpserver.check_assertions()


def test_paging_follows_a_continuation_uri_when_there_is_no_token(client, httpserver):
    """A page that offers only continuationUri is followed to that URI on the same host."""
    httpserver.expect_ordered_request(ITEMS, query_string="").respond_with_json(
        {"value": [1], "continuationUri": httpserver.url_for(f"{ITEMS}?continuationToken=t2")})
    httpserver.expect_ordered_request(ITEMS, query_string={"continuationToken": "t2"}).respond_with_json(
        {"value": [2]})

    assert client.list_paged(f"workspaces/{WS}/items") == [1, 2]


def test_paging_with_the_wrong_key_names_the_keys_found(client, httpserver):
    """A response without the expected list raises, naming the keys it did have."""
    httpserver.expect_request(ITEMS).respond_with_json({"data": []})

    with pytest.raises(FabricApiError, match=r"expected a 'value' list in the response, got \['data'\]"):
        client.list_paged(f"workspaces/{WS}/items")
