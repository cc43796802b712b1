"""Fabric item definitions built from the repo's Git-format folders, with ids rewritten for the target workspace.

Deterministic: the same folder and the same ids give byte-identical parts and so the same `content_hash`, which is
what lets a deployment tell "unchanged" from "changed" without asking Fabric.

- Notebooks: `notebook-content.py` with the notebook METADATA's `dependencies.environment` (and optionally
  `dependencies.lakehouse`) pointing at the deployed items, plus `.platform`; format `fabricGitSource`.
- Data pipelines: `pipeline-content.json` with every TridentNotebook activity's `notebookId` (a repo logicalId)
  replaced by the deployed notebook id and its `workspaceId` by the target workspace, and chosen pipeline
  parameters' `defaultValue` set for the environment (scheduled runs pass no parameters), plus `.platform`.
- Spark Job Definitions: `SparkJobDefinitionV1.json` with the deployed Environment and default lakehouse bound and
  the stack's arguments appended to `commandLineArguments`, the inline `Main/` and `Libs/` files, plus `.platform`;
  format `SparkJobDefinitionV2`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from altaviz.errors import PipelineError
from altaviz.fabric.gitformat import (
    METADATA_MARKER,
    NOTEBOOK_FILE,
    PIPELINE_FILE,
    PLATFORM_FILE,
    PLATFORM_SCHEMA,
    SPARK_JOB_FILE,
    Platform,
    read_notebook,
    read_pipeline,
    read_spark_job,
)

NOTEBOOK_FORMAT = "fabricGitSource"
PAYLOAD_TYPE = "InlineBase64"
NOTEBOOK_ACTIVITY = "TridentNotebook"
SPARK_JOB_FORMAT = "SparkJobDefinitionV2"


@dataclass(frozen=True)
class DefaultLakehouse:
    """The lakehouse a notebook attaches by default (`dependencies.lakehouse` in its METADATA)."""

    id: str
    name: str
    workspace_id: str


@dataclass(frozen=True)
class ItemDefinition:
    """A definition ready to send: the item's name, type and logicalId, its parts and their content hash."""

    item_type: str
    display_name: str
    description: str
    logical_id: str
    format: str | None
    parts: tuple[dict[str, str], ...]
    content_hash: str

    def to_api(self) -> dict[str, Any]:
        """The `definition` object of the create/updateDefinition request bodies."""
        body: dict[str, Any] = {"parts": [dict(part) for part in self.parts]}
        if self.format:
            body["format"] = self.format
        return body


def part(path: str, content: bytes) -> dict[str, str]:
    """One definition part, its content base64-encoded inline."""
    return {"path": path, "payload": base64.b64encode(content).decode("ascii"), "payloadType": PAYLOAD_TYPE}


def decode_parts(parts: Iterable[Mapping[str, str]]) -> dict[str, bytes]:
    """Path -> decoded content of definition parts (as Fabric's getDefinition returns them)."""
    return {p["path"]: base64.b64decode(p["payload"]) for p in parts}


def content_hash(parts: Iterable[Mapping[str, str]]) -> str:
    """The sha256 (hex) of the parts sorted by path: path, payload type and payload of each."""
    digest = hashlib.sha256()
    for item in sorted(parts, key=lambda p: p["path"]):
        for field in (item["path"], item.get("payloadType", PAYLOAD_TYPE), item["payload"]):
            digest.update(field.encode("utf-8"))
            digest.update(b"\0")
    return digest.hexdigest()


