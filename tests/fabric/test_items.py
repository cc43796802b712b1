"""Fabric item classes against a local server answering with the shapes of the fabric-rest-api-specs examples."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from altaviz.errors import FabricApiError
from altaviz.fabric.client import FabricClient, FabricHttpError
from altaviz.fabric.items import Environments, Lakehouses, Notebooks
from altaviz.fabric.jobs import Jobs, Schedules
from altaviz.fabric.workspaces import Workspaces

WS = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
NB = "58fa1eac-9694-4a6b-ba25-3520288e8fea"
ENV = "41ce06d1-d81b-4ea0-bc6d-2ce3dd2f8e87"
OP = "0acd697c-1550-43cd-b998-91bfbfbd47c6"
ITEMS = f"/v1/workspaces/{WS}/items"
NOTEBOOK = {"id": NB, "displayName": "nb_bronze_ingest", "description": "", "type": "Notebook", "workspaceId": WS}
DEFINITION = {"format": "fabricGitSource", "parts": [
    {"path": "notebook-content.py", "payload": "IyBGYWJyaWMgbm90ZWJvb2sgc291cmNl", "payloadType": "InlineBase64"}]}
CRON = {"type": "Cron", "startDateTime": "2026-01-01T00:10:00", "endDateTime": "2099-12-31T23:59:00",
        "localTimeZoneId": "UTC", "interval": 60}


def error(code: str) -> dict[str, str]:
    return {"requestId": "e7d4be9d-423c-4b26-b4e4-35de77c89e26", "errorCode": code, "message": f"{code} happened"}


@pytest.fixture()
def client(httpserver: HTTPServer, fake_time) -> Iterator[FabricClient]:
    """A client aimed at the local server's /v1, with fake time."""
    with FabricClient(lambda: "token", base_url=httpserver.url_for("/v1"), sleep=fake_time.sleep,
                      clock=fake_time.clock) as fabric:
        yield fabric


def accept(httpserver: HTTPServer, path: str, *, result: dict | None, method: str = "POST", polls: int = 1,
           **match) -> None:
    """`path` answers 202 with an operation that runs `polls - 1` polls, then succeeds (with `result`, if any)."""
    httpserver.expect_ordered_request(path, method=method, **match).respond_with_data(
        "", status=202, headers={"x-ms-operation-id": OP, "Retry-After": "5",
                                 "Location": f"https://api.fabric.microsoft.com/v1/operations/{OP}"})
    for _ in range(polls - 1):
        httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json({"status": "Running"})
    headers = {"Location": httpserver.url_for(f"/v1/operations/{OP}/result")} if result is not None else {}
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json({"status": "Succeeded"},
                                                                                headers=headers)
    if result is not None:
        httpserver.expect_ordered_request(f"/v1/operations/{OP}/result").respond_with_json(result)


def listed(httpserver: HTTPServer, *items: dict, item_type: str = "Notebook") -> None:
    httpserver.expect_ordered_request(ITEMS, method="GET", query_string={"type": item_type}).respond_with_json(
        {"value": list(items)})


def test_list_follows_continuation_tokens_and_keeps_only_its_type(client, httpserver):
    """Listing asks for the type, follows continuationToken to the last page and returns ItemRefs of that type."""
    other = {**NOTEBOOK, "id": "x", "type": "KustoDashboard"}
    httpserver.expect_ordered_request(ITEMS, query_string={"type": "Notebook"}).respond_with_json(
        {"value": [NOTEBOOK, other], "continuationToken": "LDEsMTAwMDAwLDA=",
         "continuationUri": httpserver.url_for(f"{ITEMS}?continuationToken=LDEsMTAwMDAwLDA%3D")})
    httpserver.expect_ordered_request(ITEMS, query_string={"type": "Notebook", "continuationToken": "LDEsMTAwMDAwLDA="}
                                      ).respond_with_json({"value": [{**NOTEBOOK, "id": "2", "displayName": "b"}]})

    found = Notebooks(client, WS).list()

    assert [(i.id, i.display_name, i.item_type) for i in found] == [(NB, "nb_bronze_ingest", "Notebook"),
                                                                    ("2", "b", "Notebook")]


