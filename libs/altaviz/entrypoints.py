"""What the Fabric notebooks call: one function per notebook, returning the JSON the notebook exits with.

The same code runs in Fabric and under the local runner. Where the lakehouses are comes from
`notebookutils.runtime.context`: in Fabric the workspace id and the lakehouse ids (OneLake GUID paths), under the
local runner the folder it names.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from altaviz.errors import ConfigError
from altaviz.fabric import FABRIC_API_URL
from altaviz.lakehouse.paths import LAKEHOUSES, LakehousePaths, LocalLakehousePaths, OneLakePaths
from altaviz.reports import GoldReport, MlReport, SilverReport

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from altaviz.monitoring.monitor import PipelineMonitor
    from altaviz.monitoring.settings import MonitorSettings
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
    """The lakehouse layout this notebook run uses, from `notebookutils.runtime.context`.

    In Fabric: OneLake in GUID form, the workspace id from the context and each lakehouse's id from
    `notebookutils.lakehouse.get`, so renaming a workspace (or a name unsafe in a URL) changes nothing.
    """
    context = notebookutils.runtime.context
    local_root = context.get(LOCAL_ROOT_KEY)
    if local_root:
        return LocalLakehousePaths(local_root)
    workspace, workspace_id = context.get("currentWorkspaceName"), context.get("currentWorkspaceId")
    if not workspace_id:
        raise ConfigError("notebookutils.runtime.context names no workspace id (currentWorkspaceId)")
    ids = {name: _lakehouse_id(notebookutils, name) for name in LAKEHOUSES}
    return OneLakePaths(workspace or workspace_id, ids, workspace_id=workspace_id, by_id=True)


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


def monitor_settings(notebookutils: Any, key_vault_url: str = "") -> MonitorSettings:
    """Monitoring destinations: `ALTAVIZ_*` variables under the local runner, Key Vault secrets in Fabric."""
    from altaviz.monitoring.settings import MonitorSettings

    if runtime_paths(notebookutils).is_local:
        return MonitorSettings.from_env(os.environ)
    if not key_vault_url:
        return MonitorSettings()

    def secret(name: str) -> str | None:
        try:
            return notebookutils.credentials.getSecret(key_vault_url, name)
        except Exception:  # noqa: BLE001 - an absent secret means that sink is not configured
            return None

    return MonitorSettings.from_lookup(secret)


def pipeline_monitor(ctx: RunContext, notebookutils: Any, *, environment: str, key_vault_url: str = "",
                     pipeline: str = "") -> PipelineMonitor:
    """The monitor of this notebook's part of the pipeline run (the journal is shared by the run id)."""
    from altaviz.monitoring.journal import RunJournal
    from altaviz.monitoring.monitor import PipelineMonitor

    journal = RunJournal.for_run(ctx.paths, ctx.files, ctx.run_id)
    return PipelineMonitor.from_settings(journal, monitor_settings(notebookutils, key_vault_url), run_id=ctx.run_id,
                                         environment=environment, pipeline=pipeline, say=_say)


def _exit_value(result: StageResult, *, run_id: str, environment: str, as_of: datetime | None) -> str:
    document: dict[str, Any] = {"run_id": run_id, "environment": environment,
                                "as_of": as_of.isoformat() if as_of else None, **result.to_dict()}
    if isinstance(result.report, GoldReport | MlReport):
        document["details"] = {k: v for k, v in document["details"].items() if k != "alerts"}  # the monitor's
    return json.dumps(document, default=str)


def _run_stage(stage: str, spark: SparkSession, notebookutils: Any, *, run_id: str, environment: str,
               key_vault_url: str, as_of: str | None, call: Callable[[RunContext, datetime | None], StageResult],
               gate: Callable[[StageResult], None] | None = None) -> str:
    """Run one stage inside the pipeline monitor (bad parameters included); its exit JSON. `gate` may fail the
    stage after it ran."""
    ctx = notebook_context(spark, notebookutils, run_id=run_id)
    monitor = pipeline_monitor(ctx, notebookutils, environment=environment, key_vault_url=key_vault_url)
    with monitor.stage(stage) as outcome:
        when = parse_as_of(as_of)
        outcome.result = call(ctx, when)
        if gate is not None:
            gate(outcome.result)
    return _exit_value(outcome.result, run_id=ctx.run_id, environment=environment, as_of=when)


