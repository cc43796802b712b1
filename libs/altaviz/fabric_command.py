"""`altaviz fabric run-pipeline`: run a deployed pipeline on demand in Fabric and follow it to the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from typing import Annotated, Any

import typer

from altaviz.console import out, progress
from altaviz.errors import ConfigError, FabricApiError, UsageError
from altaviz.fabric import FABRIC_API_URL
from altaviz.pipeline_command import parse_params

fabric_app = typer.Typer(help="Work with a deployed Fabric environment (run its pipeline on demand).",
                         no_args_is_help=True, rich_markup_mode=None)
WORKSPACE_OUTPUT = "fabric_workspace_id"
PIPELINE_OUTPUT = "fabric_pipeline_id"


def stack_outputs(stack: str) -> dict[str, Any]:
    """`pulumi stack output --json` of a stack (needs the Pulumi CLI and a login to the stack's backend)."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise ConfigError("--stack needs the Pulumi CLI on PATH (https://www.pulumi.com/docs/install/); or pass "
                          "--workspace-id and --pipeline-id")
    done = subprocess.run([pulumi, "stack", "output", "--json", "--stack", stack], capture_output=True, text=True,
                          check=False, timeout=120)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfigError(f"pulumi stack output --stack {stack} failed: {last}")
    return json.loads(done.stdout or "{}")


def run_pipeline(client: Any, workspace_id: str, pipeline_id: str, parameters: dict[str, str], *, wait: bool,
                 timeout_seconds: float, poll_seconds: float = 15, sleep: Any = None, clock: Any = None) -> Any:
    """Start the pipeline's `Execute` job with `parameters`; when `wait`, poll until it ends (bounded)."""
    from altaviz.fabric.jobs import Jobs

    sleep, clock = sleep or time.sleep, clock or time.monotonic
    jobs = Jobs(client, workspace_id)
    data = {"parameters": parameters} if parameters else None
    instance_id = jobs.run(pipeline_id, "Execute", execution_data=data)
    progress(f"started pipeline {pipeline_id} run {instance_id}")
    instance = jobs.instance(pipeline_id, instance_id)
    started = clock()
    while wait and not instance.finished:
        if clock() - started > timeout_seconds:
            raise FabricApiError(f"pipeline run {instance_id} still {instance.status} after {timeout_seconds:g}s; "
                                 "it goes on in Fabric (see the workspace's Monitor hub)")
        sleep(poll_seconds)
        instance = jobs.instance(pipeline_id, instance_id)
        progress(f"pipeline run {instance_id}: {instance.status}")
    return instance


@fabric_app.command("run-pipeline")
def run_pipeline_command(
    stack: Annotated[str | None, typer.Option(help="Read workspace and pipeline ids from this Pulumi stack's outputs "
                                                   "(e.g. staging).", show_default=False)] = None,
    workspace_id: Annotated[str | None, typer.Option(help="Fabric workspace id.", show_default=False)] = None,
    pipeline_id: Annotated[str | None, typer.Option(help="Deployed pipeline item id.", show_default=False)] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Pipeline parameter, name=value "
                                                    "(repeatable).", show_default=False)] = None,
    wait: Annotated[bool, typer.Option(help="Follow the run until it ends.")] = True,
    timeout_minutes: Annotated[int, typer.Option(help="Give up following after this long.")] = 120,
    api_url: Annotated[str, typer.Option(help="Fabric REST API root.")] = FABRIC_API_URL,
) -> None:
    """Run the deployed pipeline on demand (Entra ID login: `az login`, or ALTAVIZ_FABRIC_TOKEN)."""
    if stack:
        outputs = stack_outputs(stack)
        workspace_id = workspace_id or outputs.get(WORKSPACE_OUTPUT)
        pipeline_id = pipeline_id or outputs.get(PIPELINE_OUTPUT)
    if not workspace_id or not pipeline_id:
        raise UsageError("give --stack, or both --workspace-id and --pipeline-id")
    if timeout_minutes < 1:
        raise UsageError(f"--timeout-minutes must be a positive integer (got {timeout_minutes})")
    from altaviz.fabric.client import FabricClient
    from altaviz.fabric.credentials import fabric_token_provider

    with FabricClient(fabric_token_provider(), base_url=api_url) as client:
        instance = run_pipeline(client, workspace_id, pipeline_id, parse_params(param or []), wait=wait,
                                timeout_seconds=timeout_minutes * 60)
    out.print(f"pipeline run {instance.id}: {instance.status}", highlight=False)
    if instance.status in ("Failed", "Cancelled"):
        reason = instance.failure_reason or {}
        message = reason.get("message") if isinstance(reason, dict) else str(reason)
        raise FabricApiError(f"pipeline run {instance.id} {instance.status}: {message or 'no reason given'}")


