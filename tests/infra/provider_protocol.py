"""Drive dynamic providers as the Pulumi engine does: `python -m pulumi.dynamic` on loopback, called over gRPC.

For `pulumi.dynamic` resources the engine starts the provider plugin `python -u -m pulumi.dynamic`, reads the port
it prints, calls `Configure`, and then sends each resource's properties, including the dill-pickled provider under
`__provider`, as protobuf `Struct`s in `Check`, `Diff`, `Create`, `Update`, `Read` and `Delete` requests (the
servicer in `pulumi/dynamic/__main__.py` unpickles the provider and calls it). `ProviderServer` runs that very
process; `Engine` keeps one stack's state as the engine does (the checked inputs and the outputs each provider
returned, as `Struct`s) and makes the calls of `pulumi up`, `preview`, `refresh` and `destroy`.

What goes through this that direct calls hide: a `Struct` has one number type, so ints reach a provider as floats
(`interval: 60` is 60.0); `None`s inside objects are dropped; values a preview does not know arrive in Check and
Diff as `pulumi.output.Unknown` objects; a provider exception comes back as a gRPC error carrying its traceback.

Simplifications, each matching what the engine sends a dynamic provider: the program side is
`rpc.serialize_properties` of the resource's properties (what `pulumi.dynamic.Resource` registers); secrets travel
unwrapped (dynamic providers answer `Configure` with `acceptSecrets: false`); a replacement creates the new
resource and deletes the old one at once, where the engine deletes it at the end of the update.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

PROVIDER_KEY = "__provider"
START_TIMEOUT_SECONDS = 30
CALL_TIMEOUT_SECONDS = 120


class ProviderError(Exception):
    """A provider method raised; the message is the call and the exception line ending the traceback."""

    def __init__(self, method: str, details: str) -> None:
        lines = [line for line in details.strip().splitlines() if line.strip()]
        super().__init__(f"{method}: {lines[-1] if lines else details}")
        self.method, self.traceback = method, details


class CheckFailed(Exception):
    """Check returned failures, so the engine stops before creating or updating anything."""

    def __init__(self, failures: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{prop}: {reason}" for prop, reason in failures))
        self.failures = failures


class ProviderServer:
    """The dynamic provider plugin, started as the engine starts it, and a gRPC stub to it."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}
        self._log = tempfile.NamedTemporaryFile(prefix="pulumi-dynamic-", suffix=".log", delete=False)  # noqa: SIM115
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self.stub: provider_pb2_grpc.ResourceProviderStub | None = None

    def start(self) -> None:
        """Run `python -u -m pulumi.dynamic`, connect to the port it prints, and `Configure` it like the engine."""
        port_file = Path(self._log.name + ".port")
        with port_file.open("wb") as stdout:
            self._process = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.dynamic"], stdout=stdout,
                                             stderr=self._log, env=self.env)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not port_file.read_text().strip().isdigit():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pulumi.dynamic did not start: {self.log()}")
            time.sleep(0.02)
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port_file.read_text().strip()}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        configured = self.call("Configure", provider_pb2.ConfigureRequest(
            args=struct_pb2.Struct(), acceptSecrets=True, acceptResources=True, sends_old_inputs=True,
            sends_old_inputs_to_delete=True))
        assert not configured.acceptSecrets and not configured.supportsPreview  # so: no secrets, no preview Create

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._log.close()
        for path in (Path(self._log.name), Path(self._log.name + ".port")):
            path.unlink(missing_ok=True)

    def log(self) -> str:
        """What the provider process wrote to stderr (its log lines and any crash)."""
        return Path(self._log.name).read_text(errors="replace")

    def call(self, method: str, request: Any) -> Any:
        """One RPC; a provider exception becomes `ProviderError`."""
        try:
            return getattr(self.stub, method)(request, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            raise ProviderError(method, exc.details() or str(exc.code())) from None


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    """A property bag as the Python SDK serializes it for the engine (`None`s at the top level are dropped)."""
    return asyncio.run(rpc.serialize_properties(dict(props), {}))


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A `Struct` as plain values, without the pickled provider."""
    return {k: v for k, v in rpc.deserialize_properties(struct).items() if k != PROVIDER_KEY}


@dataclass
class Resource:
    """One resource in the state: its URN, id, checked inputs and outputs (as the engine stores them)."""

    urn: str
    type: str
    name: str
    id: str
    inputs: struct_pb2.Struct
    outputs: struct_pb2.Struct

    @property
    def outs(self) -> dict[str, Any]:
        return from_struct(self.outputs)


@dataclass(frozen=True)
class Plan:
    """What a preview shows for one resource."""

    op: str  # create, same, update or replace
    replaces: tuple[str, ...] = ()


@dataclass
class Engine:
    """One stack's resources, changed by the provider calls `pulumi up`, `preview`, `refresh` and `destroy` make."""

    server: ProviderServer
    stack: str = "test"
    project: str = "altaviz"
    state: dict[str, Resource] = field(default_factory=dict)

    def _type_and_urn(self, name: str, provider: ResourceProvider) -> tuple[str, str]:
        kind = type(provider).__name__.removesuffix("Provider")
        resource_type = f"pulumi-python:dynamic/altaviz-fabric:{kind}"
        return resource_type, f"urn:pulumi:{self.stack}::{self.project}::{resource_type}::{name}"

    def check(self, name: str, provider: ResourceProvider, inputs: Mapping[str, Any],
              old: Resource | None = None) -> struct_pb2.Struct:
        """The provider's checked inputs (against the old resource's inputs); raise `CheckFailed` with its failures."""
        resource_type, urn = self._type_and_urn(name, provider)
        news = to_struct({**inputs, PROVIDER_KEY: serialize_provider(provider)})
        # Pulumi 3.224+ sends the old outputs too; older engines' CheckRequest has no such field.
        since_3_224 = ({"old_outputs": old.outputs if old else None}
                       if "old_outputs" in provider_pb2.CheckRequest.DESCRIPTOR.fields_by_name else {})
        checked = self.server.call("Check", provider_pb2.CheckRequest(
            urn=urn, name=name, type=resource_type, olds=old.inputs if old else struct_pb2.Struct(), news=news,
            randomSeed=os.urandom(32), **since_3_224))
        if checked.failures:
            raise CheckFailed([(f.property, f.reason) for f in checked.failures])
        return checked.inputs

    def failures(self, provider: ResourceProvider, inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The (property, reason) failures Check reports for these inputs (none: an empty list)."""
        try:
            self.check("checked", provider, inputs)
        except CheckFailed as failed:
            return failed.failures
        return []

    def up(self, name: str, provider: ResourceProvider, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """`pulumi up` for one resource: Check, then Create, or Diff and then Update or replace; its outputs."""
        resource_type, urn = self._type_and_urn(name, provider)
        old = self.state.get(name)
        checked = self.check(name, provider, inputs, old)
        if old is None:
            self.state[name] = self._create(name, urn, resource_type, checked)
            return self.state[name].outs
        diff = self._diff(old, checked)
        if diff.changes == provider_pb2.DiffResponse.DIFF_NONE:
            old.inputs = checked  # a "same" step records the new inputs and keeps the outputs
        elif diff.replaces:
            checked = self.check(name, provider, inputs)  # the engine checks a replacement afresh
            self.state[name] = self._create(name, urn, resource_type, checked)
            self._delete(old)
        else:
            updated = self.server.call("Update", provider_pb2.UpdateRequest(
                id=old.id, urn=urn, name=name, type=resource_type, olds=old.outputs, news=checked,
                old_inputs=old.inputs, timeout=CALL_TIMEOUT_SECONDS))
            old.inputs, old.outputs = checked, updated.properties
        return self.state[name].outs

    def preview(self, name: str, provider: ResourceProvider, inputs: Mapping[str, Any]) -> Plan:
        """`pulumi preview` for one resource: Check and Diff only (dynamic providers do not preview Create)."""
        old = self.state.get(name)
        checked = self.check(name, provider, inputs, old)
        if old is None:
            return Plan("create")
        diff = self._diff(old, checked)
        if diff.changes == provider_pb2.DiffResponse.DIFF_NONE:
            return Plan("same")
        return Plan("replace" if diff.replaces else "update", tuple(diff.replaces))

    def refresh(self, name: str) -> dict[str, Any] | None:
        """`pulumi refresh` for one resource: Read; the new outputs, or None (and out of the state) when gone."""
        resource = self.state[name]
        read = self.server.call("Read", provider_pb2.ReadRequest(
            id=resource.id, urn=resource.urn, name=resource.name, type=resource.type, properties=resource.outputs,
            inputs=resource.inputs))
        if not read.id:
            del self.state[name]
            return None
        resource.outputs = read.properties
        if read.HasField("inputs"):
            resource.inputs = read.inputs
        return resource.outs

    def delete(self, name: str) -> None:
        """Delete one resource and drop it from the state."""
        self._delete(self.state.pop(name))

    def destroy(self) -> None:
        """`pulumi destroy`: delete every resource, the last created first."""
        for name in reversed(list(self.state)):
            self.delete(name)

    def outputs(self) -> dict[str, dict[str, Any]]:
        """Every resource's outputs by name."""
        return {name: resource.outs for name, resource in self.state.items()}

    def _create(self, name: str, urn: str, resource_type: str, checked: struct_pb2.Struct) -> Resource:
        made = self.server.call("Create", provider_pb2.CreateRequest(
            urn=urn, name=name, type=resource_type, properties=checked, timeout=CALL_TIMEOUT_SECONDS))
        return Resource(urn, resource_type, name, made.id, checked, made.properties)

    def _diff(self, old: Resource, checked: struct_pb2.Struct) -> Any:
        return self.server.call("Diff", provider_pb2.DiffRequest(
            id=old.id, urn=old.urn, name=old.name, type=old.type, olds=old.outputs, news=checked,
            old_inputs=old.inputs))

    def _delete(self, resource: Resource) -> None:
        self.server.call("Delete", provider_pb2.DeleteRequest(
            id=resource.id, urn=resource.urn, name=resource.name, type=resource.type, properties=resource.outputs,
            old_inputs=resource.inputs, timeout=CALL_TIMEOUT_SECONDS))
