"""A broken pipeline or notebook is refused before any notebook runs, naming the file and the item."""

from __future__ import annotations

import json

import pytest
from fabric_items import expression, literal

from altaviz.errors import PipelineError
from altaviz.runner.plan import build_plan


def _content(folder):
    return folder / "pipeline-content.json"


def _rewrite(folder, change):
    data = json.loads(_content(folder).read_text())
    change(data["properties"])
    _content(folder).write_text(json.dumps(data))


@pytest.fixture()
def marker_pipeline(workspace, tmp_path):
    """A two-activity pipeline whose first notebook leaves a marker file when it runs."""
    marker = tmp_path / "ran"
    workspace.notebook("nb_mark", f"open({str(marker)!r}, 'w').write('ran')", parameters='as_of = ""')
    workspace.notebook("nb_next", "x = 1", parameters='value = ""')
    folder = workspace.pipeline("pl_checked", [
        workspace.activity("Mark", "nb_mark", parameters={"as_of": expression("@pipeline().parameters.as_of")}),
        workspace.activity("Next", "nb_next", depends={"Mark": ["Succeeded"]},
                           parameters={"value": expression("@activity('Mark').output.result.exitValue")}),
    ], parameters={"as_of": {"type": "string", "defaultValue": ""}})
    return folder, marker


