"""What a deployment sends to Fabric: item definitions with their ids rewritten (the wheel: test_wheel.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from altaviz.deploy.definitions import (
    DefaultLakehouse,
    content_hash,
    decode_parts,
    notebook_definition,
    pipeline_definition,
    spark_job_definition,
)
from altaviz.errors import PipelineError
from altaviz.fabric.gitformat import (
    find_items,
    parse_notebook_source,
    read_notebook,
    read_notebooks,
    read_pipeline,
    read_spark_job,
)

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "fabric_notebooks"
PIPELINE = REPO / "pipelines" / "pl_altaviz_hourly.DataPipeline"
BRONZE = NOTEBOOKS / "nb_bronze_ingest.Notebook"
WS = "11111111-2222-3333-4444-555555555555"
ENV = "66666666-7777-8888-9999-000000000000"
ZERO = "00000000-0000-0000-0000-000000000000"
STREAM_JOB = NOTEBOOKS / "sjd_bronze_stream.SparkJobDefinition"
LAKEHOUSE = "12121212-3434-5656-7878-909090909090"


def deployed_ids() -> dict[str, str]:
    """A made-up deployed id for every repo notebook logicalId."""
    return {logical: f"deployed-{index}" for index, logical in enumerate(sorted(read_notebooks(NOTEBOOKS)))}


def notebook_text(definition) -> str:
    return decode_parts(definition.parts)["notebook-content.py"].decode("utf-8")


def test_notebook_definition_is_git_source_with_content_and_platform_parts():
    """A notebook definition has format fabricGitSource and InlineBase64 parts notebook-content.py and .platform."""
    definition = notebook_definition(BRONZE)

    assert definition.format == "fabricGitSource"
    assert definition.to_api()["format"] == "fabricGitSource"
    assert sorted(p["path"] for p in definition.parts) == [".platform", "notebook-content.py"]
    assert {p["payloadType"] for p in definition.parts} == {"InlineBase64"}
    platform = json.loads(decode_parts(definition.parts)[".platform"])
    assert platform["metadata"] == {"type": "Notebook", "displayName": "nb_bronze_ingest",
                                     "description": read_notebook(BRONZE).platform.description}
    assert platform["config"]["logicalId"] == read_notebook(BRONZE).platform.logical_id


def test_notebook_without_ids_to_bind_is_sent_byte_for_byte():
    """With no environment or lakehouse to bind, notebook-content.py goes out exactly as in the repo."""
    assert notebook_text(notebook_definition(BRONZE)) == (BRONZE / "notebook-content.py").read_text()


def test_notebook_is_attached_to_the_deployed_environment_and_nothing_else_changes():
    """dependencies.environment names the deployed Environment and its workspace; every cell stays the same."""
    text = notebook_text(notebook_definition(BRONZE, environment_id=ENV, workspace_id=WS))

    metadata, cells = parse_notebook_source(text, BRONZE / "notebook-content.py")
    assert metadata["dependencies"]["environment"] == {"environmentId": ENV, "workspaceId": WS}
    assert metadata["kernel_info"] == {"name": "synapse_pyspark"}
    assert [(c.kind, c.source, c.metadata) for c in cells] == [
        (c.kind, c.source, c.metadata) for c in read_notebook(BRONZE).cells]


def test_notebook_default_lakehouse_is_bound_when_given():
    """dependencies.lakehouse names the default lakehouse, its name and workspace, and lists it as known."""
    lakehouse = DefaultLakehouse("lh-id", "lh_bronze_raw", WS)
    text = notebook_text(notebook_definition(BRONZE, lakehouse=lakehouse))

    metadata, _ = parse_notebook_source(text, BRONZE / "notebook-content.py")
    assert metadata["dependencies"]["lakehouse"] == {
        "default_lakehouse": "lh-id", "default_lakehouse_name": "lh_bronze_raw",
        "default_lakehouse_workspace_id": WS, "known_lakehouses": [{"id": "lh-id"}]}


def test_environment_without_workspace_is_refused():
    """An environment id alone cannot be bound: the error says the workspace id is needed."""
    with pytest.raises(PipelineError, match="workspace id"):
        notebook_definition(BRONZE, environment_id=ENV)


def test_deployed_display_name_goes_into_platform():
    """A deployed name (e.g. a per-developer prefix) is what .platform and the definition carry."""
    definition = notebook_definition(BRONZE, display_name="dev-alice-nb_bronze_ingest")

    assert definition.display_name == "dev-alice-nb_bronze_ingest"
    assert json.loads(decode_parts(definition.parts)[".platform"])["metadata"]["displayName"] == (
        "dev-alice-nb_bronze_ingest")


def test_pipeline_notebook_references_point_at_deployed_notebooks_in_the_target_workspace():
    """Every TridentNotebook notebookId becomes the deployed id and workspaceId the target workspace."""
    ids = deployed_ids()
    definition = pipeline_definition(PIPELINE, workspace_id=WS, notebook_ids=ids)

    parts = decode_parts(definition.parts)
    assert sorted(parts) == [".platform", "pipeline-content.json"]
    assert definition.format is None
    content = json.loads(parts["pipeline-content.json"])
    original = read_pipeline(PIPELINE)
    for written, sent in zip(original.activities, content["properties"]["activities"], strict=True):
        assert sent["typeProperties"]["notebookId"] == ids[written["typeProperties"]["notebookId"]]
        assert sent["typeProperties"]["workspaceId"] == WS
        assert sent["typeProperties"]["parameters"] == written["typeProperties"]["parameters"]
        assert sent["dependsOn"] == written["dependsOn"]
    assert ZERO not in parts["pipeline-content.json"].decode()
    assert content["properties"]["parameters"] == original.parameters


def test_pipeline_reference_to_an_unknown_notebook_names_the_activity():
    """A notebookId that is no deployed notebook's logicalId fails, naming the activity and the id."""
    ids = deployed_ids()
    silver = next(a for a in read_pipeline(PIPELINE).activities if a["name"] == "Silver cleanse")
    missing = silver["typeProperties"]["notebookId"]
    del ids[missing]

    with pytest.raises(PipelineError, match=f"'Silver cleanse' references notebook '{missing}'"):
        pipeline_definition(PIPELINE, workspace_id=WS, notebook_ids=ids)


