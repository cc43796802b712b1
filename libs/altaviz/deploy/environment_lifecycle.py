"""The Environment lifecycle behind `FabricEnvironment`: stage the altaviz wheel and publish it, bounded.

The wheel is re-uploaded and republished only when its hash changes (the provider's diff), and even then not when
that exact wheel file is already the published one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from altaviz.deploy.fabric_lifecycle import ItemHandler, changed
from altaviz.errors import FabricApiError
from altaviz.fabric.items import Environments, ItemRef, WorkspaceItems

PUBLISH_IN_PROGRESS = ("Running", "Waiting")


class EnvironmentHandler(ItemHandler):
    """An Environment running the altaviz wheel; the wheel is staged and published only when its hash changes."""

    items_class = Environments
    id_output = "environment_id"
    update_keys = ("display_name", "description", "wheel_hash")

    @classmethod
    def after_create(cls, items: WorkspaceItems, ref: ItemRef, props: Mapping[str, Any]) -> dict[str, Any]:
        assert isinstance(items, Environments)
        return publish_wheel(items, ref.id, props)

    @classmethod
    def after_update(cls, items: WorkspaceItems, resource_id: str, olds: Mapping[str, Any],
                     news: Mapping[str, Any]) -> dict[str, Any]:
        assert isinstance(items, Environments)
        if changed(olds, news, "wheel_hash"):
            return publish_wheel(items, resource_id, news)
        return {"published_version": olds.get("published_version"), "published_wheel": olds.get("published_wheel")}

    @classmethod
    def after_read(cls, items: WorkspaceItems, ref: ItemRef, props: Mapping[str, Any]) -> dict[str, Any]:
        assert isinstance(items, Environments)
        wheel = _published_wheel(items, ref.id, str(props.get("published_wheel") or props.get("wheel_path") or ""))
        if wheel == props.get("published_wheel"):
            return {}
        # Someone published another build: forget the hash so the next deployment publishes ours again.
        return {"published_wheel": wheel, "published_version": _wheel_version(wheel) if wheel else None,
                "wheel_hash": ""}


def _same_distribution(library: str, wheel: str) -> bool:
    return library.endswith(".whl") and library.split("-")[0].lower() == wheel.split("-")[0].lower()


def _wheel_version(wheel: str) -> str:
    return wheel.split("-")[1] if wheel.count("-") >= 2 else ""


def _published_wheel(environments: Environments, environment_id: str, like: str) -> str | None:
    """The published custom wheel of the same distribution as `like` (a wheel file name or path), if any."""
    name = Path(like).name
    return next((lib["name"] for lib in environments.published_libraries(environment_id)
                 if _same_distribution(lib.get("name", ""), name)), None)


def publish_wheel(environments: Environments, environment_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """Make the environment run `props["wheel_path"]`: stage it (replacing older builds) and publish, bounded.

    Nothing is uploaded when that exact wheel file is already published (an adopted environment, or a publish
    that finished after an earlier deployment stopped waiting). A publish already running is waited for first.
    """
    wheel = Path(str(props["wheel_path"]))
    shown = str(props.get("display_name") or environment_id)
    max_wait = float(props.get("publish_timeout_minutes") or 30) * 60
    done = {"published_version": props.get("wheel_version") or _wheel_version(wheel.name),
            "published_wheel": wheel.name}
    if _published_wheel(environments, environment_id, wheel.name) == wheel.name:
        return done
    if not wheel.is_file():
        raise FabricApiError(f"Cannot publish environment {shown!r}: the wheel {wheel} does not exist (build it "
                             "with altaviz.deploy.wheel.build_wheel in the same run)")
    if environments.publish_state(environment_id) in PUBLISH_IN_PROGRESS:
        environments.wait_for_publish(environment_id, max_wait_seconds=max_wait, display_name=shown)
    staged = [lib.get("name", "") for lib in environments.staging_libraries(environment_id)]
    for name in staged:
        if _same_distribution(name, wheel.name) and name != wheel.name:
            environments.delete_staging_library(environment_id, name)
    if wheel.name not in staged:
        environments.upload_library(environment_id, wheel)
    environments.publish(environment_id, max_wait_seconds=max_wait, display_name=shown)
    return done


