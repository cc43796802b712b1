"""Refresh a lakehouse's SQL analytics endpoint so new and changed Delta tables are queryable, per-table results back.

The endpoint syncs table metadata lazily; `POST /workspaces/{ws}/sqlEndpoints/{id}/refreshMetadata` forces a sync
and reports each table's outcome (`Success`, `Failure` or `NotRun`), either at once (200) or as a long-running
operation (202) whose result has the same shape.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from altaviz.errors import FabricApiError
from altaviz.fabric.client import FabricClient

PROVISIONING_POLL_SECONDS = 10.0
SERVICE_DEFAULT_TIMEOUT_MINUTES = 15  # refreshMetadata's own default timeout
WAIT_MARGIN_SECONDS = 60.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableSync:
    """One table's outcome in a SQL analytics endpoint metadata refresh."""

    table: str
    status: str  # Success | Failure | NotRun (the service may add more)
    error: str | None  # "errorCode: message" when the sync failed
    last_successful_sync: str | None  # ISO-8601 UTC, as the service sent it


def sql_endpoint_id(client: FabricClient, workspace_id: str, lakehouse_id: str) -> str:
    """The id of a lakehouse's SQL analytics endpoint, waiting while it is still being provisioned.

    Polls `GET /workspaces/{ws}/lakehouses/{id}` every 10 s until `sqlEndpointProperties.provisioningStatus` is
    `Success`, for at most the client's `max_wait_seconds`.

    Args:
        client: the Fabric client (its sleep and clock time the polls).
        workspace_id: the workspace holding the lakehouse.
        lakehouse_id: the lakehouse.

    Returns:
        The SQL analytics endpoint id.

    Raises:
        FabricApiError: provisioning failed, or had not finished within the wait.
    """
    path = f"workspaces/{workspace_id}/lakehouses/{lakehouse_id}"
    started = client.clock()
    while True:
        lakehouse = client.get(path) or {}
        endpoint = (lakehouse.get("properties") or {}).get("sqlEndpointProperties") or {}
        # A brand-new lakehouse may not list its endpoint yet: that is still provisioning.
        status = endpoint.get("provisioningStatus") or "InProgress"
        name = f"lakehouse {lakehouse.get('displayName') or lakehouse_id} in workspace {workspace_id}"
        if status == "Success":
            if not endpoint.get("id"):
                raise FabricApiError(f"The SQL analytics endpoint of {name} is provisioned but has no id")
            return endpoint["id"]
        if status != "InProgress":
            raise FabricApiError(f"The SQL analytics endpoint of {name} has provisioning status {status}; "
                                 "recreate the lakehouse or ask Fabric support")
        waited = client.clock() - started
        remaining = client.max_wait_seconds - waited
        if remaining <= 0:
            raise FabricApiError(f"The SQL analytics endpoint of {name} was still provisioning after {waited:.0f}s "
                                 f"(limit {client.max_wait_seconds:.0f}s)")
        client.sleep(min(PROVISIONING_POLL_SECONDS, remaining))


def refresh_sql_endpoint(client: FabricClient, workspace_id: str, lakehouse_id: str, *,
                         timeout_minutes: int | None = None, recreate_tables: bool = False) -> list[TableSync]:
    """Sync a lakehouse's SQL analytics endpoint with its Delta tables and return every table's outcome.

    Per-table failures are returned, not raised: pass the result to `failed_tables` to decide.

    Args:
        client: the Fabric client.
        workspace_id: the workspace holding the lakehouse.
        lakehouse_id: the lakehouse whose endpoint to refresh.
        timeout_minutes: how long the service may spend on the refresh (its default is 15 minutes); the
            client waits for a long-running refresh this long plus a minute, or its `max_wait_seconds` if longer.
        recreate_tables: drop and recreate every table on the endpoint instead of syncing changes.

    Returns:
        One `TableSync` per table, in the service's order.

    Raises:
        FabricApiError: the endpoint could not be found or provisioned, the call or operation failed, or the
            operation outlasted the wait.
    """
    if timeout_minutes is not None and (isinstance(timeout_minutes, bool) or timeout_minutes < 1):
        raise ValueError(f"timeout_minutes must be a positive number of minutes, got {timeout_minutes!r}")
    endpoint_id = sql_endpoint_id(client, workspace_id, lakehouse_id)
    body: dict[str, Any] = {}
    if timeout_minutes is not None:
        body["timeout"] = {"value": timeout_minutes, "timeUnit": "Minutes"}
    if recreate_tables:
        body["recreateTables"] = True
    response = client.request("POST", f"workspaces/{workspace_id}/sqlEndpoints/{endpoint_id}/refreshMetadata",
                              json=body)
    service_seconds = (timeout_minutes or SERVICE_DEFAULT_TIMEOUT_MINUTES) * 60
    result = client.wait_for_operation(
        response, max_wait_seconds=max(client.max_wait_seconds, service_seconds + WAIT_MARGIN_SECONDS), has_result=True)
    if result is None:
        log.warning("SQL analytics endpoint %s refresh returned no table statuses", endpoint_id)
        return []
    return _table_syncs(result, endpoint_id)


def failed_tables(syncs: list[TableSync]) -> list[TableSync]:
    """The tables whose sync ended in `Failure` (`NotRun` means nothing needed syncing)."""
    return [sync for sync in syncs if sync.status == "Failure"]


def _table_syncs(result: Any, endpoint_id: str) -> list[TableSync]:
    """TableSyncs from a `TableSyncStatuses` body (the preview API sent a bare list: accepted too)."""
    rows = result.get("value") if isinstance(result, dict) else result
    if not isinstance(rows, list):
        raise FabricApiError(f"SQL analytics endpoint {endpoint_id} refresh returned no 'value' list: "
                             f"{str(result)[:200]}")
    syncs = []
    for row in rows:
        if not isinstance(row, dict) or not row.get("tableName") or not row.get("status"):
            raise FabricApiError(f"SQL analytics endpoint {endpoint_id} refresh returned a table status without "
                                 f"tableName or status: {str(row)[:200]}")
        syncs.append(TableSync(table=row["tableName"], status=row["status"], error=_error_text(row.get("error")),
                               last_successful_sync=row.get("lastSuccessfulSyncDateTime")))
    return syncs


def _error_text(error: Any) -> str | None:
    """'errorCode: message' from an ErrorResponseDetails object."""
    if not error:
        return None
    if not isinstance(error, dict):
        return str(error)
    parts = [str(error[key]) for key in ("errorCode", "message") if error.get(key)]
    return ": ".join(parts) or None
