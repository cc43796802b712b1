"""A stateful in-memory Fabric REST API on loopback, speaking the shapes of github.com/microsoft/fabric-rest-api-specs.

It serves exactly the endpoints altaviz deploys with: capacities, workspaces (capacity, role assignments,
identity), generic items with definitions, lakehouse properties, environment staging/publish/libraries, item
schedules, job instances and long-running operations. Long-running calls answer 202 with `Location`,
`x-ms-operation-id` and `Retry-After: 0`; an operation goes NotStarted -> Running -> Succeeded over `lro_polls`
polls. Lists page by `page_size` with `continuationToken`/`continuationUri`. `throttle()` injects 429s. Every
request lands in `calls`, so tests can assert which writes (POST/PUT/PATCH/DELETE) a deployment made.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

TOKEN = "fake-fabric-token"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ITEM = "/v1/workspaces/<ws>/items/<item>"
_ENV = "/v1/workspaces/<ws>/environments/<item>"
_SCHEDULES = f"{_ITEM}/jobs/<job_type>/schedules"
ROUTES = [
    ("/v1/capacities", "capacities", ["GET"]),
    ("/v1/workspaces", "workspaces", ["GET", "POST"]),
    ("/v1/workspaces/<ws>", "workspace", ["GET", "PATCH", "DELETE"]),
    ("/v1/workspaces/<ws>/assignToCapacity", "assign_capacity", ["POST"]),
    ("/v1/workspaces/<ws>/provisionIdentity", "provision_identity", ["POST"]),
    ("/v1/workspaces/<ws>/roleAssignments", "role_assignments", ["GET", "POST"]),
    ("/v1/workspaces/<ws>/roleAssignments/<ra>", "role_assignment", ["PATCH", "DELETE"]),
    ("/v1/workspaces/<ws>/items", "items", ["GET", "POST"]),
    (_ITEM, "item", ["GET", "PATCH", "DELETE"]),
    (f"{_ITEM}/getDefinition", "get_definition", ["POST"]),
    (f"{_ITEM}/updateDefinition", "update_definition", ["POST"]),
    (_SCHEDULES, "schedules", ["GET", "POST"]),
    (f"{_SCHEDULES}/<sid>", "schedule", ["GET", "PATCH", "DELETE"]),
    (f"{_ITEM}/jobs/<job_type>/instances", "run_job", ["POST"]),
    (f"{_ITEM}/jobs/instances/<job>", "job_instance", ["GET"]),
    ("/v1/workspaces/<ws>/lakehouses/<item>", "lakehouse", ["GET"]),
    (_ENV, "environment", ["GET"]),
    (f"{_ENV}/staging/libraries", "staging_libraries", ["GET"]),
    (f"{_ENV}/staging/libraries/<name>", "staging_library", ["POST", "DELETE"]),
    (f"{_ENV}/libraries", "published_libraries", ["GET"]),
    (f"{_ENV}/staging/publish", "publish", ["POST"]),
    ("/v1/operations/<op>", "operation", ["GET"]),
    ("/v1/operations/<op>/result", "operation_result", ["GET"]),
]


class FabricError(Exception):
    """An error answer: status, Fabric error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Call:
    """One request the fake received, and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 0

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass
class Operation:
    """A long-running operation: succeeds after `polls` polls (never, if `polls` is None)."""

    polls: int | None
    result: Any = None
    on_success: Callable[[], None] | None = None
    seen: int = 0
    status: str = "NotStarted"


@dataclass
class FakeFabric:
    """The fake's state and knobs; `handle` is the werkzeug handler answering every request."""

    page_size: int = 2
    lro_polls: int = 2
    prefer_lro: bool = True  # create/getDefinition/updateDefinition/provisionIdentity answer 202 (else 200/201)
    publish_never_finishes: bool = False
    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    capacities: dict[str, dict[str, Any]] = field(default_factory=dict)
    workspaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    staging: dict[str, dict[str, bytes]] = field(default_factory=dict)
    published: dict[str, dict[str, bytes]] = field(default_factory=dict)
    publish_states: dict[str, str] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _throttles: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._routes = Map([Rule(path, endpoint=name, methods=methods) for path, name, methods in ROUTES]).bind("")

    # ----- what tests look at and set up
    @property
    def writes(self) -> list[Call]:
        """Every POST/PUT/PATCH/DELETE received (throttled attempts included)."""
        return [c for c in self.calls if c.is_write]

    def write_paths(self) -> list[str]:
        """`METHOD path` of every write that succeeded, in order."""
        return [f"{c.method} {c.path}" for c in self.writes if c.status < 400]

    def throttle(self, times: int = 1, *, method: str | None = None, path_contains: str = "") -> None:
        """Answer the next `times` matching requests with 429 and `Retry-After: 0`."""
        self._throttles.append([times, method, path_contains])

    def add_capacity(self, display_name: str, **extra: Any) -> str:
        """Seed a capacity the caller can see (as if it administered it) and return its GUID."""
        capacity = {"id": _new_id(), "displayName": display_name, "sku": "F2", "region": "South Central US",
                    "state": "Active", **extra}
        self.capacities[capacity["id"]] = capacity
        return capacity["id"]

    def add_workspace(self, display_name: str, **extra: Any) -> str:
        """Seed a workspace (as if made outside the deployment) and return its id."""
        ws = {"id": _new_id(), "displayName": display_name, "description": "", "type": "Workspace", **extra}
        self.workspaces[ws["id"]] = ws
        self.roles[ws["id"]] = {}
        return ws["id"]

    def add_item(self, workspace_id: str, item_type: str, display_name: str, definition: dict | None = None) -> str:
        """Seed an item (as if made outside the deployment) and return its id."""
        return self._create_item(workspace_id, {"displayName": display_name, "type": item_type,
                                                "definition": definition})["id"]

    def items_of(self, workspace_id: str, item_type: str) -> dict[str, dict[str, Any]]:
        """display name -> item, for one type in one workspace."""
        return {i["displayName"]: i for i in self.items.values()
                if i["workspaceId"] == workspace_id and i["type"] == item_type}

    # ----- the handler
    def handle(self, request: Request) -> Response:
        call = Call(request.method, request.path, dict(request.args), _body(request))
        self.calls.append(call)
        try:
            response = self._dispatch(request)
        except FabricError as exc:
            response = _json({"requestId": _new_id(), "errorCode": exc.code, "message": exc.message}, exc.status)
        call.status = response.status_code
        return response

    def _dispatch(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise FabricError(401, "TokenNotProvided", "missing or wrong bearer token")
        for rule in self._throttles:
            if rule[0] > 0 and rule[1] in (None, request.method) and rule[2] in request.path:
                rule[0] -= 1
                return _json({"requestId": _new_id(), "errorCode": "RequestBlocked",
                              "message": "Request is blocked by the upstream service"}, 429, {"Retry-After": "0"})
        try:
            endpoint, args = self._routes.match(request.path, method=request.method)
        except (NotFound, MethodNotAllowed) as exc:
            raise FabricError(404 if isinstance(exc, NotFound) else 405, "EntityNotFound",
                              f"no fake route for {request.method} {request.path}") from exc
        return getattr(self, f"_{endpoint}_{request.method.lower()}")(request, **args)

    # ----- capacities
    def _capacities_get(self, request: Request) -> Response:
        return self._page(request, list(self.capacities.values()))

    # ----- workspaces
    def _workspaces_get(self, request: Request) -> Response:
        return self._page(request, list(self.workspaces.values()))

    def _workspaces_post(self, request: Request) -> Response:
        body = request.get_json()
        name = body["displayName"]
        if any(w["displayName"].casefold() == name.casefold() for w in self.workspaces.values()):
            raise FabricError(409, "WorkspaceNameAlreadyExists", f"Workspace name {name} is already in use")
        ws_id = self.add_workspace(name, description=body.get("description", ""))
        if body.get("capacityId"):
            self.workspaces[ws_id]["capacityId"] = body["capacityId"]
        return _json(self.workspaces[ws_id], 201)

    def _workspace_get(self, request: Request, ws: str) -> Response:
        return _json(self._ws(ws))

    def _workspace_patch(self, request: Request, ws: str) -> Response:
        found = self._ws(ws)
        found.update({k: v for k, v in request.get_json().items() if k in ("displayName", "description")})
        return _json(found)

    def _workspace_delete(self, request: Request, ws: str) -> Response:
        self._ws(ws)
        del self.workspaces[ws]
        for item_id in [i for i, item in self.items.items() if item["workspaceId"] == ws]:
            del self.items[item_id]
        return Response(status=200)

    def _assign_capacity_post(self, request: Request, ws: str) -> Response:
        found, capacity = self._ws(ws), request.get_json()["capacityId"]
        return self._accept(None, on_success=lambda: found.update(capacityId=capacity))

    def _provision_identity_post(self, request: Request, ws: str) -> Response:
        found = self._ws(ws)
        identity = found.get("workspaceIdentity") or {"applicationId": _new_id(), "servicePrincipalId": _new_id()}
        found["workspaceIdentity"] = identity
        return self._accept(identity) if self.prefer_lro else _json(identity)

    def _role_assignments_get(self, request: Request, ws: str) -> Response:
        self._ws(ws)
        return self._page(request, list(self.roles[ws].values()))

    def _role_assignments_post(self, request: Request, ws: str) -> Response:
        self._ws(ws)
        body = request.get_json()
        principal = body["principal"]
        if any(r["principal"]["id"] == principal["id"] for r in self.roles[ws].values()):
            raise FabricError(409, "PrincipalAlreadyHasWorkspaceRolePermissions", "principal already has a role")
        assignment = {"id": principal["id"], "principal": dict(principal), "role": body["role"]}
        self.roles[ws][assignment["id"]] = assignment
        return _json(assignment, 201)

    def _role_assignment_patch(self, request: Request, ws: str, ra: str) -> Response:
        assignment = self._role(ws, ra)
        assignment["role"] = request.get_json()["role"]
        return _json(assignment)

    def _role_assignment_delete(self, request: Request, ws: str, ra: str) -> Response:
        self._role(ws, ra)
        del self.roles[ws][ra]
        return Response(status=200)

    # ----- items
    def _items_get(self, request: Request, ws: str) -> Response:
        self._ws(ws)
        wanted = request.args.get("type")
        found = [_public(i) for i in self.items.values() if i["workspaceId"] == ws and wanted in (None, i["type"])]
        return self._page(request, found)

    def _items_post(self, request: Request, ws: str) -> Response:
        self._ws(ws)
        item = self._create_item(ws, request.get_json())
        return self._accept(_public(item)) if self.prefer_lro else _json(_public(item), 201)

    def _create_item(self, ws: str, body: dict[str, Any]) -> dict[str, Any]:
        name, item_type = body["displayName"], body["type"]
        if any(i["workspaceId"] == ws and i["type"] == item_type and i["displayName"].casefold() == name.casefold()
               for i in self.items.values()):
            raise FabricError(409, "ItemDisplayNameAlreadyInUse", f"Item display name {name} is already used")
        item = {"id": _new_id(), "type": item_type, "displayName": name, "description": body.get("description", ""),
                "workspaceId": ws}
        self.items[item["id"]] = item
        if body.get("definition"):
            self.definitions[item["id"]] = body["definition"]
        if item_type == "Lakehouse":
            item["properties"] = {
                "oneLakeTablesPath": f"https://onelake.dfs.fabric.microsoft.com/{ws}/{item['id']}/Tables",
                "oneLakeFilesPath": f"https://onelake.dfs.fabric.microsoft.com/{ws}/{item['id']}/Files",
                "defaultSchema": "dbo" if (body.get("creationPayload") or {}).get("enableSchemas") else None,
                "sqlEndpointProperties": {"id": _new_id(), "connectionString": "fake.datawarehouse.fabric.microsoft.com",
                                          "provisioningStatus": "Success"}}
        if item_type == "Environment":
            self.staging[item["id"]], self.published[item["id"]] = {}, {}
        return item

    def _item_get(self, request: Request, ws: str, item: str) -> Response:
        return _json(_public(self._item(ws, item)))

    def _item_patch(self, request: Request, ws: str, item: str) -> Response:
        found = self._item(ws, item)
        found.update({k: v for k, v in request.get_json().items() if k in ("displayName", "description")})
        return _json(_public(found))

    def _item_delete(self, request: Request, ws: str, item: str) -> Response:
        self._item(ws, item)
        del self.items[item]
        self.definitions.pop(item, None)
        return Response(status=200)

    def _get_definition_post(self, request: Request, ws: str, item: str) -> Response:
        self._item(ws, item)
        result = {"definition": self.definitions.get(item, {"parts": []})}
        return self._accept(result) if self.prefer_lro else _json(result)

    def _update_definition_post(self, request: Request, ws: str, item: str) -> Response:
        self._item(ws, item)
        self.definitions[item] = request.get_json()["definition"]
        return self._accept(None) if self.prefer_lro else Response(status=200)

    def _lakehouse_get(self, request: Request, ws: str, item: str) -> Response:
        return _json(self._item(ws, item, "Lakehouse"))

    # ----- schedules and jobs
    def _schedules_get(self, request: Request, ws: str, item: str, job_type: str) -> Response:
        self._item(ws, item)
        found = [s for s in self.schedules.values() if (s["_item"], s["_job_type"]) == (item, job_type)]
        return self._page(request, [_public(s) for s in found])

    def _schedules_post(self, request: Request, ws: str, item: str, job_type: str) -> Response:
        self._item(ws, item)
        body = request.get_json()
        schedule = {"id": _new_id(), "enabled": body["enabled"], "createdDateTime": "2026-01-01T00:00:00",
                    "configuration": body["configuration"], "owner": {"id": _new_id(), "type": "ServicePrincipal"},
                    "_item": item, "_job_type": job_type}
        self.schedules[schedule["id"]] = schedule
        return _json(_public(schedule), 201)

    def _schedule_get(self, request: Request, ws: str, item: str, job_type: str, sid: str) -> Response:
        return _json(_public(self._schedule(ws, item, sid)))

    def _schedule_patch(self, request: Request, ws: str, item: str, job_type: str, sid: str) -> Response:
        schedule = self._schedule(ws, item, sid)
        schedule.update({k: v for k, v in request.get_json().items() if k in ("enabled", "configuration")})
        return _json(_public(schedule))

    def _schedule_delete(self, request: Request, ws: str, item: str, job_type: str, sid: str) -> Response:
        self._schedule(ws, item, sid)
        del self.schedules[sid]
        return Response(status=200)

    def _run_job_post(self, request: Request, ws: str, item: str, job_type: str) -> Response:
        self._item(ws, item)
        job = {"id": _new_id(), "itemId": item, "jobType": job_type, "invokeType": "Manual", "status": "NotStarted",
               "failureReason": None, "_polls": 0}
        self.jobs[job["id"]] = job
        location = f"{self.base_url}/workspaces/{ws}/items/{item}/jobs/instances/{job['id']}"
        return Response(status=202, headers={"Location": location, "Retry-After": "0"})

    def _job_instance_get(self, request: Request, ws: str, item: str, job: str) -> Response:
        found = self.jobs.get(job)
        if found is None or found["itemId"] != item:
            raise FabricError(404, "EntityNotFound", f"job instance {job} not found")
        found["_polls"] += 1
        found["status"] = ("NotStarted", "InProgress", "Completed")[min(found["_polls"] - 1, 2)]
        return _json(_public(found))

    # ----- environments
    def _environment_get(self, request: Request, ws: str, item: str) -> Response:
        found = _public(self._item(ws, item, "Environment"))
        state = self.publish_states.get(item)
        found["properties"] = {"publishDetails": {"state": state}} if state else {}
        return _json(found)

    def _staging_libraries_get(self, request: Request, ws: str, item: str) -> Response:
        self._environment(request, ws, item)
        return self._page(request, [{"name": n, "libraryType": "Custom"} for n in sorted(self.staging[item])],
                          key="libraries")

    def _published_libraries_get(self, request: Request, ws: str, item: str) -> Response:
        self._environment(request, ws, item)
        if not self.published[item]:
            raise FabricError(404, "EnvironmentLibrariesNotFound", "This environment does not have any published "
                                                                   "libraries.")
        return self._page(request, [{"name": n, "libraryType": "Custom"} for n in sorted(self.published[item])],
                          key="libraries")

    def _staging_library_post(self, request: Request, ws: str, item: str, name: str) -> Response:
        self._item(ws, item, "Environment")
        if request.content_type != "application/octet-stream":
            raise FabricError(415, "UnsupportedMediaType", f"expected application/octet-stream, got "
                                                           f"{request.content_type}")
        if not name.endswith((".whl", ".py", ".jar", ".tar.gz")):
            raise FabricError(400, "EnvironmentValidationFailed", "Provide a library with a valid format")
        self.staging[item][name] = request.get_data()
        return Response(status=200)

    def _staging_library_delete(self, request: Request, ws: str, item: str, name: str) -> Response:
        self._item(ws, item, "Environment")
        if self.staging[item].pop(name, None) is None:
            raise FabricError(404, "EntityNotFound", f"library {name} is not staged")
        return Response(status=200)

    def _publish_post(self, request: Request, ws: str, item: str) -> Response:
        self._environment(request, ws, item)
        if self.publish_states.get(item) == "Running":
            raise FabricError(400, "InvalidEnvironmentPublish", "Code = EnvironmentAnotherOngoingPublishProcess")
        self.publish_states[item] = "Running"

        def done() -> None:
            self.published[item] = dict(self.staging[item])
            self.publish_states[item] = "Success"

        return self._accept(None, on_success=done, never=self.publish_never_finishes)

    # ----- long-running operations
    def _accept(self, result: Any, *, on_success: Callable[[], None] | None = None, never: bool = False) -> Response:
        op_id = _new_id()
        self.operations[op_id] = Operation(None if never else self.lro_polls, result, on_success)
        return Response(status=202, headers={"Location": f"{self.base_url}/operations/{op_id}",
                                             "x-ms-operation-id": op_id, "Retry-After": "0"})

    def _operation_get(self, request: Request, op: str) -> Response:
        operation = self.operations.get(op)
        if operation is None:
            raise FabricError(404, "EntityNotFound", f"operation {op} not found")
        operation.seen += 1
        if operation.status != "Succeeded":
            if operation.polls is not None and operation.seen >= operation.polls:
                operation.status = "Succeeded"
                if operation.on_success:
                    operation.on_success()
            else:
                operation.status = "NotStarted" if operation.seen == 1 else "Running"
        headers = {"Retry-After": "0"}
        if operation.status == "Succeeded" and operation.result is not None:
            headers["Location"] = f"{self.base_url}/operations/{op}/result"
        return _json({"status": operation.status, "createdTimeUtc": "2026-01-01T00:00:00Z",
                      "percentComplete": 100 if operation.status == "Succeeded" else 50}, 200, headers)

    def _operation_result_get(self, request: Request, op: str) -> Response:
        operation = self.operations.get(op)
        if operation is None or operation.status != "Succeeded" or operation.result is None:
            raise FabricError(400, "OperationHasNoResult", f"operation {op} has no result")
        return _json(operation.result)

    # ----- lookups and paging
    def _ws(self, ws: str) -> dict[str, Any]:
        if ws not in self.workspaces:
            raise FabricError(404, "WorkspaceNotFound", f"workspace {ws} not found")
        return self.workspaces[ws]

    def _item(self, ws: str, item: str, item_type: str | None = None) -> dict[str, Any]:
        self._ws(ws)
        found = self.items.get(item)
        if found is None or found["workspaceId"] != ws or item_type not in (None, found["type"]):
            raise FabricError(404, "ItemNotFound", f"item {item} not found in workspace {ws}")
        return found

    def _environment(self, request: Request, ws: str, item: str) -> dict[str, Any]:
        if request.args.get("beta") != "false":
            raise FabricError(400, "InvalidParameter", "callers must set the query parameter beta=false")
        return self._item(ws, item, "Environment")

    def _role(self, ws: str, ra: str) -> dict[str, Any]:
        self._ws(ws)
        if ra not in self.roles[ws]:
            raise FabricError(404, "EntityNotFound", f"role assignment {ra} not found")
        return self.roles[ws][ra]

    def _schedule(self, ws: str, item: str, sid: str) -> dict[str, Any]:
        self._item(ws, item)
        found = self.schedules.get(sid)
        if found is None or found["_item"] != item:
            raise FabricError(404, "EntityNotFound", f"schedule {sid} not found")
        return found

    def _page(self, request: Request, rows: list[Any], key: str = "value") -> Response:
        start = int(request.args.get("continuationToken", "0") or 0)
        body: dict[str, Any] = {key: rows[start:start + self.page_size]}
        if start + self.page_size < len(rows):
            token = str(start + self.page_size)
            body["continuationToken"] = token
            body["continuationUri"] = f"{request.base_url}?continuationToken={token}"
        return _json(body)


def _new_id() -> str:
    return str(uuid.uuid4())


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the fake's bookkeeping fields (those starting with `_`)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def _body(request: Request) -> Any:
    if request.content_type == "application/json":
        return request.get_json(silent=True)
    return request.get_data() or None


class FakeFabricServer:
    """One loopback server for many tests; `fresh()` swaps in a new, empty fake behind it."""

    def __init__(self) -> None:
        self.fake = FakeFabric()
        self._server = HTTPServer(host="127.0.0.1", port=0)
        self._server.expect_request(re.compile(".*")).respond_with_handler(lambda request: self.fake.handle(request))

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.clear()
        self._server.stop()

    def fresh(self, **knobs: Any) -> FakeFabric:
        """A new fake with empty state (and the given knobs) now answering at `.../v1`."""
        self.fake = FakeFabric(base_url=self._server.url_for("/v1"), **knobs)
        return self.fake


@contextmanager
def serve(**knobs: Any) -> Iterator[FakeFabric]:
    """Run one fake on a free loopback port; `fake.base_url` is its `.../v1`."""
    server = FakeFabricServer()
    server.start()
    try:
        yield server.fresh(**knobs)
    finally:
        server.stop()
