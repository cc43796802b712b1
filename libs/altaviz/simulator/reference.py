"""Reference tables of a simulated fleet: compressors, stations and basins, as Arrow tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from altaviz.simulator.fleet import Fleet


def _names(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.string()).take(pa.array(index))


def compressors_table(fleet: Fleet) -> pa.Table:
    """One row per compressor: identity, model and rating, station, basin, install date and location."""
    models = fleet.profile.models
    return pa.table({
        "compressor_id": fleet.compressor_ids,
        "model": _names([m.name for m in models], fleet.model),
        "manufacturer": _names([m.manufacturer for m in models], fleet.model),
        "driver": _names([m.driver for m in models], fleet.model),
        "rated_hp": pa.array(np.array([m.rated_hp for m in models])[fleet.model], type=pa.float64()),
        "station_id": fleet.station_ids.take(pa.array(fleet.station)),
        "basin": _names([b.name for b in fleet.profile.basins], fleet.basin),
        "install_date": pa.array(fleet.install_date.astype("datetime64[D]"), type=pa.date32()),
        "latitude": pa.array(fleet.latitude, type=pa.float64()),
        "longitude": pa.array(fleet.longitude, type=pa.float64()),
    })


def stations_table(fleet: Fleet) -> pa.Table:
    """One row per compressor station: id, name, basin, location and how many units it runs."""
    return pa.table({
        "station_id": fleet.station_ids,
        "station_name": fleet.station_names,
        "basin": _names([b.name for b in fleet.profile.basins], fleet.station_basin),
        "latitude": pa.array(fleet.station_latitude, type=pa.float64()),
        "longitude": pa.array(fleet.station_longitude, type=pa.float64()),
        "compressor_count": pa.array(np.bincount(fleet.station, minlength=len(fleet.station_ids)),
                                     type=pa.int32()),
    })


def basins_table(fleet: Fleet) -> pa.Table:
    """One row per basin the fleet operates in: states, region, centre, time zone and unit counts."""
    used = fleet.basins_used
    specs = [fleet.profile.basins[i] for i in used]
    units = np.bincount(fleet.basin, minlength=len(fleet.profile.basins))[used]
    stations = np.bincount(fleet.station_basin, minlength=len(fleet.profile.basins))[used]
    return pa.table({
        "basin": pa.array([b.name for b in specs], type=pa.string()),
        "code": pa.array([b.code for b in specs], type=pa.string()),
        "state": pa.array([", ".join(b.states) for b in specs], type=pa.string()),
        "region": pa.array([b.region for b in specs], type=pa.string()),
        "latitude": pa.array([b.center[0] for b in specs], type=pa.float64()),
        "longitude": pa.array([b.center[1] for b in specs], type=pa.float64()),
        "utc_offset_hours": pa.array([b.utc_offset_hours for b in specs], type=pa.float64()),
        "station_count": pa.array(stations, type=pa.int32()),
        "compressor_count": pa.array(units, type=pa.int32()),
    })
