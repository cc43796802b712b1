"""Create, read, update and delete Fabric resources from Pulumi property bags: the logic behind the dynamic providers.

Each `Handler` works on plain dicts (the resource's inputs, and its outputs, which carry the inputs too), opens its
own `FabricClient` per call with a token from `fabric_token_provider()` and holds no state, so the pickled
providers in `altaviz.deploy.fabric_resources` stay tiny. `diff` never calls Fabric. The providers hand them
properties as the program wrote them (`pulumi_wire.from_engine`: ints, and UNKNOWN for values a preview does not
know yet). Tests drive the providers through Pulumi's provider protocol against a fake Fabric API.

`read` (refresh) picks up existence, names and descriptions, the environment's published wheel and schedules'
settings; it does not compare item definitions, because Fabric normalises the notebooks and pipelines it stores
and every refresh would otherwise look like drift.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from altaviz.deploy.definitions import (
    DefaultLakehouse,
    ItemDefinition,
    decode_parts,
    notebook_definition,
    pipeline_definition,
    spark_job_definition,
)
from altaviz.fabric.client import DEFAULT_BASE_URL, FabricClient
from altaviz.fabric.credentials import fabric_token_provider
from altaviz.fabric.gitformat import PLATFORM_FILE
from altaviz.fabric.items import DataPipelines, ItemRef, Lakehouses, Notebooks, SparkJobDefinitions, WorkspaceItems
from altaviz.fabric.jobs import Schedules

DEFAULT_API_URL = DEFAULT_BASE_URL
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN: a value not known during preview
SCHEDULE_TYPES = ("Cron", "Daily", "Weekly", "Monthly")
PROVIDER_KEY = "__provider"

log = logging.getLogger(__name__)


def notebook_inputs(workspace_id: str, folder: str | Path, *, environment_id: str | None = None,
                    display_name: str | None = None, description: str | None = None,
                    default_lakehouse: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The definition-derived inputs of a notebook resource (name, description, logicalId, format, parts, hash)."""
    lakehouse = (DefaultLakehouse(default_lakehouse["id"], default_lakehouse["name"], workspace_id)
                 if default_lakehouse else None)
    return _definition_inputs(notebook_definition(
        Path(folder), environment_id=environment_id, workspace_id=workspace_id, lakehouse=lakehouse,
        display_name=display_name, description=description))


def data_pipeline_inputs(workspace_id: str, folder: str | Path, notebook_ids: Mapping[str, str], *,
                         parameter_defaults: Mapping[str, str] | None = None, display_name: str | None = None,
                         description: str | None = None) -> dict[str, Any]:
    """The definition-derived inputs of a data pipeline resource: notebooks bound, parameter defaults set."""
    return _definition_inputs(pipeline_definition(Path(folder), workspace_id=workspace_id, notebook_ids=notebook_ids,
                                                  parameter_defaults=parameter_defaults, display_name=display_name,
                                                  description=description))


def spark_job_inputs(folder: str | Path, *, environment_id: str | None = None, lakehouse_id: str | None = None,
                     arguments: Mapping[str, str] | None = None, display_name: str | None = None,
                     description: str | None = None) -> dict[str, Any]:
    """The definition-derived inputs of a Spark Job Definition resource: Environment, lakehouse, arguments bound."""
    return _definition_inputs(spark_job_definition(Path(folder), environment_id=environment_id,
                                                   lakehouse_id=lakehouse_id, arguments=arguments,
                                                   display_name=display_name, description=description))


def _definition_inputs(definition: ItemDefinition) -> dict[str, Any]:
    return {"display_name": definition.display_name, "description": definition.description,
            "logical_id": definition.logical_id, "format": definition.format,
            "parts": [dict(p) for p in definition.parts], "content_hash": definition.content_hash}


@contextmanager
def fabric_client(props: Mapping[str, Any]) -> Iterator[FabricClient]:
    """A client for the resource's `api_url`, authenticated with `fabric_token_provider()`."""
    with FabricClient(fabric_token_provider(), base_url=props.get("api_url") or DEFAULT_API_URL) as client:
        yield client


def outputs(props: Mapping[str, Any], **computed: Any) -> dict[str, Any]:
    """Outputs: the inputs (so `diff` can compare against them) plus what the API computed."""
    return {**{k: v for k, v in props.items() if k != PROVIDER_KEY}, **computed}


def changed(olds: Mapping[str, Any], news: Mapping[str, Any], key: str) -> bool:
    return olds.get(key) != news.get(key)


