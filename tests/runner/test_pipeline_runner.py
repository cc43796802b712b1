"""The local runner runs a pipeline as Fabric would: conditions, retries, timeouts, parameters and exit values."""

from __future__ import annotations

import json

import pytest
from fabric_items import expression, literal

from altaviz.runner.execute import PipelineRunner, run_notebook
from altaviz.runner.plan import build_plan


def _run(workspace, folder, overrides=None, fake_time=None, **kwargs):
    plan = build_plan(folder, workspace.notebooks, overrides)
    messages: list[str] = []
    runner = PipelineRunner(spark=None, lakehouse_root=str(workspace.root / "lh"), progress=messages.append,
                            **({"sleep": fake_time.sleep} if fake_time else {}), **kwargs)
    return runner.run(plan, run_id="run-1"), messages


def _statuses(run):
    return {a.name: a.status for a in run.activities}


def test_parameters_override_the_parameters_cell_and_exit_values_flow_downstream(workspace):
    """Pipeline parameters reach notebook parameters typed; one notebook's exitValue feeds the next via json()."""
    workspace.notebook("nb_first", "import json\nnotebookutils.notebook.exit(json.dumps("
                                   "{'n': n * 2, 'tag': tag, 'flag': flag, 'ratio': ratio}))",
                       parameters='n = 1\ntag = "default"\nflag = False\nratio = 0.5')
    workspace.notebook("nb_second", "notebookutils.notebook.exit(f'{doubled}|{tag}|{run}')",
                       parameters='doubled = 0\ntag = ""\nrun = ""')
    folder = workspace.pipeline("pl", [
        workspace.activity("First", "nb_first", parameters={
            "n": expression("@pipeline().parameters.count", "int"), "tag": expression("@concat('t-', "
                                                                                      "pipeline().parameters.name)"),
            "flag": literal(True, "bool"), "ratio": literal("0.25", "float")}),
        workspace.activity("Second", "nb_second", depends={"First": ["Succeeded"]}, parameters={
            "doubled": expression("@json(activity('First').output.result.exitValue).n", "int"),
            "tag": literal("@{pipeline().parameters.name}-x"),
            "run": expression("@pipeline().RunId")}),
    ], parameters={"count": {"type": "int", "defaultValue": 4}, "name": {"type": "string", "defaultValue": "a"}})
    run, _ = _run(workspace, folder, {"count": "21"})
    assert run.status == "Succeeded"
    assert json.loads(run.activity("First").exit_value) == {"n": 42, "tag": "t-a", "flag": True, "ratio": 0.25}
    assert run.activity("Second").exit_value == "42|a-x|run-1"


def test_a_failure_skips_dependants_runs_failed_and_completed_branches_and_fails_the_pipeline(workspace):
    """A failing notebook: Succeeded-dependants skip (transitively), Failed/Completed ones run, the run fails."""
    workspace.notebook("nb_ok", "x = 1")
    workspace.notebook("nb_boom", "raise ValueError('sensor table is empty')")
    folder = workspace.pipeline("pl", [
        workspace.activity("Start", "nb_ok"),
        workspace.activity("Boom", "nb_boom", depends={"Start": ["Succeeded"]}),
        workspace.activity("After", "nb_ok", depends={"Boom": ["Succeeded"]}),
        workspace.activity("After after", "nb_ok", depends={"After": ["Succeeded"]}),
        workspace.activity("On skip", "nb_ok", depends={"After": ["Skipped"]}),
        workspace.activity("On failure", "nb_ok", depends={"Boom": ["Failed"]}),
        workspace.activity("Always", "nb_ok", depends={"Boom": ["Completed"]}),
    ])
    run, messages = _run(workspace, folder)
    assert _statuses(run) == {"Start": "Succeeded", "Boom": "Failed", "After": "Skipped", "After after": "Skipped",
                              "On skip": "Succeeded", "On failure": "Succeeded", "Always": "Succeeded"}
    assert run.status == "Failed"
    boom = run.activity("Boom")
    assert boom.error == "ValueError: sensor table is empty"
    assert "notebook-content.py" in boom.error_detail and "raise ValueError" in boom.error_detail
    assert any("skip After:" in m for m in messages)


