"""fleet_health and its roll-ups as pure functions of Gold's small state (no Spark)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from altaviz.schemas import SENSOR_COLUMNS
from altaviz.stages.gold_health import Newest, fleet_health, rollup

AS_OF = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
VALUES = dict(zip(SENSOR_COLUMNS, (3.0, 200.0, 55.0, 1050.0, 1400.0, 10000.0), strict=True))
DIMS = {u: {"compressor_id": u, "model": "Ariel JGK/4", "station_id": s, "basin": b, "latitude": 31.0,
            "longitude": -102.0} for u, s, b in (("U1", "ST-1", "Permian"), ("U2", "ST-1", "Permian"),
                                                   ("U3", "ST-2", "Bakken"), ("U4", "ST-2", "Bakken"))}
STATIONS = {"ST-1": {"station_id": "ST-1", "station_name": "One"}, "ST-2": {"station_id": "ST-2", "station_name": "Two"}}


def _previous(unit: str, last: datetime, status: str = "normal") -> dict:
    return {"compressor_id": unit, "last_reading_at": last, **VALUES, **{f"{s}_status": status for s in SENSOR_COLUMNS},
            "station_id": DIMS[unit]["station_id"], "model": "Ariel JGK/4", "basin": DIMS[unit]["basin"]}


def _rows(**overrides):
    arguments = {"units": DIMS, "previous": {}, "stations": STATIONS, "newest": {}, "latest_status": {},
                 "open_counts": {}, "as_of": AS_OF, "stale_after": timedelta(hours=3), **overrides}
    return {r["compressor_id"]: r for r in fleet_health(**arguments)}


def test_a_unit_takes_its_newest_reading_and_hour_statuses_and_keeps_what_it_had_otherwise():
    """New readings replace the values and time; the newest hour's statuses give the unit's status; a unit without
    new readings keeps its previous row, turning stale once silent for `stale_after`; one never heard from says so."""
    hot = {**{s: "normal" for s in SENSOR_COLUMNS}, "discharge_temp_f": "critical", "vibration_mms": "warning"}
    rows = _rows(previous={"U1": _previous("U1", AS_OF - timedelta(hours=1)),
                           "U2": _previous("U2", AS_OF - timedelta(hours=3), "warning")},
                 newest={"U1": Newest(AS_OF - timedelta(minutes=5), {**VALUES, "discharge_temp_f": 251.0,
                                                                       "station_id": "ST-1"})},
                 latest_status={"U1": hot}, open_counts={("U1", "critical"): 1, ("U2", "warning"): 2})
    u1, u2, u3 = rows["U1"], rows["U2"], rows["U3"]
    assert (u1["status"], u1["discharge_temp_f"], u1["last_reading_at"], u1["minutes_since_last_reading"]) == (
        "critical", 251.0, AS_OF - timedelta(minutes=5), 5.0)
    assert (u1["data_status"], u1["open_critical_alerts"], u1["station_name"]) == ("reporting", 1, "One")
    assert (u2["status"], u2["data_status"], u2["open_warning_alerts"]) == ("warning", "stale", 2)
    assert (u3["data_status"], u3["last_reading_at"], u3["status"]) == ("never_reported", None, "normal")
    assert rows["U1"]["as_of_date"] == AS_OF.date()


def test_an_older_reading_arriving_late_does_not_replace_a_newer_one():
    """A late reading from before the unit's last known reading leaves the newest values in place."""
    rows = _rows(previous={"U1": _previous("U1", AS_OF - timedelta(minutes=10))},
                 newest={"U1": Newest(AS_OF - timedelta(hours=2), {**VALUES, "vibration_mms": 9.9, "station_id": "ST-1"})})
    assert rows["U1"]["vibration_mms"] == VALUES["vibration_mms"]
    assert rows["U1"]["last_reading_at"] == AS_OF - timedelta(minutes=10)


def test_station_and_basin_rollups_count_units_by_status_and_add_up_open_alerts():
    """Each station counts its units by status and stale, sums their open alerts and names its worst status."""
    rows = list(_rows(previous={"U1": _previous("U1", AS_OF, "critical"), "U2": _previous("U2", AS_OF),
                                "U3": _previous("U3", AS_OF - timedelta(hours=5))},
                      open_counts={("U1", "critical"): 2, ("U2", "warning"): 1}).values())
    stations = {r["station_id"]: r for r in rollup(rows, "station_id", {})}
    assert (stations["ST-1"]["compressors"], stations["ST-1"]["units_critical"], stations["ST-1"]["units_normal"],
            stations["ST-1"]["open_critical_alerts"], stations["ST-1"]["open_warning_alerts"],
            stations["ST-1"]["worst_status"]) == (2, 1, 1, 2, 1, "critical")
    assert (stations["ST-2"]["compressors"], stations["ST-2"]["units_stale"]) == (2, 2)  # U3 stale, U4 never seen
    assert {r["basin"] for r in rollup(rows, "basin", {})} == {"Permian", "Bakken"}