class Handler:
    """The lifecycle of one resource type. `diff` compares `replace_keys` and `update_keys` only."""

    replace_keys: ClassVar[tuple[str, ...]] = ()
    update_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check(cls, news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The normalised inputs and (property, reason) problems."""
        return news, []

    @classmethod
    def diff(cls, olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[bool, list[str]]:
        """(changes?, properties forcing a replacement); no API call."""
        replaces = [key for key in cls.replace_keys if changed(olds, news, key)]
        return bool(replaces) or any(changed(olds, news, key) for key in cls.update_keys), replaces

    @classmethod
    def create(cls, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Create (or adopt) the resource; its id and outputs. Each resource type implements it."""
        raise NotImplementedError

    @classmethod
    def read(cls, resource_id: str, props: dict[str, Any]) -> dict[str, Any] | None:
        """The live state as outputs, or None when it is gone. Each resource type implements it."""
        raise NotImplementedError

    @classmethod
    def update(cls, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        """Apply the changed inputs in place; the new outputs. Each resource type implements it."""
        raise NotImplementedError

    @classmethod
    def delete(cls, resource_id: str, props: dict[str, Any]) -> None:
        """Remove what the stack created. Each resource type implements it."""
        raise NotImplementedError


class ItemHandler(Handler):
    """An item in a workspace: created or adopted by display name, renamed in place, replaced across workspaces."""

    items_class: ClassVar[type[WorkspaceItems]]
    id_output: ClassVar[str]
    replace_keys = ("workspace_id", "item_type")
    update_keys = ("display_name", "description")

    @classmethod
    def items(cls, client: FabricClient, props: Mapping[str, Any]) -> WorkspaceItems:
        return cls.items_class(client, props["workspace_id"])

    @classmethod
    def create(cls, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        description = props.get("description") or ""
        with fabric_client(props) as client:
            items = cls.items(client, props)
            ref = items.create(props["display_name"], description=description, **cls.create_kwargs(props))
            if ref.adopted and ref.description != description:
                items.update(ref.id, description=description)
            computed = cls.after_create(items, ref, props)
        return ref.id, outputs(props, **{cls.id_output: ref.id, "adopted": ref.adopted, **computed})

    @classmethod
    def create_kwargs(cls, props: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    @classmethod
    def after_create(cls, items: WorkspaceItems, ref: ItemRef, props: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    @classmethod
    def read(cls, resource_id: str, props: dict[str, Any]) -> dict[str, Any] | None:
        with fabric_client(props) as client:
            items = cls.items(client, props)
            ref = items.get(resource_id)
            if ref is None or ref.item_type != cls.items_class.item_type:
                return None
            computed = cls.after_read(items, ref, props)
        return outputs(props, display_name=ref.display_name, description=ref.description, **computed)

    @classmethod
    def after_read(cls, items: WorkspaceItems, ref: ItemRef, props: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    @classmethod
    def update(cls, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        with fabric_client(news) as client:
            items = cls.items(client, news)
            if changed(olds, news, "display_name") or changed(olds, news, "description"):
                items.update(resource_id, display_name=news["display_name"],
                             description=news.get("description") or "")
            computed = cls.after_update(items, resource_id, olds, news)
        kept = {key: olds.get(key) for key in cls.kept_outputs()}
        return outputs(news, **{**kept, cls.id_output: resource_id, "adopted": olds.get("adopted", False), **computed})

    @classmethod
    def kept_outputs(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def after_update(cls, items: WorkspaceItems, resource_id: str, olds: Mapping[str, Any],
                     news: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    @classmethod
    def delete(cls, resource_id: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            # It existed before this stack: `pulumi destroy` removes what the stack created and nothing else.
            log.warning("Leaving %s %r (%s): it was adopted, not created, by this stack",
                        cls.items_class.item_type, props.get("display_name"), resource_id)
            return
        with fabric_client(props) as client:
            if not cls.items(client, props).delete(resource_id):
                log.info("%s %s was already gone", cls.items_class.item_type, resource_id)


class LakehouseHandler(ItemHandler):
    """A schema-enabled lakehouse; outputs its SQL endpoint id and OneLake paths."""

    items_class = Lakehouses
    id_output = "lakehouse_id"

    @classmethod
    def after_create(cls, items: WorkspaceItems, ref: ItemRef, props: Mapping[str, Any]) -> dict[str, Any]:
        return cls.after_read(items, ref, props)

    @classmethod
    def after_read(cls, items: WorkspaceItems, ref: ItemRef, props: Mapping[str, Any]) -> dict[str, Any]:
        assert isinstance(items, Lakehouses)
        found = items.properties(ref.id)
        return {"sql_endpoint_id": found.sql_endpoint_id, "onelake_tables_path": found.onelake_tables_path,
                "onelake_files_path": found.onelake_files_path}

    @classmethod
    def kept_outputs(cls) -> tuple[str, ...]:
        return "sql_endpoint_id", "onelake_tables_path", "onelake_files_path"


class DefinitionItemHandler(ItemHandler):
    """An item deployed from a definition; the definition is rewritten only when its `content_hash` changes."""

    update_keys = ("display_name", "description", "content_hash")

    @classmethod
    def definition(cls, props: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"parts": [dict(p) for p in props["parts"]]}
        if props.get("format"):
            body["format"] = props["format"]
        return body

    @classmethod
    def create_kwargs(cls, props: Mapping[str, Any]) -> dict[str, Any]:
        return {"definition": cls.definition(props)}

    @classmethod
    def after_create(cls, items: WorkspaceItems, ref: ItemRef, props: Mapping[str, Any]) -> dict[str, Any]:
        if ref.adopted:
            live = items.get_definition(ref.id, format=props.get("format") or None)
            if _content(live.get("parts") or []) != _content(props["parts"]):
                log.info("Updating the definition of adopted %s %r", ref.item_type, ref.display_name)
                items.update_definition(ref.id, cls.definition(props))
        return {"logical_id": props.get("logical_id"), "content_hash": props["content_hash"]}

    @classmethod
    def after_update(cls, items: WorkspaceItems, resource_id: str, olds: Mapping[str, Any],
                     news: Mapping[str, Any]) -> dict[str, Any]:
        if changed(olds, news, "content_hash"):
            items.update_definition(resource_id, cls.definition(news))
        return {"logical_id": news.get("logical_id"), "content_hash": news["content_hash"]}


def _content(parts: list[Mapping[str, str]]) -> dict[str, bytes]:
    """The decoded parts that carry content (`.platform` metadata is applied by rename, not by definition)."""
    return {path: body for path, body in decode_parts(parts).items() if path != PLATFORM_FILE}


class NotebookHandler(DefinitionItemHandler):
    """A notebook from a repo folder."""

    items_class = Notebooks
    id_output = "notebook_id"


class DataPipelineHandler(DefinitionItemHandler):
    """A data pipeline from a repo folder, notebook references bound to deployed notebooks."""

    items_class = DataPipelines
    id_output = "pipeline_id"


class SparkJobDefinitionHandler(DefinitionItemHandler):
    """A Spark Job Definition from a repo folder (V2: settings plus inline main file)."""

    items_class = SparkJobDefinitions
    id_output = "spark_job_definition_id"


class ScheduleHandler(Handler):
    """A job schedule of an item; an identical existing schedule is adopted instead of duplicated."""

    replace_keys = ("workspace_id", "item_id", "job_type")
    update_keys = ("enabled", "configuration")

    @classmethod
    def check(cls, news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        config = news.get("configuration")
        if config == UNKNOWN:
            return news, []
        problems = []
        if not isinstance(config, Mapping):
            return news, [("configuration", "must be an object with type, startDateTime, endDateTime, localTimeZoneId")]
        if config.get("type") not in SCHEDULE_TYPES:
            problems.append(("configuration", f"type {config.get('type')!r} must be one of {', '.join(SCHEDULE_TYPES)}"))
        missing = [k for k in ("startDateTime", "endDateTime", "localTimeZoneId") if not config.get(k)]
        if missing:
            problems.append(("configuration", f"missing {', '.join(missing)}"))
        interval = config.get("interval")
        whole = isinstance(interval, int) and not isinstance(interval, bool)
        if config.get("type") == "Cron" and not (whole and 1 <= interval <= 5270400) and interval != UNKNOWN:
            reason = f"Cron interval {interval!r} must be a whole number of minutes, 1..5270400"
            problems.append(("configuration", reason))
        return news, problems

    @classmethod
    def schedules(cls, client: FabricClient, props: Mapping[str, Any]) -> Schedules:
        return Schedules(client, props["workspace_id"], props["item_id"], props.get("job_type") or "Execute")

    @classmethod
    def create(cls, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        enabled, config = bool(props.get("enabled", True)), dict(props["configuration"])
        with fabric_client(props) as client:
            schedules = cls.schedules(client, props)
            same = next((s for s in schedules.list() if _same_config(s.configuration, config)), None)
            if same is None:
                made = schedules.create(enabled=enabled, configuration=config)
            elif same.enabled != enabled:
                made = schedules.update(same.id, enabled=enabled, configuration=config)
            else:
                made = same
        return made.id, outputs(props, schedule_id=made.id, adopted=same is not None)

    @classmethod
    def read(cls, resource_id: str, props: dict[str, Any]) -> dict[str, Any] | None:
        with fabric_client(props) as client:
            found = cls.schedules(client, props).get(resource_id)
        if found is None:
            return None
        config = dict(props.get("configuration") or {})
        if not _same_config(found.configuration, config):
            config = found.configuration
        return outputs(props, enabled=found.enabled, configuration=config)

    @classmethod
    def update(cls, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        with fabric_client(news) as client:
            cls.schedules(client, news).update(resource_id, enabled=bool(news.get("enabled", True)),
                                               configuration=dict(news["configuration"]))
        return outputs(news, schedule_id=resource_id, adopted=olds.get("adopted", False))

    @classmethod
    def delete(cls, resource_id: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            log.warning("Leaving schedule %s: it was adopted, not created, by this stack", resource_id)
            return
        with fabric_client(props) as client:
            cls.schedules(client, props).delete(resource_id)


def _same_config(live: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """True when the live configuration has every wanted field with the wanted value (the API may add fields)."""
    return all(live.get(key) == value for key, value in wanted.items())
