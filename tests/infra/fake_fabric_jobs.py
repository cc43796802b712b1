"""The fake Fabric API's jobs side: item schedules, job instances, environment publishing, long-running operations.

`JobEndpoints` is a mixin of `fake_fabric.FakeFabric`, which holds the state these handlers read and change; the
error, operation and JSON helpers here are shared by both modules.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response


class FabricError(Exception):
    """An error answer: status, Fabric error code and message."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or []


@dataclass
class Operation:
    """A long-running operation: succeeds after `polls` polls (never, if `polls` is None)."""

    polls: int | None
    result: Any = None
    on_success: Callable[[], None] | None = None
    seen: int = 0
    status: str = "NotStarted"


def new_id() -> str:
    return str(uuid.uuid4())


def public(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the fake's bookkeeping fields (those starting with `_`)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class JobEndpoints:
    """Handlers for schedules, job instances, environment libraries and publish, and operation polling."""

    base_url: str
    lro_polls: int
    publish_never_finishes: bool
    schedules: dict[str, dict[str, Any]]
    jobs: dict[str, dict[str, Any]]
    staging: dict[str, dict[str, bytes]]
    published: dict[str, dict[str, bytes]]
    publish_states: dict[str, str]
    operations: dict[str, Operation]
    _item: Callable[..., dict[str, Any]]
    _page: Callable[..., Response]

    # ----- schedules and jobs
    def _schedules_get(self, request: Request, ws: str, item: str, job_type: str) -> Response:
        self._item(ws, item)
        found = [s for s in self.schedules.values() if (s["_item"], s["_job_type"]) == (item, job_type)]
        return self._page(request, [public(s) for s in found])

    def _schedules_post(self, request: Request, ws: str, item: str, job_type: str) -> Response:
        self._item(ws, item)
        body = request.get_json()
        schedule = {"id": new_id(), "enabled": body["enabled"], "createdDateTime": "2026-01-01T00:00:00",
                    "configuration": body["configuration"], "owner": {"id": new_id(), "type": "ServicePrincipal"},
                    "_item": item, "_job_type": job_type}
        self.schedules[schedule["id"]] = schedule
        return json_answer(public(schedule), 201)

    def _schedule_get(self, request: Request, ws: str, item: str, job_type: str, sid: str) -> Response:
        return json_answer(public(self._schedule(ws, item, sid)))

    def _schedule_patch(self, request: Request, ws: str, item: str, job_type: str, sid: str) -> Response:
        schedule = self._schedule(ws, item, sid)
        schedule.update({k: v for k, v in request.get_json().items() if k in ("enabled", "configuration")})
        return json_answer(public(schedule))

    def _schedule_delete(self, request: Request, ws: str, item: str, job_type: str, sid: str) -> Response:
        self._schedule(ws, item, sid)
        del self.schedules[sid]
        return Response(status=200)

    def _run_job_post(self, request: Request, ws: str, item: str, job_type: str) -> Response:
        self._item(ws, item)
        job = {"id": new_id(), "itemId": item, "jobType": job_type, "invokeType": "Manual", "status": "NotStarted",
               "failureReason": None, "_polls": 0}
        self.jobs[job["id"]] = job
        location = f"{self.base_url}/workspaces/{ws}/items/{item}/jobs/instances/{job['id']}"
        return Response(status=202, headers={"Location": location, "Retry-After": "0"})

    def _job_instance_get(self, request: Request, ws: str, item: str, job: str) -> Response:
        found = self.jobs.get(job)
        if found is None or found["itemId"] != item:
            raise FabricError(404, "EntityNotFound", f"job instance {job} not found")
        found["_polls"] += 1
        if found["status"] != "Cancelled":
            found["status"] = ("NotStarted", "InProgress", "Completed")[min(found["_polls"] - 1, 2)]
        return json_answer(public(found))

    def _job_instances_get(self, request: Request, ws: str, item: str) -> Response:
        self._item(ws, item)
        return self._page(request, [public(j) for j in self.jobs.values() if j["itemId"] == item])

    def _cancel_job_post(self, request: Request, ws: str, item: str, job: str) -> Response:
        found = self.jobs.get(job)
        if found is None or found["itemId"] != item:
            raise FabricError(404, "EntityNotFound", f"job instance {job} not found")
        if found["status"] in ("Completed", "Failed", "Cancelled", "Deduped"):
            raise FabricError(400, "JobAlreadyCompleted", f"job instance {job} has already completed")
        found["status"], found["_polls"] = "Cancelled", 10**6
        return Response(status=202, headers={"Location": f"{self.base_url}/workspaces/{ws}/items/{item}/jobs/"
                                                          f"instances/{job}", "Retry-After": "0"})

    # ----- environments
    def _environment_get(self, request: Request, ws: str, item: str) -> Response:
        found = public(self._item(ws, item, "Environment"))
        state = self.publish_states.get(item)
        found["properties"] = {"publishDetails": {"state": state} if state else {}}  # required, even unpublished
        return json_answer(found)

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
        op_id = new_id()
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
        done = operation.status == "Succeeded"
        return json_answer({"status": operation.status, "createdTimeUtc": "2026-01-01T00:00:00Z",
                            "lastUpdatedTimeUtc": "2026-01-01T00:00:01Z", "percentComplete": 100 if done else 50},
                           200, headers)

    def _operation_result_get(self, request: Request, op: str) -> Response:
        operation = self.operations.get(op)
        if operation is None or operation.status != "Succeeded" or operation.result is None:
            raise FabricError(400, "OperationHasNoResult", f"operation {op} has no result")
        return json_answer(operation.result)

    def _environment(self, request: Request, ws: str, item: str) -> dict[str, Any]:
        if request.args.get("beta") != "false":
            raise FabricError(400, "InvalidParameter", "callers must set the query parameter beta=false")
        return self._item(ws, item, "Environment")

    def _schedule(self, ws: str, item: str, sid: str) -> dict[str, Any]:
        self._item(ws, item)
        found = self.schedules.get(sid)
        if found is None or found["_item"] != item:
            raise FabricError(404, "EntityNotFound", f"schedule {sid} not found")
        return found
