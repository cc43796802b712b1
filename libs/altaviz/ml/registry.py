"""The MLflow glue of the ML layer: where runs and models are kept, and registering and loading model bundles.

Locally MLflow keeps runs and the model registry in a file store under `lh_ml_serving`'s `Files/mlflow`; in
Microsoft Fabric the runtime has already pointed MLflow at Fabric's built-in tracking, so `uri` is None there and
nothing here touches MLflow's global configuration. Importing this module does not import MLflow.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from altaviz.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from altaviz.lakehouse.paths import LakehousePaths

ML_LAKEHOUSE = "lh_ml_serving"
MLFLOW_FOLDER = "mlflow"
MODEL_ARTIFACT_PATH = "model"
_URI_ENV_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
_VERSION = re.compile(r"^[1-9][0-9]*$")


class FramePredictor(Protocol):
    """What a bundle offers: predictions for a frame of features, as a frame."""

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class ModelVersionRef:
    """One version of a registered model, and the run that logged it."""

    name: str
    version: str
    run_id: str
    uri: str


def tracking_uri(paths: LakehousePaths) -> str | None:
    """The MLflow tracking (and registry) URI for a lakehouse layout.

    Args:
        paths: Where the lakehouses live.

    Returns:
        `$MLFLOW_TRACKING_URI` when set (a team's tracking server, or one store shared by many local lakehouses);
        else locally the `file:` URI of `lh_ml_serving`'s `Files/mlflow` folder (created if missing); on OneLake,
        None (Fabric's runtime has set MLflow's URI already).
    """
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if not paths.is_local:
        return None
    folder = Path(paths.files_path(ML_LAKEHOUSE, MLFLOW_FOLDER))
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve().as_uri()


def __getattr__(name: str) -> Any:
    # `BundleModel` subclasses an MLflow class, so it is built on first use; pickles find it here by name.
    if name == "BundleModel":
        return _bundle_model_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _bundle_model_class() -> type:
    """The `mlflow.pyfunc.PythonModel` that wraps a bundle (built once, so pickles refer to one class)."""
    with _quiet_mlflow():
        import mlflow.pyfunc
        import pandas as pd

    def __init__(self, bundle: FramePredictor) -> None:
        self.bundle = bundle

    def predict(self, context, model_input, params=None):
        """The bundle's predictions for `model_input` (`context` and `params` are unused)."""
        return self.bundle.predict(model_input)

    # A real (not postponed) DataFrame hint: MLflow reads it when the class is made, and without one it warns.
    predict.__annotations__ = {"model_input": pd.DataFrame}
    namespace = {"__init__": __init__, "predict": predict, "__module__": __name__, "__qualname__": "BundleModel",
                 "__doc__": "An MLflow pyfunc model delegating to an object with `predict(frame) -> frame`."}
    base = mlflow.pyfunc.PythonModel
    return type(base)("BundleModel", (base,), namespace)


def register(bundle: FramePredictor, *, name: str, experiment: str, input_example: pd.DataFrame,
             params: Mapping[str, object], metrics: Mapping[str, float], tags: Mapping[str, str],
             uri: str | None) -> ModelVersionRef:
    """Log `bundle` as a pyfunc model in a new run of `experiment` and register it as a new version of `name`.

    Args:
        bundle: The object to keep; it must pickle and offer `predict(frame) -> frame`.
        name: The registered model's name.
        experiment: The experiment the run goes to (created if missing).
        input_example: A few rows of features; the model signature is inferred from them and their predictions.
        params: Run parameters.
        metrics: Run metrics.
        tags: Tags set on the run and on the new model version.
        uri: The tracking and registry URI (see `tracking_uri`); None keeps MLflow's current one.

    Returns:
        The new model version.
    """
    with _quiet_mlflow():
        import mlflow
        from mlflow.models import infer_signature

        with _mlflow_at(uri):
            client = _client(uri)
            experiment_id = _experiment_id(client, experiment)
            signature = infer_signature(input_example, bundle.predict(input_example))
            with mlflow.start_run(experiment_id=experiment_id) as run:
                mlflow.log_params(dict(params))
                mlflow.log_metrics(dict(metrics))
                mlflow.set_tags(dict(tags))
                with _stderr_kept_on_error():  # MLflow prints "Successfully registered model ..." to stderr
                    info = mlflow.pyfunc.log_model(
                        MODEL_ARTIFACT_PATH, python_model=_bundle_model_class()(bundle), signature=signature,
                        pip_requirements=pinned_requirements(), registered_model_name=name)
            version = str(info.registered_model_version)
            for key, value in tags.items():
                client.set_model_version_tag(name, version, key, value)
    return ModelVersionRef(name, version, run.info.run_id, _model_uri(name, version))


def load(name: str, version: str | None, *, uri: str | None) -> tuple[Any, ModelVersionRef]:
    """Load a registered model version and unwrap the bundle it holds.

    Args:
        name: The registered model's name.
        version: The version number, or None for the latest.
        uri: The tracking and registry URI (see `tracking_uri`); None keeps MLflow's current one.

    Returns:
        The bundle and its version.

    Raises:
        UsageError: The model or the version is not registered.
    """
    with _quiet_mlflow():
        import mlflow.pyfunc

        with _mlflow_at(uri):
            ref = _ref(_existing_version(name, version, uri=uri))
            loaded = mlflow.pyfunc.load_model(ref.uri)
    return loaded.unwrap_python_model().bundle, ref


def latest_version(name: str, *, uri: str | None) -> ModelVersionRef | None:
    """The highest version of a registered model, or None when it has no versions (or is not registered)."""
    with _quiet_mlflow():
        newest = _newest_version(name, uri=uri)
    return None if newest is None else _ref(newest)


def version_tags(name: str, version: str, *, uri: str | None) -> dict[str, str]:
    """The tags of one model version.

    Raises:
        UsageError: The model or the version is not registered.
    """
    with _quiet_mlflow():
        return dict(_existing_version(name, version, uri=uri).tags)


def pinned_requirements() -> list[str]:
    """The pip requirements a logged bundle needs: this process's scikit-learn, cloudpickle and MLflow."""
    mlflow_dist = "mlflow" if _installed("mlflow") else "mlflow-skinny"
    return [f"{dist}=={metadata.version(dist)}" for dist in ("scikit-learn", "cloudpickle", mlflow_dist)]


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def _model_uri(name: str, version: str) -> str:
    return f"models:/{name}/{version}"


def _client(uri: str | None) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri) if uri else MlflowClient()