def test_a_handled_failure_is_a_succeeded_pipeline_in_fabric_terms_but_still_listed_as_failed(workspace):
    """Try/catch: only a Failed-conditioned handler after the failure, so Fabric reports Succeeded."""
    workspace.notebook("nb_ok", "x = 1")
    workspace.notebook("nb_boom", "raise RuntimeError('no')")
    folder = workspace.pipeline("pl", [
        workspace.activity("Boom", "nb_boom"),
        workspace.activity("Handler", "nb_ok", depends={"Boom": ["Failed"]}),
    ])
    run, _ = _run(workspace, folder)
    assert run.status == "Succeeded"
    assert [a.name for a in run.failed] == ["Boom"]


def test_every_dependency_must_hold_and_conditions_in_one_dependency_are_alternatives(workspace):
    """dependsOn entries are AND-ed; the conditions listed in one entry are OR-ed (Failed or Skipped)."""
    workspace.notebook("nb_ok", "x = 1")
    workspace.notebook("nb_boom", "raise RuntimeError('no')")
    folder = workspace.pipeline("pl", [
        workspace.activity("A", "nb_ok"),
        workspace.activity("B", "nb_boom"),
        workspace.activity("Both succeeded", "nb_ok", depends={"A": ["Succeeded"], "B": ["Succeeded"]}),
        workspace.activity("A ok, B failed", "nb_ok", depends={"A": ["Succeeded"], "B": ["Failed"]}),
        workspace.activity("Cleanup", "nb_ok", depends={"Both succeeded": ["Failed", "Skipped"]}),
    ])
    run, _ = _run(workspace, folder)
    assert _statuses(run)["Both succeeded"] == "Skipped"
    assert _statuses(run)["A ok, B failed"] == "Succeeded"
    assert _statuses(run)["Cleanup"] == "Succeeded"


def test_retry_policy_reruns_a_failing_notebook_after_its_interval(workspace, fake_time, tmp_path):
    """retry=2: a notebook failing twice then passing succeeds on attempt 3, sleeping the interval between."""
    counter = tmp_path / "attempts"
    workspace.notebook("nb_flaky", f"import pathlib\np = pathlib.Path({str(counter)!r})\n"
                                   "n = int(p.read_text()) + 1 if p.exists() else 1\np.write_text(str(n))\n"
                                   "assert n >= 3, f'attempt {n} failed'")
    folder = workspace.pipeline("pl", [workspace.activity("Flaky", "nb_flaky", retry=2, interval=45)])
    run, _ = _run(workspace, folder, fake_time=fake_time)
    assert run.status == "Succeeded" and run.activity("Flaky").attempts == 3
    assert fake_time.sleeps == [45.0, 45.0]


def test_retries_exhausted_fail_the_activity_with_the_last_error(workspace, fake_time):
    """retry=1 on an always-failing notebook: two attempts, one sleep, Failed with the notebook's error."""
    workspace.notebook("nb_boom", "raise KeyError('compressor_id')")
    folder = workspace.pipeline("pl", [workspace.activity("Boom", "nb_boom", retry=1, interval=7)])
    run, _ = _run(workspace, folder, fake_time=fake_time)
    assert run.activity("Boom").attempts == 2 and fake_time.sleeps == [7.0]
    assert run.activity("Boom").error == "KeyError: 'compressor_id'"


def test_an_activity_over_its_timeout_fails_and_its_dependants_skip(workspace, monkeypatch):
    """policy.timeout bounds a notebook: past it the activity fails as timed out."""
    monkeypatch.setattr("altaviz.runner.execute.TIMEOUT_GRACE_SECONDS", 0.1)
    workspace.notebook("nb_slow", "import time\ntime.sleep(5)")
    workspace.notebook("nb_ok", "x = 1")
    folder = workspace.pipeline("pl", [workspace.activity("Slow", "nb_slow", timeout="0.00:00:01"),
                                       workspace.activity("Next", "nb_ok", depends={"Slow": ["Succeeded"]})])
    run, _ = _run(workspace, folder)
    assert run.activity("Slow").status == "Failed" and "timed out after 1s" in run.activity("Slow").error
    assert run.activity("Next").status == "Skipped"


