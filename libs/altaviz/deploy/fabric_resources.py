"""Pulumi dynamic resources for Fabric: workspace, lakehouse, environment, notebook, data pipeline, Spark Job
Definition, schedule (workspace managed private endpoints: `private_endpoint_resources`).

No published Pulumi provider covers Fabric workspaces and items, so each resource here is a
`pulumi.dynamic.Resource` whose provider calls the Fabric REST API through `altaviz.fabric`.

State compatibility: Pulumi pickles each provider into the stack state *by reference* to this module, so the
module path `altaviz.deploy.fabric_resources`, the provider class names and the resource type tokens
(`dynamic/altaviz-fabric:<Name>`) are part of every deployed stack. Do not move or rename them: old stacks could
no longer be refreshed or destroyed. The logic lives in the `*_lifecycle` modules, which the providers reach
through a class attribute, so it can be refactored freely.

Behaviour shared by every provider:
- the credential and HTTP session are made inside each method (`fabric_token_provider()`), never captured;
- `diff` compares inputs only (content hashes stand for definitions), so an unchanged stack makes no write call;
- `workspace_id` or item type changes replace the item; name, description, definition, enabled are updated in place;
- `create` adopts an existing item of the same name (and updates its definition when it differs);
- `delete` tolerates an item that is already gone; `read` refreshes from the API;
- properties reach the handlers through `pulumi_wire.from_engine` (ints the engine turned into floats are ints again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from altaviz.deploy import environment_lifecycle, workspace_lifecycle
from altaviz.deploy import fabric_lifecycle as lifecycle
from altaviz.deploy.fabric_lifecycle import DEFAULT_API_URL, data_pipeline_inputs, notebook_inputs, spark_job_inputs
from altaviz.deploy.pulumi_wire import from_engine


class _FabricProvider(ResourceProvider):
    """Maps Pulumi's check/diff/create/read/update/delete onto one lifecycle handler (no state of its own).

    Every property bag passes `from_engine` first: the engine sends ints as floats and preview unknowns as objects.
    """

    handler: ClassVar[type[lifecycle.Handler]]

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, problems = self.handler.check(from_engine(news))
        return CheckResult(inputs, [CheckFailure(key, reason) for key, reason in problems])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes, replaces = self.handler.diff(from_engine(olds), from_engine(news))
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        resource_id, outs = self.handler.create(from_engine(props))
        return CreateResult(resource_id, outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        outs = self.handler.read(id_, from_engine(props))
        return ReadResult(id_, outs) if outs is not None else ReadResult("", {})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self.handler.update(id_, from_engine(olds), from_engine(news)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.handler.delete(id_, from_engine(props))


class WorkspaceProvider(_FabricProvider):
    """Creates/adopts a workspace, keeps its capacity, managed role assignments and identity."""

    handler = workspace_lifecycle.WorkspaceHandler


class LakehouseProvider(_FabricProvider):
    """Creates/adopts a schema-enabled lakehouse and reports its SQL endpoint and OneLake paths."""

    handler = lifecycle.LakehouseHandler


class EnvironmentProvider(_FabricProvider):
    """Creates/adopts an Environment; uploads and publishes the altaviz wheel when its hash changes."""

    handler = environment_lifecycle.EnvironmentHandler


class NotebookProvider(_FabricProvider):
    """Creates/adopts a notebook and updates its definition when the content hash changes."""

    handler = lifecycle.NotebookHandler


class DataPipelineProvider(_FabricProvider):
    """Creates/adopts a data pipeline and updates its definition when the content hash changes."""

    handler = lifecycle.DataPipelineHandler


class SparkJobDefinitionProvider(_FabricProvider):
    """Creates/adopts a Spark Job Definition and updates its definition when the content hash changes."""

    handler = lifecycle.SparkJobDefinitionHandler


class ScheduleProvider(_FabricProvider):
    """Creates/adopts an item schedule and updates its enabled flag and configuration in place."""

    handler = lifecycle.ScheduleHandler


def _outputs(*names: str) -> dict[str, None]:
    return dict.fromkeys(names)


@dataclass
class WorkspaceArgs:
    """A Fabric workspace.

    `role_assignments` items are `{"principal_id", "principal_type": User|Group|ServicePrincipal,
    "role": Admin|Member|Contributor|Viewer}`; only these are managed (others, like the deployer's own Admin role,
    are left alone). `provision_identity` provisions the workspace identity (its service principal id is an output).
    """

    display_name: Input[str]
    description: Input[str] = ""
    capacity_id: Input[str] | None = None
    role_assignments: Sequence[Mapping[str, Input[str]]] = field(default_factory=list)
    provision_identity: bool = True
    api_url: Input[str] = DEFAULT_API_URL


class FabricWorkspace(Resource, module="altaviz-fabric", name="Workspace"):
    """A Fabric workspace; outputs `workspace_id`, `identity_service_principal_id`, `identity_application_id`."""

    workspace_id: Output[str]
    identity_service_principal_id: Output[str]
    identity_application_id: Output[str]

    def __init__(self, resource_name: str, args: WorkspaceArgs, opts: ResourceOptions | None = None) -> None:
        props = {
            "display_name": args.display_name, "description": args.description, "capacity_id": args.capacity_id,
            "role_assignments": [dict(r) for r in args.role_assignments],
            "provision_identity": args.provision_identity, "api_url": args.api_url,
            **_outputs("workspace_id", "identity_service_principal_id", "identity_application_id", "adopted"),
        }
        super().__init__(WorkspaceProvider(), resource_name, props, opts)


@dataclass
class LakehouseArgs:
    """A schema-enabled lakehouse in a workspace."""

    workspace_id: Input[str]
    display_name: Input[str]
    description: Input[str] = ""
    api_url: Input[str] = DEFAULT_API_URL


class FabricLakehouse(Resource, module="altaviz-fabric", name="Lakehouse"):
    """A lakehouse; outputs `lakehouse_id`, `sql_endpoint_id`, `onelake_tables_path`, `onelake_files_path`."""

    lakehouse_id: Output[str]
    sql_endpoint_id: Output[str]
    onelake_tables_path: Output[str]
    onelake_files_path: Output[str]

    def __init__(self, resource_name: str, args: LakehouseArgs, opts: ResourceOptions | None = None) -> None:
        props = {
            "workspace_id": args.workspace_id, "display_name": args.display_name, "description": args.description,
            "api_url": args.api_url, "item_type": "Lakehouse",
            **_outputs("lakehouse_id", "sql_endpoint_id", "onelake_tables_path", "onelake_files_path", "adopted"),
        }
        super().__init__(LakehouseProvider(), resource_name, props, opts)


@dataclass
class EnvironmentArgs:
    """An Environment carrying the altaviz wheel (see `altaviz.deploy.wheel.build_wheel`).

    The wheel is uploaded and published only when `wheel_hash` changes; the publish is waited for at most
    `publish_timeout_minutes`.
    """

    workspace_id: Input[str]
    display_name: Input[str]
    wheel_path: Input[str]
    wheel_version: Input[str]
    wheel_hash: Input[str]
    publish_timeout_minutes: Input[float] = 30
    api_url: Input[str] = DEFAULT_API_URL
    description: Input[str] = ""


class FabricEnvironment(Resource, module="altaviz-fabric", name="Environment"):
    """An Environment; outputs `environment_id` and `published_version` (the wheel version it runs)."""

    environment_id: Output[str]
    published_version: Output[str]

    def __init__(self, resource_name: str, args: EnvironmentArgs, opts: ResourceOptions | None = None) -> None:
        props = {
            "workspace_id": args.workspace_id, "display_name": args.display_name, "description": args.description,
            "wheel_path": Output.from_input(args.wheel_path).apply(str), "wheel_version": args.wheel_version,
            "wheel_hash": args.wheel_hash, "publish_timeout_minutes": args.publish_timeout_minutes,
            "api_url": args.api_url, "item_type": "Environment",
            **_outputs("environment_id", "published_version", "published_wheel", "adopted"),
        }
        super().__init__(EnvironmentProvider(), resource_name, props, opts)


@dataclass
class NotebookArgs:
    """A notebook deployed from a repo `<name>.Notebook` folder, attached to an Environment if given.

    `display_name` and `description` default to the folder's `.platform`; `default_lakehouse` is an optional
    `{"id", "name"}` of a lakehouse in the same workspace.
    """

    workspace_id: Input[str]
    folder: str | Path
    environment_id: Input[str] | None = None
    api_url: Input[str] = DEFAULT_API_URL
    display_name: Input[str] | None = None
    description: Input[str] | None = None
    default_lakehouse: Mapping[str, Input[str]] | None = None


_DEFINITION_KEYS = ("display_name", "description", "logical_id", "format", "parts", "content_hash")


def _split(built: Output[dict[str, Any]], keys: Sequence[str]) -> dict[str, Output[Any]]:
    return {key: built.apply(lambda d, key=key: d[key]) for key in keys}


class FabricNotebook(Resource, module="altaviz-fabric", name="Notebook"):
    """A notebook; outputs `notebook_id`, `logical_id` (the repo's) and `content_hash` (of its definition)."""

    notebook_id: Output[str]
    logical_id: Output[str]
    content_hash: Output[str]

    def __init__(self, resource_name: str, args: NotebookArgs, opts: ResourceOptions | None = None) -> None:
        folder = str(args.folder)
        lakehouse = dict(args.default_lakehouse) if args.default_lakehouse else None
        built = Output.all(args.workspace_id, args.environment_id, args.display_name, args.description,
                           lakehouse).apply(
            lambda a: notebook_inputs(a[0], folder, environment_id=a[1], display_name=a[2], description=a[3],
                                      default_lakehouse=a[4]))
        props = {
            "workspace_id": args.workspace_id, "folder": folder, "environment_id": args.environment_id,
            "api_url": args.api_url, "item_type": "Notebook", **_split(built, _DEFINITION_KEYS),
            **_outputs("notebook_id", "adopted"),
        }
        super().__init__(NotebookProvider(), resource_name, props, opts)


@dataclass
class DataPipelineArgs:
    """A data pipeline deployed from a repo `<name>.DataPipeline` folder.

    `notebook_ids` maps each repo notebook logicalId the pipeline references to the deployed notebook id.
    `parameter_defaults` maps pipeline parameters to the `defaultValue` deployed with them: scheduled runs pass no
    parameters, so these are what they run with (e.g. the environment name and its Key Vault URL). Each name must
    be a parameter the pipeline declares.
    """

    workspace_id: Input[str]
    folder: str | Path
    notebook_ids: Mapping[str, Input[str]]
    api_url: Input[str] = DEFAULT_API_URL
    display_name: Input[str] | None = None
    description: Input[str] | None = None
    parameter_defaults: Mapping[str, Input[str]] = field(default_factory=dict)


class FabricDataPipeline(Resource, module="altaviz-fabric", name="DataPipeline"):
    """A data pipeline; outputs `pipeline_id` and `content_hash` (of its definition, ids rewritten)."""

    pipeline_id: Output[str]
    content_hash: Output[str]

    def __init__(self, resource_name: str, args: DataPipelineArgs, opts: ResourceOptions | None = None) -> None:
        folder = str(args.folder)
        notebook_ids = Output.all(**dict(args.notebook_ids)) if args.notebook_ids else {}
        defaults = Output.all(**dict(args.parameter_defaults)) if args.parameter_defaults else {}
        built = Output.all(args.workspace_id, notebook_ids, defaults, args.display_name,
                           args.description).apply(
            lambda a: data_pipeline_inputs(a[0], folder, a[1], parameter_defaults=a[2], display_name=a[3],
                                           description=a[4]))
        props = {
            "workspace_id": args.workspace_id, "folder": folder, "notebook_ids": dict(args.notebook_ids),
            "parameter_defaults": dict(args.parameter_defaults), "api_url": args.api_url, "item_type": "DataPipeline",
            **_split(built, _DEFINITION_KEYS),
            **_outputs("pipeline_id", "adopted"),
        }
        super().__init__(DataPipelineProvider(), resource_name, props, opts)


@dataclass
class SparkJobDefinitionArgs:
    """A Spark Job Definition deployed from a repo `<name>.SparkJobDefinition` folder (V2 format).

    `environment_id` and `lakehouse_id` are bound as its Environment and default lakehouse; `arguments`
    (`{"environment": "prod", ...}`) are appended to its command line as `--name value`.
    """

    workspace_id: Input[str]
    folder: str | Path
    environment_id: Input[str] | None = None
    lakehouse_id: Input[str] | None = None
    arguments: Mapping[str, Input[str]] = field(default_factory=dict)
    api_url: Input[str] = DEFAULT_API_URL
    display_name: Input[str] | None = None
    description: Input[str] | None = None


class FabricSparkJobDefinition(Resource, module="altaviz-fabric", name="SparkJobDefinition"):
    """A Spark Job Definition; outputs `spark_job_definition_id` and `content_hash` (of its definition)."""

    spark_job_definition_id: Output[str]
    content_hash: Output[str]

    def __init__(self, resource_name: str, args: SparkJobDefinitionArgs, opts: ResourceOptions | None = None) -> None:
        folder = str(args.folder)
        arguments = Output.all(**dict(args.arguments)) if args.arguments else {}
        built = Output.all(args.environment_id, args.lakehouse_id, arguments, args.display_name,
                           args.description).apply(
            lambda a: spark_job_inputs(folder, environment_id=a[0], lakehouse_id=a[1], arguments=a[2],
                                       display_name=a[3], description=a[4]))
        props = {
            "workspace_id": args.workspace_id, "folder": folder, "environment_id": args.environment_id,
            "lakehouse_id": args.lakehouse_id, "arguments": dict(args.arguments), "api_url": args.api_url,
            "item_type": "SparkJobDefinition", **_split(built, _DEFINITION_KEYS),
            **_outputs("spark_job_definition_id", "adopted"),
        }
        super().__init__(SparkJobDefinitionProvider(), resource_name, props, opts)


@dataclass
class ScheduleArgs:
    """A job schedule of an item (`configuration` as in the API: `type` Cron|Daily|Weekly|Monthly and its fields).

    A pipeline folder's `.schedules` entries have exactly this shape (`jobType`, `enabled`, `configuration`).
    """

    workspace_id: Input[str]
    item_id: Input[str]
    configuration: Mapping[str, Any]
    job_type: Input[str] = "Execute"
    enabled: Input[bool] = True
    api_url: Input[str] = DEFAULT_API_URL


class FabricSchedule(Resource, module="altaviz-fabric", name="Schedule"):
    """An item schedule; outputs `schedule_id`."""

    schedule_id: Output[str]

    def __init__(self, resource_name: str, args: ScheduleArgs, opts: ResourceOptions | None = None) -> None:
        props = {
            "workspace_id": args.workspace_id, "item_id": args.item_id, "job_type": args.job_type,
            "enabled": args.enabled, "configuration": dict(args.configuration), "api_url": args.api_url,
            **_outputs("schedule_id", "adopted"),
        }
        super().__init__(ScheduleProvider(), resource_name, props, opts)
