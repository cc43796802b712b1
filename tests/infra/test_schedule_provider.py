"""The schedule provider through Pulumi's provider protocol, where every number arrives as a float."""

from __future__ import annotations

import pytest
from fabric_stack import CRON, schedule_inputs
from provider_protocol import Engine, Plan

from altaviz.deploy.fabric_lifecycle import UNKNOWN
from altaviz.deploy.fabric_resources import ScheduleProvider

MONTHLY = {"type": "Monthly", "startDateTime": "2026-01-01T00:00:00", "endDateTime": "2099-12-31T23:59:00",
           "localTimeZoneId": "UTC", "recurrence": 1, "occurrence": {"occurrenceType": "DayOfMonth", "dayOfMonth": 2},
           "times": ["03:00"]}


@pytest.mark.parametrize("configuration", [CRON, MONTHLY], ids=["cron-interval", "monthly-recurrence-and-day"])
def test_schedule_integers_reach_fabric_as_json_integers(fake_fabric, engine, configuration):
    """60 travels to the provider as 60.0 (a protobuf Struct has one number type) and leaves it as 60 again."""
    ws = fake_fabric.add_workspace("ws")
    item = fake_fabric.add_item(ws, "DataPipeline", "pl")

    outs = engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, item, configuration=configuration))

    assert isinstance(outs["configuration"]["type"], str)
    assert any(isinstance(v, float) for v in outs["configuration"].values())  # as the engine holds it
    sent = next(c.body for c in fake_fabric.writes if c.method == "POST")
    assert sent["configuration"] == configuration
    ints = [sent["configuration"].get(k) for k in ("interval", "recurrence")] + [
        sent["configuration"].get("occurrence", {}).get("dayOfMonth")]
    assert all(type(v) is int for v in ints if v is not None)


def test_schedule_is_created_toggled_in_place_and_replaced_for_another_item(fake_fabric, engine):
    """enabled/configuration changes PATCH the schedule; another item id replaces it (create new, delete old)."""
    ws = fake_fabric.add_workspace("ws")
    one, two = fake_fabric.add_item(ws, "DataPipeline", "pl_one"), fake_fabric.add_item(ws, "DataPipeline", "pl_two")
    first = engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, one))["schedule_id"]
    fake_fabric.calls.clear()

    engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, one, enabled=False))
    assert fake_fabric.write_paths() == [f"PATCH /v1/workspaces/{ws}/items/{one}/jobs/Execute/schedules/{first}"]
    assert fake_fabric.schedules[first]["enabled"] is False
    engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, one, enabled=False,
                                                       configuration={**CRON, "interval": 30}))
    assert fake_fabric.schedules[first]["configuration"]["interval"] == 30
    moved = engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, two))["schedule_id"]

    assert list(fake_fabric.schedules) == [moved]
    assert fake_fabric.schedules[moved]["_item"] == two


def test_unchanged_schedule_is_no_call_and_refresh_keeps_it_unchanged(fake_fabric, engine):
    """The same inputs again call nothing; refresh reads the schedule and the next preview is still no change."""
    ws = fake_fabric.add_workspace("ws")
    item = fake_fabric.add_item(ws, "DataPipeline", "pl")
    engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, item))
    fake_fabric.calls.clear()

    engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, item))
    assert fake_fabric.calls == []
    engine.refresh("s")

    assert engine.preview("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, item)) == Plan("same")


def test_identical_existing_schedule_is_adopted_not_duplicated(fake_fabric, engine):
    """A schedule with the same configuration already on the item is adopted instead of creating a second one."""
    ws = fake_fabric.add_workspace("ws")
    item = fake_fabric.add_item(ws, "DataPipeline", "pl")
    first = engine.up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, item))

    again = Engine(engine.server, stack="other").up("s", ScheduleProvider(), schedule_inputs(fake_fabric, ws, item))

    assert again["schedule_id"] == first["schedule_id"] and again["adopted"] is True
    assert len(fake_fabric.schedules) == 1


@pytest.mark.parametrize(("configuration", "reason"), [
    ({**CRON, "interval": 0}, "Cron interval 0 must be a whole number of minutes, 1..5270400"),
    ({**CRON, "interval": 90.5}, "Cron interval 90.5 must be a whole number of minutes, 1..5270400"),
    ({**CRON, "type": "Hourly"}, "type 'Hourly' must be one of Cron, Daily, Weekly, Monthly"),
], ids=["zero-interval", "fractional-interval", "unknown-type"])
def test_schedule_configuration_is_checked(fake_fabric, engine, configuration, reason):
    """Check rejects an interval out of range or not whole, and an unknown schedule type."""
    failures = engine.failures(ScheduleProvider(), schedule_inputs(fake_fabric, "ws", "item",
                                                                   configuration=configuration))

    assert failures == [("configuration", reason)]
    assert fake_fabric.calls == []


def test_schedule_not_known_during_preview_passes_check(fake_fabric, engine):
    """A configuration, or its interval, not known yet (Unknown objects on the wire) is no check failure."""
    assert engine.failures(ScheduleProvider(), schedule_inputs(fake_fabric, "ws", "item", configuration=UNKNOWN)) == []
    assert engine.failures(ScheduleProvider(), schedule_inputs(fake_fabric, "ws", "item",
                                                               configuration={**CRON, "interval": UNKNOWN})) == []
