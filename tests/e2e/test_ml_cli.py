"""`altaviz evaluate` and `altaviz train` as a user meets them: the table or JSON, the refusals, the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ALTAVIZ = [sys.executable, "-m", "altaviz.cli"]


def _altaviz(*args: str, root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALTAVIZ_LAKEHOUSE_ROOT": str(root), "ALTAVIZ_DRIVER_MEMORY": "2g", **env}
    return subprocess.run([*ALTAVIZ, *args], capture_output=True, text=True, check=False, env=env, timeout=900)


def test_evaluate_refuses_a_seed_the_model_was_trained_on(tmp_path):
    done = _altaviz("evaluate", "--compressors", "10", "--days", "5", "--seed", "2", root=tmp_path)

    assert done.returncode == 2
    assert "seed 2 trained altaviz-maintenance" in done.stderr and "never saw" in done.stderr


def test_evaluate_without_a_registered_model_says_to_train_first(tmp_path):
    env = {"MLFLOW_TRACKING_URI": ""}
    done = _altaviz("evaluate", "--compressors", "10", "--days", "5", "--seed", "12", root=tmp_path, **env)

    assert done.returncode == 2 and "run `altaviz train` first" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["evaluate", "--compressors", "0"], "--compressors must be a positive integer"),
    (["train", "--days", "0"], "--days must be a positive integer")])
def test_bad_sizes_are_one_line_usage_errors(tmp_path, args, message):
    done = _altaviz(*args, root=tmp_path)

    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_evaluate_runs_a_fresh_fleet_through_the_pipeline_and_records_the_metrics(tmp_path):
    root = tmp_path / "lh"
    done = _altaviz("evaluate", "--compressors", "20", "--days", "6", "--seed", "31", "--json", root=root)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    overall = report["metrics"][-1]
    assert overall["failure_mode"] == "all" and report["seed"] == 31
    assert overall["healthy_compressor_days"] > 0 and overall["false_alarms"] >= 0
    stored = _altaviz("sql", "select failure_mode, seed from lh_ml_serving.model_evaluations", "--format", "json",
                      root=root)
    rows = json.loads(stored.stdout)
    assert {r["failure_mode"] for r in rows} == {m["failure_mode"] for m in report["metrics"]}
    assert {r["seed"] for r in rows} == {31}
