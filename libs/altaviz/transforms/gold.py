"""Gold transforms: hourly partial sums, trailing 1/4/24-hour windows over them, and per-sensor status.

The 4- and 24-hour windows are never computed from readings: each hour is summarised once (count, sums of
the centred value and of its square, min, max, first and last temperature), and a window adds up its 4 or 24
hourly summaries. Sums are of `value - centre` (the middle of the sensor's normal range) so that the sample
variance `(S2 - S1^2/n) / (n - 1)` does not lose precision to large magnitudes (pressures, gas flow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from altaviz.runtime import sqltext as sql
from altaviz.schemas import SENSOR_COLUMNS
from altaviz.thresholds import SensorThreshold, Thresholds

#: window_type -> hours covered, ending with (and including) the hour starting at agg_timestamp.
WINDOWS: dict[str, int] = {"1hr": 1, "4hr": 4, "24hr": 24}
TEMPERATURE = "discharge_temp_f"
HOUR_SECONDS = 3600


def centres(thresholds: Thresholds) -> dict[str, float]:
    """The value each sensor's sums are taken relative to: the middle of its normal range (0 without one)."""
    return {s: (sum(t.normal) / 2 if t.normal else 0.0) for s, t in thresholds.defaults.items()}


def hourly_partials(clean: DataFrame, centre: Mapping[str, float]) -> DataFrame:
    """One row per (compressor_id, hour) with the additive pieces every window needs.

    Columns: `compressor_id`, `_h` (hours since the epoch), `model`, `station_id`, `basin`, `reading_count`,
    `first_ts` / `last_ts`; per sensor `_n_`, `_s1_`, `_s2_`, `_min_`, `_max_`; `_n_pd`, `_s_pd` for the
    pressure differential; `_t0`, `_v0`, `_t1`, `_v1`: time and value of the first and last temperature.
    """
    aggs = ["max(model) AS model", "max(station_id) AS station_id", "max(basin) AS basin",
            "count(1) AS reading_count", "min(timestamp) AS first_ts", "max(timestamp) AS last_ts"]
    for s in SENSOR_COLUMNS:
        d = f"({sql.ident(s)} - {sql.double(centre.get(s, 0.0))})"
        aggs += [f"count({sql.ident(s)}) AS _n_{s}", f"sum({d}) AS _s1_{s}", f"sum({d} * {d}) AS _s2_{s}",
                 f"min({sql.ident(s)}) AS _min_{s}", f"max({sql.ident(s)}) AS _max_{s}"]
    differential = "(discharge_pressure_psi - suction_pressure_psi)"
    temp_time = f"CASE WHEN {sql.ident(TEMPERATURE)} IS NOT NULL THEN timestamp END"
    aggs += [f"count({differential}) AS _n_pd", f"sum({differential}) AS _s_pd",
             f"min({temp_time}) AS _t0", f"min_by({sql.ident(TEMPERATURE)}, {temp_time}) AS _v0",
             f"max({temp_time}) AS _t1", f"max_by({sql.ident(TEMPERATURE)}, {temp_time}) AS _v1"]
    hour = F.expr(f"CAST(unix_seconds(timestamp) / {HOUR_SECONDS} AS BIGINT)")
    return clean.groupBy("compressor_id", hour.alias("_h")).agg(*sql.exprs(aggs))