def test_notebook_exit_ends_the_notebook_even_inside_a_broad_except(workspace, tmp_path):
    """notebook.exit stops the notebook at once; `except Exception` in the notebook cannot swallow it."""
    marker = tmp_path / "after-exit"
    workspace.notebook("nb_exit", "try:\n    notebookutils.notebook.exit('early')\nexcept Exception:\n"
                                  "    pass\n"
                                  f"open({str(marker)!r}, 'w').write('ran')")
    folder = workspace.pipeline("pl", [workspace.activity("Exit", "nb_exit")])
    run, _ = _run(workspace, folder)
    assert run.activity("Exit").exit_value == "early" and not marker.exists()


def test_a_notebook_without_exit_succeeds_with_no_exit_value(workspace):
    """Running off the end of the last cell is success; exitValue is null."""
    workspace.notebook("nb_plain", "x = 1")
    folder = workspace.pipeline("pl", [workspace.activity("Plain", "nb_plain")])
    run, _ = _run(workspace, folder)
    assert run.activity("Plain").status == "Succeeded" and run.activity("Plain").exit_value is None


def test_runtime_context_and_secrets_come_from_the_local_stand_in(workspace, monkeypatch):
    """runtime.context names the notebook, pipeline run and local root; getSecret reads ALTAVIZ_<NAME>."""
    monkeypatch.setenv("ALTAVIZ_TEAMS_WEBHOOK_URL", "https://example.invalid/hook")
    workspace.notebook("nb_ctx", "import json\nc = notebookutils.runtime.context\n"
                                 "s = notebookutils.credentials.getSecret('https://kv.vault.azure.net/', "
                                 "'teams-webhook-url')\n"
                                 "notebookutils.notebook.exit(json.dumps([c['currentNotebookName'], "
                                 "c['pipelineRunId'], c['lakehouseRoot'], c['isForPipeline'], s]))")
    folder = workspace.pipeline("pl", [workspace.activity("Ctx", "nb_ctx")])
    run, _ = _run(workspace, folder)
    assert json.loads(run.activity("Ctx").exit_value) == [
        "nb_ctx", "run-1", str(workspace.root / "lh"), True, "https://example.invalid/hook"]


def test_a_missing_local_secret_fails_the_notebook_naming_the_variable(workspace, monkeypatch):
    """getSecret for an unset secret: the activity fails and says which environment variable to export."""
    monkeypatch.delenv("ALTAVIZ_EVENTHUB_LISTEN", raising=False)
    workspace.notebook("nb_secret", "notebookutils.credentials.getSecret('https://kv.vault.azure.net/', "
                                    "'eventhub-listen')")
    folder = workspace.pipeline("pl", [workspace.activity("Secret", "nb_secret")])
    run, _ = _run(workspace, folder)
    assert "export ALTAVIZ_EVENTHUB_LISTEN" in run.activity("Secret").error


def test_the_notebook_code_on_disk_is_what_runs(workspace):
    """Editing notebook-content.py changes the result of the next run (no cached copy)."""
    workspace.notebook("nb_value", "notebookutils.notebook.exit('one')")
    folder = workspace.pipeline("pl", [workspace.activity("Value", "nb_value")])
    first, _ = _run(workspace, folder)
    content = workspace.notebooks / "nb_value.Notebook" / "notebook-content.py"
    content.write_text(content.read_text().replace("exit('one')", "exit('two')"))
    second, _ = _run(workspace, folder)
    assert (first.activity("Value").exit_value, second.activity("Value").exit_value) == ("one", "two")


def test_tracebacks_point_at_lines_of_notebook_content(workspace):
    """A failure's detail names notebook-content.py and the failing line's real number in that file."""
    workspace.notebook("nb_boom", "x = 1\ny = x / 0")
    plan = build_plan(workspace.pipeline("pl", [workspace.activity("Boom", "nb_boom")]), workspace.notebooks)
    notebook = plan.activities[0].notebook
    lines = notebook.content_path.read_text().splitlines()
    with pytest.raises(Exception) as caught:
        run_notebook(notebook, {}, spark=None, notebookutils=None)
    detail = caught.value.detail
    line_no = lines.index("y = x / 0") + 1
    assert f'notebook-content.py", line {line_no}' in detail and "ZeroDivisionError" in detail
