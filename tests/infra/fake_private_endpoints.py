"""The fake Fabric API's managed private endpoints, and the target's side of them in a small fake of Azure Resource
Manager (a Key Vault's `privateEndpointConnections`, API version 2024-11-01).

`PrivateEndpoints` is a mixin of `fake_fabric.FakeFabric`. A created endpoint answers `Provisioning` for
`mpe_polls` GETs, then `Succeeded`; it puts a `Pending` connection on its target (named, as Azure names it, after
`<workspaceId>.<endpoint name>`) that becomes visible after `connection_lag` lists of the target's connections.
Fabric reports the connection's status as the target holds it. Approving (ARM PUT) answers `Updating` for
`arm_polls` GETs, then `Succeeded`. ARM requests need `ARM_TOKEN` and the api-version; the knobs
`arm_forbidden` (403 AuthorizationFailed on the PUT) and `connection_status` (the status a new connection starts in)
exercise the failures.
"""

from __future__ import annotations

from typing import Any

from fake_fabric_jobs import FabricError, json_answer, new_id, public
from werkzeug.wrappers import Request, Response

ARM_TOKEN = "fake-arm-token"
ARM_API_VERSION = "2024-11-01"
FABRIC_MANAGED_RG = "/subscriptions/fa000000-0000-4000-8000-00000000fab1/resourceGroups/fabric-managed-network"


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class PrivateEndpoints:
    """Fabric's managed private endpoint handlers and the ARM handlers of the targets' connections."""

    mpe_polls: int
    arm_polls: int
    connection_lag: int
    arm_forbidden: bool
    connection_status: str
    mpes: dict[str, dict[str, Any]]
    target_connections: dict[str, dict[str, Any]]
    calls: list[Any]

    # ----- Fabric
    def _mpes_get(self, request: Request, ws: str) -> Response:
        self._ws(ws)  # type: ignore[attr-defined]
        rows = [self._mpe_view(m) for m in self.mpes.values() if m["_ws"] == ws]
        return self._page(request, rows)  # type: ignore[attr-defined]

    def _mpes_post(self, request: Request, ws: str) -> Response:
        self._ws(ws)  # type: ignore[attr-defined]
        body = request.get_json()
        if any(m["_ws"] == ws and m["name"] == body["name"] for m in self.mpes.values()):
            raise FabricError(409, "PrivateEndpointNameAlreadyInUse", f"{body['name']} is already in use")
        mpe = {"id": new_id(), "name": body["name"], "targetPrivateLinkResourceId": body["targetPrivateLinkResourceId"],
               "targetSubresourceType": body.get("targetSubresourceType"), "provisioningState": "Provisioning",
               "_ws": ws, "_polls": 0}
        self.mpes[mpe["id"]] = mpe
        target = body["targetPrivateLinkResourceId"].rstrip("/")
        connection_id = f"{target}/privateEndpointConnections/{ws}.{body['name']}-{new_id()[:8]}"
        self.target_connections[connection_id.lower()] = {
            "id": connection_id, "_lag": self.connection_lag, "_polls": 0, "_mpe": mpe["id"],
            "properties": {"provisioningState": "Succeeded",
                           "privateEndpoint": {"id": f"{FABRIC_MANAGED_RG}/providers/Microsoft.Network/"
                                                     f"privateEndpoints/{ws}.{body['name']}"},
                           "privateLinkServiceConnectionState": {"status": self.connection_status,
                                                                 "description": body.get("requestMessage") or "",
                                                                 "actionsRequired": "None"}}}
        return json_answer(self._mpe_view(mpe), 201, {"Location": f"{request.base_url}/{mpe['id']}"})

    def _mpe_get(self, request: Request, ws: str, mpe: str) -> Response:
        found = self._mpe(ws, mpe)
        found["_polls"] += 1
        if found["_polls"] > self.mpe_polls:
            found["provisioningState"] = "Succeeded"
        return json_answer(self._mpe_view(found))

    def _mpe_delete(self, request: Request, ws: str, mpe: str) -> Response:
        self._mpe(ws, mpe)
        del self.mpes[mpe]
        for key in [k for k, c in self.target_connections.items() if c["_mpe"] == mpe]:
            del self.target_connections[key]
        return Response(status=200)

    def _mpe(self, ws: str, mpe: str) -> dict[str, Any]:
        found = self.mpes.get(mpe)
        if found is None or found["_ws"] != ws:
            raise FabricError(404, "PrivateEndpointNotFound", f"managed private endpoint {mpe} not found")
        return found

    def _mpe_view(self, mpe: dict[str, Any]) -> dict[str, Any]:
        view = public(mpe)
        connection = next((c for c in self.target_connections.values() if c["_mpe"] == mpe["id"]), None)
        if connection is not None and mpe["provisioningState"] == "Succeeded":
            state = connection["properties"]["privateLinkServiceConnectionState"]
            view["connectionState"] = {"status": state["status"], "description": state["description"]}
        return view

    # ----- Azure Resource Manager
    def handle_arm(self, request: Request, call: Any) -> Response:
        try:
            if request.headers.get("Authorization") != f"Bearer {ARM_TOKEN}":
                raise ArmError(401, "InvalidAuthenticationToken", "missing or wrong bearer token")
            if request.args.get("api-version") != ARM_API_VERSION:
                raise ArmError(400, "InvalidApiVersionParameter", f"api-version {request.args.get('api-version')!r}")
            path = request.path.rstrip("/")
            if path.endswith("/privateEndpointConnections") and request.method == "GET":
                return self._connections_list(path.removesuffix("/privateEndpointConnections"))
            found = self.target_connections.get(path.lower())
            if found is None or found["_lag"] > 0:
                raise ArmError(404, "PrivateEndpointConnectionNotFound", f"{path} not found")
            if request.method == "GET":
                return self._connection_get(found)
            if request.method == "PUT":
                return self._connection_put(found, request.get_json())
            raise ArmError(405, "MethodNotAllowed", request.method)
        except ArmError as exc:
            return json_answer({"error": {"code": exc.code, "message": exc.message}}, exc.status,
                               {"x-ms-request-id": new_id()})

    def _connections_list(self, target: str) -> Response:
        rows = []
        for connection in self.target_connections.values():
            if connection["id"].lower().startswith(f"{target.lower()}/privateendpointconnections/"):
                if connection["_lag"] > 0:
                    connection["_lag"] -= 1
                    continue
                rows.append(public(connection))
        return json_answer({"value": rows})

    def _connection_get(self, connection: dict[str, Any]) -> Response:
        props = connection["properties"]
        if props["provisioningState"] == "Updating":
            connection["_polls"] += 1
            if connection["_polls"] > self.arm_polls:
                props["provisioningState"] = "Succeeded"
        return json_answer(public(connection))

    def _connection_put(self, connection: dict[str, Any], body: dict[str, Any]) -> Response:
        if self.arm_forbidden:
            raise ArmError(403, "AuthorizationFailed", "The client does not have authorization to perform action "
                           "'Microsoft.KeyVault/vaults/privateEndpointConnections/write'")
        wanted = body["properties"]["privateLinkServiceConnectionState"]
        connection["properties"]["privateLinkServiceConnectionState"].update(wanted)
        connection["properties"]["provisioningState"] = "Updating"
        connection["_polls"] = 0
        return json_answer(public(connection))
