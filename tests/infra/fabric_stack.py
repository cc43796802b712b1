"""The repo's Fabric deployment as provider inputs, resource by resource, the way `infra/` registers them."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

from fake_fabric import FakeFabric
from provider_protocol import Engine

from altaviz.deploy.fabric_lifecycle import data_pipeline_inputs, notebook_inputs, spark_job_inputs
from altaviz.deploy.fabric_resources import (
    DataPipelineProvider,
    EnvironmentProvider,
    NotebookProvider,
    ScheduleProvider,
    WorkspaceProvider,
)
from altaviz.deploy.wheel import BuiltWheel, source_files
from altaviz.fabric.gitformat import find_items, read_pipeline

REPO = Path(__file__).resolve().parents[2]
ITEM_DIRS = ("fabric_notebooks", "pipelines")
PIPELINE = "pipelines/pl_altaviz_hourly.DataPipeline"
CRON = {"type": "Cron", "startDateTime": "2026-01-01T00:10:00", "endDateTime": "2099-12-31T23:59:00",
        "localTimeZoneId": "UTC", "interval": 60}
ALICE, BOB, OPS = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002", "cccc0000-0003"
CAPACITY, OTHER_CAPACITY = "ca000000-0000-4000-8000-000000000001", "ca000000-0000-4000-8000-000000000002"


def copy_checkout(root: Path) -> Path:
    """Copy what a deployment reads (the wheel's sources, README, notebooks, pipelines) to `root`."""
    for relative in [*source_files(REPO), Path("README.md")]:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / relative, root / relative)
    for folder in ITEM_DIRS:
        shutil.copytree(REPO / folder, root / folder, dirs_exist_ok=True)
    return root


def stand_in_build(wheel: Path) -> BuiltWheel:
    """A build of a stand-in wheel file named `altaviz-<version>-...whl` (its hash follows the version)."""
    version = wheel.name.split("-")[1]
    return BuiltWheel(wheel, version, f"hash-of-{version}")


def workspace_inputs(fake: FakeFabric, name: str = "altaviz-dev", **extra: Any) -> dict[str, Any]:
    return {"display_name": name, "description": "Altaviz dev", "capacity_id": CAPACITY, "role_assignments": [],
            "provision_identity": True, "api_url": fake.base_url, **extra}


def lakehouse_inputs(fake: FakeFabric, ws: str, **extra: Any) -> dict[str, Any]:
    return {"workspace_id": ws, "display_name": "lh_bronze_raw", "description": "", "api_url": fake.base_url,
            "item_type": "Lakehouse", **extra}


def environment_inputs(fake: FakeFabric, ws: str, wheel: Path | BuiltWheel, **extra: Any) -> dict[str, Any]:
    built = wheel if isinstance(wheel, BuiltWheel) else stand_in_build(wheel)
    return {"workspace_id": ws, "display_name": "env_altaviz", "description": "", "wheel_path": str(built.path),
            "wheel_version": built.version, "wheel_hash": built.hash, "publish_timeout_minutes": 30,
            "api_url": fake.base_url, "item_type": "Environment", **extra}


def nb_inputs(fake: FakeFabric, ws: str, folder: Path, env: str | None = None) -> dict[str, Any]:
    return {"workspace_id": ws, "folder": str(folder), "environment_id": env, "api_url": fake.base_url,
            "item_type": "Notebook", **notebook_inputs(ws, folder, environment_id=env)}


def pipeline_inputs(fake: FakeFabric, ws: str, folder: Path, notebook_ids: dict[str, str],
                    defaults: dict[str, str] | None = None) -> dict[str, Any]:
    return {"workspace_id": ws, "folder": str(folder), "notebook_ids": notebook_ids,
            "parameter_defaults": defaults or {}, "api_url": fake.base_url, "item_type": "DataPipeline",
            **data_pipeline_inputs(ws, folder, notebook_ids, parameter_defaults=defaults)}


def sjd_inputs(fake: FakeFabric, ws: str, folder: Path, env: str | None = None, lakehouse: str | None = None,
               arguments: dict[str, str] | None = None) -> dict[str, Any]:
    return {"workspace_id": ws, "folder": str(folder), "environment_id": env, "lakehouse_id": lakehouse,
            "arguments": arguments or {}, "api_url": fake.base_url, "item_type": "SparkJobDefinition",
            **spark_job_inputs(folder, environment_id=env, lakehouse_id=lakehouse, arguments=arguments)}


def schedule_inputs(fake: FakeFabric, ws: str, item: str, **extra: Any) -> dict[str, Any]:
    return {"workspace_id": ws, "item_id": item, "job_type": "Execute", "enabled": True, "configuration": CRON,
            "api_url": fake.base_url, **extra}


def deploy(engine: Engine, fake: FakeFabric, repo: Path, wheel: Path | BuiltWheel) -> dict[str, dict[str, Any]]:
    """`pulumi up` of workspace, environment, every repo notebook, the pipeline bound to them, and its schedules."""
    ws = engine.up("ws", WorkspaceProvider(), workspace_inputs(fake))["workspace_id"]
    env = engine.up("env", EnvironmentProvider(), environment_inputs(fake, ws, wheel))["environment_id"]
    notebook_ids = {}
    for folder in find_items(repo / "fabric_notebooks", "Notebook"):
        outs = engine.up(f"nb:{folder.name}", NotebookProvider(), nb_inputs(fake, ws, folder, env))
        notebook_ids[outs["logical_id"]] = outs["notebook_id"]
    folder = repo / PIPELINE
    pipeline = engine.up("pl", DataPipelineProvider(), pipeline_inputs(fake, ws, folder, notebook_ids))
    for index, schedule in enumerate(read_pipeline(folder).schedules):
        engine.up(f"schedule:{index}", ScheduleProvider(), {
            "workspace_id": ws, "item_id": pipeline["pipeline_id"], "job_type": schedule["jobType"],
            "enabled": schedule["enabled"], "configuration": schedule["configuration"], "api_url": fake.base_url})
    return engine.outputs()


def sent_parts(fake: FakeFabric, item_id: str) -> dict[str, bytes]:
    """The decoded definition parts the fake holds for an item."""
    return {p["path"]: base64.b64decode(p["payload"]) for p in fake.definitions[item_id]["parts"]}