def test_create_posts_name_type_description_and_definition_and_returns_the_201_item(client, httpserver):
    """A new item is POSTed to /items with its definition; a 201 body is the item."""
    listed(httpserver)
    httpserver.expect_ordered_request(ITEMS, method="POST", json={
        "displayName": "nb_bronze_ingest", "type": "Notebook", "description": "d", "definition": DEFINITION}
    ).respond_with_json(NOTEBOOK, status=201)

    made = Notebooks(client, WS).create("nb_bronze_ingest", description="d", definition=DEFINITION)

    assert (made.id, made.adopted) == (NB, False)


def test_create_follows_a_202_operation_to_the_created_item(client, httpserver, fake_time):
    """A 202 create is polled (Retry-After honoured) and the operation's result is the item."""
    listed(httpserver)
    accept(httpserver, ITEMS, result=NOTEBOOK, polls=2)

    made = Notebooks(client, WS).create("nb_bronze_ingest", definition=DEFINITION)

    assert made.id == NB and not made.adopted
    assert fake_time.sleeps[0] == 5.0
    httpserver.check_assertions()


def test_create_adopts_an_item_already_there_without_posting(client, httpserver):
    """An item of the same type and name (any case) is adopted: its id comes back with adopted=True, no POST."""
    listed(httpserver, {**NOTEBOOK, "displayName": "NB_Bronze_Ingest"})

    made = Notebooks(client, WS).create("nb_bronze_ingest", definition=DEFINITION)

    assert (made.id, made.adopted) == (NB, True)
    assert [entry[0].method for entry in httpserver.log] == ["GET"]


def test_create_adopts_when_the_name_was_taken_meanwhile(client, httpserver):
    """ItemDisplayNameAlreadyInUse from the POST means someone created it: the existing item is adopted."""
    listed(httpserver)
    httpserver.expect_ordered_request(ITEMS, method="POST").respond_with_json(
        error("ItemDisplayNameAlreadyInUse"), status=400)
    listed(httpserver, NOTEBOOK)

    assert Notebooks(client, WS).create("nb_bronze_ingest").adopted


def test_other_create_errors_are_raised(client, httpserver):
    """A create failing for another reason raises the FabricHttpError with its code."""
    listed(httpserver)
    httpserver.expect_ordered_request(ITEMS, method="POST").respond_with_json(error("CorruptedPayload"), status=400)

    with pytest.raises(FabricHttpError, match="CorruptedPayload"):
        Notebooks(client, WS).create("nb_bronze_ingest", definition=DEFINITION)


def test_get_definition_follows_the_operation_and_update_definition_posts_it(client, httpserver):
    """getDefinition's operation result carries the definition; updateDefinition sends {definition}, metadata opt-in."""
    accept(httpserver, f"{ITEMS}/{NB}/getDefinition", result={"definition": DEFINITION})
    accept(httpserver, f"{ITEMS}/{NB}/updateDefinition", result=None, json={"definition": DEFINITION},
           query_string={"updateMetadata": "true"})
    notebooks = Notebooks(client, WS)

    assert notebooks.get_definition(NB) == DEFINITION
    notebooks.update_definition(NB, DEFINITION, update_metadata=True)
    httpserver.check_assertions()


def test_rename_patches_and_delete_of_a_missing_item_returns_false(client, httpserver):
    """update PATCHes displayName/description; deleting an item already gone (404 ItemNotFound) is not an error."""
    httpserver.expect_ordered_request(f"{ITEMS}/{NB}", method="PATCH", json={"displayName": "b", "description": ""}
                                      ).respond_with_json({**NOTEBOOK, "displayName": "b"})
    httpserver.expect_ordered_request(f"{ITEMS}/{NB}", method="DELETE").respond_with_json(error("ItemNotFound"),
                                                                                          status=404)
    notebooks = Notebooks(client, WS)

    assert notebooks.update(NB, display_name="b", description="").display_name == "b"
    assert notebooks.delete(NB) is False