def pipeline_parameters(definition) -> dict:
    return json.loads(decode_parts(definition.parts)["pipeline-content.json"])["properties"]["parameters"]


def test_pipeline_parameter_defaults_are_set_for_the_environment():
    """Named parameters get the given defaultValue (scheduled runs use it); the others keep the repo's."""
    vault = "https://kv-avz-stagi-abc123.vault.azure.net/"
    definition = pipeline_definition(PIPELINE, workspace_id=WS, notebook_ids=deployed_ids(),
                                     parameter_defaults={"environment": "staging", "key_vault_url": vault})

    sent, original = pipeline_parameters(definition), read_pipeline(PIPELINE).parameters
    assert sent == {**original, "environment": {"type": "string", "defaultValue": "staging"},
                    "key_vault_url": {"type": "string", "defaultValue": vault}}
    assert original["environment"]["defaultValue"] == "local"  # the repo's own file is untouched


def test_default_for_a_parameter_the_pipeline_does_not_declare_is_refused():
    """An unknown parameter name fails, naming the pipeline file and the parameters it declares."""
    declared = ", ".join(sorted(read_pipeline(PIPELINE).parameters))

    with pytest.raises(PipelineError, match=rf"pl_altaviz_hourly\.DataPipeline[/\\]pipeline-content\.json: .*"
                                            rf"'keyvault_url'.*declares {declared}$"):
        pipeline_definition(PIPELINE, workspace_id=WS, notebook_ids=deployed_ids(),
                            parameter_defaults={"keyvault_url": "https://kv.vault.azure.net/"})


