"""Run the real Pulumi program (`infra/__main__.py`) under `pulumi.runtime.set_mocks` and record what it does.

Pulumi's mocks are process-global (settings, the root stack, config), so each stack runs in its own Python
process: `python mocked_program.py <stack> <config.json> <out.json>` writes every registered resource (type,
name, URN, inputs with secrets unwrapped and their paths listed) and the stack's exports. `recorded()` runs
several stacks side by side and caches the results for the whole test session.
"""

from __future__ import annotations

import functools
import importlib
import json
import runpy
import shutil
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
SUBSCRIPTION_ID = "5d3c2b1a-0f9e-4d8c-b7a6-958473625140"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DEPLOYER_OBJECT_ID = "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b"
FAKE_WHEEL_VERSION = "0.1.0+h0123456789ab"
FAKE_WHEEL_HASH = "f" * 64
DEV_EXAMPLE = "dev-example"
RUN_TIMEOUT_SECONDS = 120

#: ARM path of each azure-native type below its resource group: (provider path template, input naming the resource).
_ARM = {
    "azure-native:eventhub:Namespace": ("Microsoft.EventHub/namespaces/{name}", "namespaceName"),
    "azure-native:eventhub:EventHub": ("Microsoft.EventHub/namespaces/{namespaceName}/eventhubs/{name}",
                                       "eventHubName"),
    "azure-native:eventhub:ConsumerGroup": (
        "Microsoft.EventHub/namespaces/{namespaceName}/eventhubs/{eventHubName}/consumergroups/{name}",
        "consumerGroupName"),
    "azure-native:eventhub:EventHubAuthorizationRule": (
        "Microsoft.EventHub/namespaces/{namespaceName}/eventhubs/{eventHubName}/authorizationRules/{name}",
        "authorizationRuleName"),
    "azure-native:keyvault:Vault": ("Microsoft.KeyVault/vaults/{name}", "vaultName"),
    "azure-native:keyvault:Secret": ("Microsoft.KeyVault/vaults/{vaultName}/secrets/{name}", "secretName"),
    "azure-native:operationalinsights:Workspace": ("Microsoft.OperationalInsights/workspaces/{name}",
                                                   "workspaceName"),
    "azure-native:operationalinsights:Table": ("Microsoft.OperationalInsights/workspaces/{workspaceName}/tables/{name}",
                                               "tableName"),
    "azure-native:monitor:DataCollectionEndpoint": ("Microsoft.Insights/dataCollectionEndpoints/{name}",
                                                    "dataCollectionEndpointName"),
    "azure-native:monitor:DataCollectionRule": ("Microsoft.Insights/dataCollectionRules/{name}",
                                                "dataCollectionRuleName"),
    "azure-native:fabric:FabricCapacity": ("Microsoft.Fabric/capacities/{name}", "capacityName"),
}
#: Outputs of each Fabric dynamic resource (by the last part of its type token).
_FABRIC_OUTPUTS = {
    "Workspace": ("workspace_id", "identity_service_principal_id", "identity_application_id"),
    "Lakehouse": ("lakehouse_id", "sql_endpoint_id"),
    "Environment": ("environment_id",),
    "Notebook": ("notebook_id",),
    "DataPipeline": ("pipeline_id",),
    "SparkJobDefinition": ("spark_job_definition_id",),
    "Schedule": ("schedule_id",),
    "ManagedPrivateEndpoint": ("managed_private_endpoint_id",),
}


