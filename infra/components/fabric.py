"""Fabric through its REST API: workspace, lakehouses, an Environment with the altaviz wheel, notebooks, Spark Job
Definitions, pipelines and their schedules, with lakehouse/notebook ids rebound as each item is deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pulumi import ComponentResource, Input, Output, ResourceOptions

from altaviz.deploy.fabric_resources import (
    DataPipelineArgs,
    EnvironmentArgs,
    FabricDataPipeline,
    FabricEnvironment,
    FabricLakehouse,
    FabricNotebook,
    FabricSchedule,
    FabricSparkJobDefinition,
    FabricWorkspace,
    LakehouseArgs,
    NotebookArgs,
    ScheduleArgs,
    SparkJobDefinitionArgs,
    WorkspaceArgs,
)
from altaviz.deploy.private_endpoint_resources import FabricManagedPrivateEndpoint, ManagedPrivateEndpointArgs
from altaviz.deploy.wheel import BuiltWheel
from altaviz.fabric.gitformat import find_items, read_notebook, read_pipeline, read_spark_job
from altaviz.lakehouse.paths import LAKEHOUSES

ENVIRONMENT_ITEM = "altaviz_runtime"
#: The default lakehouse of every Spark Job Definition (the streaming job's checkpoints live in its Files).
JOB_LAKEHOUSE = "lh_bronze_raw"


@dataclass(frozen=True)
class PrivateTarget:
    """An Azure resource the workspace's Spark reaches through a managed private endpoint, approved on it."""

    name: str
    resource_id: Input[str]
    subresource: str
    request_message: str


@dataclass
class FabricArgs:
    """What goes into the workspace, and how items are named.

    `item_name` maps a repo item name to its deployed name (a `dev-<name>-` prefix on personal stacks).
    Lakehouses keep their product names in every workspace: notebooks find them by name, and lakehouse names
    allow only letters, digits and underscores. `pipeline_parameters` become the default values of those
    parameters in every pipeline (each must declare them): scheduled runs pass no parameters and use these.
    `job_arguments` are appended to every Spark Job Definition's command line as `--name value`.
    `private_targets` get a managed private endpoint each, approved on the target and usable before the
    schedules are created (a scheduled run must find them working).
    """

    workspace_name: str
    capacity_id: Input[str] | None
    wheel: BuiltWheel
    notebooks_root: Path
    pipelines_root: Path
    schedule_enabled: bool
    item_name: Callable[[str], str] = str
    description: str = ""
    role_assignments: Sequence[Mapping[str, Input[str]]] = field(default_factory=list)
    lakehouses: Sequence[str] = LAKEHOUSES
    pipeline_parameters: Mapping[str, Input[str]] = field(default_factory=dict)
    job_arguments: Mapping[str, Input[str]] = field(default_factory=dict)
    private_targets: Sequence[PrivateTarget] = ()


