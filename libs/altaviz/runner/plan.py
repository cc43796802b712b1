"""Check a data pipeline against the repo's notebooks and turn it into a run plan, before anything runs.

Every problem is a `PipelineError` naming the file and the activity (or notebook) at fault: an unknown notebook
logicalId, a parameter the notebook's PARAMETERS cell lacks, an unsupported expression or activity type, a
dependency on a missing activity or a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from altaviz.errors import PipelineError
from altaviz.fabric.gitformat import NotebookItem, PipelineItem, parse_timespan, read_notebooks, read_pipeline
from altaviz.runner.expressions import ExpressionError, check_expression, references, split_template

THIS_WORKSPACE = "00000000-0000-0000-0000-000000000000"
CONDITIONS = ("Succeeded", "Failed", "Completed", "Skipped")
NOTEBOOK_PARAMETER_TYPES = ("string", "int", "float", "bool")
PIPELINE_PARAMETER_TYPES = ("string", "int", "float", "bool", "array", "object", "securestring")
SUPPORTED_ACTIVITY_TYPES = ("TridentNotebook",)


@dataclass(frozen=True)
class Dependency:
    """An upstream activity and the outcomes of it that let this activity run (any one of them)."""

    activity: str
    conditions: tuple[str, ...]


@dataclass(frozen=True)
class NotebookParameter:
    """A value the activity passes to a notebook parameter: a literal or an expression, and its type."""

    name: str
    value: Any
    type: str


@dataclass(frozen=True)
class PlannedActivity:
    """One TridentNotebook activity, resolved to its notebook folder and checked."""

    name: str
    notebook: NotebookItem
    depends_on: tuple[Dependency, ...]
    parameters: tuple[NotebookParameter, ...]
    timeout_seconds: float
    retry: int
    retry_interval_seconds: float


@dataclass(frozen=True)
class PipelinePlan:
    """A checked pipeline: its activities in a runnable order and its parameter values for this run."""

    pipeline: PipelineItem
    activities: tuple[PlannedActivity, ...]
    parameters: dict[str, Any]

    def dependants(self, name: str) -> list[str]:
        """Activities that depend on `name`."""
        return [a.name for a in self.activities if any(d.activity == name for d in a.depends_on)]


def _coerce_parameter(value: Any, type_name: str, where: str) -> Any:
    """A pipeline parameter value (a default, or text from `--param`) as its declared type."""
    kind = type_name.lower()
    if kind not in PIPELINE_PARAMETER_TYPES:
        raise PipelineError(f"{where}: type {type_name!r} is not one of {', '.join(PIPELINE_PARAMETER_TYPES)}")
    try:
        if kind in ("string", "securestring"):
            return "" if value is None else str(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() in ("true", "false"):
                return str(value).strip().lower() == "true"
            raise ValueError(value)
        if isinstance(value, str):
            import json

            value = json.loads(value)
        if kind == "array" and not isinstance(value, list) or kind == "object" and not isinstance(value, dict):
            raise ValueError(value)
        return value
    except ValueError as exc:
        raise PipelineError(f"{where}: {value!r} is not a valid {type_name}") from exc


def _ancestors(name: str, deps: Mapping[str, tuple[Dependency, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = [d.activity for d in deps[name]]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(d.activity for d in deps.get(current, ()))
    return seen


def _order(pipeline_file: Path, deps: Mapping[str, tuple[Dependency, ...]], written: list[str]) -> list[str]:
    """Activities in dependency order (ties keep the order they are written in); a cycle is an error."""
    done: list[str] = []
    remaining = list(written)
    while remaining:
        ready = [n for n in remaining if all(d.activity in done for d in deps[n])]
        if not ready:
            raise PipelineError(f"{pipeline_file}: activities {', '.join(sorted(remaining))} depend on each other "
                                "in a cycle")
        done.append(ready[0])
        remaining.remove(ready[0])
    return done


def _check_value(value: Any, where: str, parameters: Mapping[str, Any], upstream: set[str]) -> None:
    """Every expression inside `value` must parse, be supported and refer to declared things upstream."""
    if isinstance(value, dict):
        for item in value.values():
            _check_value(item, where, parameters, upstream)
        return
    if isinstance(value, list):
        for item in value:
            _check_value(item, where, parameters, upstream)
        return
    if not isinstance(value, str):
        return
    try:
        pieces = split_template(value)
        for node in pieces:
            if isinstance(node, str):
                continue
            check_expression(node, value.lstrip("@"))
            for kind, name in references(node):
                if kind == "parameter" and name not in parameters:
                    raise ExpressionError(f"{value} uses pipeline parameter {name!r}, which the pipeline does not "
                                          f"declare (declared: {', '.join(parameters) or 'none'})")
                if kind == "activity" and name not in upstream:
                    raise ExpressionError(f"{value} reads activity {name!r}, which is not upstream of this activity "
                                          "(add it to dependsOn)")
    except ExpressionError as exc:
        raise PipelineError(f"{where}: {exc}") from exc


def _expression_text(raw: Any) -> Any:
    """A notebook parameter's value: `{"value": "@...", "type": "Expression"}` unwraps to its text."""
    if isinstance(raw, dict) and str(raw.get("type", "")).lower() == "expression":
        text = raw.get("value")
        if not isinstance(text, str) or not text.startswith("@"):
            return f"@{text}" if isinstance(text, str) else text
        return text
    return raw