def infra_module(name: str) -> ModuleType:
    """A module of the Pulumi program or its policy pack, imported as Pulumi does: with `infra/` (or
    `infra/policy/`) on sys.path, e.g. `infra_module("stack_config")`, `infra_module("components.roles")`."""
    for folder in (INFRA, INFRA / "policy"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def mock_id(*parts: str) -> str:
    """A GUID that depends only on `parts` (so ids are stable run to run)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def stack_file_values(stack: str) -> dict[str, Any]:
    """The `config:` of `Pulumi.<stack>.yaml`, as Pulumi hands it to the program (objects as JSON text)."""
    data = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")) or {}
    return {key: pulumi_config_text(value) for key, value in (data.get("config") or {}).items()}


def pulumi_config_text(value: Any) -> str:
    """A config value as the Pulumi CLI passes it: strings as-is, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def make_mocks() -> Any:
    """A `pulumi.runtime.Mocks` that answers like Azure and the Fabric providers would, and records inputs."""
    import pulumi
    from pulumi.runtime import rpc

    def plain(value: Any, path: str, secrets: list[str]) -> Any:
        if rpc.is_rpc_secret(value):
            secrets.append(path)
            return plain(rpc.unwrap_rpc_secret(value), path, secrets)
        if isinstance(value, dict):
            return {k: plain(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items() if k != "__provider"}
        if isinstance(value, list):
            return [plain(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
        return value

    class AzureAndFabricMocks(pulumi.runtime.Mocks):
        def __init__(self) -> None:
            self.registered: list[dict[str, Any]] = []

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            secrets: list[str] = []
            inputs = plain(dict(args.inputs), "", secrets)
            resource_id, outputs = self.answer(args.typ, args.name, inputs)
            self.registered.append({"type": args.typ, "name": args.name, "custom": bool(args.custom),
                                    "inputs": inputs, "secret_inputs": secrets, "id": resource_id})
            return resource_id, outputs

        def answer(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
            outputs = dict(inputs)
            group = inputs.get("resourceGroupName", "rg")
            if typ == "azure-native:resources:ResourceGroup":
                outputs["name"] = inputs["resourceGroupName"]
                return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group}", outputs
            if typ == "azure-native:authorization:RoleAssignment":
                return f"{inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{mock_id(name)}", outputs
            if typ in _ARM:
                template, name_key = _ARM[typ]
                outputs["name"] = inputs.get(name_key) or name
                path = template.format(**{**inputs, "name": outputs["name"]})
                resource_id = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group}/providers/{path}"
                outputs.update(self.computed(typ, outputs["name"], inputs))
                return resource_id, outputs
            if typ.startswith("pulumi-python:dynamic"):
                kind = typ.rsplit(":", 1)[-1]
                outputs.update({key: mock_id(name, key) for key in _FABRIC_OUTPUTS.get(kind, ())})
                if kind == "Lakehouse":
                    base = f"abfss://{inputs['workspace_id']}@onelake.dfs.fabric.microsoft.com/{outputs['lakehouse_id']}"
                    outputs.update(onelake_tables_path=f"{base}/Tables", onelake_files_path=f"{base}/Files")
                if kind == "Environment":
                    outputs["published_version"] = inputs["wheel_version"]
                return outputs.get(next(iter(_FABRIC_OUTPUTS.get(kind, ())), ""), mock_id(name)), outputs
            return (f"{name}-id" if typ.startswith("azure-native") else None), outputs

        @staticmethod
        def computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
            """Outputs Azure computes, for the types the program reads them from."""
            if typ == "azure-native:eventhub:Namespace":
                return {"serviceBusEndpoint": f"https://{name}.servicebus.windows.net:443/"}
            if typ == "azure-native:keyvault:Vault":
                return {"properties": {**inputs["properties"], "vaultUri": f"https://{name}.vault.azure.net/"}}
            if typ == "azure-native:operationalinsights:Workspace":
                return {"customerId": mock_id(name, "customer")}
            if typ == "azure-native:monitor:DataCollectionEndpoint":
                return {"logsIngestion": {"endpoint": f"https://{name}-a1b2.southcentralus-1.ingest.monitor.azure.com"}}
            if typ == "azure-native:monitor:DataCollectionRule":
                return {"immutableId": "dcr-" + mock_id(name).replace("-", "")}
            return {}

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
            self.registered.append({"type": "invoke", "name": args.token, "inputs": plain(dict(args.args), "", []),
                                    "secret_inputs": [], "custom": False, "id": None})
            if args.token == "azure-native:authorization:getClientConfig":
                return {"clientId": mock_id("client"), "objectId": DEPLOYER_OBJECT_ID,
                        "subscriptionId": SUBSCRIPTION_ID, "tenantId": TENANT_ID}
            if args.token == "azure-native:eventhub:listEventHubKeys":
                a = args.args
                key = "bW9jay1zYXMta2V5LW5vdC1yZWFs"
                connection = (f"Endpoint=sb://{a['namespaceName']}.servicebus.windows.net/;SharedAccessKeyName="
                              f"{a['authorizationRuleName']};SharedAccessKey={key};EntityPath={a['eventHubName']}")
                return {"keyName": a["authorizationRuleName"], "primaryKey": key, "secondaryKey": key,
                        "primaryConnectionString": connection, "secondaryConnectionString": connection}
            raise NotImplementedError(f"no mock for invoke {args.token}")

    return AzureAndFabricMocks()


def fake_wheel(folder: Path) -> Any:
    """A tiny wheel standing in for `altaviz.deploy.wheel.build_wheel` (building the real one takes seconds)."""
    from altaviz.deploy.wheel import BuiltWheel

    path = folder / f"altaviz-{FAKE_WHEEL_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("altaviz/__init__.py", "")
    return BuiltWheel(path, FAKE_WHEEL_VERSION, FAKE_WHEEL_HASH)


def run_program(stack: str, values: Mapping[str, str]) -> dict[str, Any]:
    """Run `infra/__main__.py` for `stack` under mocks, in this process; return the recording."""
    import pulumi
    from pulumi.runtime.mocks import MockMonitor


    mocks = make_mocks()
    monitor = MockMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="altaviz", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(values))
    folder = Path(tempfile.mkdtemp(prefix="altaviz-mock-wheel-"))
    try:
        return _run_program(stack, values, folder, mocks, monitor)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_program(stack: str, values: Mapping[str, str], folder: Path, mocks: Any, monitor: Any) -> dict[str, Any]:
    import pulumi
    from pulumi.runtime import get_root_resource

    from altaviz.deploy import wheel

    built = fake_wheel(folder)
    wheel.build_wheel = lambda root=None, out_dir=None, **_: built
    recording: dict[str, Any] = {"stack": stack}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(INFRA), run_name="__main__")
        exports = dict(get_root_resource().outputs)
        names = sorted(exports)
        values_ = pulumi.Output.all(*[pulumi.Output.from_input(exports[n]) for n in names])
        secret = pulumi.Output.all(*[pulumi.Output.from_input(pulumi.Output.from_input(exports[n]).is_secret())
                                     for n in names])

        def keep(resolved: list[Any]) -> None:
            recording["outputs"] = dict(zip(names, resolved[0], strict=True))
            recording["secret_outputs"] = [n for n, s in zip(names, resolved[1], strict=True) if s]

        return pulumi.Output.all(values_, secret).apply(keep)  # returned, so the test waits for it

    program()
    urns = {urn.rsplit("::", 1)[-1]: urn for urn in monitor.resources}
    for entry in mocks.registered:
        entry["urn"] = urns.get(entry["name"])
    recording["resources"] = mocks.registered
    return recording


@dataclass(frozen=True)
class Recording:
    """What one stack's program registered, and what it exported."""

    stack: str
    resources: tuple[dict[str, Any], ...]
    outputs: dict[str, Any]
    secret_outputs: tuple[str, ...]

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        """Registered resources of one type token (e.g. `azure-native:keyvault:Vault`)."""
        return [r for r in self.resources if r["type"] == typ]

    def one(self, typ: str) -> dict[str, Any]:
        """The single resource of a type; fails when there are none or several."""
        found = self.of_type(typ)
        assert len(found) == 1, f"{self.stack}: expected one {typ}, got {[r['name'] for r in found]}"
        return found[0]

    def by_id(self, resource_id: str) -> dict[str, Any]:
        """The resource with this (mock) id."""
        return next(r for r in self.resources if r["id"] == resource_id)

    def fabric(self, kind: str) -> list[dict[str, Any]]:
        """Fabric dynamic resources of one kind (`Workspace`, `Lakehouse`, `Notebook`, ...)."""
        return [r for r in self.resources if r["type"].startswith("pulumi-python:dynamic")
                and r["type"].rsplit(":", 1)[-1] == kind]

    def parents(self, resource: dict[str, Any]) -> list[str]:
        """Type tokens of the resource's ancestors from its URN (the mock engine records the direct parent)."""
        return resource["urn"].split("::")[2].split("$")[:-1]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.resources)


