"""What Pulumi's provider protocol does to the Fabric providers, and how they are stored in a stack."""

from __future__ import annotations

import base64

import pytest
from fabric_stack import CRON, schedule_inputs, workspace_inputs
from provider_protocol import PROVIDER_KEY, ProviderError, from_struct, to_struct
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown
from pulumi.runtime import rpc

from altaviz.deploy import fabric_resources
from altaviz.deploy.fabric_resources import (
    DEFAULT_API_URL,
    DataPipelineProvider,
    EnvironmentProvider,
    LakehouseProvider,
    NotebookProvider,
    ScheduleProvider,
    WorkspaceProvider,
)
from altaviz.deploy.pulumi_wire import from_engine


def test_a_struct_turns_every_int_into_a_float():
    """The wire format itself: 60 goes in, 60.0 comes out, and a None inside an object disappears."""
    back = from_struct(to_struct({"configuration": {**CRON, "extra": None}, "enabled": True}))

    assert back["configuration"] == CRON and type(back["configuration"]["interval"]) is float
    assert back["enabled"] is True


def test_from_engine_restores_ints_and_unknowns_and_leaves_everything_else():
    """Whole floats become ints at any depth, Unknown becomes the UNKNOWN sentinel; fractions and bools stay."""
    sent = {"configuration": {"interval": 60.0, "occurrence": {"dayOfMonth": 2.0}}, "times": [1.0, 2.5],
            "publish_timeout_minutes": 0.003, "enabled": True, "name": "x", "missing": None,
            "role_assignments": [{"role": Unknown()}], "capacity_id": Unknown()}

    restored = from_engine(sent)

    assert restored == {"configuration": {"interval": 60, "occurrence": {"dayOfMonth": 2}}, "times": [1, 2.5],
                        "publish_timeout_minutes": 0.003, "enabled": True, "name": "x", "missing": None,
                        "role_assignments": [{"role": rpc.UNKNOWN}], "capacity_id": rpc.UNKNOWN}
    assert type(restored["configuration"]["interval"]) is int and type(restored["times"][1]) is float
    assert restored["enabled"] is True


def test_the_engine_holds_the_pickled_provider_and_floats(fake_fabric, engine):
    """The state keeps `__provider` (the dill pickle) and the numbers as floats; the outputs a test sees omit it."""
    ws = fake_fabric.add_workspace("ws")
    item = fake_fabric.add_item(ws, "DataPipeline", "pl")
    engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, item))

    stored = rpc.deserialize_properties(engine.state["s"].outputs)

    assert stored[PROVIDER_KEY] == serialize_provider(ScheduleProvider())
    assert type(stored["configuration"]["interval"]) is float
    assert PROVIDER_KEY not in engine.state["s"].outs


def test_a_provider_exception_reaches_the_engine_with_its_message(fake_fabric, engine):
    """An error raised in Create comes back over gRPC with its message (the fake's 404 here) and nothing is stored."""
    with pytest.raises(ProviderError, match=r"^Create: (?:altaviz\.fabric\.client\.FabricHttpError|Exception calling application): .*HTTP 404 "
                                            r"WorkspaceNotFound") as raised:
        engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, "no-such-workspace", "item"))

    # Pulumi 3.224+ sends the traceback (its last line names the type); earlier engines send the message only.
    assert "no-such-workspace not found" in raised.value.traceback and "s" not in engine.state


def test_check_failures_stop_the_update_before_any_call(fake_fabric, engine):
    """An invalid input fails in Check: nothing is created and Fabric is not called."""
    with pytest.raises(Exception, match=r"configuration: type 'Hourly' must be one of"):
        engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, "ws", "item",
                                                          configuration={**CRON, "type": "Hourly"}))

    assert engine.state == {} and fake_fabric.calls == []


@pytest.mark.parametrize("provider", [WorkspaceProvider, LakehouseProvider, EnvironmentProvider, NotebookProvider,
                                      DataPipelineProvider, ScheduleProvider],
                         ids=lambda p: p.__name__)
def test_providers_pickle_by_reference_to_this_module(provider):
    """The serialized provider is a small reference to altaviz.deploy.fabric_resources, holding no credential."""
    blob = base64.b64decode(serialize_provider(provider()))

    assert len(blob) < 200
    assert b"altaviz.deploy.fabric_resources" in blob and provider.__name__.encode() in blob
    assert provider.__module__ == fabric_resources.__name__


def test_resources_aim_at_the_public_api_unless_told_otherwise(fake_fabric):
    """The default api_url is the public Fabric REST endpoint; the tests' inputs aim at the fake."""
    assert DEFAULT_API_URL == "https://api.fabric.microsoft.com/v1"
    assert fabric_resources.WorkspaceArgs(display_name="x").api_url == DEFAULT_API_URL
    assert workspace_inputs(fake_fabric)["api_url"].startswith("http://127.0.0.1:")
