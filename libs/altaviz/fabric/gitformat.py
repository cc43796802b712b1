"""Read Fabric Git-format items: notebooks (`notebook-content.py`), data pipelines (`pipeline-content.json`) and
Spark Job Definitions (`SparkJobDefinitionV1.json` + `Main/` + `Libs/`, the V2 format).

Every error names the file (and line, where there is one) and the item, so a broken definition is caught before
anything runs. The formats are the ones Fabric Git integration and fabric-cicd read and write.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from altaviz.errors import PipelineError

NOTEBOOK_HEADER = "# Fabric notebook source"
METADATA_MARKER = "# METADATA ********************"
CELL_MARKERS = {
    "# CELL ********************": "code",
    "# PARAMETERS CELL ********************": "parameters",
    "# MARKDOWN ********************": "markdown",
}
PLATFORM_SCHEMA = "https://developer.microsoft.com/json-schemas/fabric/gitIntegration/platformProperties/2.0.0/schema.json"
SCHEDULES_SCHEMA = "https://developer.microsoft.com/json-schemas/fabric/gitIntegration/schedules/1.0.0/schema.json"
ITEM_SUFFIXES = {"Notebook": ".Notebook", "DataPipeline": ".DataPipeline",
                 "SparkJobDefinition": ".SparkJobDefinition"}
NOTEBOOK_FILE = "notebook-content.py"
PIPELINE_FILE = "pipeline-content.json"
PLATFORM_FILE = ".platform"
SCHEDULES_FILE = ".schedules"
SPARK_JOB_FILE = "SparkJobDefinitionV1.json"  # the V2 format keeps the V1 file name ("for historical reasons")
#: Every property of `SparkJobDefinitionV1.json`; Fabric answers 400 to any other.
SPARK_JOB_KEYS = frozenset({"executableFile", "defaultLakehouseArtifactId", "mainClass", "additionalLakehouseIds",
                            "retryPolicy", "commandLineArguments", "additionalLibraryUris", "language",
                            "environmentArtifactId"})


@dataclass(frozen=True)
class Platform:
    """The `.platform` file of an item: its type, display name and the logicalId other items reference it by."""

    item_type: str
    display_name: str
    description: str
    logical_id: str
    path: Path


@dataclass(frozen=True)
class Cell:
    """One notebook cell: `code`, `parameters` or `markdown`, its source and its METADATA (empty for markdown)."""

    kind: str
    source: str
    metadata: dict[str, Any]
    line: int


@dataclass(frozen=True)
class NotebookItem:
    """A notebook folder: `.platform`, the notebook-level METADATA and its cells."""

    folder: Path
    platform: Platform
    metadata: dict[str, Any]
    cells: tuple[Cell, ...]

    @property
    def name(self) -> str:
        """The notebook's display name."""
        return self.platform.display_name

    @property
    def content_path(self) -> Path:
        """The `notebook-content.py` file."""
        return self.folder / NOTEBOOK_FILE

    @property
    def parameters_cell(self) -> Cell | None:
        """The PARAMETERS cell, if the notebook has one."""
        return next((c for c in self.cells if c.kind == "parameters"), None)

    def parameters(self) -> dict[str, Any]:
        """Names assigned in the PARAMETERS cell, with their default values (None when not a literal)."""
        cell = self.parameters_cell
        if cell is None:
            return {}
        names: dict[str, Any] = {}
        for node in ast.parse(cell.source).body:
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            for target in targets:
                if isinstance(target, ast.Name):
                    value = node.value
                    try:
                        names[target.id] = ast.literal_eval(value) if value is not None else None
                    except ValueError:
                        names[target.id] = None
        return names


@dataclass(frozen=True)
class PipelineItem:
    """A data pipeline folder: `.platform`, `pipeline-content.json` and `.schedules` (if any)."""

    folder: Path
    platform: Platform
    content: dict[str, Any]
    schedules: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        """The pipeline's display name."""
        return self.platform.display_name

    @property
    def content_path(self) -> Path:
        """The `pipeline-content.json` file."""
        return self.folder / PIPELINE_FILE

    @property
    def activities(self) -> list[dict[str, Any]]:
        """The pipeline's activities, as written."""
        return list(self.content.get("properties", {}).get("activities", []))

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        """Pipeline parameters: name -> {"type": ..., "defaultValue": ...}."""
        return dict(self.content.get("properties", {}).get("parameters", {}))