def _finish(parts: Mapping[str, str], centre: Mapping[str, float]) -> list[tuple[str, str]]:
    """Window statistics from summed parts (SQL texts), in output column order, as (name, SQL) pairs."""
    out = [("reading_count", f"CAST({parts['reading_count']} AS BIGINT)"),
           ("first_reading_at", parts["first_ts"]), ("last_reading_at", parts["last_ts"])]
    for s in SENSOR_COLUMNS:
        n, s1, s2 = parts[f"_n_{s}"], parts[f"_s1_{s}"], parts[f"_s2_{s}"]
        variance = f"(({s2} - {s1} * {s1} / {n}) / ({n} - 1))"
        out += [(f"{s}_mean", f"CASE WHEN {n} > 0 THEN {sql.double(centre.get(s, 0.0))} + {s1} / {n} END"),
                (f"{s}_std", f"CASE WHEN {n} > 1 THEN sqrt(greatest({variance}, {sql.double(0.0)})) END"),
                (f"{s}_min", parts[f"_min_{s}"]), (f"{s}_max", parts[f"_max_{s}"])]
    out.append(("pressure_differential_mean",
                f"CASE WHEN {parts['_n_pd']} > 0 THEN {parts['_s_pd']} / {parts['_n_pd']} END"))
    elapsed = f"((unix_micros({parts['_t1']}) - unix_micros({parts['_t0']})) / {sql.double(HOUR_SECONDS * 1e6)})"
    out.append(("temp_rate_of_change_f_per_hr",
                f"CASE WHEN {elapsed} > 0 THEN ({parts['_v1']} - {parts['_v0']}) / {elapsed} END"))
    return out


def _combined(only: Callable[[str], str]) -> dict[str, str]:
    """How several hours' partials add up into a window: per partial column, its aggregate (SQL).

    `only(column)` is what each aggregate reads of a column (the column itself, or it under a condition).
    """
    parts = {c: f"sum({only(c)})" for c in ("reading_count", "_n_pd", "_s_pd")}
    for s in SENSOR_COLUMNS:
        parts.update({f"_n_{s}": f"sum({only(f'_n_{s}')})", f"_s1_{s}": f"sum({only(f'_s1_{s}')})",
                      f"_s2_{s}": f"sum({only(f'_s2_{s}')})", f"_min_{s}": f"min({only(f'_min_{s}')})",
                      f"_max_{s}": f"max({only(f'_max_{s}')})"})
    parts.update({"first_ts": f"min({only('first_ts')})", "last_ts": f"max({only('last_ts')})",
                  "_t0": f"min({only('_t0')})", "_v0": f"min_by({only('_v0')}, {only('_t0')})",
                  "_t1": f"max({only('_t1')})", "_v1": f"max_by({only('_v1')}, {only('_t1')})"})
    return parts


def window_aggregates(partials: DataFrame, centre: Mapping[str, float]) -> DataFrame:
    """For every (compressor_id, hour with readings): the 1hr, 4hr and 24hr windows ending with that hour.

    Returns one row per (compressor_id, agg_timestamp, window_type) with `model`, `station_id`, `basin`,
    `reading_count`, `first_reading_at`, `last_reading_at`, per sensor `<sensor>_mean/_std/_min/_max`, `pressure_differential_mean` and
    `temp_rate_of_change_f_per_hr` (last minus first temperature in the window over the hours between them).
    """
    windowed: list[str] = []  # window functions first, as plain columns (a generator cannot hold them)
    for window_type, hours in WINDOWS.items():
        if hours == 1:
            continue
        frame = (f"OVER (PARTITION BY compressor_id ORDER BY _h "
                 f"RANGE BETWEEN {hours - 1} PRECEDING AND CURRENT ROW)")
        windowed += [f"{agg} {frame} AS _{window_type}{name}" for name, agg in _combined(lambda c: c).items()]
    with_windows = partials.select("*", *sql.exprs(windowed))
    names = [c for c in partials.columns if c not in _KEYS]
    return _window_rows(with_windows, names, lambda window_type, c: c if WINDOWS[window_type] == 1
                        else f"_{window_type}{c}", centre)


_KEYS = ("compressor_id", "_h", "model", "station_id", "basin")