def platform_content(platform: Platform, *, display_name: str | None = None, description: str | None = None) -> bytes:
    """A `.platform` file for the item as deployed: its type, (deployed) name and description, its logicalId."""
    data = {
        "$schema": PLATFORM_SCHEMA,
        "metadata": {
            "type": platform.item_type,
            "displayName": display_name if display_name is not None else platform.display_name,
            "description": description if description is not None else platform.description,
        },
        "config": {"version": "2.0", "logicalId": platform.logical_id},
    }
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def notebook_definition(folder: Path, *, environment_id: str | None = None, workspace_id: str | None = None,
                        lakehouse: DefaultLakehouse | None = None, display_name: str | None = None,
                        description: str | None = None) -> ItemDefinition:
    """The definition of a `<name>.Notebook` folder, attached to the deployed Environment and lakehouse if given.

    Args:
        folder: the notebook folder.
        environment_id: the deployed Environment to set as `dependencies.environment`; left as written if None.
        workspace_id: the Environment's workspace (required with `environment_id`).
        lakehouse: the default lakehouse to set as `dependencies.lakehouse`; left as written if None.
        display_name: the deployed name; the `.platform` name if None.
        description: the deployed description; the `.platform` description if None.

    Raises:
        PipelineError: the folder is not a valid notebook, or `environment_id` comes without `workspace_id`.
    """
    item = read_notebook(Path(folder))
    text = item.content_path.read_text(encoding="utf-8")
    if environment_id is not None or lakehouse is not None:
        if environment_id is not None and not workspace_id:
            raise PipelineError(f"{item.content_path}: an environment id needs the workspace id it lives in")
        meta = copy.deepcopy(item.metadata)
        dependencies = meta.setdefault("dependencies", {})
        if environment_id is not None:
            dependencies["environment"] = {"environmentId": environment_id, "workspaceId": workspace_id}
        if lakehouse is not None:
            dependencies["lakehouse"] = {
                "default_lakehouse": lakehouse.id,
                "default_lakehouse_name": lakehouse.name,
                "default_lakehouse_workspace_id": lakehouse.workspace_id,
                "known_lakehouses": [{"id": lakehouse.id}],
            }
        text = replace_notebook_metadata(text, meta, item.content_path)
    parts = (part(NOTEBOOK_FILE, text.encode("utf-8")),
             part(PLATFORM_FILE, platform_content(item.platform, display_name=display_name, description=description)))
    return _definition(item.platform, NOTEBOOK_FORMAT, parts, display_name, description)