def test_lakehouse_is_created_schema_enabled_and_reports_its_sql_endpoint(client, httpserver):
    """A lakehouse is created with creationPayload.enableSchemas and its properties come from /lakehouses/{id}."""
    lakehouse = {**NOTEBOOK, "id": "lh", "displayName": "lh_bronze_raw", "type": "Lakehouse"}
    listed(httpserver, item_type="Lakehouse")
    httpserver.expect_ordered_request(ITEMS, method="POST", json={
        "displayName": "lh_bronze_raw", "type": "Lakehouse", "description": "", "creationPayload": {"enableSchemas": True}}
    ).respond_with_json(lakehouse, status=201)
    httpserver.expect_ordered_request(f"/v1/workspaces/{WS}/lakehouses/lh").respond_with_json({
        **lakehouse, "properties": {"oneLakeTablesPath": "https://onelake/ws/lh/Tables",
                                    "oneLakeFilesPath": "https://onelake/ws/lh/Files", "defaultSchema": "dbo",
                                    "sqlEndpointProperties": {"id": "sql-1", "connectionString": "x.fabric",
                                                              "provisioningStatus": "Success"}}})
    lakehouses = Lakehouses(client, WS)

    made = lakehouses.create("lh_bronze_raw")
    props = lakehouses.properties(made.id)

    assert (props.sql_endpoint_id, props.onelake_tables_path) == ("sql-1", "https://onelake/ws/lh/Tables")


def test_wheel_upload_goes_as_octet_stream_to_the_library_name(client, httpserver, tmp_path):
    """The release upload endpoint gets the file bytes as application/octet-stream at staging/libraries/{name}."""
    wheel = tmp_path / "altaviz-0.1.0+h0123456789ab-py3-none-any.whl"
    wheel.write_bytes(b"PK wheel bytes")
    httpserver.expect_request(
        f"/v1/workspaces/{WS}/environments/{ENV}/staging/libraries/{wheel.name}", method="POST",
        headers={"Content-Type": "application/octet-stream"}, data=b"PK wheel bytes").respond_with_data("")

    Environments(client, WS).upload_library(ENV, wheel)

    httpserver.check_assertions()
    assert len(httpserver.log) == 1


def test_published_libraries_are_empty_before_the_first_publish(client, httpserver):
    """EnvironmentLibrariesNotFound means nothing is published yet: an empty list, asked with beta=false."""
    httpserver.expect_request(f"/v1/workspaces/{WS}/environments/{ENV}/libraries",
                              query_string={"beta": "false"}).respond_with_json(
        error("EnvironmentLibrariesNotFound"), status=404)

    assert Environments(client, WS).published_libraries(ENV) == []


def test_library_lists_end_at_a_null_continuation_token(client, httpserver):
    """A "null" continuationToken (as in GetPublishedLibraries.json) ends the list instead of paging again."""
    httpserver.expect_request(f"/v1/workspaces/{WS}/environments/{ENV}/libraries",
                              query_string={"beta": "false"}).respond_with_json({
        "libraries": [{"name": "altaviz-0.1.0+h0123456789ab-py3-none-any.whl", "libraryType": "Custom"}],
        "continuationToken": "null", "continuationUri": "null"})

    assert [lib["name"] for lib in Environments(client, WS).published_libraries(ENV)] == [
        "altaviz-0.1.0+h0123456789ab-py3-none-any.whl"]
    assert len(httpserver.log) == 1


def test_publish_waits_for_its_operation(client, httpserver):
    """staging/publish?beta=false answers 202; the operation is followed until it succeeds."""
    accept(httpserver, f"/v1/workspaces/{WS}/environments/{ENV}/staging/publish", result=None, polls=3,
           query_string={"beta": "false"})

    Environments(client, WS).publish(ENV, max_wait_seconds=600, display_name="env_altaviz")

    httpserver.check_assertions()


def test_publish_that_never_finishes_fails_naming_the_environment_and_the_minutes(client, httpserver, fake_time):
    """A publish still Running after the bounded wait raises one error with the environment and minutes waited."""
    httpserver.expect_request(f"/v1/workspaces/{WS}/environments/{ENV}/staging/publish", method="POST"
                              ).respond_with_data("", status=202, headers={"x-ms-operation-id": OP,
                                                                           "Retry-After": "60"})
    httpserver.expect_request(f"/v1/operations/{OP}").respond_with_json({"status": "Running"},
                                                                        headers={"Retry-After": "60"})

    with pytest.raises(FabricApiError, match=r"Publishing environment 'env_altaviz' \(41ce06d1.*\) did not finish "
                                             r"within 20.0 minutes \(limit 20.0\)"):
        Environments(client, WS).publish(ENV, max_wait_seconds=1200, display_name="env_altaviz")

    assert sum(fake_time.sleeps) == 1200