def bronze_ingest(spark: SparkSession, notebookutils: Any, *, run_id: str = "", environment: str = "",
                  key_vault_url: str = "") -> str:
    """Land new files from `lh_bronze_raw` Files/landing into `telemetry_raw`; the stage result as JSON."""
    from altaviz.stages import bronze

    return _run_stage("bronze", spark, notebookutils, run_id=run_id, environment=environment,
                      key_vault_url=key_vault_url, as_of=None, call=lambda ctx, _: bronze.run(ctx))


def stream_endpoint(notebookutils: Any, key_vault_url: str = ""):
    """Where streaming Bronze reads: `ALTAVIZ_EVENTHUBS_*` under the local runner (None when unset), the Key Vault
    secret `eventhubs-listen-connection-string` in Fabric (None without a vault URL; a vault that cannot be read
    fails the run, since telemetry would silently stop)."""
    from altaviz.ingestion.settings import LISTEN_SECRET, listen_endpoint

    if runtime_paths(notebookutils).is_local:
        return listen_endpoint()
    if not key_vault_url:
        return None
    return listen_endpoint(lambda name: notebookutils.credentials.getSecret(key_vault_url, name),
                           environ={k: v for k, v in os.environ.items() if k != f"ALTAVIZ_{LISTEN_SECRET}"})


def bronze_stream(spark: SparkSession, notebookutils: Any, *, run_id: str = "", environment: str = "",
                  key_vault_url: str = "", trigger: str = "available-now", max_seconds: str = "") -> str:
    """Stream Event Hubs telemetry into `telemetry_raw` (available-now: catch up and stop); the result as JSON."""
    from altaviz.stages import bronze_stream as stream

    def call(ctx: RunContext, _: datetime | None) -> StageResult:
        try:
            limit = float(max_seconds) if str(max_seconds).strip() else None
        except ValueError as exc:
            raise ConfigError(f"max_seconds must be a number of seconds (got {max_seconds!r})") from exc
        return stream.run(ctx, stream_endpoint(notebookutils, key_vault_url), trigger=trigger or stream.AVAILABLE_NOW,
                          max_seconds=limit)

    return _run_stage("bronze_stream", spark, notebookutils, run_id=run_id, environment=environment,
                      key_vault_url=key_vault_url, as_of=None, call=call)


def _quality_report(result: StageResult) -> None:
    from altaviz.quality import CheckResult, format_report

    report: SilverReport = result.report  # type: ignore[assignment]
    for line in format_report([CheckResult(**r) for r in report.quality]):
        _say(f"quality: {line}")
    if report.held:
        _say(f"quality: window {report.run_id} HELD out of Gold ({', '.join(report.blocked)} "
             "failed); Gold runs on without its rows until a later run passes it or an operator releases it")


def silver_cleanse(spark: SparkSession, notebookutils: Any, *, as_of: str = "", run_id: str = "",
                   environment: str = "", key_vault_url: str = "") -> str:
    """Validate new Bronze rows into `telemetry_clean`/`telemetry_rejected`; the stage result as JSON.

    A failed `block` check does not fail the notebook: it holds the window (its rows stay out of Gold), and
    Gold still runs, so the alert lifecycle (data-freshness alerts above all) goes on for everything else.
    """
    from altaviz.stages import silver

    return _run_stage("silver", spark, notebookutils, run_id=run_id, environment=environment,
                      key_vault_url=key_vault_url, as_of=as_of, call=lambda ctx, when: silver.run(ctx, as_of=when),
                      gate=_quality_report)


def gold_aggregate(spark: SparkSession, notebookutils: Any, *, as_of: str = "", run_id: str = "",
                   environment: str = "", key_vault_url: str = "") -> str:
    """Aggregate windows, evaluate alerts and rebuild the health tables as of `as_of`; the result as JSON."""
    from altaviz.stages import gold

    return _run_stage("gold", spark, notebookutils, run_id=run_id, environment=environment,
                      key_vault_url=key_vault_url, as_of=as_of, call=lambda ctx, when: gold.run(ctx, as_of=when))


def ml_score(spark: SparkSession, notebookutils: Any, *, as_of: str = "", run_id: str = "", environment: str = "",
             key_vault_url: str = "", model_version: str = "") -> str:
    """Score the complete hours since the last run with a registered model version (blank: the latest); write
    `ml_predictions`, `emissions_daily` and predictive alerts; the result as JSON."""
    from altaviz.stages import ml

    return _run_stage("ml", spark, notebookutils, run_id=run_id, environment=environment,
                      key_vault_url=key_vault_url, as_of=as_of,
                      call=lambda ctx, when: ml.run(ctx, as_of=when, model_version=model_version or None))