def _where(uri: str | None) -> str:
    import mlflow

    return uri or mlflow.get_registry_uri()


def _ref(found: ModelVersion) -> ModelVersionRef:
    return ModelVersionRef(found.name, str(found.version), found.run_id, _model_uri(found.name, str(found.version)))


def _newest_version(name: str, *, uri: str | None) -> ModelVersion | None:
    if "'" in name:
        raise UsageError(f"invalid model name {name!r}: it must not contain a quote")
    versions = _client(uri).search_model_versions(f"name = '{name}'")
    return max(versions, key=lambda v: int(v.version), default=None)


def _existing_version(name: str, version: str | None, *, uri: str | None) -> ModelVersion:
    """`name` at `version` (None: the latest), or a UsageError saying what to run first."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    if version is None:
        newest = _newest_version(name, uri=uri)
        if newest is None:
            raise UsageError(f"no registered model {name!r} in {_where(uri)}: run `altaviz train` first")
        return newest
    if not _VERSION.match(version):
        raise UsageError(f"invalid model version {version!r} of {name!r}: expected a number such as 1")
    try:
        return _client(uri).get_model_version(name, version)
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        raise UsageError(
            f"no version {version} of registered model {name!r} in {_where(uri)}: run `altaviz train` first, "
            "or omit the version for the latest") from None


def _experiment_id(client: MlflowClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


@contextlib.contextmanager
def _mlflow_at(uri: str | None) -> Iterator[None]:
    """Point MLflow's fluent API (runs, `log_model`, `load_model`) at `uri` for the block, then restore exactly.

    MLflow's setters also write `MLFLOW_TRACKING_URI`/`MLFLOW_REGISTRY_URI` into the environment, and resetting the
    tracking URI to None unsets the variable even when the user had set it, so the variables are restored too.
    Not thread-safe: MLflow's URIs are process-wide.
    """
    if uri is None:
        yield
        return
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = {var: os.environ.get(var) for var in _URI_ENV_VARS}
    saved_tracking, saved_registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking)
        mlflow.set_registry_uri(saved_registry)
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@contextlib.contextmanager
def _stderr_kept_on_error() -> Iterator[None]:
    """Hold back what the block prints to stderr, and print it after all if the block fails."""
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            yield
    except BaseException:
        sys.stderr.write(held.getvalue())
        raise


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Hide MLflow's info lines and warnings (registration notices, git probing); errors still raise and log."""
    logger = logging.getLogger("mlflow")
    saved_level = logger.level
    saved_git = os.environ.get("GIT_PYTHON_REFRESH")
    logger.setLevel(logging.ERROR)
    os.environ["GIT_PYTHON_REFRESH"] = "quiet"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"mlflow(\..*)?$")
            yield
    finally:
        logger.setLevel(saved_level)
        if saved_git is None:
            os.environ.pop("GIT_PYTHON_REFRESH", None)
        else:
            os.environ["GIT_PYTHON_REFRESH"] = saved_git