def test_publish_answered_200_polls_the_environment_publish_state(client, httpserver):
    """A 200 publish (publishDetails Running) is followed by polling the environment until the state is Success."""
    running = {"publishDetails": {"state": "Running"}}
    httpserver.expect_ordered_request(f"/v1/workspaces/{WS}/environments/{ENV}/staging/publish", method="POST"
                                      ).respond_with_json(running)
    for state in ("Running", "Success"):
        httpserver.expect_ordered_request(f"/v1/workspaces/{WS}/environments/{ENV}").respond_with_json(
            {"id": ENV, "type": "Environment", "properties": {"publishDetails": {"state": state}}})

    Environments(client, WS).publish(ENV, max_wait_seconds=600)

    httpserver.check_assertions()


def test_failed_publish_names_the_environment(client, httpserver):
    """A publish operation ending Failed raises a FabricHttpError that names the environment and the error code."""
    httpserver.expect_ordered_request(f"/v1/workspaces/{WS}/environments/{ENV}/staging/publish", method="POST"
                                      ).respond_with_data("", status=202, headers={"x-ms-operation-id": OP})
    httpserver.expect_ordered_request(f"/v1/operations/{OP}").respond_with_json(
        {"status": "Failed", "error": error("EnvironmentLibraryConflict")})

    with pytest.raises(FabricHttpError, match="Publishing environment 'env_altaviz'.*EnvironmentLibraryConflict"):
        Environments(client, WS).publish(ENV, max_wait_seconds=600, display_name="env_altaviz")


def test_workspace_is_created_on_its_capacity_or_adopted_by_name(client, httpserver):
    """A new workspace is POSTed with its capacity; an existing one with the same name is found and adopted."""
    created = {"id": WS, "displayName": "altaviz-dev", "description": "d", "type": "Workspace", "capacityId": "cap"}
    httpserver.expect_ordered_request("/v1/workspaces", method="GET").respond_with_json({"value": []})
    httpserver.expect_ordered_request("/v1/workspaces", method="POST", json={
        "displayName": "altaviz-dev", "description": "d", "capacityId": "cap"}).respond_with_json(created, status=201)
    httpserver.expect_ordered_request("/v1/workspaces", method="GET").respond_with_json({"value": [created]})
    httpserver.expect_ordered_request(f"/v1/workspaces/{WS}").respond_with_json(
        {**created, "workspaceIdentity": {"applicationId": "app", "servicePrincipalId": "sp"}})
    spaces = Workspaces(client)

    first = spaces.create("altaviz-dev", description="d", capacity_id="cap")
    again = spaces.create("altaviz-dev", description="d", capacity_id="cap")

    assert (first.id, first.adopted) == (WS, False)
    assert (again.id, again.adopted, again.identity_service_principal_id) == (WS, True, "sp")


def test_role_assignment_identity_and_capacity_calls(client, httpserver):
    """Roles POST {principal:{id,type}, role}; provisionIdentity's result is the identity; assignToCapacity is awaited."""
    httpserver.expect_ordered_request(f"/v1/workspaces/{WS}/roleAssignments", method="POST", json={
        "principal": {"id": "u1", "type": "Group"}, "role": "Contributor"}).respond_with_json(
        {"id": "u1", "principal": {"id": "u1", "type": "Group"}, "role": "Contributor"}, status=201)
    accept(httpserver, f"/v1/workspaces/{WS}/provisionIdentity",
           result={"applicationId": "app", "servicePrincipalId": "sp"})
    spaces = Workspaces(client)

    assert spaces.add_role_assignment(WS, "u1", "Group", "Contributor").role == "Contributor"
    assert spaces.provision_identity(WS) == ("app", "sp")
    httpserver.clear()
    accept(httpserver, f"/v1/workspaces/{WS}/assignToCapacity", result=None, json={"capacityId": "cap"})
    spaces.assign_to_capacity(WS, "cap")
    httpserver.check_assertions()


