"""A stateful in-memory Fabric REST API on loopback, speaking the shapes of github.com/microsoft/fabric-rest-api-specs.

It serves exactly the endpoints altaviz deploys with: capacities, workspaces (capacity, role assignments,
identity), generic items with definitions, lakehouse properties, environment staging/publish/libraries, item
schedules, job instances and long-running operations. Long-running calls answer 202 with `Location`,
`x-ms-operation-id` and `Retry-After: 0`; an operation goes NotStarted -> Running -> Succeeded over `lro_polls`
polls. Lists page by `page_size` with `continuationToken`/`continuationUri`. `throttle()` injects 429s. Every
request lands in `calls`, so tests can assert which writes (POST/PUT/PATCH/DELETE) a deployment made.

Every request is checked against the operation the Fabric OpenAPI specs define for it (`fabric_spec`): a query
parameter the operation does not declare, or a JSON body its schema rejects (60.0 where an integer is due), is
answered 400 `InvalidInput` naming each offending field, as Fabric would. Every JSON answer is checked against
the operation's response schema too. Both kinds of mismatch are kept in `spec_violations`, which the `fake_fabric`
fixture requires to be empty when a test ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fabric_spec import FabricSpec, fabric_spec
from fake_fabric_jobs import FabricError, JobEndpoints, Operation, json_answer, new_id, public
from fake_private_endpoints import PrivateEndpoints
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
    (f"{_ITEM}/jobs/instances", "job_instances", ["GET"]),
    (f"{_ITEM}/jobs/instances/<job>", "job_instance", ["GET"]),
    (f"{_ITEM}/jobs/instances/<job>/cancel", "cancel_job", ["POST"]),
    ("/v1/workspaces/<ws>/lakehouses/<item>", "lakehouse", ["GET"]),
    (_ENV, "environment", ["GET"]),
    (f"{_ENV}/staging/libraries", "staging_libraries", ["GET"]),
    (f"{_ENV}/staging/libraries/<name>", "staging_library", ["POST", "DELETE"]),
    (f"{_ENV}/libraries", "published_libraries", ["GET"]),
    (f"{_ENV}/staging/publish", "publish", ["POST"]),
    ("/v1/workspaces/<ws>/managedPrivateEndpoints", "mpes", ["GET", "POST"]),
    ("/v1/workspaces/<ws>/managedPrivateEndpoints/<mpe>", "mpe", ["GET", "DELETE"]),
    ("/v1/operations/<op>", "operation", ["GET"]),
    ("/v1/operations/<op>/result", "operation_result", ["GET"]),
]


@dataclass
class Call:
    """One request the fake received, and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 0
    operation: str = ""  # the spec operation it matched, e.g. "POST /workspaces/{workspaceId}/items"

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass
class FakeFabric(JobEndpoints, PrivateEndpoints):
    """The fake's state and knobs; `handle` is the werkzeug handler answering every request."""

    page_size: int = 2
    lro_polls: int = 2
    prefer_lro: bool = True  # create/getDefinition/updateDefinition/provisionIdentity answer 202 (else 200/201)
    publish_never_finishes: bool = False
    mpe_polls: int = 2
    arm_polls: int = 1
    connection_lag: int = 1
    arm_forbidden: bool = False
    connection_status: str = "Pending"
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
    mpes: dict[str, dict[str, Any]] = field(default_factory=dict)
    target_connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    spec: FabricSpec = field(default_factory=fabric_spec, repr=False)
    spec_violations: list[str] = field(default_factory=list)
    _throttles: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._routes = Map([Rule(path, endpoint=name, methods=methods) for path, name, methods in ROUTES]).bind("")

    # ----- what tests look at and set up
    @property
    def arm_url(self) -> str:
        """Where the fake's Azure Resource Manager answers (the server root)."""
        return self.base_url.removesuffix("/v1")

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
        capacity = {"id": new_id(), "displayName": display_name, "sku": "F2", "region": "South Central US",
                    "state": "Active", **extra}
        self.capacities[capacity["id"]] = capacity
        return capacity["id"]

    def add_workspace(self, display_name: str, **extra: Any) -> str:
        """Seed a workspace (as if made outside the deployment) and return its id."""
        ws = {"id": new_id(), "displayName": display_name, "description": "", "type": "Workspace", **extra}
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
        if request.path.startswith("/subscriptions/"):  # Azure Resource Manager, beside Fabric on one server
            response = self.handle_arm(request, call)
            call.status = response.status_code
            return response
        try:
            response = self._dispatch(request, call)
        except FabricError as exc:
            response = _error(exc)
        call.status = response.status_code
        self._check_answer(call, response)
        return response

    def _check_request(self, request: Request, call: Call) -> None:
        """Raise the 400 Fabric answers to a request its operation's spec rejects."""
        op = self.spec.operation(request.method, request.path.removeprefix("/v1"), request.args)
        if op is None:
            self.spec_violations.append(f"{request.method} {request.path}: no operation in the spec")
            raise FabricError(404, "EntityNotFound", f"{request.method} {request.path} is not a Fabric API call")
        call.operation = op.name
        errors = self.spec.request_errors(op, request.args, request.mimetype, call.body)
        if errors:
            self.spec_violations.extend(f"{request.method} {request.path}: {e}" for e in errors)
            raise FabricError(400, "InvalidInput", f"The request does not match {op.name}",
                              [{"errorCode": "InvalidInput", "message": e} for e in errors])

    def _check_answer(self, call: Call, response: Response) -> None:
        """Keep every way the fake's own answer departs from the operation's response schema."""
        op = next((o for o in self.spec.operations if o.name == call.operation), None)
        if op is None:
            return
        body = json.loads(response.get_data()) if response.content_type == "application/json" else None
        for error in self.spec.response_errors(op, response.status_code, body):
            self.spec_violations.append(f"answer {response.status_code} to {call.method} {call.path}: {error}")

    def _dispatch(self, request: Request, call: Call) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise FabricError(401, "TokenNotProvided", "missing or wrong bearer token")
        for rule in self._throttles:
            if rule[0] > 0 and rule[1] in (None, request.method) and rule[2] in request.path:
                rule[0] -= 1
                return json_answer({"requestId": new_id(), "errorCode": "RequestBlocked",
                                    "message": "Request is blocked by the upstream service"}, 429,
                                   {"Retry-After": "0"})
        try:
            endpoint, args = self._routes.match(request.path, method=request.method)
        except (NotFound, MethodNotAllowed) as exc:
            raise FabricError(404 if isinstance(exc, NotFound) else 405, "EntityNotFound",
                              f"no fake route for {request.method} {request.path}") from exc
        self._check_request(request, call)
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
        return json_answer(self.workspaces[ws_id], 201)

    def _workspace_get(self, request: Request, ws: str) -> Response:
        return json_answer(self._ws(ws))

    def _workspace_patch(self, request: Request, ws: str) -> Response:
        found = self._ws(ws)
        found.update({k: v for k, v in request.get_json().items() if k in ("displayName", "description")})
        return json_answer(found)

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
        identity = found.get("workspaceIdentity") or {"applicationId": new_id(), "servicePrincipalId": new_id()}
        found["workspaceIdentity"] = identity
        return self._accept(identity) if self.prefer_lro else json_answer(identity)

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
        return json_answer(assignment, 201)

    def _role_assignment_patch(self, request: Request, ws: str, ra: str) -> Response:
        assignment = self._role(ws, ra)
        assignment["role"] = request.get_json()["role"]
        return json_answer(assignment)

    def _role_assignment_delete(self, request: Request, ws: str, ra: str) -> Response:
        self._role(ws, ra)
        del self.roles[ws][ra]
        return Response(status=200)

    # ----- items
    def _items_get(self, request: Request, ws: str) -> Response:
        self._ws(ws)
        wanted = request.args.get("type")
        found = [public(i) for i in self.items.values() if i["workspaceId"] == ws and wanted in (None, i["type"])]
        return self._page(request, found)

    def _items_post(self, request: Request, ws: str) -> Response:
        self._ws(ws)
        item = self._create_item(ws, request.get_json())
        return self._accept(public(item)) if self.prefer_lro else json_answer(public(item), 201)

    def _create_item(self, ws: str, body: dict[str, Any]) -> dict[str, Any]:
        name, item_type = body["displayName"], body["type"]
        if any(i["workspaceId"] == ws and i["type"] == item_type and i["displayName"].casefold() == name.casefold()
               for i in self.items.values()):
            raise FabricError(409, "ItemDisplayNameAlreadyInUse", f"Item display name {name} is already used")
        item = {"id": new_id(), "type": item_type, "displayName": name, "description": body.get("description", ""),
                "workspaceId": ws}
        self.items[item["id"]] = item
        if body.get("definition"):
            self.definitions[item["id"]] = body["definition"]
        if item_type == "Lakehouse":
            item["properties"] = {
                "oneLakeTablesPath": f"https://onelake.dfs.fabric.microsoft.com/{ws}/{item['id']}/Tables",
                "oneLakeFilesPath": f"https://onelake.dfs.fabric.microsoft.com/{ws}/{item['id']}/Files",
                "defaultSchema": "dbo" if (body.get("creationPayload") or {}).get("enableSchemas") else None,
                "sqlEndpointProperties": {"id": new_id(), "connectionString": "fake.datawarehouse.fabric.microsoft.com",
                                          "provisioningStatus": "Success"}}
        if item_type == "Environment":
            self.staging[item["id"]], self.published[item["id"]] = {}, {}
        return item

    def _item_get(self, request: Request, ws: str, item: str) -> Response:
        return json_answer(public(self._item(ws, item)))

    def _item_patch(self, request: Request, ws: str, item: str) -> Response:
        found = self._item(ws, item)
        found.update({k: v for k, v in request.get_json().items() if k in ("displayName", "description")})
        return json_answer(public(found))

    def _item_delete(self, request: Request, ws: str, item: str) -> Response:
        self._item(ws, item)
        del self.items[item]
        self.definitions.pop(item, None)
        return Response(status=200)

    def _get_definition_post(self, request: Request, ws: str, item: str) -> Response:
        self._item(ws, item)
        result = {"definition": self.definitions.get(item, {"parts": []})}
        return self._accept(result) if self.prefer_lro else json_answer(result)

    def _update_definition_post(self, request: Request, ws: str, item: str) -> Response:
        self._item(ws, item)
        self.definitions[item] = request.get_json()["definition"]
        return self._accept(None) if self.prefer_lro else Response(status=200)

    def _lakehouse_get(self, request: Request, ws: str, item: str) -> Response:
        return json_answer(self._item(ws, item, "Lakehouse"))

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

    def _role(self, ws: str, ra: str) -> dict[str, Any]:
        self._ws(ws)
        if ra not in self.roles[ws]:
            raise FabricError(404, "EntityNotFound", f"role assignment {ra} not found")
        return self.roles[ws][ra]

    def _page(self, request: Request, rows: list[Any], key: str = "value") -> Response:
        start = int(request.args.get("continuationToken", "0") or 0)
        body: dict[str, Any] = {key: rows[start:start + self.page_size]}
        if start + self.page_size < len(rows):
            token = str(start + self.page_size)
            body["continuationToken"] = token
            body["continuationUri"] = f"{request.base_url}?continuationToken={token}"
        return json_answer(body)


def _error(exc: FabricError) -> Response:
    body = {"requestId": new_id(), "errorCode": exc.code, "message": exc.message}
    if exc.details:
        body["moreDetails"] = exc.details
    return json_answer(body, exc.status)


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