def ml_train(spark: SparkSession, notebookutils: Any, *, seeds: str = "", compressors: int = 0, days: int = 0) -> str:
    """Train on simulated fleets and register a new model version (on demand); the version and metrics as JSON.

    Training fleets are simulated into temporary local folders of the driver; the model goes to the
    workspace's MLflow (Fabric) or the lakehouse's tracking store (locally).
    """
    from altaviz.ml.training import train

    chosen = [int(s) for s in seeds.split(",") if s.strip()] or None
    result = train(spark, runtime_paths(notebookutils), seeds=chosen, compressors=compressors or None,
                   days=days or None, progress=_say)
    return json.dumps({"model": result.ref.name, "version": result.ref.version, "metrics": result.metrics,
                       "episodes": result.mode_episodes, "seconds": result.seconds})


def report_failure(spark: SparkSession, notebookutils: Any, *, run_id: str = "", environment: str = "",
                   key_vault_url: str = "", pipeline: str = "") -> NoReturn:
    """The pipeline's failure handler: send one failure card for the run, then fail, so the run shows Failed.

    Raises:
        PipelineError: Always, naming the stage that failed and its error.
    """
    from altaviz.errors import PipelineError

    ctx = notebook_context(spark, notebookutils, run_id=run_id)
    monitor = pipeline_monitor(ctx, notebookutils, environment=environment, key_vault_url=key_vault_url,
                               pipeline=pipeline)
    summary = monitor.report_failure()
    raise PipelineError(f"pipeline {pipeline or ''} run {ctx.run_id} failed at {summary['stage']}: "
                        f"{summary['error_type']}: {summary['error_message']}")


def refresh_sql_endpoints(spark: SparkSession, notebookutils: Any, *, lakehouses: str = "lh_gold_curated",
                          run_id: str = "", environment: str = "", key_vault_url: str = "",
                          api_base: str = FABRIC_API_URL) -> str:
    """Make each listed lakehouse's SQL analytics endpoint sync its table metadata now (Power BI sees new data).

    Locally there is nothing to refresh (`altaviz sql` reads the Delta logs on every query); the result says so.

    Raises:
        FabricApiError: A call failed, or a table failed to sync (named with its error).
    """
    names = [n.strip() for n in lakehouses.split(",") if n.strip()]
    unknown = [n for n in names if n not in LAKEHOUSES]
    if unknown:
        raise ConfigError(f"lakehouses: unknown {', '.join(unknown)}; expected some of {', '.join(LAKEHOUSES)}")
    return _run_stage("sql_endpoint_refresh", spark, notebookutils, run_id=run_id, environment=environment,
                      key_vault_url=key_vault_url, as_of=None,
                      call=lambda ctx, _: _refresh(notebookutils, names, api_base))


def _refresh(notebookutils: Any, names: list[str], api_base: str) -> StageResult:
    from altaviz.errors import FabricApiError
    from altaviz.fabric.client import FabricClient
    from altaviz.fabric.sql_endpoint import failed_tables, refresh_sql_endpoint
    from altaviz.reports import RefreshReport, StageResult

    started = datetime.now(UTC)
    lakehouses: dict[str, dict[str, Any]] = {}
    if runtime_paths(notebookutils).is_local:
        skipped = "local lakehouse: altaviz sql reads the Delta tables directly, nothing to refresh"
        _say(f"sql endpoint refresh: {skipped}")
        return StageResult("sql_endpoint_refresh", 0, 0, 0.0, RefreshReport(skipped=skipped))
    workspace_id = notebookutils.runtime.context.get("currentWorkspaceId")
    token = notebookutils.credentials.getToken("pbi")
    problems, tables, synced = [], 0, 0
    with FabricClient(lambda: token, base_url=api_base) as client:
        for name in names:
            syncs = refresh_sql_endpoint(client, workspace_id, _lakehouse_id(notebookutils, name))
            failed = failed_tables(syncs)
            lakehouses[name] = {"tables": len(syncs), "failed": [s.table for s in failed]}
            _say(f"sql endpoint refresh: {name}: {len(syncs)} table(s), {len(failed)} failed")
            problems += [f"{name}.{s.table}: {s.error or s.status}" for s in failed]
            tables += len(syncs)
            synced += sum(1 for s in syncs if s.status == "Success")
    if problems:
        raise FabricApiError(f"SQL analytics endpoint metadata sync failed for {'; '.join(problems)}")
    seconds = round((datetime.now(UTC) - started).total_seconds(), 3)
    return StageResult("sql_endpoint_refresh", tables, synced, seconds, RefreshReport(lakehouses=lakehouses))
