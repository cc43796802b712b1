"""SQL analytics endpoint metadata refresh against a local server speaking the Fabric spec's example shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from altaviz.errors import FabricApiError
from altaviz.fabric.client import FabricClient, FabricHttpError
from altaviz.fabric.sql_endpoint import TableSync, failed_tables, refresh_sql_endpoint, sql_endpoint_id

WS = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
LH = "5b218778-e7a5-4d73-8187-f10824047715"
SQL = "37dc8a41-dea9-465d-b528-3e95043b2356"
OP = "431e8d7b-4a95-4c02-8ccd-6faef5ba1bd7"
LAKEHOUSE = f"/v1/workspaces/{WS}/lakehouses/{LH}"
REFRESH = f"/v1/workspaces/{WS}/sqlEndpoints/{SQL}/refreshMetadata"


def lakehouse_body(status: str = "Success") -> dict:
    """lakehouse/examples/GetLakehouse.json, with the SQL endpoint's provisioning status set."""
    return {
        "displayName": "Lakehouse_1", "description": "A lakehouse description.", "type": "Lakehouse",
        "workspaceId": WS, "id": LH,
        "properties": {
            "oneLakeTablesPath": f"https://onelake.dfs.fabric.microsoft.com/{WS}/{LH}/Tables",
            "oneLakeFilesPath": f"https://onelake.dfs.fabric.microsoft.com/{WS}/{LH}/Files",
            "sqlEndpointProperties": {
                "connectionString": "qvrmbuxie7we7glrekxgy6npqu-6xgyei3x2xiejip4iime6knh5m.datawarehouse.fabric.microsoft.com",
                "id": SQL, "provisioningStatus": status},
        },
    }


# sqlEndpoint/examples/RefreshAllTablesInSqlEndpoint.json
TABLE_SYNC_STATUSES = {"value": [
    {"tableName": "Table 1", "startDateTime": "2025-08-08T10:31:22.2708973Z",
     "endDateTime": "2025-08-08T10:36:54.9651741Z", "status": "Success",
     "lastSuccessfulSyncDateTime": "2025-08-08T10:36:54.9651741Z"},
    {"tableName": "Table 2", "startDateTime": "2025-08-08T10:31:22.2708973Z",
     "endDateTime": "2025-08-08T10:43:02.5329616Z", "status": "Failure",
     "error": {"errorCode": "AdalRetryException",
               "message": "Couldn't run query. There is a problem with the Microsoft Entra ID token."},
     "lastSuccessfulSyncDateTime": "2025-08-07T10:44:27.2632648Z"},
    {"tableName": "Table 3", "startDateTime": "2025-08-08T10:31:22.2708973Z",
     "endDateTime": "2025-08-08T10:36:59.9183509Z", "status": "NotRun",
     "lastSuccessfulSyncDateTime": "2025-08-06T08:32:53.3890146Z"},
]}
EXPECTED = [
    TableSync("Table 1", "Success", None, "2025-08-08T10:36:54.9651741Z"),
    TableSync("Table 2", "Failure",
              "AdalRetryException: Couldn't run query. There is a problem with the Microsoft Entra ID token.",
              "2025-08-07T10:44:27.2632648Z"),
    TableSync("Table 3", "NotRun", None, "2025-08-06T08:32:53.3890146Z"),
]


@pytest.fixture()
def client(httpserver: HTTPServer, fake_time) -> Iterator[FabricClient]:
    """A client aimed at the local server's /v1, with fake time and a 60 s wait budget."""
    with FabricClient(lambda: "token", base_url=httpserver.url_for("/v1"), sleep=fake_time.sleep,
                      clock=fake_time.clock, max_wait_seconds=60) as fabric:
        yield fabric


def test_refresh_returns_every_tables_sync_and_failed_tables_picks_the_failure(client, httpserver):
    """Lakehouse → endpoint id → refreshMetadata (200) gives one TableSync per table; failed_tables keeps Failure."""
    httpserver.expect_ordered_request(LAKEHOUSE, method="GET").respond_with_json(lakehouse_body())
    httpserver.expect_ordered_request(REFRESH, method="POST", json={}).respond_with_json(TABLE_SYNC_STATUSES)

    syncs = refresh_sql_endpoint(client, WS, LH)

    assert syncs == EXPECTED
    assert failed_tables(syncs) == [EXPECTED[1]]
    httpserver.check_assertions()


def test_refresh_sends_the_timeout_as_a_duration_and_recreate_tables_when_asked(client, httpserver):
    """timeout_minutes becomes {"timeout": {"value", "timeUnit": "Minutes"}}; recreate_tables sets recreateTables."""
    httpserver.expect_request(LAKEHOUSE).respond_with_json(lakehouse_body())
    httpserver.expect_request(REFRESH, method="POST", json={
        "timeout": {"value": 5, "timeUnit": "Minutes"}, "recreateTables": True}).respond_with_json({"value": []})

    assert refresh_sql_endpoint(client, WS, LH, timeout_minutes=5, recreate_tables=True) == []
    httpserver.check_assertions()


