"""The MLflow registry glue: a local file store under lh_ml_serving, versions, signatures, tags, and no leaked state."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.ensemble import IsolationForest

from altaviz.errors import UsageError
from altaviz.lakehouse.paths import LocalLakehousePaths, OneLakePaths
from altaviz.ml import registry

MODEL = "altaviz-test-model"
COLUMNS = ["vibration", "temperature"]
FEATURES = pd.DataFrame(np.random.default_rng(7).normal(size=(64, 2)), columns=COLUMNS)


class IsolationScores:
    """A tiny bundle: an IsolationForest's anomaly scores as a `score` column."""

    def __init__(self, seed: int) -> None:
        self.forest = IsolationForest(n_estimators=16, random_state=seed).fit(FEATURES.to_numpy())

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"score": self.forest.score_samples(frame[COLUMNS].to_numpy())}, index=frame.index)



@pytest.fixture(scope="module", autouse=True)
def per_lakehouse_store():
    """These tests use each lakehouse's own MLflow store: the run-wide `$MLFLOW_TRACKING_URI` is unset here."""
    previous = os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    if previous is not None:
        os.environ["MLFLOW_TRACKING_URI"] = previous

@pytest.fixture(scope="module")
def mlflow():
    """MLflow itself, imported without its import-time deprecation warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
    return mlflow


def _register(bundle: IsolationScores, uri: str, seed: int) -> registry.ModelVersionRef:
    return registry.register(
        bundle, name=MODEL, experiment="altaviz-tests", input_example=FEATURES.head(5),
        params={"seed": seed, "n_estimators": 16}, metrics={"auc": 0.5 + seed / 100},
        tags={"training_seeds": str(seed), "source": "test"}, uri=uri)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A lakehouse root with two versions of MODEL registered (seeds 1 and 2)."""
    root = tmp_path_factory.mktemp("lakehouse")
    uri = registry.tracking_uri(LocalLakehousePaths(root))
    bundles = {seed: IsolationScores(seed) for seed in (1, 2)}
    refs = {seed: _register(bundle, uri, seed) for seed, bundle in bundles.items()}
    return {"root": root, "uri": uri, "bundles": bundles, "refs": refs}


def test_the_local_store_lives_under_the_ml_lakehouse_files(tmp_path):
    """Locally the URI is a file: URI of <root>/lh_ml_serving.Lakehouse/Files/mlflow, created on the spot."""
    uri = registry.tracking_uri(LocalLakehousePaths(tmp_path))
    folder = tmp_path / "lh_ml_serving.Lakehouse" / "Files" / "mlflow"
    assert uri == folder.resolve().as_uri()
    assert folder.is_dir()


def test_a_tracking_uri_the_user_set_wins_over_the_lakehouse_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")

    assert registry.tracking_uri(LocalLakehousePaths(tmp_path)) == "http://mlflow.example:5000"


def test_fabric_keeps_the_runtime_tracking_uri(tmp_path, monkeypatch):
    """On OneLake there is no URI to set: Fabric's runtime has set MLflow's already."""
    monkeypatch.chdir(tmp_path)
    assert registry.tracking_uri(OneLakePaths("altaviz-dev")) is None
    assert list(tmp_path.iterdir()) == []


def test_registering_twice_makes_versions_one_and_two(store):
    """Each register call logs a run and adds the next version number, with a models:/ URI."""
    first, second = store["refs"][1], store["refs"][2]
    assert (first.version, second.version) == ("1", "2")
    assert second.uri == f"models:/{MODEL}/2"
    assert first.run_id != second.run_id
    assert (Path(store["root"]) / "lh_ml_serving.Lakehouse" / "Files" / "mlflow" / "models" / MODEL).is_dir()


def test_load_without_a_version_gives_the_latest_and_its_predictions(store):
    """Version None loads version 2, whose bundle predicts exactly what the in-memory bundle does."""
    bundle, ref = registry.load(MODEL, None, uri=store["uri"])
    assert ref == store["refs"][2]
    pd.testing.assert_frame_equal(bundle.predict(FEATURES), store["bundles"][2].predict(FEATURES))