BROKEN = {
    "unknown-notebook-id": (
        lambda p: p["activities"][0]["typeProperties"].update(notebookId="6f0b4c52-0000-4000-8000-000000000000"),
        ["activity 'Mark'", "notebookId '6f0b4c52-0000-4000-8000-000000000000' is not the logicalId of any notebook"]),
    "parameter-not-in-notebook": (
        lambda p: p["activities"][1]["typeProperties"]["parameters"].update(lookback=literal("24")),
        ["activity 'Next'", "'lookback'", "nb_next", "does not declare in its PARAMETERS cell"]),
    "unsupported-function": (
        lambda p: p["activities"][0]["typeProperties"]["parameters"].update(
            as_of=expression("@addHours(pipeline().TriggerTime, -1)")),
        ["activity 'Mark'", "parameter 'as_of'", "unsupported function 'addHours'"]),
    "unsupported-pipeline-property": (
        lambda p: p["activities"][0]["typeProperties"]["parameters"].update(
            as_of=expression("@pipeline().globalParameters.x")),
        ["activity 'Mark'", "unsupported property pipeline().globalParameters"]),
    "undeclared-pipeline-parameter": (
        lambda p: p["activities"][0]["typeProperties"]["parameters"].update(
            as_of=expression("@pipeline().parameters.run_date")),
        ["activity 'Mark'", "pipeline parameter 'run_date'", "does not declare"]),
    "activity-not-upstream": (
        lambda p: p["activities"][0]["typeProperties"]["parameters"].update(
            as_of=expression("@activity('Next').output.result.exitValue")),
        ["activity 'Mark'", "reads activity 'Next', which is not upstream"]),
    "unparseable-expression": (
        lambda p: p["activities"][0]["typeProperties"]["parameters"].update(
            as_of=expression("@concat('a', ")),
        ["activity 'Mark'", "cannot parse expression"]),
    "unsupported-activity-type": (
        lambda p: p["activities"].append({"name": "Wait a bit", "type": "Wait", "typeProperties": {}}),
        ["activity 'Wait a bit'", "activity type 'Wait' is not supported"]),
    "dependency-on-missing-activity": (
        lambda p: p["activities"][1]["dependsOn"].append({"activity": "Ghost", "dependencyConditions": ["Failed"]}),
        ["activity 'Next'", "dependsOn names activity 'Ghost'"]),
    "unknown-condition": (
        lambda p: p["activities"][1]["dependsOn"][0].update(dependencyConditions=["Success"]),
        ["activity 'Next'", "dependencyConditions on 'Mark' must be some of"]),
    "cycle": (
        lambda p: p["activities"][0]["dependsOn"].append({"activity": "Next", "dependencyConditions": ["Succeeded"]}),
        ["Mark, Next depend on each other in a cycle"]),
    "other-workspace": (
        lambda p: p["activities"][0]["typeProperties"].update(workspaceId="11111111-1111-1111-1111-111111111111"),
        ["activity 'Mark'", "workspaceId must be 00000000-0000-0000-0000-000000000000"]),
    "bad-timeout": (
        lambda p: p["activities"][0]["policy"].update(timeout="12 hours"),
        ["activity 'Mark'", "invalid policy", "'12 hours' is not a timespan"]),
    "bad-notebook-parameter-type": (
        lambda p: p["activities"][0]["typeProperties"]["parameters"]["as_of"].update(type="datetime"),
        ["activity 'Mark'", "parameter 'as_of' has type 'datetime'"]),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_a_broken_pipeline_fails_before_any_notebook_runs_naming_file_and_activity(marker_pipeline, case):
    """Each defect is reported with the pipeline file and the activity; the first notebook never ran."""
    folder, marker = marker_pipeline
    change, expected = BROKEN[case]
    _rewrite(folder, change)
    with pytest.raises(PipelineError) as caught:
        build_plan(folder, folder.parent.parent / "fabric_notebooks")
    message = str(caught.value)
    assert str(_content(folder)) in message
    for part in expected:
        assert part in message
    assert not marker.exists()


def test_an_unknown_param_override_names_the_pipeline_and_its_parameters(marker_pipeline):
    """`--param lookback=24` on a pipeline without it is refused, listing the parameters it has."""
    folder, _ = marker_pipeline
    with pytest.raises(PipelineError, match=r"--param lookback: pipeline 'pl_checked' .* has no parameter "
                                            r"'lookback' \(it has: as_of\)"):
        build_plan(folder, folder.parent.parent / "fabric_notebooks", {"lookback": "24"})


def test_an_override_that_does_not_fit_the_parameter_type_is_refused(workspace):
    """An int pipeline parameter given `abc` is a clear error, not a notebook failure later."""
    workspace.notebook("nb", "x = 1")
    folder = workspace.pipeline("pl", [workspace.activity("A", "nb")], {"hours": {"type": "int", "defaultValue": 1}})
    with pytest.raises(PipelineError, match="--param hours: 'abc' is not a valid int"):
        build_plan(folder, workspace.notebooks, {"hours": "abc"})


def test_two_notebooks_sharing_a_logical_id_are_refused_naming_both(workspace):
    """logicalIds must be unique across the notebooks folder."""
    workspace.notebook("nb_a", "x = 1")
    workspace.notebook("nb_b", "x = 2")
    platform_b = workspace.notebooks / "nb_b.Notebook" / ".platform"
    data = json.loads(platform_b.read_text())
    data["config"]["logicalId"] = workspace.ids["nb_a"]
    platform_b.write_text(json.dumps(data))
    folder = workspace.pipeline("pl", [workspace.activity("A", "nb_a")])
    with pytest.raises(PipelineError, match=r"nb_b.Notebook/.platform: logicalId .* is also used by .*nb_a.Notebook"):
        build_plan(folder, workspace.notebooks)


NOTEBOOK_DEFECTS = {
    "no-header": (lambda t: t.replace("# Fabric notebook source\n", ""), "the first line must be"),
    "cell-without-metadata": (lambda t: t[:t.rindex("# METADATA")], "code cell has no METADATA block"),
    "bad-metadata-json": (lambda t: t.replace('"language": "python",', '"language": python,'),
                          "invalid JSON in METADATA"),
    "wrong-kernel": (lambda t: t.replace('"name": "synapse_pyspark"', '"name": "sparkr"'),
                     "kernel_info.name must be 'synapse_pyspark'"),
    "syntax-error": (lambda t: t.replace("x = 1", "x = = 1"), "code cell is not valid Python"),
    "stray-text": (lambda t: t.replace("# CELL ********************", "print('x')\n# CELL ********************"),
                   "expected a cell marker"),
}


@pytest.mark.parametrize("case", list(NOTEBOOK_DEFECTS), ids=list(NOTEBOOK_DEFECTS))
def test_a_malformed_notebook_is_refused_naming_its_file(workspace, case):
    """Format defects in notebook-content.py name the file (and line where there is one)."""
    workspace.notebook("nb", "x = 1")
    content = workspace.notebooks / "nb.Notebook" / "notebook-content.py"
    change, expected = NOTEBOOK_DEFECTS[case]
    content.write_text(change(content.read_text()))
    folder = workspace.pipeline("pl", [workspace.activity("A", "nb")])
    with pytest.raises(PipelineError) as caught:
        build_plan(folder, workspace.notebooks)
    assert str(content) in str(caught.value) and expected in str(caught.value)


def test_a_platform_whose_display_name_does_not_match_its_folder_is_refused(workspace):
    """`.platform` displayName must match `<displayName>.Notebook`, or deploys would rename items."""
    workspace.notebook("nb", "x = 1")
    platform = workspace.notebooks / "nb.Notebook" / ".platform"
    data = json.loads(platform.read_text())
    data["metadata"]["displayName"] = "nb_renamed"
    platform.write_text(json.dumps(data))
    with pytest.raises(PipelineError, match="displayName 'nb_renamed' does not match the folder 'nb.Notebook'"):
        build_plan(workspace.pipeline("pl", []), workspace.notebooks)


def test_notebooks_beside_the_pipeline_resolve_like_a_flat_fabric_git_folder(tmp_path):
    """Items side by side in one folder (fabric-cicd's layout) resolve without --notebooks."""
    from fabric_items import Workspace

    from altaviz.runner.project import notebooks_for

    workspace = Workspace(tmp_path / "repo")
    workspace.notebooks = workspace.pipelines  # write the notebook next to the pipeline
    workspace.notebook("nb_flat", "x = 1")
    folder = workspace.pipeline("pl_flat", [workspace.activity("Flat", "nb_flat")])
    assert notebooks_for(folder) == folder.parent
    assert build_plan(folder, notebooks_for(folder)).activities[0].notebook.name == "nb_flat"
