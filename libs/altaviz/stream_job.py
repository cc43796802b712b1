"""The continuous streaming Bronze job: what the `sjd_bronze_stream` Spark Job Definition's main file runs.

In Fabric the definition's command-line arguments (`--trigger continuous`, plus the `--environment` and
`--key-vault-url` the stack deploys it with) reach `main`; a failure exits non-zero so the definition's retry policy
restarts the job. Locally (`--lakehouse-root`, or no Fabric `notebookutils` to import) the same main file runs
against a local lakehouse, reading `ALTAVIZ_EVENTHUBS_*` like `altaviz stream ingest`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from typing import Any

from altaviz.errors import AltavizError

JOB_NAME = "sjd_bronze_stream"
#: Spark settings Fabric sets on every session, read when `notebookutils.runtime.context` lacks the workspace id.
WORKSPACE_CONF = "trident.workspace.id"


def parser() -> argparse.ArgumentParser:
    from altaviz.stages.bronze_stream import AVAILABLE_NOW, CONTINUOUS

    found = argparse.ArgumentParser(prog=JOB_NAME, description="Stream Event Hubs telemetry into "
                                    "lh_bronze_raw.telemetry_raw, exactly once, until stopped (or --max-seconds).")
    found.add_argument("--trigger", choices=(CONTINUOUS, AVAILABLE_NOW), default=CONTINUOUS,
                       help="continuous: micro-batches until stopped; available-now: drain the hub and stop")
    found.add_argument("--environment", default="local", help="the environment name in the run's records")
    found.add_argument("--key-vault-url", default="", help="the vault holding the Event Hubs listen connection "
                                                           "string and the monitoring settings (Fabric)")
    found.add_argument("--max-seconds", default="", help="stop after this many seconds (default: never)")
    found.add_argument("--lakehouse-root", default=None,
                       help="run locally against this lakehouse folder (default: $ALTAVIZ_LAKEHOUSE_ROOT)")
    return found


def main(argv: list[str] | None = None, *, spark: Any = None, notebookutils: Any = None) -> int:
    """Run the stream; 0 when it stopped cleanly, 1 (one line on stderr) when it failed, 2 for bad arguments."""
    args = parser().parse_args(argv)
    try:
        utils = notebookutils if notebookutils is not None else _notebookutils(args.lakehouse_root)
        session = spark if spark is not None else _spark(utils)
        from altaviz.entrypoints import bronze_stream

        result = bronze_stream(session, _with_workspace(utils, session), run_id=f"{JOB_NAME}-{uuid.uuid4().hex[:12]}",
                               environment=args.environment, key_vault_url=args.key_vault_url,
                               trigger=args.trigger, max_seconds=args.max_seconds)
    except AltavizError as exc:
        print(f"{JOB_NAME}: error: {exc}", file=sys.stderr)
        return 1
    print(result)
    skipped = (json.loads(result).get("details") or {}).get("skipped")
    if skipped:
        # A job that exists to stream must not "succeed" without streaming: fail so the operator (or the retry
        # policy, once a lease holder is gone) sees it.
        print(f"{JOB_NAME}: error: nothing streamed ({skipped}): "
              f"{(json.loads(result).get('details') or {}).get('message', '')}", file=sys.stderr)
        return 1
    return 0


def _notebookutils(lakehouse_root: str | None) -> Any:
    """Fabric's `notebookutils` inside Fabric; the local stand-in on a local lakehouse."""
    root = lakehouse_root or os.environ.get("ALTAVIZ_LAKEHOUSE_ROOT")
    if not root:
        try:
            import notebookutils  # type: ignore[import-not-found]  # only inside Fabric

            return notebookutils
        except ImportError:
            pass
    from altaviz.lakehouse.paths import resolve_paths
    from altaviz.runner.notebookutils import LocalNotebookUtils, local_context

    resolved = resolve_paths(root)
    return LocalNotebookUtils(local_context(notebook_name=JOB_NAME, notebook_id=JOB_NAME, run_id="",
                                            pipeline_run_id="", lakehouse_root=str(resolved.root),  # type: ignore[attr-defined]
                                            pipeline_name=""))


def _spark(utils: Any) -> Any:
    from altaviz.runner.notebookutils import LAKEHOUSE_ROOT_KEY

    if utils.runtime.context.get(LAKEHOUSE_ROOT_KEY):
        from altaviz.runtime.spark import get_spark

        return get_spark(JOB_NAME)
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate()


class _Runtime:
    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context


class _WithWorkspace:
    """Fabric's `notebookutils` with the workspace id filled into `runtime.context` from the Spark settings."""

    def __init__(self, utils: Any, workspace_id: str) -> None:
        self._utils = utils
        self.runtime = _Runtime({**dict(utils.runtime.context), "currentWorkspaceId": workspace_id})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._utils, name)


def _with_workspace(utils: Any, spark: Any) -> Any:
    context = utils.runtime.context
    if context.get("currentWorkspaceId"):
        return utils
    workspace_id = spark.conf.get(WORKSPACE_CONF, "")
    return _WithWorkspace(utils, workspace_id) if workspace_id else utils