def test_load_a_given_version(store):
    """An explicit version loads that version, not the latest."""
    bundle, ref = registry.load(MODEL, "1", uri=store["uri"])
    assert ref == store["refs"][1]
    pd.testing.assert_frame_equal(bundle.predict(FEATURES), store["bundles"][1].predict(FEATURES))


def test_latest_version_names_the_newest_or_none(store):
    """The newest version's ref; None for a model never registered."""
    assert registry.latest_version(MODEL, uri=store["uri"]) == store["refs"][2]
    assert registry.latest_version("never-trained", uri=store["uri"]) is None


def test_the_logged_model_has_a_signature_and_pinned_requirements(store, mlflow):
    """The signature's inputs are the example's columns and its output the bundle's; sklearn and mlflow are pinned."""
    source = mlflow.MlflowClient(store["uri"], store["uri"]).get_model_version(MODEL, "2").source
    model_dir = Path(urlparse(source).path)
    signature = mlflow.models.Model.load(str(model_dir)).signature
    assert signature.inputs.input_names() == COLUMNS
    assert signature.outputs.input_names() == ["score"]
    requirements = (model_dir / "requirements.txt").read_text().split()
    assert f"scikit-learn=={sklearn.__version__}" in requirements
    assert any(r.startswith(("mlflow==", "mlflow-skinny==")) for r in requirements)


def test_version_tags_carry_the_tags_given(store):
    """Each version carries the tags it was registered with."""
    assert registry.version_tags(MODEL, "1", uri=store["uri"]) == {"training_seeds": "1", "source": "test"}
    assert registry.version_tags(MODEL, "2", uri=store["uri"])["training_seeds"] == "2"


@pytest.mark.parametrize(("name", "version", "message"), [
    ("never-trained", None, "no registered model 'never-trained'"),
    ("never-trained", "1", "no version 1 of registered model 'never-trained'"),
    (MODEL, "9", f"no version 9 of registered model '{MODEL}'"),
    (MODEL, "latest", "invalid model version 'latest'"),
], ids=["missing-model", "missing-model-version", "missing-version", "not-a-number"])
def test_loading_what_is_not_registered_is_a_usage_error(store, name, version, message):
    """A missing model or version, or a version that is not a number, is one UsageError line."""
    with pytest.raises(UsageError, match=message) as caught:
        registry.load(name, version, uri=store["uri"])
    assert "\n" not in str(caught.value)


def test_version_tags_of_a_missing_version_is_a_usage_error(store):
    """Asking for the tags of a version that does not exist says so."""
    with pytest.raises(UsageError, match="no version 5"):
        registry.version_tags(MODEL, "5", uri=store["uri"])


def test_register_and_load_leave_mlflow_global_state_alone(tmp_path, monkeypatch, mlflow):
    """MLflow's global URIs, their environment variables and the active run are as before register and load."""
    uri = registry.tracking_uri(LocalLakehousePaths(tmp_path / "lakehouse"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "elsewhere").as_uri())
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    ref = _register(IsolationScores(3), uri, 3)
    registry.load(MODEL, ref.version, uri=uri)
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == before
    assert os.environ["MLFLOW_TRACKING_URI"] == (tmp_path / "elsewhere").as_uri()
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert mlflow.active_run() is None
    assert not (tmp_path / "elsewhere").exists()


def test_bundle_model_is_a_pyfunc_model_that_delegates(mlflow):
    """BundleModel is an mlflow PythonModel whose predict is the bundle's."""
    bundle = IsolationScores(1)
    model = registry.BundleModel(bundle)
    assert isinstance(model, mlflow.pyfunc.PythonModel)
    pd.testing.assert_frame_equal(model.predict(None, FEATURES.head(3)), bundle.predict(FEATURES.head(3)))


def test_importing_the_registry_does_not_import_mlflow():
    """MLflow is imported only when a registry function runs."""
    probe = "import altaviz.ml.registry, sys; assert 'mlflow' not in sys.modules, 'mlflow was imported'"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