class FabricDeployment(ComponentResource):
    """The Fabric side of an environment, built from the repo's `fabric_notebooks/` and `pipelines/` folders."""

    workspace_id: Output[str]
    workspace_identity_id: Output[str]
    lakehouse_ids: dict[str, Output[str]]
    sql_endpoint_ids: dict[str, Output[str]]
    environment_id: Output[str]
    published_version: Output[str]
    notebook_ids: dict[str, Output[str]]
    spark_job_definition_ids: dict[str, Output[str]]
    pipeline_ids: dict[str, Output[str]]
    schedule_ids: dict[str, Output[str]]
    private_endpoint_ids: dict[str, Output[str]]

    def __init__(self, name: str, args: FabricArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("altaviz:fabric:FabricDeployment", name, None, opts)
        child = ResourceOptions(parent=self)
        workspace = FabricWorkspace(f"{name}-workspace", WorkspaceArgs(
            display_name=args.workspace_name, description=args.description, capacity_id=args.capacity_id,
            role_assignments=list(args.role_assignments), provision_identity=True), child)
        workspace_id = workspace.workspace_id
        lakehouses = {lh: FabricLakehouse(f"{name}-{lh}", LakehouseArgs(
            workspace_id=workspace_id, display_name=lh), child) for lh in args.lakehouses}
        environment = FabricEnvironment(f"{name}-environment", EnvironmentArgs(
            workspace_id=workspace_id, display_name=args.item_name(ENVIRONMENT_ITEM),
            wheel_path=str(args.wheel.path), wheel_version=args.wheel.version, wheel_hash=args.wheel.hash), child)

        notebooks: dict[str, FabricNotebook] = {}
        logical_ids: dict[str, Output[str]] = {}
        for folder in find_items(args.notebooks_root, "Notebook"):
            platform = read_notebook(folder).platform
            notebook = FabricNotebook(f"{name}-{platform.display_name}", NotebookArgs(
                workspace_id=workspace_id, folder=folder, environment_id=environment.environment_id,
                display_name=args.item_name(platform.display_name)), child)
            notebooks[platform.display_name] = notebook
            logical_ids[platform.logical_id] = notebook.notebook_id

        jobs: dict[str, FabricSparkJobDefinition] = {}
        for folder in find_items(args.notebooks_root, "SparkJobDefinition"):
            platform = read_spark_job(folder).platform
            jobs[platform.display_name] = FabricSparkJobDefinition(
                f"{name}-{platform.display_name}", SparkJobDefinitionArgs(
                    workspace_id=workspace_id, folder=folder, environment_id=environment.environment_id,
                    lakehouse_id=lakehouses[JOB_LAKEHOUSE].lakehouse_id, arguments=dict(args.job_arguments),
                    display_name=args.item_name(platform.display_name)), child)

        endpoints = {target.name: FabricManagedPrivateEndpoint(f"{name}-mpe-{target.name}", ManagedPrivateEndpointArgs(
            workspace_id=workspace_id, name=target.name, target_resource_id=target.resource_id,
            target_subresource_type=target.subresource, request_message=target.request_message), child)
            for target in args.private_targets}

        pipelines: dict[str, FabricDataPipeline] = {}
        schedules: dict[str, FabricSchedule] = {}
        for folder in find_items(args.pipelines_root, "DataPipeline"):
            item = read_pipeline(folder)
            pipeline = FabricDataPipeline(f"{name}-{item.name}", DataPipelineArgs(
                workspace_id=workspace_id, folder=folder, notebook_ids=logical_ids,
                parameter_defaults=dict(args.pipeline_parameters), display_name=args.item_name(item.name)), child)
            pipelines[item.name] = pipeline
            for index, entry in enumerate(item.schedules):
                key = f"{item.name}-{index}"
                schedules[key] = FabricSchedule(f"{name}-schedule-{key}", ScheduleArgs(
                    workspace_id=workspace_id, item_id=pipeline.pipeline_id,
                    job_type=entry.get("jobType", "Execute"), configuration=entry["configuration"],
                    # Paused on personal stacks (and wherever the stack says so); a repo entry may pause itself too.
                    enabled=args.schedule_enabled and bool(entry.get("enabled", True))),
                    ResourceOptions(parent=self, depends_on=list(endpoints.values())))

        self.workspace_id = workspace_id
        self.workspace_identity_id = workspace.identity_service_principal_id
        self.lakehouse_ids = {lh: r.lakehouse_id for lh, r in lakehouses.items()}
        self.sql_endpoint_ids = {lh: r.sql_endpoint_id for lh, r in lakehouses.items()}
        self.environment_id = environment.environment_id
        self.published_version = environment.published_version
        self.notebook_ids = {n: r.notebook_id for n, r in notebooks.items()}
        self.spark_job_definition_ids = {n: r.spark_job_definition_id for n, r in jobs.items()}
        self.pipeline_ids = {n: r.pipeline_id for n, r in pipelines.items()}
        self.schedule_ids = {n: r.schedule_id for n, r in schedules.items()}
        self.private_endpoint_ids = {n: r.managed_private_endpoint_id for n, r in endpoints.items()}
        self.register_outputs({
            "workspace_id": self.workspace_id, "workspace_identity_id": self.workspace_identity_id,
            "lakehouse_ids": self.lakehouse_ids, "sql_endpoint_ids": self.sql_endpoint_ids,
            "environment_id": self.environment_id, "published_version": self.published_version,
            "notebook_ids": self.notebook_ids, "spark_job_definition_ids": self.spark_job_definition_ids,
            "pipeline_ids": self.pipeline_ids, "schedule_ids": self.schedule_ids, "private_endpoint_ids": self.private_endpoint_ids,
        })