STREAM_JOB = "sjd_bronze_stream"
STREAM_JOBS_OUTPUT = "spark_job_definition_ids"
STREAMING_OUTPUT = "fabric_streaming"


def _stream_job(stack: str | None, workspace_id: str | None, job_id: str | None, *, starting: bool) -> tuple[str, str]:
    """The workspace and Spark Job Definition ids, from the stack's outputs or the options."""
    if stack:
        outputs = stack_outputs(stack)
        if starting and outputs.get(STREAMING_OUTPUT, "catch-up") != "continuous":
            raise ConfigError(f"stack {stack} reads Event Hubs with the hourly pipeline's catch-up "
                              f"(fabric.streaming: {outputs.get(STREAMING_OUTPUT, 'catch-up')}): a continuous job "
                              "beside it would share its checkpoint; set fabric.streaming: continuous and run "
                              "pulumi up first (the catch-up then steps aside)")
        workspace_id = workspace_id or outputs.get(WORKSPACE_OUTPUT)
        job_id = job_id or (outputs.get(STREAM_JOBS_OUTPUT) or {}).get(STREAM_JOB)
    if not workspace_id or not job_id:
        raise UsageError("give --stack, or both --workspace-id and --job-id")
    return workspace_id, job_id


StackOption = Annotated[str | None, typer.Option(help="Read the ids from this Pulumi stack's outputs.",
                                                 show_default=False)]
WorkspaceOption = Annotated[str | None, typer.Option(help="Fabric workspace id.", show_default=False)]
JobOption = Annotated[str | None, typer.Option(help=f"The {STREAM_JOB} Spark Job Definition id.", show_default=False)]
ApiOption = Annotated[str, typer.Option(help="Fabric REST API root.")]


@fabric_app.command("start-stream")
def start_stream_command(stack: StackOption = None, workspace_id: WorkspaceOption = None, job_id: JobOption = None,
                         api_url: ApiOption = FABRIC_API_URL) -> None:
    """Start the continuous streaming job (sjd_bronze_stream) unless a run of it is already going.

    Its retry policy restarts it after failures; a policy lives at most 90 days, after which start it again.
    """
    from altaviz.fabric.client import FabricClient
    from altaviz.fabric.credentials import fabric_token_provider
    from altaviz.fabric.jobs import Jobs

    workspace_id, job_id = _stream_job(stack, workspace_id, job_id, starting=True)
    with FabricClient(fabric_token_provider(), base_url=api_url) as client:
        jobs = Jobs(client, workspace_id)
        running = [i for i in jobs.instances(job_id) if not i.finished]
        if running:
            out.print(f"{STREAM_JOB} is already running: instance {running[0].id} ({running[0].status})",
                      highlight=False)
            return
        instance_id = jobs.run(job_id, "sparkjob")
    out.print(f"{STREAM_JOB} started: instance {instance_id}", highlight=False)


@fabric_app.command("stop-stream")
def stop_stream_command(stack: StackOption = None, workspace_id: WorkspaceOption = None, job_id: JobOption = None,
                        api_url: ApiOption = FABRIC_API_URL) -> None:
    """Cancel every running instance of the continuous streaming job (its checkpoint keeps its place)."""
    from altaviz.fabric.client import FabricClient
    from altaviz.fabric.credentials import fabric_token_provider
    from altaviz.fabric.jobs import Jobs

    workspace_id, job_id = _stream_job(stack, workspace_id, job_id, starting=False)
    with FabricClient(fabric_token_provider(), base_url=api_url) as client:
        jobs = Jobs(client, workspace_id)
        running = [i for i in jobs.instances(job_id) if not i.finished]
        for instance in running:
            jobs.cancel(job_id, instance.id)
            out.print(f"{STREAM_JOB}: cancelling instance {instance.id} ({instance.status})", highlight=False)
    if not running:
        out.print(f"{STREAM_JOB} is not running", highlight=False)
