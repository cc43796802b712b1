"""What the Fabric notebooks call: one function per notebook, returning the JSON the notebook exits with.

The same code runs in Fabric and under the local runner. Where the lakehouses are comes from
`notebookutils.runtime.context`: in Fabric the workspace (OneLake paths; GUID form when the workspace name is not
URL-safe, with lakehouse ids from `notebookutils.lakehouse`), under the local runner the folder it names.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from altaviz.errors import ConfigError
from altaviz.lakehouse.paths import LAKEHOUSES, LakehousePaths, LocalLakehousePaths, OneLakePaths

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from altaviz.runtime.context import RunContext
    from altaviz.stages import StageResult

LOCAL_ROOT_KEY = "lakehouseRoot"
_FRACTION = re.compile(r"(\.\d{6})\d+")


def _say(message: str) -> None:
    """Progress inside a notebook: a timestamped line on stderr (the cell output in Fabric)."""
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


def _lakehouse_id(notebookutils: Any, name: str) -> str:
    item = notebookutils.lakehouse.get(name)
    found = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
    if not found:
        raise ConfigError(f"notebookutils.lakehouse.get({name!r}) returned no id: is lakehouse {name!r} in this "
                          "workspace?")
    return str(found)


def runtime_paths(notebookutils: Any) -> LakehousePaths:
    """The lakehouse layout this notebook run uses, from `notebookutils.runtime.context`."""
    context = notebookutils.runtime.context
    local_root = context.get(LOCAL_ROOT_KEY)
    if local_root:
        return LocalLakehousePaths(local_root)
    workspace, workspace_id = context.get("currentWorkspaceName"), context.get("currentWorkspaceId")
    if not workspace and not workspace_id:
        raise ConfigError("notebookutils.runtime.context names no workspace (currentWorkspaceName/Id)")
    paths = OneLakePaths(workspace or workspace_id, workspace_id=workspace_id)
    if paths.needs_ids:
        paths = OneLakePaths(workspace, {name: _lakehouse_id(notebookutils, name) for name in LAKEHOUSES},
                             workspace_id=workspace_id)
    return paths


def parse_as_of(value: str | None) -> datetime | None:
    """An as-of parameter: ISO 8601 (a pipeline TriggerTime's 7 fractional digits are fine); '' means now."""
    if value is None or not str(value).strip():
        return None
    text = _FRACTION.sub(r"\1", str(value).strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"as_of must be an ISO 8601 time like 2026-11-21T06:00:00Z (got {value!r})") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def notebook_context(spark: SparkSession, notebookutils: Any, *, run_id: str = "") -> RunContext:
    """The run context of a notebook: Spark, the lakehouse from the runtime context, the pipeline's run id."""
    from altaviz.runtime.context import RunContext

    ctx = RunContext.create(spark, runtime_paths(notebookutils), progress=_say)
    if run_id:
        ctx.run_id = run_id
    return ctx


def _exit_value(result: StageResult, *, run_id: str, environment: str, as_of: datetime | None) -> str:
    document: dict[str, Any] = {"run_id": run_id, "environment": environment,
                                "as_of": as_of.isoformat() if as_of else None, **result.to_dict()}
    return json.dumps(document, default=str)


def bronze_ingest(spark: SparkSession, notebookutils: Any, *, run_id: str = "", environment: str = "") -> str:
    """Land new files from `lh_bronze_raw` Files/landing into `telemetry_raw`; the stage result as JSON."""
    from altaviz.stages import bronze

    ctx = notebook_context(spark, notebookutils, run_id=run_id)
    return _exit_value(bronze.run(ctx), run_id=ctx.run_id, environment=environment, as_of=None)


def silver_cleanse(spark: SparkSession, notebookutils: Any, *, as_of: str = "", run_id: str = "",
                   environment: str = "") -> str:
    """Validate new Bronze rows into `telemetry_clean`/`telemetry_rejected`; fail the notebook on a quality block.

    Raises:
        QualityGateError: A `block` quality check failed; the checks are stored, Gold must not run.
    """
    from altaviz.quality import CheckResult, QualityGateError, failed_blocks, format_report
    from altaviz.stages import silver

    ctx = notebook_context(spark, notebookutils, run_id=run_id)
    when = parse_as_of(as_of)
    result = silver.run(ctx, as_of=when)
    checks = [CheckResult(**r) for r in result.details.get("quality", [])]
    for line in format_report(checks):
        _say(f"quality: {line}")
    blocked = failed_blocks(checks)
    if blocked:
        raise QualityGateError(blocked)
    return _exit_value(result, run_id=ctx.run_id, environment=environment, as_of=when)


def gold_aggregate(spark: SparkSession, notebookutils: Any, *, as_of: str = "", run_id: str = "",
                   environment: str = "") -> str:
    """Aggregate windows, evaluate alerts and rebuild the health tables as of `as_of`; the result as JSON."""
    from altaviz.stages import gold

    ctx = notebook_context(spark, notebookutils, run_id=run_id)
    when = parse_as_of(as_of)
    return _exit_value(gold.run(ctx, as_of=when), run_id=ctx.run_id, environment=environment, as_of=when)


def refresh_sql_endpoints(spark: SparkSession, notebookutils: Any, *, lakehouses: str = "lh_gold_curated",
                          run_id: str = "", environment: str = "",
                          api_base: str = "https://api.fabric.microsoft.com/v1") -> str:
    """Make each listed lakehouse's SQL analytics endpoint sync its table metadata now (Power BI sees new data).

    Locally there is nothing to refresh (`altaviz sql` reads the Delta logs on every query); the result says so.

    Raises:
        FabricApiError: A call failed, or a table failed to sync (named with its error).
    """
    from altaviz.errors import FabricApiError
    from altaviz.fabric.client import FabricClient
    from altaviz.fabric.sql_endpoint import failed_tables, refresh_sql_endpoint

    names = [n.strip() for n in lakehouses.split(",") if n.strip()]
    unknown = [n for n in names if n not in LAKEHOUSES]
    if unknown:
        raise ConfigError(f"lakehouses: unknown {', '.join(unknown)}; expected some of {', '.join(LAKEHOUSES)}")
    document: dict[str, Any] = {"stage": "sql_endpoint_refresh", "run_id": run_id, "environment": environment,
                                "lakehouses": {}}
    if runtime_paths(notebookutils).is_local:
        document["skipped"] = "local lakehouse: altaviz sql reads the Delta tables directly, nothing to refresh"
        _say(f"sql endpoint refresh: {document['skipped']}")
        return json.dumps(document)
    workspace_id = notebookutils.runtime.context.get("currentWorkspaceId")
    token = notebookutils.credentials.getToken("pbi")
    problems = []
    with FabricClient(lambda: token, base_url=api_base) as client:
        for name in names:
            syncs = refresh_sql_endpoint(client, workspace_id, _lakehouse_id(notebookutils, name))
            failed = failed_tables(syncs)
            document["lakehouses"][name] = {"tables": len(syncs), "failed": [s.table for s in failed]}
            _say(f"sql endpoint refresh: {name}: {len(syncs)} table(s), {len(failed)} failed")
            problems += [f"{name}.{s.table}: {s.error or s.status}" for s in failed]
    if problems:
        raise FabricApiError(f"SQL analytics endpoint metadata sync failed for {'; '.join(problems)}")
    return json.dumps(document)
