"""Overlapping runs on one lakehouse: one runs at a time, the other waits or steps aside, nothing lands twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from altaviz.cli import main
from altaviz.runner.lease import LEASE_FILE, RunLease

ALTAVIZ = [sys.executable, "-m", "altaviz.cli"]


def _start(*args: str, root: Path, backend: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ALTAVIZ_LAKEHOUSE_ROOT": str(root), "ALTAVIZ_DRIVER_MEMORY": "2g",
           "ALTAVIZ_DELTA_BACKEND": backend}
    return subprocess.Popen([*ALTAVIZ, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["spark", "deltars"], ids=["spark-delta", "delta-rs"])
def test_two_runs_started_together_both_succeed_and_land_each_reading_once(tmp_path, backend):
    """Two `altaviz run` at once: one runs, the other says a run is in progress; both exit 0, no event_id twice."""
    root = tmp_path / "lh"
    runs = [_start("run", root=root, backend=backend) for _ in range(2)]
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr
    ran = [stdout for stdout, _ in outputs if "a run is already in progress" not in stdout]
    assert len(ran) == 1
    assert f"Delta back end: {'delta-rs' if backend == 'deltars' else 'spark-delta'}" in ran[0]
    query = ("select count(*) as n, count(distinct event_id) as ids from lh_bronze_raw.telemetry_raw")
    done = subprocess.run([*ALTAVIZ, "sql", query, "--format", "json"], capture_output=True, text=True, check=True,
                          env={**os.environ, "ALTAVIZ_LAKEHOUSE_ROOT": str(root)})
    (counts,) = json.loads(done.stdout)
    assert counts["n"] == counts["ids"] > 0


def test_a_run_while_another_holds_the_lakehouse_exits_0_and_says_so(tmp_path, capsys):
    """Without --wait, a run finding the lakehouse busy starts nothing, says who holds it and exits 0."""
    root = tmp_path / "lh"
    with RunLease(root, "altaviz run (the other one)") as held:
        assert held.acquire()
        assert main(["run", "--lakehouse-root", str(root)]) == 0
        assert main(["pipeline", "run", str(Path(__file__).parents[2] / "pipelines" / "pl_altaviz_hourly.DataPipeline"),
                     "--lakehouse-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.count("a run is already in progress") == 2
    assert f"pid {os.getpid()}" in out and "(altaviz run (the other one))" in out
    assert not (root / "lh_bronze_raw.Lakehouse").exists()  # nothing was simulated or run
    assert (root / LEASE_FILE).exists()


def test_the_lease_is_free_again_when_its_holder_ends(tmp_path):
    """A lease dies with its process, however it ends: a killed run never blocks the next one."""
    root = tmp_path / "lh"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from altaviz.runner.lease import RunLease; "
        f"lease = RunLease({str(root)!r}); assert lease.acquire(); print('held', flush=True); time.sleep(600)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not RunLease(root).acquire()
        holder.kill()
        holder.wait(timeout=30)
        lease = RunLease(root)
        assert lease.acquire(wait_seconds=10, poll_seconds=0.1)
        lease.release()
    finally:
        holder.kill()


def test_a_negative_wait_is_a_usage_error(tmp_path, capsys):
    """`--wait -1` is refused with one line and exit 2."""
    assert main(["run", "--wait", "-1", "--lakehouse-root", str(tmp_path)]) == 2
    assert "--wait must be >= 0" in capsys.readouterr().err