def test_capacities_are_listed_across_pages_and_found_by_name(client, httpserver):
    """GET /v1/capacities is paged; a name matches displayName in any case; a GUID is used without a lookup."""
    f4 = {"id": "96f3f0ff-4fe2-4712-b61b-05a456ba9357", "displayName": "F4 Capacity", "sku": "F4",
          "region": "West Central US", "state": "Active"}
    f8 = {"id": "0b9a4952-b5e7-4a55-8739-3e7251a2fd43", "displayName": "F8 Capacity", "sku": "F8",
          "region": "West Central US", "state": "Inactive"}
    for _ in range(2):
        httpserver.expect_ordered_request("/v1/capacities", method="GET", query_string="").respond_with_json(
            {"value": [f4], "continuationToken": "t1"})
        httpserver.expect_ordered_request("/v1/capacities", method="GET", query_string={
            "continuationToken": "t1"}).respond_with_json({"value": [f8]})
    spaces = Workspaces(client)

    found = spaces.find_capacity("f8 capacity")
    assert (found.id, found.sku, found.state) == (f8["id"], "F8", "Inactive")
    assert spaces.capacity_id("F4 CAPACITY") == f4["id"]
    assert spaces.capacity_id(f8["id"].upper()) == f8["id"].upper()
    httpserver.check_assertions()


def test_a_capacity_name_shared_by_two_capacities_is_refused(client, httpserver):
    """Two visible capacities with one name are ambiguous: the error lists their ids and asks for the GUID."""
    same = [{"id": f"0000000{i}-0000-0000-0000-000000000000", "displayName": "shared", "sku": "F2",
             "region": "West Europe", "state": "Active"} for i in (1, 2)]
    httpserver.expect_request("/v1/capacities", method="GET").respond_with_json({"value": same})

    with pytest.raises(FabricApiError, match=r"'shared' is ambiguous: capacities 00000001-.*, 00000002-.* GUID"):
        Workspaces(client).capacity_id("shared")


def test_schedules_are_created_updated_listed_and_deleted_under_the_job_type(client, httpserver):
    """Schedules live at items/{id}/jobs/{jobType}/schedules: POST 201, PATCH, GET list, DELETE (gone is fine)."""
    path = f"{ITEMS}/{NB}/jobs/Execute/schedules"
    schedule = {"id": "s1", "enabled": True, "createdDateTime": "2024-04-28T05:35:20.5366667", "configuration": CRON,
                "owner": {"id": "8eedb1b0-3af8-4b17-8e7e-663e61e12211", "type": "User"}}
    httpserver.expect_ordered_request(path, method="POST", json={"enabled": True, "configuration": CRON}
                                      ).respond_with_json(schedule, status=201)
    httpserver.expect_ordered_request(f"{path}/s1", method="PATCH", json={"enabled": False, "configuration": CRON}
                                      ).respond_with_json({**schedule, "enabled": False})
    httpserver.expect_ordered_request(path, method="GET").respond_with_json({"value": [{**schedule, "enabled": False}]})
    httpserver.expect_ordered_request(f"{path}/s1", method="DELETE").respond_with_json(error("EntityNotFound"),
                                                                                       status=404)
    schedules = Schedules(client, WS, NB, "Execute")

    assert schedules.create(enabled=True, configuration=CRON).id == "s1"
    assert schedules.update("s1", enabled=False, configuration=CRON).enabled is False
    assert [(s.id, s.enabled, s.configuration) for s in schedules.list()] == [("s1", False, CRON)]
    assert schedules.delete("s1") is False


def test_job_run_returns_the_instance_from_location_and_its_status_is_read(client, httpserver):
    """Running a job answers 202 with the job instance Location; the instance reports its status."""
    location = f"https://api.fabric.microsoft.com/v1/workspaces/{WS}/items/{NB}/jobs/instances/job-1"
    httpserver.expect_ordered_request(f"{ITEMS}/{NB}/jobs/RunNotebook/instances", method="POST").respond_with_data(
        "", status=202, headers={"Location": location, "Retry-After": "60"})
    httpserver.expect_ordered_request(f"{ITEMS}/{NB}/jobs/instances/job-1").respond_with_json(
        {"id": "job-1", "itemId": NB, "jobType": "RunNotebook", "invokeType": "Manual", "status": "Completed",
         "failureReason": None})
    jobs = Jobs(client, WS)

    job_id = jobs.run(NB, "RunNotebook")
    instance = jobs.instance(NB, job_id)

    assert (job_id, instance.status, instance.finished) == ("job-1", "Completed", True)
