"""Gold transforms: hourly partial sums, trailing 1/4/24-hour windows over them, and per-sensor status.

The 4- and 24-hour windows are never computed from readings: each hour is summarised once (count, sums of
the centred value and of its square, min, max, first and last temperature), and a window adds up its 4 or 24
hourly summaries. Sums are of `value - centre` (the middle of the sensor's normal range) so that the sample
variance `(S2 - S1^2/n) / (n - 1)` does not lose precision to large magnitudes (pressures, gas flow).
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

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
    aggs: list[Column] = [
        F.max("model").alias("model"), F.max("station_id").alias("station_id"), F.max("basin").alias("basin"),
        F.count(F.lit(1)).alias("reading_count"),
        F.min("timestamp").alias("first_ts"), F.max("timestamp").alias("last_ts")]
    for s in SENSOR_COLUMNS:
        d = F.col(s) - F.lit(centre.get(s, 0.0))
        aggs += [F.count(s).alias(f"_n_{s}"), F.sum(d).alias(f"_s1_{s}"), F.sum(d * d).alias(f"_s2_{s}"),
                 F.min(s).alias(f"_min_{s}"), F.max(s).alias(f"_max_{s}")]
    differential = F.col("discharge_pressure_psi") - F.col("suction_pressure_psi")
    temp_time = F.when(F.col(TEMPERATURE).isNotNull(), F.col("timestamp"))
    aggs += [F.count(differential).alias("_n_pd"), F.sum(differential).alias("_s_pd"),
             F.min(temp_time).alias("_t0"), F.min_by(TEMPERATURE, temp_time).alias("_v0"),
             F.max(temp_time).alias("_t1"), F.max_by(TEMPERATURE, temp_time).alias("_v1")]
    hour = (F.unix_seconds(F.col("timestamp")) / HOUR_SECONDS).cast("long")
    return clean.groupBy("compressor_id", hour.alias("_h")).agg(*aggs)


def _finish(parts: Mapping[str, Column], centre: Mapping[str, float]) -> list[Column]:
    """Window statistics from summed parts, in output column order (the window's struct fields)."""
    out = [parts["reading_count"].cast("long").alias("reading_count"),
           parts["first_ts"].alias("first_reading_at"), parts["last_ts"].alias("last_reading_at")]
    for s in SENSOR_COLUMNS:
        n, s1, s2 = parts[f"_n_{s}"], parts[f"_s1_{s}"], parts[f"_s2_{s}"]
        variance = (s2 - s1 * s1 / n) / (n - 1)
        out += [F.when(n > 0, F.lit(centre.get(s, 0.0)) + s1 / n).alias(f"{s}_mean"),
                F.when(n > 1, F.sqrt(F.greatest(variance, F.lit(0.0)))).alias(f"{s}_std"),
                parts[f"_min_{s}"].alias(f"{s}_min"), parts[f"_max_{s}"].alias(f"{s}_max")]
    out.append(F.when(parts["_n_pd"] > 0, parts["_s_pd"] / parts["_n_pd"]).alias("pressure_differential_mean"))
    elapsed = (F.unix_micros(parts["_t1"]) - F.unix_micros(parts["_t0"])) / (HOUR_SECONDS * 1e6)
    out.append(F.when(elapsed > 0, (parts["_v1"] - parts["_v0"]) / elapsed).alias("temp_rate_of_change_f_per_hr"))
    return out


def window_aggregates(partials: DataFrame, centre: Mapping[str, float]) -> DataFrame:
    """For every (compressor_id, hour with readings): the 1hr, 4hr and 24hr windows ending with that hour.

    Returns one row per (compressor_id, agg_timestamp, window_type) with `model`, `station_id`, `basin`,
    `reading_count`, `first_reading_at`, `last_reading_at`, per sensor `<sensor>_mean/_std/_min/_max`, `pressure_differential_mean` and
    `temp_rate_of_change_f_per_hr` (last minus first temperature in the window over the hours between them).
    """
    additive = ["reading_count", *[f"_{k}_{s}" for s in SENSOR_COLUMNS for k in ("n", "s1", "s2")],
                "_n_pd", "_s_pd"]
    ordered = Window.partitionBy("compressor_id").orderBy("_h")
    windowed: list[Column] = []  # window functions first, as plain columns (a generator cannot hold them)
    for window_type, hours in WINDOWS.items():
        if hours == 1:
            continue
        frame = ordered.rangeBetween(-(hours - 1), 0)
        parts = {c: F.sum(c).over(frame) for c in additive}
        for s in SENSOR_COLUMNS:
            parts[f"_min_{s}"] = F.min(f"_min_{s}").over(frame)
            parts[f"_max_{s}"] = F.max(f"_max_{s}").over(frame)
        parts.update({"first_ts": F.min("first_ts").over(frame), "last_ts": F.max("last_ts").over(frame),
                      "_t0": F.min("_t0").over(frame), "_v0": F.min_by("_v0", "_t0").over(frame),
                      "_t1": F.max("_t1").over(frame), "_v1": F.max_by("_v1", "_t1").over(frame)})
        windowed += [column.alias(f"_{window_type}{name}") for name, column in parts.items()]
    with_windows = partials.select("*", *windowed)
    names = [c for c in partials.columns if c not in ("compressor_id", "_h", "model", "station_id", "basin")]
    structs = []
    for window_type, hours in WINDOWS.items():
        parts = {c: F.col(c) if hours == 1 else F.col(f"_{window_type}{c}") for c in names}
        structs.append(F.struct(F.lit(window_type).alias("window_type"), *_finish(parts, centre)))
    exploded = with_windows.select("compressor_id", "_h", "model", "station_id", "basin",
                                   F.explode(F.array(*structs)).alias("_w"))
    agg_timestamp = F.timestamp_seconds(F.col("_h") * HOUR_SECONDS)
    return _flatten(exploded, agg_timestamp)


def _flatten(exploded: DataFrame, agg_timestamp: Column) -> DataFrame:
    """The exploded window structs as columns, after the key."""
    fields = [f.name for f in exploded.schema["_w"].dataType.fields if f.name != "window_type"]
    return exploded.select("compressor_id", agg_timestamp.alias("agg_timestamp"),
                           F.col("_w.window_type").alias("window_type"), "_h", "model", "station_id", "basin",
                           *[F.col(f"_w.{f}").alias(f) for f in fields])


def _status(value: Column, threshold: SensorThreshold) -> Column:
    if not threshold.alerting:
        return F.when(value.isNotNull(), F.lit("normal"))
    ops = {">=": Column.__ge__, ">": Column.__gt__, "<=": Column.__le__, "<": Column.__lt__}[threshold.comparison]
    return (F.when(value.isNull(), F.lit(None).cast("string"))
            .when(ops(value, F.lit(threshold.critical)), F.lit("critical"))
            .when(ops(value, F.lit(threshold.warning)), F.lit("warning"))
            .otherwise(F.lit("normal")))


def sensor_status(thresholds: Thresholds, sensor: str, value: Column, model: Column) -> Column:
    """`normal` / `warning` / `critical` of a value for the row's model (null without a value)."""
    status = _status(value, thresholds.defaults[sensor])
    for name, overrides in thresholds.overrides.items():
        if sensor in overrides:
            status = F.when(model == F.lit(name), _status(value, overrides[sensor])).otherwise(status)
    return status


def with_status(aggregates: DataFrame, thresholds: Thresholds) -> DataFrame:
    """Add `<sensor>_status` for every sensor, judged on the window's mean with the row's model thresholds."""
    return aggregates.select("*", *[
        sensor_status(thresholds, s, F.col(f"{s}_mean"), F.col("model")).alias(f"{s}_status")
        for s in SENSOR_COLUMNS])