def _window_rows(frame: DataFrame, names: list[str], part: Callable[[str, str], str],
                 centre: Mapping[str, float]) -> DataFrame:
    """One row per window type from `frame`'s summed parts (`part(window_type, name)` is the column of each)."""
    structs = []
    for window_type in WINDOWS:
        fields = ", ".join(f"{sql.text(name)}, {expression}"
                           for name, expression in _finish({c: part(window_type, c) for c in names}, centre))
        structs.append(f"named_struct('window_type', {sql.text(window_type)}, {fields})")
    # `inline` turns the three window structs into three rows of plain columns in one expression.
    return frame.select(*_KEYS, F.expr(f"inline(array({', '.join(structs)}))")).select(
        "compressor_id", F.expr(f"timestamp_seconds(_h * {HOUR_SECONDS}) AS agg_timestamp"), "window_type",
        "_h", "model", "station_id", "basin", *[n for n, _ in _finish({c: c for c in names}, centre)])


def anchored_windows(partials: DataFrame, anchors: DataFrame, centre: Mapping[str, float]) -> DataFrame:
    """The 1hr, 4hr and 24hr windows ending with each hour with readings in a unit's `[_lo, _hi]` (timestamps).

    Same rows and columns as `window_aggregates` restricted to those anchors, built as one hash aggregation:
    each anchor (a partial's hour in its unit's range) is joined with its unit's partials of the 24 hours
    ending with it, and each of its windows is a conditional aggregate of that group. An hourly run anchors a
    unit on its one or two new hours, so it adds up ~24 partials per anchor instead of running sliding frames
    over every hour it reads.
    """
    longest = max(WINDOWS.values())
    bounds = anchors.select("compressor_id", *sql.exprs(
        f"CAST(unix_seconds({c}) DIV {HOUR_SECONDS} AS BIGINT) AS {c}" for c in ("_lo", "_hi")))
    ends = (partials.join(F.broadcast(bounds), "compressor_id").where("_h BETWEEN _lo AND _hi")
            .select("compressor_id", F.col("_h").alias("_a"), "model", "station_id", "basin"))
    spread = (partials.drop("model", "station_id", "basin").join(F.broadcast(ends), "compressor_id")
              .where(f"_h BETWEEN _a - {longest - 1} AND _a"))
    names = [c for c in partials.columns if c not in _KEYS]
    aggs = []
    for window_type, hours in WINDOWS.items():
        inside = "_h = _a" if hours == 1 else (None if hours == longest else f"_h > _a - {hours}")

        def only(column: str, inside: str | None = inside) -> str:
            return column if inside is None else f"IF({inside}, {column}, NULL)"

        aggs += [f"{agg} AS _{window_type}{name}" for name, agg in _combined(only).items()]
    grouped = spread.groupBy("compressor_id", F.col("_a").alias("_h"), "model", "station_id", "basin").agg(
        *sql.exprs(aggs))
    return _window_rows(grouped, names, lambda window_type, c: f"_{window_type}{c}", centre)


def _status(value: str, threshold: SensorThreshold) -> str:
    if not threshold.alerting:
        return f"CASE WHEN {value} IS NOT NULL THEN 'normal' END"
    op = threshold.comparison
    return (f"CASE WHEN {value} IS NULL THEN CAST(NULL AS STRING) "
            f"WHEN {value} {op} {sql.double(threshold.critical)} THEN 'critical' "
            f"WHEN {value} {op} {sql.double(threshold.warning)} THEN 'warning' ELSE 'normal' END")


def sensor_status(thresholds: Thresholds, sensor: str, value: str, model: str) -> str:
    """SQL for `normal` / `warning` / `critical` of a value (SQL) for the row's model (null without a value)."""
    status = _status(value, thresholds.defaults[sensor])
    for name, overrides in thresholds.overrides.items():
        if sensor in overrides:
            status = f"CASE WHEN {model} = {sql.text(name)} THEN {_status(value, overrides[sensor])} ELSE {status} END"
    return status


def with_status(aggregates: DataFrame, thresholds: Thresholds) -> DataFrame:
    """Add `<sensor>_status` for every sensor, judged on the window's mean with the row's model thresholds."""
    return aggregates.select("*", *sql.exprs(
        f"{sensor_status(thresholds, s, sql.ident(f'{s}_mean'), 'model')} AS {sql.ident(f'{s}_status')}" for s in SENSOR_COLUMNS))
