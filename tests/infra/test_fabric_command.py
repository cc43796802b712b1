"""`altaviz fabric run-pipeline`: starts the deployed pipeline's Execute job with parameters and follows it."""

from __future__ import annotations

from altaviz.cli import main


def test_run_pipeline_starts_the_job_with_its_parameters_and_waits_for_the_end(fake_fabric, capsys, monkeypatch):
    """POST .../jobs/Execute/instances with executionData.parameters, then polls the instance to Completed."""
    monkeypatch.setattr("altaviz.fabric_command.time.sleep", lambda seconds: None)
    ws = fake_fabric.add_workspace("altaviz-staging")
    pipeline = fake_fabric.add_item(ws, "DataPipeline", "pl_altaviz_hourly")
    code = main(["fabric", "run-pipeline", "--workspace-id", ws, "--pipeline-id", pipeline, "--param",
                 "as_of=2026-11-22T05:00:00Z", "--api-url", fake_fabric.base_url])
    assert code == 0
    assert ": Completed" in capsys.readouterr().out
    (run,) = [c for c in fake_fabric.calls if c.method == "POST" and c.path.endswith("/jobs/Execute/instances")]
    assert run.path.endswith(f"/items/{pipeline}/jobs/Execute/instances")
    assert run.body == {"executionData": {"parameters": {"as_of": "2026-11-22T05:00:00Z"}}}


def test_run_pipeline_needs_a_stack_or_both_ids(capsys):
    """Without --stack or both ids: one usage line, exit 2."""
    assert main(["fabric", "run-pipeline", "--workspace-id", "w"]) == 2
    assert "give --stack, or both --workspace-id and --pipeline-id" in capsys.readouterr().err


def test_an_unknown_pipeline_is_one_error_line_with_the_fabric_error(fake_fabric, capsys):
    """A pipeline id the workspace lacks: Fabric's 404 comes back as one line, exit 1."""
    ws = fake_fabric.add_workspace("altaviz-staging")
    code = main(["fabric", "run-pipeline", "--workspace-id", ws, "--pipeline-id",
                 "00000000-0000-4000-8000-0000000000aa", "--api-url", fake_fabric.base_url])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "404" in err[0]


def test_start_stream_starts_the_spark_job_once_and_stop_stream_cancels_it(fake_fabric, capsys):
    """start-stream runs the job (jobType sparkjob); again while it runs: nothing new; stop-stream cancels it."""
    ws = fake_fabric.add_workspace("altaviz-prod")
    job = fake_fabric.add_item(ws, "SparkJobDefinition", "sjd_bronze_stream")
    ids = ["--workspace-id", ws, "--job-id", job, "--api-url", fake_fabric.base_url]

    assert main(["fabric", "start-stream", *ids]) == 0
    (instance,) = fake_fabric.jobs.values()
    assert instance["jobType"] == "sparkjob" and "started: instance" in capsys.readouterr().out
    assert main(["fabric", "start-stream", *ids]) == 0
    assert len(fake_fabric.jobs) == 1 and "already running" in capsys.readouterr().out

    assert main(["fabric", "stop-stream", *ids]) == 0
    assert instance["status"] == "Cancelled" and "cancelling instance" in capsys.readouterr().out
    assert main(["fabric", "stop-stream", *ids]) == 0
    assert "is not running" in capsys.readouterr().out


def test_start_stream_refuses_a_stack_that_streams_by_catch_up(monkeypatch, capsys):
    """Two readers would share the checkpoint: a catch-up stack is told what to change (a config error, exit 2)."""
    monkeypatch.setattr("altaviz.fabric_command.stack_outputs", lambda stack: {
        "fabric_streaming": "catch-up", "fabric_workspace_id": "w", "spark_job_definition_ids": {
            "sjd_bronze_stream": "j"}})
    assert main(["fabric", "start-stream", "--stack", "staging"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "set fabric.streaming: continuous and run pulumi up first" in line