def test_pipeline_hash_changes_only_when_a_parameter_default_does():
    """The repo's own default (or none) gives the unchanged hash; another value a new one, the same value the same."""
    def build(**defaults: str) -> str:
        return pipeline_definition(PIPELINE, workspace_id=WS, notebook_ids=deployed_ids(),
                                   parameter_defaults=defaults).content_hash

    plain = pipeline_definition(PIPELINE, workspace_id=WS, notebook_ids=deployed_ids()).content_hash
    assert build() == build(environment="local") == plain
    assert build(environment="staging") == build(environment="staging") != plain
    assert build(environment="prod") not in {plain, build(environment="staging")}
    assert build(environment="staging", key_vault_url="https://a.vault.azure.net/") != build(
        environment="staging", key_vault_url="https://b.vault.azure.net/")


def test_notebook_activities_inside_containers_are_rewritten(tmp_path):
    """A TridentNotebook nested in a ForEach is bound like a top-level one."""
    folder = tmp_path / "pl_nested.DataPipeline"
    shutil.copytree(PIPELINE, folder)
    platform = json.loads((folder / ".platform").read_text())
    platform["metadata"]["displayName"] = "pl_nested"
    (folder / ".platform").write_text(json.dumps(platform))
    content = json.loads((folder / "pipeline-content.json").read_text())
    inner = content["properties"]["activities"].pop()
    content["properties"]["activities"].append(
        {"name": "Each", "type": "ForEach", "dependsOn": [], "typeProperties": {"activities": [inner]}})
    (folder / "pipeline-content.json").write_text(json.dumps(content))
    ids = deployed_ids()

    sent = json.loads(decode_parts(pipeline_definition(folder, workspace_id=WS, notebook_ids=ids).parts)[
        "pipeline-content.json"])
    nested = sent["properties"]["activities"][-1]["typeProperties"]["activities"][0]
    assert nested["typeProperties"]["notebookId"] == ids[inner["typeProperties"]["notebookId"]]
    assert nested["typeProperties"]["workspaceId"] == WS


def test_same_inputs_give_byte_identical_parts_and_the_same_hash():
    """Building a definition twice gives the same parts and hash; another environment id changes the hash."""
    first = notebook_definition(BRONZE, environment_id=ENV, workspace_id=WS)
    again = notebook_definition(BRONZE, environment_id=ENV, workspace_id=WS)
    other = notebook_definition(BRONZE, environment_id="another-env", workspace_id=WS)
    pipelines = [pipeline_definition(PIPELINE, workspace_id=WS, notebook_ids=deployed_ids()) for _ in range(2)]

    assert first.parts == again.parts and first.content_hash == again.content_hash
    assert other.content_hash != first.content_hash
    assert pipelines[0].parts == pipelines[1].parts and pipelines[0].content_hash == pipelines[1].content_hash


def test_content_hash_does_not_depend_on_part_order():
    """The hash is over the parts sorted by path."""
    parts = list(notebook_definition(BRONZE).parts)
    assert content_hash(parts) == content_hash(list(reversed(parts)))
    assert content_hash(parts) != content_hash(parts[:1])


