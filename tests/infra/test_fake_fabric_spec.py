"""The fake Fabric API holds requests and its own answers to the Fabric REST API specs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from fabric_spec import fabric_spec
from fabric_stack import CRON
from fake_fabric import ROUTES, TOKEN

SPEC = fabric_spec()
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def fake_operations() -> list[Any]:
    """The spec operation behind each method of each route the fake serves."""
    found = []
    for path, _, methods in ROUTES:
        sample = re.sub(r"<[^>]+>", "x", path).removeprefix("/v1")
        found += [(f"{method} {path}", SPEC.operation(method, sample, {"beta": "false"})) for method in methods]
    return found


def send(fake, method: str, path: str, body: Any = None, **query: str) -> requests.Response:
    """One call to the fake with its token; `body` is sent as JSON exactly as given (60.0 stays 60.0)."""
    data = None if body is None else json.dumps(body)
    return requests.request(method, f"{fake.base_url}{path}", params=query, data=data, timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})


def details(response: requests.Response) -> list[str]:
    return [d["message"] for d in response.json().get("moreDetails", [])]


@pytest.mark.parametrize(("route", "operation"), fake_operations(), ids=[r for r, _ in fake_operations()])
def test_every_route_of_the_fake_is_an_operation_of_the_spec(route, operation):
    """The fake serves no call the Fabric API does not define."""
    assert operation is not None, f"{route} is not in the Fabric REST API specs"


def test_the_specs_own_examples_for_the_fakes_operations_validate():
    """Every example request body and answer of the operations the fake serves passes the validator."""
    checked, problems = 0, []
    for _, op in fake_operations():
        for path in (p for p in op.examples if p.is_file()):
            example = json.loads(path.read_text(encoding="utf-8"))
            if op.body_name in example["parameters"]:
                checked += 1
                problems += SPEC.errors(op.body, example["parameters"][op.body_name])
            for status, answer in example.get("responses", {}).items():
                checked += "body" in answer
                problems += SPEC.response_errors(op, int(status), answer.get("body"))
    assert checked > 40 and problems == []


@pytest.mark.parametrize(("configuration", "reason"), [
    ({**CRON, "interval": 60.0}, "configuration.interval: 60.0 is not of type 'integer'"),
    ({**CRON, "interval": 0}, "configuration.interval: 0 is less than the minimum of 1"),
    ({k: v for k, v in CRON.items() if k != "interval"}, "configuration: 'interval' is a required property"),
    ({**CRON, "type": "Hourly"}, "configuration.type: 'Hourly' is not one of ['Cron', 'Daily', 'Weekly', 'Monthly']"),
    ({"type": "Weekly", "startDateTime": "2026-01-01T00:00:00", "endDateTime": "2099-12-31T23:59:00",
      "localTimeZoneId": "UTC", "times": ["03:00"], "weekdays": ["Caturday"]},
     f"configuration.weekdays.0: 'Caturday' is not one of {WEEKDAYS}"),
], ids=["float-interval", "interval-below-range", "cron-without-interval", "unknown-type", "weekly-bad-day"])
def test_a_schedule_outside_the_spec_is_answered_400_naming_the_field(fake_fabric, configuration, reason):
    """The schedule's configuration is checked against the subtype its `type` names (Swagger's discriminator)."""
    ws = fake_fabric.add_workspace("ws")
    item = fake_fabric.add_item(ws, "DataPipeline", "pl")

    answer = send(fake_fabric, "POST", f"/workspaces/{ws}/items/{item}/jobs/Execute/schedules",
                  {"enabled": True, "configuration": configuration})

    assert (answer.status_code, answer.json()["errorCode"]) == (400, "InvalidInput")
    assert details(answer) == [reason]
    assert fake_fabric.schedules == {}
    assert [v.split(": ", 1)[1] for v in fake_fabric.spec_violations] == [reason]
    fake_fabric.spec_violations.clear()  # seen: this test is about them


@pytest.mark.parametrize(("method", "path", "body", "reason"), [
    ("POST", "/workspaces", {"description": "no name"}, "(body): 'displayName' is a required property"),
    ("POST", "/workspaces/{ws}/items", {"displayName": "nb", "type": "Notebook",
                                        "definition": {"parts": [{"path": "a.py", "payload": "eA==",
                                                                  "payloadType": "Text"}]}},
     "definition.parts.0.payloadType: 'Text' is not one of ['InlineBase64']"),
    ("POST", "/workspaces/{ws}/roleAssignments", {"principal": {"id": "p", "type": "User"}, "role": "Owner"},
     "role: 'Owner' is not one of ['Admin', 'Member', 'Contributor', 'Viewer']"),
    ("PATCH", "/workspaces/{ws}", {"displayName": 7}, "displayName: 7 is not of type 'string'"),
], ids=["workspace-without-name", "part-payload-type", "role", "name-not-a-string"])
def test_other_bodies_outside_the_spec_are_answered_400_naming_the_field(fake_fabric, method, path, body, reason):
    """Item, workspace and role bodies are checked too, and nothing is changed."""
    ws = fake_fabric.add_workspace("ws")

    answer = send(fake_fabric, method, path.format(ws=ws), body)

    assert answer.status_code == 400 and details(answer) == [reason]
    assert list(fake_fabric.workspaces) == [ws] and fake_fabric.items == {} and fake_fabric.roles[ws] == {}
    fake_fabric.spec_violations.clear()


def test_a_query_parameter_the_operation_lacks_is_answered_400(fake_fabric):
    """A query parameter the operation does not declare is rejected, naming it."""
    answer = send(fake_fabric, "GET", "/workspaces", pageSize="10")

    assert answer.status_code == 400
    assert details(answer) == ["query parameter 'pageSize' is not a parameter of GET /workspaces"]
    fake_fabric.spec_violations.clear()


def test_an_answer_of_the_fake_outside_the_spec_is_kept_as_a_violation(fake_fabric):
    """A capacity missing a required field in the fake's own answer is recorded, so the test using it fails."""
    capacity = fake_fabric.add_capacity("fabcap")
    del fake_fabric.capacities[capacity]["sku"]

    assert send(fake_fabric, "GET", "/capacities").status_code == 200

    assert fake_fabric.spec_violations == ["answer 200 to GET /v1/capacities: value.0: 'sku' is a required property"]
    fake_fabric.spec_violations.clear()


def test_a_body_in_a_media_type_the_operation_does_not_consume_is_answered_400(fake_fabric):
    """A library upload sent as JSON (the operation consumes application/octet-stream) is rejected."""
    ws = fake_fabric.add_workspace("ws")
    env = fake_fabric.add_item(ws, "Environment", "env")

    answer = send(fake_fabric, "POST", f"/workspaces/{ws}/environments/{env}/staging/libraries/a.whl", {"x": 1})

    assert answer.status_code == 400
    upload = "POST /workspaces/{workspaceId}/environments/{environmentId}/staging/libraries/{libraryName}"
    assert details(answer) == [f"{upload} consumes application/octet-stream, not application/json"]
    assert fake_fabric.staging[env] == {}
    fake_fabric.spec_violations.clear()
