"""The Environment provider through Pulumi's provider protocol: stage and publish the wheel, only when it changed."""

from __future__ import annotations

import shutil

import pytest
from fabric_stack import environment_inputs
from provider_protocol import ProviderError

from altaviz.deploy.fabric_resources import EnvironmentProvider


def test_environment_is_created_with_the_wheel_published(fake_fabric, engine, wheel):
    """Create stages the wheel (octet-stream), publishes (202 operation) and outputs the published version."""
    ws = fake_fabric.add_workspace("ws")
    outs = engine.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel))

    env = outs["environment_id"]
    assert fake_fabric.published[env] == {wheel.name: b"PK first build"}
    assert (outs["published_version"], outs["published_wheel"]) == ("0.1.0+h000000000001", wheel.name)
    assert fake_fabric.publish_states[env] == "Success"


def test_unchanged_wheel_hash_uploads_and_publishes_nothing(fake_fabric, engine, wheel, tmp_path):
    """Same hash (even from another build folder): no call at all; a new hash: old wheel out, new in, publish."""
    ws = fake_fabric.add_workspace("ws")
    env = engine.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel))["environment_id"]
    fake_fabric.calls.clear()

    moved = tmp_path / "elsewhere" / wheel.name
    moved.parent.mkdir()
    shutil.copyfile(wheel, moved)
    engine.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, moved, publish_timeout_minutes=45))
    assert fake_fabric.calls == []

    new = tmp_path / "altaviz-0.1.0+h000000000002-py3-none-any.whl"
    new.write_bytes(b"PK second build")
    outs = engine.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, new))

    base = f"/v1/workspaces/{ws}/environments/{env}"
    assert fake_fabric.write_paths() == [f"DELETE {base}/staging/libraries/{wheel.name}",
                                         f"POST {base}/staging/libraries/{new.name}", f"POST {base}/staging/publish"]
    assert fake_fabric.published[env] == {new.name: b"PK second build"}
    assert outs["published_version"] == "0.1.0+h000000000002"


def test_publish_that_never_finishes_fails_clearly_after_the_bounded_wait(fake_fabric, engine, wheel):
    """A publish stuck Running fails the Create with a FabricApiError naming the environment and the minutes."""
    fake_fabric.publish_never_finishes = True
    ws = fake_fabric.add_workspace("ws")

    with pytest.raises(ProviderError, match=r"Create: (?:altaviz.errors.FabricApiError|Exception calling application): Publishing environment "
                                            r"'env_altaviz' \(.*\) did not finish within [\d.]+ minutes "
                                            r"\(limit 0.0\)"):
        engine.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel,
                                                                   publish_timeout_minutes=0.003))


def test_adopted_environment_already_running_the_wheel_is_not_republished(fake_fabric, engine, wheel):
    """An existing environment whose published libraries hold this exact wheel is adopted without upload or publish."""
    ws = fake_fabric.add_workspace("ws")
    env = fake_fabric.add_item(ws, "Environment", "env_altaviz")
    fake_fabric.published[env] = {wheel.name: b"PK first build"}

    outs = engine.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel))

    assert (outs["environment_id"], outs["adopted"]) == (env, True)
    assert fake_fabric.writes == []


def test_refresh_after_someone_published_another_build_makes_the_next_up_publish_ours(fake_fabric, engine, wheel):
    """A wheel published in the portal shows on refresh and forgets the hash, so `up` republishes the stack's wheel."""
    ws = fake_fabric.add_workspace("ws")
    env = engine.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel))["environment_id"]
    fake_fabric.published[env] = {"altaviz-0.1.0+h0000000000ff-py3-none-any.whl": b"PK someone else's"}

    refreshed = engine.refresh("env")
    fake_fabric.calls.clear()
    engine.up("env", EnvironmentProvider(), environment_inputs(fake_fabric, ws, wheel))

    assert (refreshed["published_version"], refreshed["wheel_hash"]) == ("0.1.0+h0000000000ff", "")
    assert fake_fabric.published[env] == {wheel.name: b"PK first build"}
    assert fake_fabric.write_paths()[-1] == f"POST /v1/workspaces/{ws}/environments/{env}/staging/publish"
