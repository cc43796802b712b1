"""Builders for throw-away Fabric items: notebooks and pipelines written in the Git format, in a tmp folder."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from altaviz.fabric.gitformat import PLATFORM_SCHEMA, SCHEDULES_SCHEMA

CODE_META = '# META {\n# META   "language": "python",\n# META   "language_group": "synapse_pyspark"\n# META }\n'
HEADER = ('# Fabric notebook source\n\n# METADATA ********************\n\n# META {\n# META   "kernel_info": {\n'
          '# META     "name": "synapse_pyspark"\n# META   },\n# META   "dependencies": {}\n# META }\n')


def platform(item_type: str, name: str, logical_id: str | None = None) -> str:
    """A `.platform` file body."""
    return json.dumps({"$schema": PLATFORM_SCHEMA, "metadata": {"type": item_type, "displayName": name},
                       "config": {"version": "2.0", "logicalId": logical_id or str(uuid.uuid4())}}, indent=2)


class Workspace:
    """A repo-shaped folder: `fabric_notebooks/` and `pipelines/`, with helpers to add items."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notebooks = root / "fabric_notebooks"
        self.pipelines = root / "pipelines"
        self.notebooks.mkdir(parents=True)
        self.pipelines.mkdir(parents=True)
        self.ids: dict[str, str] = {}

    def notebook(self, name: str, code: str, parameters: str = "") -> str:
        """Write a notebook (PARAMETERS cell when `parameters`, then one code cell); return its logicalId."""
        folder = self.notebooks / f"{name}.Notebook"
        folder.mkdir()
        text = HEADER
        if parameters:
            text += f"\n# PARAMETERS CELL ********************\n\n{parameters}\n\n# METADATA ********************\n\n"
            text += CODE_META
        text += f"\n# CELL ********************\n\n{code}\n\n# METADATA ********************\n\n{CODE_META}"
        (folder / "notebook-content.py").write_text(text)
        self.ids[name] = str(uuid.uuid4())
        (folder / ".platform").write_text(platform("Notebook", name, self.ids[name]))
        return self.ids[name]

    def pipeline(self, name: str, activities: list[dict[str, Any]],
                 parameters: dict[str, Any] | None = None) -> Path:
        """Write a pipeline folder; return it."""
        folder = self.pipelines / f"{name}.DataPipeline"
        folder.mkdir()
        content = {"properties": {"activities": activities, "parameters": parameters or {}}}
        (folder / "pipeline-content.json").write_text(json.dumps(content, indent=2))
        (folder / ".platform").write_text(platform("DataPipeline", name))
        (folder / ".schedules").write_text(json.dumps({"$schema": SCHEDULES_SCHEMA, "schedules": []}))
        return folder

    def activity(self, name: str, notebook: str, *, depends: dict[str, list[str]] | None = None,
                 parameters: dict[str, Any] | None = None, retry: int = 0, timeout: str = "0.00:10:00",
                 interval: int = 5) -> dict[str, Any]:
        """A TridentNotebook activity on one of this workspace's notebooks."""
        return {"name": name, "type": "TridentNotebook",
                "dependsOn": [{"activity": a, "dependencyConditions": c} for a, c in (depends or {}).items()],
                "policy": {"timeout": timeout, "retry": retry, "retryIntervalInSeconds": interval},
                "typeProperties": {"notebookId": self.ids[notebook],
                                   "workspaceId": "00000000-0000-0000-0000-000000000000",
                                   "parameters": parameters or {}}}


def expression(text: str, type_name: str = "string") -> dict[str, Any]:
    """A notebook parameter set from a pipeline expression."""
    return {"value": {"value": text, "type": "Expression"}, "type": type_name}


def literal(value: Any, type_name: str = "string") -> dict[str, Any]:
    """A notebook parameter set to a literal."""
    return {"value": value, "type": type_name}