def _parameter_values(pipeline: PipelineItem, overrides: Mapping[str, str] | None) -> dict[str, Any]:
    """The pipeline's parameters: declared defaults, then `--param` overrides, each coerced to its type."""
    path, declared = pipeline.content_path, pipeline.parameters
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        values[name] = _coerce_parameter(spec.get("defaultValue"), str(spec.get("type", "string")),
                                         f"{path}: parameter {name!r}")
    for name, text in (overrides or {}).items():
        if name not in declared:
            raise PipelineError(f"--param {name}: pipeline {pipeline.name!r} ({path}) has no parameter {name!r} "
                                f"(it has: {', '.join(declared) or 'none'})")
        values[name] = _coerce_parameter(text, str(declared[name].get("type", "string")), f"--param {name}")
    return values


def _dependencies(path: Path, raw: list[dict[str, Any]]) -> dict[str, tuple[Dependency, ...]]:
    """Each activity's `dependsOn`, checked: known supported activities, no self-loops, valid conditions."""
    names = [a["name"] for a in raw]
    deps: dict[str, tuple[Dependency, ...]] = {}
    for activity in raw:
        where = f"{path}: activity {activity['name']!r}"
        kind = activity.get("type")
        if kind not in SUPPORTED_ACTIVITY_TYPES:
            raise PipelineError(f"{where}: activity type {kind!r} is not supported by the local runner "
                                f"(supported: {', '.join(SUPPORTED_ACTIVITY_TYPES)})")
        entries = []
        for dep in activity.get("dependsOn") or []:
            upstream, conditions = dep.get("activity"), tuple(dep.get("dependencyConditions") or ())
            if upstream not in names:
                raise PipelineError(f"{where}: dependsOn names activity {upstream!r}, which the pipeline does not have")
            if upstream == activity["name"]:
                raise PipelineError(f"{where}: depends on itself")
            bad = [c for c in conditions if c not in CONDITIONS]
            if not conditions or bad:
                raise PipelineError(f"{where}: dependencyConditions on {upstream!r} must be some of "
                                    f"{', '.join(CONDITIONS)} (got {list(conditions)})")
            entries.append(Dependency(upstream, conditions))
        deps[activity["name"]] = tuple(entries)
    return deps


def _notebook_parameters(where: str, props: Mapping[str, Any], notebook: NotebookItem, declared: Mapping[str, Any],
                         upstream: set[str]) -> tuple[NotebookParameter, ...]:
    """An activity's notebook parameters, checked against the notebook's PARAMETERS cell and their types."""
    accepted = notebook.parameters()
    parameters = []
    for param_name, spec in (props.get("parameters") or {}).items():
        if param_name not in accepted:
            raise PipelineError(f"{where}: sets parameter {param_name!r}, which notebook {notebook.name!r} "
                                f"({notebook.content_path}) does not declare in its PARAMETERS cell "
                                f"(it declares: {', '.join(accepted) or 'nothing'})")
        if not isinstance(spec, dict) or "value" not in spec:
            raise PipelineError(f"{where}: parameter {param_name!r} must be {{\"value\": ..., \"type\": ...}}")
        type_name = str(spec.get("type", "string")).lower()
        if type_name not in NOTEBOOK_PARAMETER_TYPES:
            raise PipelineError(f"{where}: parameter {param_name!r} has type {spec.get('type')!r}; notebook "
                                f"parameters are {', '.join(NOTEBOOK_PARAMETER_TYPES)}")
        value = _expression_text(spec["value"])
        _check_value(value, f"{where}, parameter {param_name!r}", declared, upstream)
        parameters.append(NotebookParameter(param_name, value, type_name))
    return tuple(parameters)


def _policy(where: str, activity: Mapping[str, Any]) -> tuple[float, int, float]:
    """An activity's timeout (seconds), retries and retry interval, checked."""
    policy = activity.get("policy") or {}
    try:
        timeout = parse_timespan(policy.get("timeout", "0.12:00:00"))
        retry = int(policy.get("retry", 0))
        interval = float(policy.get("retryIntervalInSeconds", 30))
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"{where}: invalid policy: {exc}") from exc
    if retry < 0 or interval < 0 or timeout <= 0:
        raise PipelineError(f"{where}: policy retry and retryIntervalInSeconds must be >= 0 and timeout > 0")
    return timeout, retry, interval


def build_plan(pipeline_folder: Path, notebooks_root: Path, overrides: Mapping[str, str] | None = None) -> PipelinePlan:
    """Read and check a pipeline folder against the notebooks under `notebooks_root`; nothing is run."""
    pipeline = read_pipeline(Path(pipeline_folder))
    path = pipeline.content_path
    notebooks = read_notebooks(Path(notebooks_root))
    values = _parameter_values(pipeline, overrides)
    raw = pipeline.activities
    deps = _dependencies(path, raw)
    by_name = {a["name"]: a for a in raw}
    planned: list[PlannedActivity] = []
    for name in _order(path, deps, [a["name"] for a in raw]):
        activity = by_name[name]
        where = f"{path}: activity {name!r}"
        props = activity.get("typeProperties") or {}
        notebook = notebooks.get(str(props.get("notebookId", "")).lower())
        if notebook is None:
            raise PipelineError(f"{where}: notebookId {props.get('notebookId')!r} is not the logicalId of any "
                                f"notebook under {notebooks_root}")
        workspace = props.get("workspaceId", THIS_WORKSPACE)
        if workspace != THIS_WORKSPACE:
            raise PipelineError(f"{where}: workspaceId must be {THIS_WORKSPACE} (this workspace); got {workspace!r}")
        parameters = _notebook_parameters(where, props, notebook, pipeline.parameters, _ancestors(name, deps))
        planned.append(PlannedActivity(name, notebook, deps[name], parameters, *_policy(where, activity)))
    return PipelinePlan(pipeline, tuple(planned), values)