def config_values_for(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The config a stack runs with in tests: its own stack file (the dev example for a `dev-*` stack without
    one), with `overrides` (full keys to values) on top."""
    values = stack_file_values(stack if (REPO / f"Pulumi.{stack}.yaml").exists() else DEV_EXAMPLE)
    values.update({key: pulumi_config_text(value) for key, value in (overrides or {}).items()})
    return values


#: The stacks the tests run: the two real ones, a personal stack on the dev example (shared capacity) and one
#: that creates its own capacity with nothing but admins set (so the dev defaults apply) and streams continuously.
TEST_STACKS: Mapping[str, Mapping[str, Any]] = {
    "staging": {},
    "prod": {},
    "dev-alice": {},
    "dev-bob": {"altaviz:fabric": {"capacity": {"admins": ["bob@altaviz.example"]}, "streaming": "continuous"}},
}


def recorded_test_stacks() -> dict[str, Recording]:
    """The recordings of `TEST_STACKS` (run once per test session)."""
    return recorded(tuple((stack, json.dumps(config_values_for(stack, overrides), sort_keys=True))
                          for stack, overrides in TEST_STACKS.items()))


@functools.cache
def recorded(runs: tuple[tuple[str, str], ...]) -> dict[str, Recording]:
    """Run the program for each (stack, config JSON), each in a fresh process, side by side."""
    with tempfile.TemporaryDirectory(prefix="altaviz-mocked-") as tmp:
        running = {}
        for stack, config_json in runs:
            config = Path(tmp) / f"{stack}.config.json"
            config.write_text(config_json, encoding="utf-8")
            out = Path(tmp) / f"{stack}.json"
            running[stack] = (out, subprocess.Popen(
                [sys.executable, __file__, stack, str(config), str(out)], cwd=REPO,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        results = {}
        for stack, (out, process) in running.items():
            log, _ = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
            if process.returncode != 0:
                raise AssertionError(f"the program failed for stack {stack} under mocks:\n{log[-6000:]}")
            data = json.loads(out.read_text(encoding="utf-8"))
            results[stack] = Recording(stack, tuple(data["resources"]), data["outputs"], tuple(data["secret_outputs"]))
        return results


if __name__ == "__main__":
    stack_name, config_path, out_path = sys.argv[1:4]
    result = run_program(stack_name, json.loads(Path(config_path).read_text(encoding="utf-8")))
    Path(out_path).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
