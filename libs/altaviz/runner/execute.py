"""Run a checked pipeline plan the way Fabric does: dependency conditions, retries, timeouts, exit values.

Notebooks run one at a time, in-process, sharing one Spark session. Each run gets a fresh namespace holding `spark`,
`sc`, `notebookutils` (and its old name `mssparkutils`); the PARAMETERS cell runs, then a cell assigning the
activity's parameters, then the remaining cells, until the end or `notebookutils.notebook.exit(value)`.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from altaviz.errors import described
from altaviz.fabric.gitformat import NotebookItem
from altaviz.runner.expressions import Scope, as_text, evaluate_value
from altaviz.runner.notebookutils import LocalNotebookUtils, NotebookExit, local_context
from altaviz.runner.plan import NotebookParameter, PipelinePlan, PlannedActivity

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SUCCEEDED, FAILED, SKIPPED = "Succeeded", "Failed", "Skipped"
TIMEOUT_GRACE_SECONDS = 30.0


@dataclass
class ActivityRun:
    """What happened to one activity."""

    name: str
    notebook: str
    status: str = SKIPPED
    attempts: int = 0
    seconds: float = 0.0
    exit_value: str | None = None
    error: str | None = None
    error_detail: str | None = None

    def output(self) -> dict[str, Any]:
        """What `@activity('X')` returns: output.result.exitValue, error.message, status."""
        return {
            "status": self.status,
            "output": {"result": {"runStatus": self.status, "exitValue": self.exit_value},
                       "executionDuration": round(self.seconds, 3)},
            "error": {"message": self.error or "", "errorCode": "" if self.error is None else "NotebookFailed"},
        }


@dataclass
class PipelineRun:
    """A finished pipeline run: its status (Fabric's rule) and every activity's outcome."""

    pipeline: str
    run_id: str
    parameters: dict[str, Any]
    status: str = SUCCEEDED
    seconds: float = 0.0
    activities: list[ActivityRun] = field(default_factory=list)

    @property
    def failed(self) -> list[ActivityRun]:
        """Activities that failed (also those whose failure a handler absorbed)."""
        return [a for a in self.activities if a.status == FAILED]

    def activity(self, name: str) -> ActivityRun:
        """One activity's outcome by name."""
        return next(a for a in self.activities if a.name == name)


class _NotebookFailed(Exception):
    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def _python_value(value: Any, type_name: str) -> Any:
    """A parameter value as the notebook receives it (Fabric injects typed literals)."""
    if type_name == "string":
        return as_text(value)
    if type_name == "int":
        return int(value)
    if type_name == "float":
        return float(value)
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def _notebook_frames(exc: BaseException, notebook: NotebookItem) -> str:
    """The traceback lines that point into the notebook file, then the error (library frames are noise here)."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename == str(notebook.content_path)]
    lines = traceback.format_list(own) if own else []
    return "".join(lines) + "".join(traceback.format_exception_only(type(exc), exc))


def run_notebook(notebook: NotebookItem, parameters: dict[str, Any], *, spark: SparkSession | None,
                 notebookutils: LocalNotebookUtils) -> str | None:
    """Run one notebook's cells in a fresh namespace; its exitValue, or None when it ends without exit()."""
    namespace: dict[str, Any] = {"__name__": "__main__", "spark": spark, "notebookutils": notebookutils,
                                 "mssparkutils": notebookutils, "display": print}
    if spark is not None:
        namespace["sc"] = spark.sparkContext
    path = str(notebook.content_path)
    try:
        for cell in notebook.cells:
            if cell.kind == "markdown":
                continue
            # Pad with blank lines so tracebacks name the cell's real line numbers in notebook-content.py.
            exec(compile("\n" * (cell.line - 1) + cell.source, path, "exec"), namespace)  # noqa: S102
            if cell.kind == "parameters":
                namespace.update(parameters)  # Fabric injects a cell assigning the activity's parameters here
    except NotebookExit as done:
        return done.value
    except Exception as exc:  # the notebook's own failure: reported, never re-raised into the runner
        message = described(exc) if str(exc) else type(exc).__name__
        raise _NotebookFailed(message, _notebook_frames(exc, notebook)) from exc
    return None


class PipelineRunner:
    """Executes a `PipelinePlan` locally; dependencies (Spark, clock, sleep, progress) are passed in."""

    def __init__(self, *, spark: Callable[[], SparkSession] | None, lakehouse_root: str,
                 progress: Callable[[str], None] = lambda message: None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._spark_factory = spark
        self._spark: SparkSession | None = None
        self.lakehouse_root = lakehouse_root
        self.progress = progress
        self.sleep = sleep
        self.clock = clock

    def _session(self) -> SparkSession | None:
        if self._spark is None and self._spark_factory is not None:
            self._spark = self._spark_factory()
        return self._spark

    def run(self, plan: PipelinePlan, *, run_id: str | None = None) -> PipelineRun:
        """Run every activity whose dependency conditions hold; skip the rest; settle the pipeline status."""
        run = PipelineRun(plan.pipeline.name, run_id or str(uuid.uuid4()), dict(plan.parameters))
        started = self.clock()
        pipeline_scope = {"parameters": run.parameters, "RunId": run.run_id, "Pipeline": plan.pipeline.name,
                          "TriggerType": "Manual",
                          "TriggerTime": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        outcomes: dict[str, ActivityRun] = {}
        for activity in plan.activities:
            result = ActivityRun(activity.name, activity.notebook.name)
            blocked = [d for d in activity.depends_on if not self._condition_met(outcomes[d.activity].status,
                                                                                  d.conditions)]
            if blocked:
                why = ", ".join(f"{d.activity} {outcomes[d.activity].status}" for d in blocked)
                self.progress(f"skip {activity.name}: its conditions do not hold ({why})")
            else:
                scope = Scope(pipeline_scope, {name: r.output() for name, r in outcomes.items()})
                self._run_activity(activity, scope, run, result)
            outcomes[activity.name] = result
            run.activities.append(result)
        run.status = self._pipeline_status(plan, outcomes)
        run.seconds = self.clock() - started
        return run

    @staticmethod
    def _condition_met(status: str, conditions: tuple[str, ...]) -> bool:
        return status in conditions or ("Completed" in conditions and status in (SUCCEEDED, FAILED))

    @staticmethod
    def _pipeline_status(plan: PipelinePlan, outcomes: dict[str, ActivityRun]) -> str:
        """Fabric's rule: the pipeline fails when a leaf activity failed, or a skipped leaf's upstream did."""
        def failed(name: str, seen: set[str]) -> bool:
            status = outcomes[name].status
            if status == FAILED:
                return True
            if status == SKIPPED and name not in seen:
                seen.add(name)
                activity = next(a for a in plan.activities if a.name == name)
                return any(failed(d.activity, seen) for d in activity.depends_on)
            return False

        leaves = [a.name for a in plan.activities if not plan.dependants(a.name)]
        return FAILED if any(failed(leaf, set()) for leaf in leaves) else SUCCEEDED

    def _parameters(self, params: tuple[NotebookParameter, ...], scope: Scope) -> dict[str, Any]:
        values = {}
        for p in params:
            value = evaluate_value(p.value, scope) if isinstance(p.value, str) else p.value
            values[p.name] = _python_value(value, p.type)
        return values

    def _run_activity(self, activity: PlannedActivity, scope: Scope, run: PipelineRun, result: ActivityRun) -> None:
        started = self.clock()
        for attempt in range(1, activity.retry + 2):
            result.attempts = attempt
            label = f"{activity.name} ({activity.notebook.name})" + (f", attempt {attempt}" if attempt > 1 else "")
            self.progress(f"run {label}")
            try:
                parameters = self._parameters(activity.parameters, scope)
                context = local_context(notebook_name=activity.notebook.name,
                                        notebook_id=activity.notebook.platform.logical_id,
                                        run_id=str(uuid.uuid4()), pipeline_run_id=run.run_id,
                                        lakehouse_root=self.lakehouse_root, pipeline_name=run.pipeline)
                result.exit_value = self._run_with_timeout(activity, parameters, LocalNotebookUtils(context))
                result.status, result.error, result.error_detail = SUCCEEDED, None, None
                break
            except _NotebookFailed as exc:
                result.status, result.error, result.error_detail = FAILED, str(exc), exc.detail
            except Exception as exc:  # noqa: BLE001 - a parameter that fails to evaluate fails the activity, as in Fabric
                result.status, result.error, result.error_detail = FAILED, f"{type(exc).__name__}: {exc}", None
            self.progress(f"failed {activity.name}: {result.error}")
            if attempt <= activity.retry:
                self.progress(f"retrying {activity.name} in {activity.retry_interval_seconds:g}s "
                              f"({attempt} of {activity.retry} retries)")
                self.sleep(activity.retry_interval_seconds)
        result.seconds = self.clock() - started
        if result.status == SUCCEEDED:
            self.progress(f"done {activity.name} in {result.seconds:.1f}s")

    def _run_with_timeout(self, activity: PlannedActivity, parameters: dict[str, Any],
                          notebookutils: LocalNotebookUtils) -> str | None:
        """Run the notebook on a worker thread so the activity's timeout can stop it (its Spark jobs are cancelled)."""
        spark = self._session()
        group = f"altaviz-{uuid.uuid4().hex[:12]}"
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                if spark is not None:
                    spark.sparkContext.setJobGroup(group, activity.name, interruptOnCancel=True)
                outcome["value"] = run_notebook(activity.notebook, parameters, spark=spark,
                                                notebookutils=notebookutils)
            except BaseException as exc:  # noqa: BLE001 - handed back to the runner's thread, which re-raises it
                outcome["error"] = exc

        worker = threading.Thread(target=target, name=f"notebook-{activity.name}", daemon=True)
        worker.start()
        worker.join(activity.timeout_seconds)
        if worker.is_alive():
            if spark is not None:
                spark.sparkContext.cancelJobGroup(group)
            worker.join(TIMEOUT_GRACE_SECONDS)
            still = " (its Python code was still running when the runner moved on)" if worker.is_alive() else ""
            message = f"timed out after {activity.timeout_seconds:g}s (policy.timeout){still}"
            raise _NotebookFailed(message, message)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")
