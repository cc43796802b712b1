"""`altaviz pipeline check|run`: check a Fabric data pipeline folder and run it locally, as Fabric would."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from altaviz.console import RootOption, err, lakehouse_paths, out, progress
from altaviz.errors import PipelineError, UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from altaviz.runner.execute import PipelineRun
    from altaviz.runner.lease import RunLease
    from altaviz.runner.plan import PipelinePlan

pipeline_app = typer.Typer(help="Check and run Fabric data pipelines (pipelines/<name>.DataPipeline) locally.",
                           no_args_is_help=True, rich_markup_mode=None)

PipelineArg = Annotated[Path, typer.Argument(help="A <name>.DataPipeline folder, e.g. "
                                                  "pipelines/pl_altaviz_hourly.DataPipeline.", show_default=False)]
NotebooksOption = Annotated[Path | None, typer.Option(
    "--notebooks", help="Folder of <name>.Notebook items the pipeline's notebookIds resolve against "
                        "(default: fabric_notebooks/ beside the pipeline's folder, else the project's).",
    show_default=False)]


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """`k=v` pairs from `--param` as a dict; a malformed pair is a usage error naming it."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param must look like name=value (got {pair!r})")
        values[name.strip()] = value
    return values


def load_plan(folder: Path, notebooks: Path | None, params: dict[str, str]) -> PipelinePlan:
    """Check a pipeline folder and its notebooks; raises before anything runs."""
    from altaviz.runner.plan import build_plan
    from altaviz.runner.project import notebooks_for

    if not folder.is_dir():
        raise UsageError(f"no such pipeline folder: {folder}")
    return build_plan(folder, notebooks or notebooks_for(folder), params)


def print_run(run: PipelineRun) -> None:
    """The final table: each activity's status, attempts and duration; then each failure's notebook error."""
    table = Table(title=f"pipeline {run.pipeline}: {run.status} in {run.seconds:.1f}s (run {run.run_id})")
    for column in ("activity", "notebook", "status", "attempts", "seconds"):
        table.add_column(column, justify="right" if column in ("attempts", "seconds") else "left")
    for a in run.activities:
        table.add_row(a.name, a.notebook, a.status, str(a.attempts) if a.attempts else "-",
                      f"{a.seconds:.1f}" if a.attempts else "-")
    out.print(table)
    for a in run.failed:
        err.print(f"{a.name} ({a.notebook}) failed: {a.error}", highlight=False, markup=False)
        if a.error_detail and a.error_detail.strip() != a.error:
            for line in a.error_detail.rstrip().splitlines():
                err.print(f"  {line}", highlight=False, markup=False)


def execute(plan: PipelinePlan, *, root: str | None, spark: Callable[[], SparkSession] | None = None,
            run_id: str | None = None) -> PipelineRun:
    """Run a checked plan against a local lakehouse; raises PipelineError when the run failed."""
    from altaviz.runner.execute import PipelineRunner

    if spark is None:
        from altaviz.runtime.spark import get_spark

        def spark() -> SparkSession:
            progress("starting Spark")
            return get_spark()

    paths = lakehouse_paths(root)
    progress(f"pipeline {plan.pipeline.name}: {len(plan.activities)} activities, parameters "
             f"{json.dumps(plan.parameters)}")
    runner = PipelineRunner(spark=spark, lakehouse_root=str(paths.root), progress=progress)  # type: ignore[attr-defined]
    result = runner.run(plan, run_id=run_id)
    from altaviz.lakehouse.files import LocalFileStore
    from altaviz.monitoring.journal import RunJournal

    journal = RunJournal.for_run(paths, LocalFileStore(), result.run_id)
    if journal.files.read_text(journal.path) is not None:
        progress(f"run record: {journal.path}")
    return result


def raise_if_failed(run: PipelineRun) -> None:
    """One error line for a failed run, naming the failing activity and its notebook's error."""
    if not run.failed:
        return
    first = run.failed[0]
    verdict = "failed" if run.status == "Failed" else "succeeded in Fabric's terms (a handler absorbed it), but"
    raise PipelineError(f"pipeline {run.pipeline} {verdict} activity {first.name!r} ({first.notebook}) failed: "
                        f"{first.error}")


def simulated_as_of(plan: PipelinePlan, params: dict[str, str], root: str | None) -> dict[str, str]:
    """A simulated fleet is judged as of the end of its data unless `as_of` is given (else every unit is silent)."""
    if "as_of" not in plan.pipeline.parameters or params.get("as_of"):
        return params
    from altaviz.simulator.simulation import simulated_window_end

    end = simulated_window_end(lakehouse_paths(root))
    if end is None:
        return params
    progress(f"simulated fleet: as_of = end of its data, {end:%Y-%m-%d %H:%M} UTC (--param as_of=... to choose)")
    return {**params, "as_of": end.isoformat()}


WaitOption = Annotated[float, typer.Option(
    "--wait", help="Seconds to wait for a run already in progress on this lakehouse; after that, exit 0 "
                   "without running (one run at a time, as Fabric's pipeline concurrency of 1).")]


def take_lease(root: str | None, wait: float, command: str) -> RunLease | None:
    """The lakehouse's run lease, or None (after one line saying so) when another run still holds it."""
    from altaviz.runner.lease import RunLease

    if wait < 0:
        raise UsageError(f"--wait must be >= 0 seconds, got {wait:g}")
    lease = RunLease(lakehouse_paths(root).root, command)  # type: ignore[attr-defined]
    if lease.acquire(wait, on_wait=lambda holder: progress(
            f"a run is in progress on this lakehouse ({holder.describe()}); waiting up to {wait:g}s")):
        return lease
    out.print(f"altaviz: a run is already in progress on {lease.path.parent} ({lease.holder().describe()}); "
              "not starting another", highlight=False, markup=False)
    return None


def exit_documents(run: PipelineRun) -> list[dict[str, Any]]:
    """The JSON exit values of the activities that produced one, in run order."""
    documents = []
    for a in run.activities:
        if a.exit_value:
            try:
                documents.append(json.loads(a.exit_value))
            except json.JSONDecodeError:
                continue
    return documents


@pipeline_app.command("check")
def check(folder: PipelineArg, notebooks: NotebooksOption = None) -> None:
    """Check a pipeline and its notebooks (references, parameters, expressions, formats) without running it."""
    plan = load_plan(folder, notebooks, {})
    out.print(f"{plan.pipeline.name}: OK, {len(plan.activities)} activities: "
              + " -> ".join(f"{a.name} ({a.notebook.name})" for a in plan.activities), highlight=False, markup=False)


@pipeline_app.command("run")
def run(
    folder: PipelineArg,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="Pipeline parameter override, name=value (repeatable).", show_default=False)] = None,
    notebooks: NotebooksOption = None,
    run_id: Annotated[str | None, typer.Option(help="Pipeline run id (default: a new GUID).",
                                               show_default=False)] = None,
    lakehouse_root: RootOption = None,
    wait: WaitOption = 0.0,
) -> None:
    """Run a pipeline locally: activities in dependency order, each notebook in-process on one Spark session."""
    params = parse_params(param or [])
    plan = load_plan(folder, notebooks, params)
    lease = take_lease(lakehouse_root, wait, f"altaviz pipeline run {folder}")
    if lease is None:
        return
    with lease:
        plan = load_plan(folder, notebooks, simulated_as_of(plan, params, lakehouse_root))
        result = execute(plan, root=lakehouse_root, run_id=run_id)
    print_run(result)
    raise_if_failed(result)
