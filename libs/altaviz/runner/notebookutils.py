"""A local stand-in for Fabric's `notebookutils`: notebook.exit, credentials.getSecret, runtime.context.

Only what the repo's notebooks use exists; anything else raises a clear error rather than pretending. Secrets come
from environment variables: `getSecret(vault, "teams-webhook-url")` reads `ALTAVIZ_TEAMS_WEBHOOK_URL`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from altaviz.config import secret_env_var
from altaviz.errors import ConfigError, PipelineError

LOCAL_WORKSPACE_ID = "00000000-0000-0000-0000-000000000000"
LAKEHOUSE_ROOT_KEY = "lakehouseRoot"  # only the local stand-in has it; altaviz reads local paths from it


class NotebookExit(BaseException):
    """Raised by `notebook.exit(value)`: ends the notebook, the value becomes the activity's exitValue.

    A BaseException, so a notebook's `except Exception` cannot swallow it (as in Fabric).
    """

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class _Notebook:
    def exit(self, value: Any = "") -> None:
        """End the notebook now; `value` (converted to a string) becomes `output.result.exitValue`."""
        raise NotebookExit("" if value is None else str(value))

    def run(self, *args: Any, **kwargs: Any) -> None:
        raise PipelineError("notebookutils.notebook.run is not available in the local runner: chain notebooks "
                            "with pipeline activities instead")

    def runMultiple(self, *args: Any, **kwargs: Any) -> None:
        raise PipelineError("notebookutils.notebook.runMultiple is not available in the local runner: chain "
                            "notebooks with pipeline activities instead")


class _Credentials:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def getSecret(self, akv_name: str, secret: str) -> str:
        """The secret `secret` of vault `akv_name`, read locally from `ALTAVIZ_<NAME>` (see `secret_env_var`)."""
        variable = secret_env_var(secret)
        value = self._environ.get(variable)
        if not value:
            raise ConfigError(f"secret {secret!r} (Key Vault {akv_name!r} in Fabric) is not set locally: "
                              f"export {variable}")
        return value

    def getToken(self, audience: str) -> str:
        raise ConfigError(f"notebookutils.credentials.getToken({audience!r}) only works inside Fabric; "
                          "the local runner has no Entra ID identity")


class _Runtime:
    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context


class LocalNotebookUtils:
    """What a notebook sees as `notebookutils` (and `mssparkutils`) when the local runner runs it."""

    def __init__(self, context: dict[str, Any], environ: Mapping[str, str] | None = None) -> None:
        self.notebook = _Notebook()
        self.credentials = _Credentials(os.environ if environ is None else environ)
        self.runtime = _Runtime(context)

    def __getattr__(self, name: str) -> Any:
        raise PipelineError(f"notebookutils.{name} is not available in the local runner "
                            "(it provides notebook.exit, credentials.getSecret and runtime.context)")


def local_context(*, notebook_name: str, notebook_id: str, run_id: str, pipeline_run_id: str,
                  lakehouse_root: str, pipeline_name: str) -> dict[str, Any]:
    """The `runtime.context` of a local notebook run, with the keys Fabric uses plus the local lakehouse root."""
    return {
        "productType": "Local",
        "currentNotebookName": notebook_name,
        "currentNotebookId": notebook_id,
        "currentWorkspaceName": "local",
        "currentWorkspaceId": LOCAL_WORKSPACE_ID,
        "defaultLakehouseName": None,
        "defaultLakehouseId": None,
        "currentRunId": run_id,
        "isForPipeline": True,
        "pipelineName": pipeline_name,
        "pipelineRunId": pipeline_run_id,
        LAKEHOUSE_ROOT_KEY: lakehouse_root,
    }
