"""One small class per Fabric item type on a shared base, each calling the REST API through an injected `FabricClient`.

`WorkspaceItems` holds what every item type shares (list by type with paging, find by display name, idempotent
create, get/update definition, rename, delete); `Notebooks`, `DataPipelines`, `Lakehouses` and `Environments` add
their type and extras. Workspaces, schedules and job runs live in `altaviz.fabric.workspaces` and
`altaviz.fabric.jobs`. Paths and bodies follow github.com/microsoft/fabric-rest-api-specs (platform, lakehouse,
environment).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from altaviz.errors import FabricApiError
from altaviz.fabric.client import FabricClient, FabricHttpError

NAME_IN_USE = frozenset({"ItemDisplayNameAlreadyInUse"})
SQL_ENDPOINT_WAIT_SECONDS = 300.0
PUBLISH_RUNNING = frozenset({"Running", "Waiting", "Cancelling"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemRef:
    """A Fabric item as the API lists it; `adopted` is True when create found it already there."""

    id: str
    display_name: str
    item_type: str
    description: str = ""
    adopted: bool = False

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> ItemRef:
        """An ItemRef from an `Item` object of the API."""
        return cls(body["id"], body.get("displayName", ""), body.get("type", ""), body.get("description") or "")


@dataclass(frozen=True)
class LakehouseProperties:
    """What other resources need from a lakehouse: its OneLake paths and its SQL analytics endpoint."""

    onelake_tables_path: str
    onelake_files_path: str
    sql_endpoint_id: str | None
    sql_endpoint_connection_string: str | None
    sql_endpoint_status: str | None


class WorkspaceItems:
    """The items of one type in one workspace: the shared base of the item classes (fabric-cicd's publisher base)."""

    item_type: ClassVar[str] = ""

    def __init__(self, client: FabricClient, workspace_id: str) -> None:
        if not self.item_type:
            raise TypeError(f"{type(self).__name__} must set item_type")
        self.client = client
        self.workspace_id = workspace_id

    @property
    def items_path(self) -> str:
        """The workspace's generic items collection."""
        return f"workspaces/{self.workspace_id}/items"

    def item_path(self, item_id: str) -> str:
        """One item of the workspace."""
        return f"{self.items_path}/{item_id}"

    def list(self) -> list[ItemRef]:
        """Every item of this type in the workspace (all pages)."""
        found = self.client.list_paged(self.items_path, params={"type": self.item_type})
        return [ItemRef.from_api(body) for body in found if body.get("type") == self.item_type]

    def find(self, display_name: str) -> ItemRef | None:
        """The item of this type called `display_name` (Fabric compares names case-insensitively), or None."""
        wanted = display_name.casefold()
        return next((item for item in self.list() if item.display_name.casefold() == wanted), None)

    def get(self, item_id: str) -> ItemRef | None:
        """The item with this id, or None if it does not exist (HTTP 404)."""
        found = self.client.get(self.item_path(item_id), missing_ok=True)
        return ItemRef.from_api(found) if found is not None else None

    def create(self, display_name: str, *, description: str = "", definition: dict[str, Any] | None = None,
               creation_payload: dict[str, Any] | None = None) -> ItemRef:
        """Create the item, or adopt the one already called `display_name` (then `adopted` is True).

        The definition of an adopted item is left alone: compare and update it with `update_definition`.
        Fabric answers 201 with the item or 202 with a long-running operation whose result is the item; both are
        followed.

        Raises:
            FabricApiError: the create failed for another reason than the name being in use.
        """
        existing = self.find(display_name)
        if existing is not None:
            log.info("Adopting existing %s %r (%s)", self.item_type, display_name, existing.id)
            return replace(existing, adopted=True)
        body: dict[str, Any] = {"displayName": display_name, "type": self.item_type, "description": description}
        if definition is not None:
            body["definition"] = definition
        if creation_payload is not None:
            body["creationPayload"] = creation_payload
        try:
            response = self.client.request("POST", self.items_path, json=body)
        except FabricHttpError as exc:
            if exc.error_code not in NAME_IN_USE:
                raise
            # Someone created it between our list and our create: adopt theirs.
            existing = self.find(display_name)
            if existing is None:
                raise
            return replace(existing, adopted=True)
        result = self.client.wait_for_operation(response, has_result=True)
        if isinstance(result, dict) and result.get("id"):
            return ItemRef.from_api(result)
        created = self.find(display_name)  # an operation without a result: look the new item up
        if created is None:
            raise FabricApiError(f"Fabric created {self.item_type} {display_name!r} in workspace "
                                 f"{self.workspace_id} but it is not listed afterwards")
        return created

    def get_definition(self, item_id: str, *, format: str | None = None) -> dict[str, Any]:
        """The item's definition (`{"format"?, "parts": [...]}`), following the operation if the API answers 202."""
        params = {"format": format} if format else None
        response = self.client.request("POST", f"{self.item_path(item_id)}/getDefinition", params=params)
        result = self.client.wait_for_operation(response, has_result=True) or {}
        return result.get("definition") or {"parts": []}

    def update_definition(self, item_id: str, definition: dict[str, Any], *, update_metadata: bool = False) -> None:
        """Replace the item's definition (with `update_metadata`, `.platform`'s name and description apply too)."""
        params = {"updateMetadata": "true"} if update_metadata else None
        response = self.client.request("POST", f"{self.item_path(item_id)}/updateDefinition",
                                       json={"definition": definition}, params=params)
        self.client.wait_for_operation(response)

    def update(self, item_id: str, *, display_name: str | None = None, description: str | None = None) -> ItemRef:
        """Rename the item or change its description."""
        body = {k: v for k, v in (("displayName", display_name), ("description", description)) if v is not None}
        return ItemRef.from_api(self.client.patch(self.item_path(item_id), body))

    def delete(self, item_id: str) -> bool:
        """Delete the item; False if it was already gone."""
        return self.client.delete(self.item_path(item_id), missing_ok=True)


class Notebooks(WorkspaceItems):
    """Notebooks; definitions in `fabricGitSource` format (`notebook-content.py` + `.platform`)."""

    item_type = "Notebook"


class DataPipelines(WorkspaceItems):
    """Data pipelines; definitions `pipeline-content.json` + `.platform`."""

    item_type = "DataPipeline"


class SparkJobDefinitions(WorkspaceItems):
    """Spark Job Definitions (the continuous streaming job), deployed with their V2 definitions."""

    item_type = "SparkJobDefinition"


class Lakehouses(WorkspaceItems):
    """Lakehouses, created schema-enabled; their properties come from the lakehouse endpoint."""

    item_type = "Lakehouse"

    def create(self, display_name: str, *, description: str = "", definition: dict[str, Any] | None = None,
               creation_payload: dict[str, Any] | None = None) -> ItemRef:
        """Create (or adopt) a schema-enabled lakehouse."""
        payload = creation_payload if creation_payload is not None or definition is not None else {
            "enableSchemas": True}
        return super().create(display_name, description=description, definition=definition,
                              creation_payload=payload)

    def properties(self, lakehouse_id: str, *, wait_seconds: float = SQL_ENDPOINT_WAIT_SECONDS) -> LakehouseProperties:
        """The lakehouse's properties, polling until its SQL endpoint is provisioned (or `wait_seconds` pass).

        Raises:
            FabricApiError: the SQL endpoint provisioning Failed.
        """
        started = self.client.clock()
        while True:
            body = self.client.get(f"workspaces/{self.workspace_id}/lakehouses/{lakehouse_id}") or {}
            props = body.get("properties") or {}
            sql = props.get("sqlEndpointProperties") or {}
            status = sql.get("provisioningStatus")
            if status == "Failed":
                raise FabricApiError(f"The SQL analytics endpoint of lakehouse {body.get('displayName')!r} "
                                     f"({lakehouse_id}) failed to provision; recreate the lakehouse or ask support")
            waited = self.client.clock() - started
            if status != "InProgress" or waited >= wait_seconds:
                return LakehouseProperties(props.get("oneLakeTablesPath", ""), props.get("oneLakeFilesPath", ""),
                                           sql.get("id"), sql.get("connectionString"), status)
            self.client.sleep(min(5.0, wait_seconds - waited))


class Environments(WorkspaceItems):
    """Environments: custom libraries are uploaded to staging, then published (slowly) to take effect."""

    item_type = "Environment"

    def _path(self, environment_id: str) -> str:
        return f"workspaces/{self.workspace_id}/environments/{environment_id}"

    def upload_library(self, environment_id: str, file: Path) -> None:
        """Upload one library file (`.whl`, `.py`, `.jar`, `.tar.gz`; at most 100 MB) to the staging libraries.

        Uses the release endpoint `POST .../staging/libraries/{libraryName}` with an `application/octet-stream`
        body (the multipart `.../staging/libraries` form is the deprecated beta).
        """
        file = Path(file)
        self.client.request("POST", f"{self._path(environment_id)}/staging/libraries/{quote(file.name, safe='')}",
                            data=file.read_bytes(), content_type="application/octet-stream")

    def staging_libraries(self, environment_id: str) -> list[dict[str, Any]]:
        """The staged libraries (`{"name", "libraryType": "Custom"|"External", "version"?}`)."""
        return self._libraries(f"{self._path(environment_id)}/staging/libraries")

    def published_libraries(self, environment_id: str) -> list[dict[str, Any]]:
        """The published libraries; empty when nothing was ever published (`EnvironmentLibrariesNotFound`)."""
        return self._libraries(f"{self._path(environment_id)}/libraries")

    def _libraries(self, path: str) -> list[dict[str, Any]]:
        try:
            return self.client.list_paged(path, key="libraries", params={"beta": "false"})
        except FabricHttpError as exc:
            if exc.error_code == "EnvironmentLibrariesNotFound" or exc.status == 404:
                return []
            raise

    def delete_staging_library(self, environment_id: str, library_name: str) -> bool:
        """Remove one library from staging; False if it was not there."""
        return self.client.delete(f"{self._path(environment_id)}/staging/libraries/{quote(library_name, safe='')}",
                                  missing_ok=True)

    def publish_state(self, environment_id: str) -> str | None:
        """The state of the latest publish (`Running`, `Success`, `Failed`, ...), None if never published."""
        body = self.client.get(self._path(environment_id)) or {}
        return ((body.get("properties") or {}).get("publishDetails") or {}).get("state")

    def publish(self, environment_id: str, *, max_wait_seconds: float, display_name: str = "") -> None:
        """Publish the staged changes and wait for the publish to finish, for at most `max_wait_seconds`.

        `POST .../staging/publish?beta=false` answers 202 with a long-running operation (followed), or 200 with
        the publish details (then the environment's `publishDetails.state` is polled). Publishing can take 20
        minutes or more and sometimes never ends: the wait is bounded and the error says so.

        Raises:
            FabricApiError: the publish failed or was still running after `max_wait_seconds`; the message names the
                environment and the minutes waited.
        """
        with self._publish_errors(environment_id, display_name, max_wait_seconds) as started:
            response = self.client.request("POST", f"{self._path(environment_id)}/staging/publish",
                                           params={"beta": "false"})
            if response.status_code == 202:
                self.client.wait_for_operation(response, max_wait_seconds=max_wait_seconds)
            else:
                self._poll_publish(environment_id, started, max_wait_seconds)

    def wait_for_publish(self, environment_id: str, *, max_wait_seconds: float, display_name: str = "") -> None:
        """Wait, at most `max_wait_seconds`, for a publish already running to end; raise like `publish` if it fails."""
        with self._publish_errors(environment_id, display_name, max_wait_seconds) as started:
            self._poll_publish(environment_id, started, max_wait_seconds)

    @contextmanager
    def _publish_errors(self, environment_id: str, display_name: str, max_wait_seconds: float) -> Iterator[float]:
        """Turn failures and timeouts of a publish into errors naming the environment and the minutes waited."""
        shown = f"environment {display_name!r} ({environment_id})" if display_name else f"environment {environment_id}"
        started = self.client.clock()
        try:
            yield started
        except FabricApiError as exc:
            waited = self.client.clock() - started
            if not isinstance(exc, FabricHttpError) and waited >= max_wait_seconds:
                raise FabricApiError(
                    f"Publishing {shown} did not finish within {waited / 60:.1f} minutes (limit "
                    f"{max_wait_seconds / 60:.1f}); it may still be running in Fabric: check the environment's "
                    f"publish state in the portal, then run the deployment again ({exc})") from exc
            if isinstance(exc, FabricHttpError):
                raise FabricHttpError(f"Publishing {shown} failed: {exc}", status=exc.status,
                                      error_code=exc.error_code, request_id=exc.request_id,
                                      operation_id=exc.operation_id) from exc
            raise FabricApiError(f"Publishing {shown} failed: {exc}") from exc

    def _poll_publish(self, environment_id: str, started: float, max_wait_seconds: float) -> None:
        while True:
            state = self.publish_state(environment_id)
            if state == "Success" or state is None:
                return
            if state not in PUBLISH_RUNNING:
                raise FabricHttpError(f"the publish ended {state}", error_code=f"Publish{state}")
            remaining = max_wait_seconds - (self.client.clock() - started)
            if remaining <= 0:
                raise FabricApiError(f"the publish was still {state}")
            self.client.sleep(min(30.0, remaining))