def test_spark_job_definition_is_v2_with_settings_main_file_and_platform_bound_to_the_deployment():
    """The streaming job goes out as SparkJobDefinitionV2: its settings name the deployed Environment and default
    lakehouse and carry the stack's arguments after the repo's own; the main file travels inline, byte for byte."""
    definition = spark_job_definition(STREAM_JOB, environment_id=ENV, lakehouse_id=LAKEHOUSE, arguments={
        "key-vault-url": "https://kv-altaviz.vault.azure.net/", "environment": "prod"})
    parts = decode_parts(definition.parts)
    assert definition.format == "SparkJobDefinitionV2" and definition.item_type == "SparkJobDefinition"
    assert sorted(parts) == [".platform", "Main/bronze_stream_job.py", "SparkJobDefinitionV1.json"]
    settings = json.loads(parts["SparkJobDefinitionV1.json"])
    assert (settings["environmentArtifactId"], settings["defaultLakehouseArtifactId"]) == (ENV, LAKEHOUSE)
    assert settings["commandLineArguments"] == ("--trigger continuous --environment prod "
                                                "--key-vault-url https://kv-altaviz.vault.azure.net/")
    assert settings["retryPolicy"] == {"policyType": "SimpleRetry",
                                       "policyProperties": {"retryCount": -1, "intervalBetweenRetriesInSeconds": 60}}
    assert parts["Main/bronze_stream_job.py"] == (STREAM_JOB / "Main" / "bronze_stream_job.py").read_bytes()
    assert definition.content_hash == spark_job_definition(STREAM_JOB, environment_id=ENV, lakehouse_id=LAKEHOUSE,
                                                           arguments={"environment": "prod", "key-vault-url":
                                                                      "https://kv-altaviz.vault.azure.net/"}
                                                           ).content_hash
    assert definition.content_hash != spark_job_definition(STREAM_JOB, environment_id=ENV).content_hash


def test_spark_job_argument_with_a_space_is_refused():
    """Fabric splits the command line on spaces: a value holding one would arrive as two arguments."""
    with pytest.raises(PipelineError, match="argument --environment 'pro d' must be one non-empty word"):
        spark_job_definition(STREAM_JOB, arguments={"environment": "pro d"})


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.update(retryPolicy={"policyType": "Exponential"}), "retryPolicy must be"),
    (lambda s: s.update(retryPolicy={"policyType": "SimpleRetry", "policyProperties": {"retryCount": 0}}),
     "retryPolicy must be"),
    (lambda s: s.update(retryPolicy={"policyType": "SimpleRetry", "policyProperties": {
        "retryCount": 3, "intervalBetweenRetriesInSeconds": 90000}}), "retryPolicy must be"),
    (lambda s: s.update(executableFile="other.py"), "executableFile must be the name of the one file in Main/"),
    (lambda s: s.update(language="Scala"), "language must be 'Python'"),
    (lambda s: s.update(mainClas="x"), "unknown properties mainClas"),
    (lambda s: s.update(additionalLibraryUris=["helpers.py"]), "additionalLibraryUris must name exactly"),
], ids=["policy-type", "zero-retries", "interval-over-a-day", "main-missing", "language", "typo", "lib-missing"])
def test_a_spark_job_folder_fabric_would_refuse_is_refused_naming_the_file(tmp_path, change, message):
    """Settings Fabric answers 400 to (or that would not run the repo's main file) fail before any deployment."""
    folder = tmp_path / STREAM_JOB.name
    shutil.copytree(STREAM_JOB, folder)
    settings = json.loads((folder / "SparkJobDefinitionV1.json").read_text())
    change(settings)
    (folder / "SparkJobDefinitionV1.json").write_text(json.dumps(settings))
    with pytest.raises(PipelineError, match=message) as caught:
        read_spark_job(folder)
    assert "SparkJobDefinitionV1.json" in str(caught.value)


def test_every_repo_item_builds():
    """All repo notebooks, Spark Job Definitions and pipelines build into definitions (bound to made-up ids)."""
    for folder in find_items(NOTEBOOKS, "SparkJobDefinition"):
        assert spark_job_definition(folder, environment_id=ENV, lakehouse_id=LAKEHOUSE).content_hash
    for folder in find_items(NOTEBOOKS, "Notebook"):
        assert notebook_definition(folder, environment_id=ENV, workspace_id=WS).content_hash
    for folder in find_items(REPO / "pipelines", "DataPipeline"):
        assert pipeline_definition(folder, workspace_id=WS, notebook_ids=deployed_ids()).content_hash