def test_refresh_accepted_as_a_long_running_operation_returns_the_operation_result(client, httpserver, fake_time):
    """A 202 from refreshMetadata is polled to Succeeded and the TableSyncStatuses come from /result."""
    httpserver.expect_ordered_request(LAKEHOUSE).respond_with_json(lakehouse_body())
    httpserver.expect_ordered_request(REFRESH, method="POST").respond_with_data("", status=202, headers={
        "x-ms-operation-id": OP, "Retry-After": "5", "Location": httpserver.url_for(f"/operations/{OP}")})
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json(
        {"status": "Running", "createdTimeUtc": "2025-08-08T10:31:22Z", "lastUpdatedTimeUtc": "2025-08-08T10:31:30Z",
         "percentComplete": 40}, headers={"Retry-After": "30"})
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json(
        {"status": "Succeeded", "createdTimeUtc": "2025-08-08T10:31:22Z",
         "lastUpdatedTimeUtc": "2025-08-08T10:43:02Z", "percentComplete": 100},
        headers={"Location": httpserver.url_for(f"/operations/{OP}/result")})
    httpserver.expect_ordered_request(f"/v1/operations/{OP}/result").respond_with_json(TABLE_SYNC_STATUSES)

    syncs = refresh_sql_endpoint(client, WS, LH)

    assert syncs == EXPECTED
    assert [sync.table for sync in failed_tables(syncs)] == ["Table 2"]
    assert fake_time.sleeps == [5.0, 30.0]
    httpserver.check_assertions()


def test_refresh_waits_as_long_as_the_service_may_work(client, httpserver, fake_time):
    """The refresh waits out the service's 15-minute default timeout even when the client's budget is shorter."""
    httpserver.expect_request(LAKEHOUSE).respond_with_json(lakehouse_body())
    httpserver.expect_request(REFRESH, method="POST").respond_with_data(
        "", status=202, headers={"x-ms-operation-id": OP, "Retry-After": "60"})
    httpserver.expect_request(f"/v1/operations/{OP}").respond_with_json(
        {"status": "Running", "createdTimeUtc": "2025-08-08T10:31:22Z", "lastUpdatedTimeUtc": "2025-08-08T10:31:30Z"},
        headers={"Retry-After": "60"})

    with pytest.raises(FabricApiError, match=rf"operation {OP} was still Running after 960s"):
        refresh_sql_endpoint(client, WS, LH)

    assert fake_time.now == 960.0  # 15 minutes plus one minute of margin, not the client's 60 s


def test_refresh_accepts_the_preview_apis_bare_list(client, httpserver):
    """The preview API's response, a bare list of table statuses, parses the same as the GA {"value": [...]}."""
    httpserver.expect_request(LAKEHOUSE).respond_with_json(lakehouse_body())
    httpserver.expect_request(REFRESH, method="POST").respond_with_json(TABLE_SYNC_STATUSES["value"])

    assert refresh_sql_endpoint(client, WS, LH) == EXPECTED


def test_refresh_of_an_unknown_endpoint_raises_the_fabric_error(client, httpserver):
    """An ItemNotFound from refreshMetadata surfaces as FabricHttpError naming the code."""
    httpserver.expect_request(LAKEHOUSE).respond_with_json(lakehouse_body())
    httpserver.expect_request(REFRESH, method="POST").respond_with_json(
        {"errorCode": "ItemNotFound", "message": "The requested item was not found.", "requestId": "r-404"},
        status=404)

    with pytest.raises(FabricHttpError, match=r"POST /workspaces/.*/refreshMetadata failed: HTTP 404 ItemNotFound"):
        refresh_sql_endpoint(client, WS, LH)


def test_endpoint_still_provisioning_is_polled_until_success(client, httpserver, fake_time):
    """A lakehouse whose SQL endpoint is InProgress (or not listed yet) is polled every 10 s until Success."""
    not_listed = lakehouse_body()
    del not_listed["properties"]["sqlEndpointProperties"]
    in_progress = lakehouse_body("InProgress")
    in_progress["properties"]["sqlEndpointProperties"]["id"] = None
    httpserver.expect_ordered_request(LAKEHOUSE).respond_with_json(not_listed)
    httpserver.expect_ordered_request(LAKEHOUSE).respond_with_json(in_progress)
    httpserver.expect_ordered_request(LAKEHOUSE).respond_with_json(lakehouse_body())

    assert sql_endpoint_id(client, WS, LH) == SQL
    assert fake_time.sleeps == [10.0, 10.0]


@pytest.mark.parametrize(("responses", "message"), [
    (["Failed"], "SQL analytics endpoint of lakehouse Lakehouse_1 .* has provisioning status Failed"),
    (["InProgress"] * 7, "SQL analytics endpoint of lakehouse Lakehouse_1 .* still provisioning after 60s"),
], ids=["failed", "timed-out"])
def test_endpoint_that_fails_or_never_finishes_provisioning_raises_naming_the_lakehouse(
        client, httpserver, responses, message):
    """Provisioning that ends Failed, or outlasts the client's max_wait_seconds, raises naming the lakehouse."""
    for status in responses:
        httpserver.expect_ordered_request(LAKEHOUSE).respond_with_json(lakehouse_body(status))

    with pytest.raises(FabricApiError, match=message):
        sql_endpoint_id(client, WS, LH)

    assert len(httpserver.log) == len(responses)  # polled at 0, 10, ..., 60 s when timing out


def test_timeout_minutes_must_be_positive(client):
    """A zero or negative timeout is rejected before any call is made."""
    with pytest.raises(ValueError, match="timeout_minutes must be a positive number of minutes, got 0"):
        refresh_sql_endpoint(client, WS, LH, timeout_minutes=0)