def replace_notebook_metadata(text: str, metadata: Mapping[str, Any], path: Path) -> str:
    """`notebook-content.py` text with its notebook-level METADATA block replaced by `metadata` (cells untouched)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == METADATA_MARKER), None)
    if start is None:
        raise PipelineError(f"{path}: no notebook METADATA block")
    first = start + 1
    while first < len(lines) and not lines[first].strip():
        first += 1
    end = first
    while end < len(lines) and lines[end].startswith("# META"):
        end += 1
    newline = "\r\n" if lines[first].endswith("\r\n") else "\n"
    block = [f"# META {line}".rstrip() + newline for line in json.dumps(metadata, indent=2).splitlines()]
    return "".join(lines[:first] + block + lines[end:])


def pipeline_definition(folder: Path, *, workspace_id: str, notebook_ids: Mapping[str, str],
                        parameter_defaults: Mapping[str, str] | None = None, display_name: str | None = None,
                        description: str | None = None) -> ItemDefinition:
    """The definition of a `<name>.DataPipeline` folder with notebook references bound to the deployed notebooks.

    Args:
        folder: the pipeline folder.
        workspace_id: the workspace the notebooks are deployed to.
        notebook_ids: repo logicalId -> deployed notebook id.
        parameter_defaults: pipeline parameter name -> the `defaultValue` to deploy it with (what a scheduled
            run uses); parameters not named keep the repo's default.
        display_name: the deployed name; the `.platform` name if None.
        description: the deployed description; the `.platform` description if None.

    Raises:
        PipelineError: an activity references a notebook logicalId missing from `notebook_ids` (the message names
            the activity and the id), or `parameter_defaults` names a parameter the pipeline does not declare.
    """
    item = read_pipeline(Path(folder))
    content = copy.deepcopy(item.content)
    declared = content["properties"].get("parameters", {})
    for name, value in (parameter_defaults or {}).items():
        if name not in declared:
            raise PipelineError(f"{item.content_path}: cannot set the default of parameter {name!r}: the pipeline "
                                f"declares {', '.join(sorted(declared)) or 'no parameters'}")
        declared[name]["defaultValue"] = value
    deployed = {logical.lower(): item_id for logical, item_id in notebook_ids.items()}
    for activity in _notebook_activities(content):
        props = activity.setdefault("typeProperties", {})
        logical = str(props.get("notebookId", ""))
        if logical.lower() not in deployed:
            known = ", ".join(sorted(deployed)) or "none"
            raise PipelineError(f"{item.content_path}: activity {activity.get('name')!r} references notebook "
                                f"{logical!r}, which is not a deployed notebook's logicalId (deployed: {known})")
        props["notebookId"] = deployed[logical.lower()]
        props["workspaceId"] = workspace_id
    body = (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    parts = (part(PIPELINE_FILE, body),
             part(PLATFORM_FILE, platform_content(item.platform, display_name=display_name, description=description)))
    return _definition(item.platform, None, parts, display_name, description)


def spark_job_definition(folder: Path, *, environment_id: str | None = None, lakehouse_id: str | None = None,
                         arguments: Mapping[str, str] | None = None, display_name: str | None = None,
                         description: str | None = None) -> ItemDefinition:
    """The definition of a `<name>.SparkJobDefinition` folder bound to the deployed Environment and lakehouse.

    Args:
        folder: the Spark Job Definition folder.
        environment_id: the deployed Environment (`environmentArtifactId`); left as written if None.
        lakehouse_id: the deployed default lakehouse (`defaultLakehouseArtifactId`); left as written if None.
        arguments: `--name value` pairs appended to `commandLineArguments`, in name order (values must not hold
            spaces: Fabric splits the arguments on them).
        display_name: the deployed name; the `.platform` name if None.
        description: the deployed description; the `.platform` description if None.

    Raises:
        PipelineError: the folder is not a valid Spark Job Definition, or an argument value holds whitespace.
    """
    item = read_spark_job(Path(folder))
    settings = copy.deepcopy(item.settings)
    if environment_id is not None:
        settings["environmentArtifactId"] = environment_id
    if lakehouse_id is not None:
        settings["defaultLakehouseArtifactId"] = lakehouse_id
    extra = []
    for name, value in sorted((arguments or {}).items()):
        if not value or any(c.isspace() for c in str(value)):
            raise PipelineError(f"{item.settings_path}: argument --{name} {value!r} must be one non-empty word "
                                "(Fabric splits commandLineArguments on spaces)")
        extra += [f"--{name}", str(value)]
    settings["commandLineArguments"] = " ".join([*str(settings.get("commandLineArguments") or "").split(), *extra])
    body = (json.dumps(settings, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    parts = (part(SPARK_JOB_FILE, body), part(f"Main/{item.main.name}", item.main.read_bytes()),
             *(part(f"Libs/{lib.name}", lib.read_bytes()) for lib in item.libs),
             part(PLATFORM_FILE, platform_content(item.platform, display_name=display_name, description=description)))
    return _definition(item.platform, SPARK_JOB_FORMAT, parts, display_name, description)


def _notebook_activities(node: Any) -> Iterator[dict[str, Any]]:
    """Every TridentNotebook activity, including those nested in ForEach/If/Switch/Until containers."""
    if isinstance(node, dict):
        if node.get("type") == NOTEBOOK_ACTIVITY and "name" in node:
            yield node
        for value in node.values():
            yield from _notebook_activities(value)
    elif isinstance(node, list):
        for value in node:
            yield from _notebook_activities(value)


def _definition(platform: Platform, fmt: str | None, parts: tuple[dict[str, str], ...], display_name: str | None,
                description: str | None) -> ItemDefinition:
    return ItemDefinition(platform.item_type, display_name if display_name is not None else platform.display_name,
                          description if description is not None else platform.description, platform.logical_id,
                          fmt, parts, content_hash(parts))
