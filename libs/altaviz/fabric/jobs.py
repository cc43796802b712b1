"""Fabric job scheduler: item schedules and on-demand job runs (platform spec, `common/job_scheduling.json`).

Paths: `/workspaces/{ws}/items/{item}/jobs/{jobType}/schedules[/{scheduleId}]` (create 201, update PATCH, delete),
`POST /workspaces/{ws}/items/{item}/jobs/{jobType}/instances` (202, `Location` = the job instance) and
`GET /workspaces/{ws}/items/{item}/jobs/instances/{jobInstanceId}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from altaviz.errors import FabricApiError
from altaviz.fabric.client import FabricClient

JOB_RUNNING = frozenset({"NotStarted", "InProgress"})


@dataclass(frozen=True)
class Schedule:
    """An item schedule: id, enabled, and its configuration (`type` Cron|Daily|Weekly|Monthly and its fields)."""

    id: str
    enabled: bool
    configuration: dict[str, Any]

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Schedule:
        """A Schedule from an `ItemSchedule` object of the API."""
        return cls(body["id"], bool(body.get("enabled")), dict(body.get("configuration") or {}))


@dataclass(frozen=True)
class JobInstance:
    """One run of an item job: its status (`NotStarted|InProgress|Completed|Failed|Cancelled|Deduped`)."""

    id: str
    item_id: str
    job_type: str
    status: str
    failure_reason: Any = None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> JobInstance:
        """A JobInstance from an `ItemJobInstance` object of the API."""
        return cls(body["id"], body.get("itemId", ""), body.get("jobType", ""), body.get("status", ""),
                   body.get("failureReason"))

    @property
    def finished(self) -> bool:
        """True once the run has ended, however it ended."""
        return self.status not in JOB_RUNNING


class Schedules:
    """The schedules of one job type of one item (at most 20 per item)."""

    def __init__(self, client: FabricClient, workspace_id: str, item_id: str, job_type: str) -> None:
        self.client = client
        self.path = f"workspaces/{workspace_id}/items/{item_id}/jobs/{job_type}/schedules"

    def list(self) -> list[Schedule]:
        """Every schedule (all pages)."""
        return [Schedule.from_api(body) for body in self.client.list_paged(self.path)]

    def get(self, schedule_id: str) -> Schedule | None:
        """One schedule, or None if it does not exist (HTTP 404)."""
        found = self.client.get(f"{self.path}/{schedule_id}", missing_ok=True)
        return Schedule.from_api(found) if found is not None else None

    def create(self, *, enabled: bool, configuration: dict[str, Any]) -> Schedule:
        """Create a schedule."""
        return Schedule.from_api(self.client.post(self.path, {"enabled": enabled, "configuration": configuration}))

    def update(self, schedule_id: str, *, enabled: bool, configuration: dict[str, Any]) -> Schedule:
        """Replace a schedule's enabled flag and configuration."""
        body = {"enabled": enabled, "configuration": configuration}
        return Schedule.from_api(self.client.patch(f"{self.path}/{schedule_id}", body))

    def delete(self, schedule_id: str) -> bool:
        """Delete a schedule; False if it was already gone."""
        return self.client.delete(f"{self.path}/{schedule_id}", missing_ok=True)


class Jobs:
    """On-demand runs of item jobs (`RunNotebook` for notebooks, `Execute` for pipelines)."""

    def __init__(self, client: FabricClient, workspace_id: str) -> None:
        self.client = client
        self.workspace_id = workspace_id

    def run(self, item_id: str, job_type: str, *, execution_data: dict[str, Any] | None = None) -> str:
        """Start a job run and return its job instance id (from the 202's `Location`)."""
        body = {"executionData": execution_data} if execution_data is not None else None
        response = self.client.request("POST", f"workspaces/{self.workspace_id}/items/{item_id}/jobs/{job_type}"
                                               "/instances", json=body)
        location = response.headers.get("Location") or ""
        instance_id = location.rstrip("/").rsplit("/", 1)[-1] if "/jobs/instances/" in location else ""
        if not instance_id:
            raise FabricApiError(f"Fabric started a {job_type} job of item {item_id} but sent no job instance "
                                 f"Location (got {location!r})")
        return instance_id

    def instances(self, item_id: str) -> list[JobInstance]:
        """Every recorded run of the item's jobs (all pages), as the API lists them."""
        return [JobInstance.from_api(body) for body in
                self.client.list_paged(f"workspaces/{self.workspace_id}/items/{item_id}/jobs/instances")]

    def cancel(self, item_id: str, job_instance_id: str) -> None:
        """Ask Fabric to cancel a run (it answers 202 and cancels asynchronously)."""
        self.client.request("POST", f"workspaces/{self.workspace_id}/items/{item_id}/jobs/instances/"
                                    f"{job_instance_id}/cancel")

    def instance(self, item_id: str, job_instance_id: str) -> JobInstance:
        """The current state of one job run."""
        body = self.client.get(f"workspaces/{self.workspace_id}/items/{item_id}/jobs/instances/{job_instance_id}")
        return JobInstance.from_api(body)