@dataclass(frozen=True)
class SparkJobItem:
    """A Spark Job Definition folder: `.platform`, its settings and its inline `Main/` file and `Libs/` files."""

    folder: Path
    platform: Platform
    settings: dict[str, Any]
    main: Path
    libs: tuple[Path, ...] = ()

    @property
    def name(self) -> str:
        """The Spark Job Definition's display name."""
        return self.platform.display_name

    @property
    def settings_path(self) -> Path:
        """The `SparkJobDefinitionV1.json` file."""
        return self.folder / SPARK_JOB_FILE


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise PipelineError(f"{path}: missing {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc


def read_platform(folder: Path, expected_type: str) -> Platform:
    """Read and check an item's `.platform`: schema, type, display name matching the folder, a GUID logicalId."""
    path = folder / PLATFORM_FILE
    data = _read_json(path, "the .platform file every Fabric Git item has")
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: expected a JSON object")
    if data.get("$schema") != PLATFORM_SCHEMA:
        raise PipelineError(f"{path}: $schema must be {PLATFORM_SCHEMA} (got {data.get('$schema')!r})")
    metadata, config = data.get("metadata") or {}, data.get("config") or {}
    item_type = metadata.get("type")
    if item_type != expected_type:
        raise PipelineError(f"{path}: metadata.type must be {expected_type!r} (got {item_type!r})")
    display_name = metadata.get("displayName") or ""
    suffix = ITEM_SUFFIXES[expected_type]
    if folder.name != f"{display_name}{suffix}":
        raise PipelineError(f"{path}: metadata.displayName {display_name!r} does not match the folder "
                            f"{folder.name!r} (expected <displayName>{suffix})")
    if config.get("version") != "2.0":
        raise PipelineError(f"{path}: config.version must be '2.0' (got {config.get('version')!r})")
    logical_id = config.get("logicalId") or ""
    try:
        uuid.UUID(logical_id)
    except ValueError as exc:
        raise PipelineError(f"{path}: config.logicalId must be a GUID (got {logical_id!r})") from exc
    return Platform(item_type, display_name, metadata.get("description") or "", logical_id.lower(), path)


def _meta_block(lines: list[str], start: int, path: Path) -> tuple[dict[str, Any], int]:
    """Parse the `# META` JSON lines after a METADATA marker at `start`; return it and the next line index."""
    i = start + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    body: list[str] = []
    while i < len(lines) and lines[i].startswith("# META"):
        body.append(lines[i][len("# META"):].removeprefix(" "))
        i += 1
    if not body:
        raise PipelineError(f"{path}:{start + 1}: METADATA marker without '# META' lines")
    try:
        meta = json.loads("\n".join(body))
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{path}:{start + 2 + exc.lineno - 1}: invalid JSON in METADATA: {exc.msg}") from exc
    if not isinstance(meta, dict):
        raise PipelineError(f"{path}:{start + 1}: METADATA must be a JSON object")
    return meta, i


def parse_notebook_source(text: str, path: Path) -> tuple[dict[str, Any], tuple[Cell, ...]]:
    """Split `notebook-content.py` text into its notebook METADATA and its cells."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != NOTEBOOK_HEADER:
        raise PipelineError(f"{path}:1: the first line must be {NOTEBOOK_HEADER!r}")
    i = 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or lines[i].strip() != METADATA_MARKER:
        raise PipelineError(f"{path}:{i + 1}: expected the notebook METADATA block after the header")
    notebook_meta, i = _meta_block(lines, i, path)
    kernel = (notebook_meta.get("kernel_info") or {}).get("name")
    if kernel != "synapse_pyspark":
        raise PipelineError(f"{path}: notebook METADATA kernel_info.name must be 'synapse_pyspark' (got {kernel!r})")
    cells: list[Cell] = []
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        kind = CELL_MARKERS.get(line)
        if kind is None:
            raise PipelineError(f"{path}:{i + 1}: expected a cell marker ({', '.join(CELL_MARKERS)}), "
                                f"got {lines[i][:60]!r}")
        start = i + 1
        while start < len(lines) and not lines[start].strip():
            start += 1  # the cell's source starts at its first non-blank line (tracebacks count from it)
        j = start
        while j < len(lines) and lines[j].strip() not in CELL_MARKERS and lines[j].strip() != METADATA_MARKER:
            j += 1
        body = "\n".join(lines[start:j]).rstrip("\n")
        meta: dict[str, Any] = {}
        if kind == "markdown":
            body = "\n".join(ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in body.splitlines())
            if j < len(lines) and lines[j].strip() == METADATA_MARKER:
                meta, j = _meta_block(lines, j, path)
        else:
            if j >= len(lines) or lines[j].strip() != METADATA_MARKER:
                raise PipelineError(f"{path}:{i + 1}: {kind} cell has no METADATA block after it")
            meta, j = _meta_block(lines, j, path)
            if meta.get("language") != "python" or meta.get("language_group") != "synapse_pyspark":
                raise PipelineError(f"{path}:{i + 1}: {kind} cell METADATA must say language 'python' and "
                                    f"language_group 'synapse_pyspark' (got {meta})")
            try:
                compile(body, f"{path}:cell@{start + 1}", "exec")
            except SyntaxError as exc:
                raise PipelineError(f"{path}:{start + (exc.lineno or 1)}: {kind} cell is not valid Python: "
                                    f"{exc.msg}") from exc
        cells.append(Cell(kind, body, meta, start + 1))
        i = j
    if sum(c.kind == "parameters" for c in cells) > 1:
        raise PipelineError(f"{path}: more than one PARAMETERS cell")
    return notebook_meta, tuple(cells)


def read_notebook(folder: Path) -> NotebookItem:
    """Read one `<name>.Notebook` folder."""
    folder = Path(folder)
    platform = read_platform(folder, "Notebook")
    path = folder / NOTEBOOK_FILE
    if not path.is_file():
        raise PipelineError(f"{path}: missing (notebook {platform.display_name!r})")
    metadata, cells = parse_notebook_source(path.read_text(encoding="utf-8"), path)
    return NotebookItem(folder, platform, metadata, cells)


def read_pipeline(folder: Path) -> PipelineItem:
    """Read one `<name>.DataPipeline` folder: platform, content and schedules (shape only, not references)."""
    folder = Path(folder)
    platform = read_platform(folder, "DataPipeline")
    path = folder / PIPELINE_FILE
    content = _read_json(path, f"pipeline content (pipeline {platform.display_name!r})")
    properties = content.get("properties") if isinstance(content, dict) else None
    if not isinstance(properties, dict) or not isinstance(properties.get("activities"), list):
        raise PipelineError(f"{path}: expected {{\"properties\": {{\"activities\": [...]}}}}")
    names: set[str] = set()
    for index, activity in enumerate(properties["activities"]):
        name = activity.get("name") if isinstance(activity, dict) else None
        if not name:
            raise PipelineError(f"{path}: activity #{index + 1} has no name")
        if name in names:
            raise PipelineError(f"{path}: activity name {name!r} is used twice")
        names.add(name)
    parameters = properties.get("parameters", {})
    if not isinstance(parameters, dict) or any(not isinstance(p, dict) for p in parameters.values()):
        raise PipelineError(f"{path}: properties.parameters must map names to {{\"type\", \"defaultValue\"}}")
    schedules: tuple[dict[str, Any], ...] = ()
    schedules_path = folder / SCHEDULES_FILE
    if schedules_path.exists():
        data = _read_json(schedules_path, "schedules")
        if not isinstance(data, dict) or data.get("$schema") != SCHEDULES_SCHEMA:
            raise PipelineError(f"{schedules_path}: $schema must be {SCHEDULES_SCHEMA}")
        if not isinstance(data.get("schedules"), list):
            raise PipelineError(f"{schedules_path}: expected a 'schedules' list")
        schedules = tuple(data["schedules"])
    return PipelineItem(folder, platform, content, schedules)


def read_spark_job(folder: Path) -> SparkJobItem:
    """Read one `<name>.SparkJobDefinition` folder: its settings must name an inline Python `Main/` file (V2)."""
    folder = Path(folder)
    platform = read_platform(folder, "SparkJobDefinition")
    path = folder / SPARK_JOB_FILE
    settings = _read_json(path, f"Spark job settings (Spark Job Definition {platform.display_name!r})")
    if not isinstance(settings, dict):
        raise PipelineError(f"{path}: expected a JSON object")
    unknown = sorted(set(settings) - SPARK_JOB_KEYS)
    if unknown:
        raise PipelineError(f"{path}: unknown properties {', '.join(unknown)} (Fabric refuses them; known: "
                            f"{', '.join(sorted(SPARK_JOB_KEYS))})")
    executable = settings.get("executableFile")
    mains = sorted(p for p in (folder / "Main").glob("*") if p.is_file())
    if not isinstance(executable, str) or [p.name for p in mains] != [executable]:
        raise PipelineError(f"{path}: executableFile must be the name of the one file in Main/ (got "
                            f"{executable!r}, Main/ holds {[p.name for p in mains] or 'nothing'})")
    if settings.get("language") != "Python" or not executable.endswith(".py"):
        raise PipelineError(f"{path}: language must be 'Python' with a .py executableFile")
    _check_retry_policy(settings.get("retryPolicy"), path)
    libs = tuple(sorted(p for p in (folder / "Libs").glob("*") if p.is_file()))
    if sorted(settings.get("additionalLibraryUris") or []) != [p.name for p in libs]:
        raise PipelineError(f"{path}: additionalLibraryUris must name exactly the files in Libs/")
    return SparkJobItem(folder, platform, settings, mains[0], libs)


def _check_retry_policy(policy: Any, path: Path) -> None:
    """None, or `{"policyType": "SimpleRetry", "policyProperties": {"retryCount": >=1 or -1,
    "intervalBetweenRetriesInSeconds": 0..86400}}`."""
    if policy is None:
        return
    props = policy.get("policyProperties") if isinstance(policy, dict) else None
    count = props.get("retryCount") if isinstance(props, dict) else None
    interval = props.get("intervalBetweenRetriesInSeconds", 0) if isinstance(props, dict) else None
    if (not isinstance(policy, dict) or policy.get("policyType") != "SimpleRetry"
            or not isinstance(count, int) or isinstance(count, bool) or not (count >= 1 or count == -1)
            or not isinstance(interval, int) or isinstance(interval, bool) or not 0 <= interval <= 86400):
        raise PipelineError(f"{path}: retryPolicy must be {{\"policyType\": \"SimpleRetry\", \"policyProperties\": "
                            "{\"retryCount\": N >= 1 or -1 (unlimited), \"intervalBetweenRetriesInSeconds\": "
                            f"0..86400}}}} (got {policy!r})")


def find_items(root: Path, item_type: str) -> list[Path]:
    """Item folders of one type (`Notebook`, `DataPipeline`, `SparkJobDefinition`) directly under `root`, sorted."""
    suffix = ITEM_SUFFIXES[item_type]
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.endswith(suffix))


def read_notebooks(root: Path) -> dict[str, NotebookItem]:
    """Every notebook under `root`, by logicalId; two notebooks sharing a logicalId is an error naming both."""
    found: dict[str, NotebookItem] = {}
    for folder in find_items(root, "Notebook"):
        item = read_notebook(folder)
        other = found.get(item.platform.logical_id)
        if other is not None:
            raise PipelineError(f"{item.platform.path}: logicalId {item.platform.logical_id} is also used by "
                                f"{other.platform.path}")
        found[item.platform.logical_id] = item
    return found


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


def parse_timespan(value: str) -> float:
    """Seconds in a pipeline timespan `d.hh:mm:ss` or `hh:mm:ss` (activity timeouts)."""
    match = _TIMESPAN.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a timespan like 0.12:00:00 (d.hh:mm:ss)")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"{value!r} is not a timespan like 0.12:00:00 (d.hh:mm:ss)")
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
