"""Silver's rejection rules, registered by name for `config/quality.yaml` to declare (see altaviz.quality.rules).

Each returns the detail of why a reading breaks it, or null. They read the reading's columns plus what Silver
joins before the rules run: the compressor dimension (`_known`, `install_date`, see `with_reference`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from altaviz.errors import ConfigError
from altaviz.quality.registry import NoParams
from altaviz.quality.rules import REASON, RowEnv, register_rule, reject_when
from altaviz.runtime import sqltext as sql
from altaviz.runtime.frames import small_frame
from altaviz.runtime.side_by_side import beside
from altaviz.schemas import SENSOR_COLUMNS
from altaviz.transforms.silver import CADENCE, preferred_stats, stuck_events, unit_sensor_stats


def _positive(params: object, *names: str) -> None:
    for name in names:
        if not getattr(params, name) > 0:
            raise ConfigError(f"{name} must be > 0 (got {getattr(params, name)!r})")


@register_rule("null_required_field")
def null_required_field(_: NoParams, env: RowEnv) -> Column:
    """No unit, or no time (and no unparseable text standing for one)."""
    return reject_when(F.expr("compressor_id IS NULL OR (timestamp IS NULL AND unparsed_values IS NULL)"),
                       F.expr("concat('missing ', concat_ws(',', CASE WHEN compressor_id IS NULL THEN "
                              "'compressor_id' END, CASE WHEN timestamp IS NULL THEN 'timestamp' END))"))


@register_rule("unparseable_value")
def unparseable_value(_: NoParams, env: RowEnv) -> Column:
    """Bronze kept text that is not a number or a time."""
    return reject_when(F.col("unparsed_values").isNotNull(), F.concat(F.lit("could not parse "), "unparsed_values"))


@register_rule("unknown_compressor")
def unknown_compressor(_: NoParams, env: RowEnv) -> Column:
    """Not in `dim_compressor`."""
    return reject_when(F.col("_known").isNull(),
                       F.concat(F.lit("no compressor "), "compressor_id", F.lit(" in dim_compressor")))


@dataclass(frozen=True)
class FutureParams:
    """How far past the run's as-of time a reading may be stamped."""

    tolerance_minutes: float = 5.0

    def __post_init__(self) -> None:
        _positive(self, "tolerance_minutes")


@register_rule("future_timestamp", params=FutureParams)
def future_timestamp(params: FutureParams, env: RowEnv) -> Column:
    """Stamped after the run's as-of time plus a tolerance."""
    limit = f"{sql.literal(env.as_of)} + INTERVAL {int(params.tolerance_minutes * 60)} SECONDS"
    return reject_when(F.expr(f"timestamp > {limit}"), F.lit(f"timestamp after the as-of time {env.as_of.isoformat()}"))


@register_rule("before_commissioning")
def before_commissioning(_: NoParams, env: RowEnv) -> Column:
    """Before the unit's install date."""
    return reject_when(F.expr("timestamp < CAST(install_date AS TIMESTAMP)"),
                       F.concat(F.lit("before install date "), F.col("install_date").cast("string")))


@dataclass(frozen=True)
class LatenessParams:
    """How much older than the newest reading earlier runs stored a reading may be."""

    hours: float = 168.0

    def __post_init__(self) -> None:
        _positive(self, "hours")


@register_rule("late_beyond_lateness", params=LatenessParams)
def late_beyond_lateness(params: LatenessParams, env: RowEnv) -> Column:
    """Older than the newest reading earlier runs saw minus `hours` (never, before the first run)."""
    if env.newest_seen is None:
        return F.lit(None).cast("string")
    cutoff = env.newest_seen - timedelta(hours=params.hours)
    return reject_when(F.col("timestamp") < F.lit(cutoff),
                       F.lit(f"older than the lateness cut-off {cutoff.isoformat()}"))


@dataclass(frozen=True)
class PhysicalLimits:
    """Bounds outside which a sensor value cannot be physical, per sensor column."""

    vibration_mms: tuple[float, float] = (0.0, 100.0)
    discharge_temp_f: tuple[float, float] = (-60.0, 700.0)
    suction_pressure_psi: tuple[float, float] = (0.0, 1500.0)
    discharge_pressure_psi: tuple[float, float] = (0.0, 5000.0)
    horsepower_consumption: tuple[float, float] = (0.0, 20000.0)
    gas_flow_mcf: tuple[float, float] = (0.0, 200000.0)

    def __post_init__(self) -> None:
        for name, bounds in dataclasses.asdict(self).items():
            if len(bounds) != 2 or not bounds[0] < bounds[1]:
                raise ConfigError(f"{name} must be [low, high] with low < high (got {list(bounds)!r})")


@register_rule("impossible_value", params=PhysicalLimits)
def impossible_value(limits: PhysicalLimits, env: RowEnv) -> Column:
    """A sensor value outside its physical bounds, or NaN; the detail names each such value."""
    beyond = {s: f"coalesce(isnan({sql.ident(s)}) OR {sql.ident(s)} < {sql.double(lo)} OR "
                 f"{sql.ident(s)} > {sql.double(hi)}, FALSE)"
              for s, (lo, hi) in dataclasses.asdict(limits).items()}
    detail = "concat_ws(', ', " + ", ".join(
        f"CASE WHEN {flag} THEN concat({sql.text(s + '=')}, CAST({sql.ident(s)} AS STRING)) END"
        for s, flag in beyond.items()) + ")"
    return reject_when(F.expr(" OR ".join(beyond.values())), F.expr(detail))


@dataclass(frozen=True)
class StuckParams:
    """How many readings in a row of one unchanged value make a sensor stuck (6 = 30 minutes)."""

    readings: int = 6

    def __post_init__(self) -> None:
        if self.readings < 2:
            raise ConfigError(f"readings must be >= 2 (got {self.readings})")


def _stuck_prepare(frame: DataFrame, params: StuckParams, env: RowEnv, begun: Any) -> DataFrame:
    """Attach `_stuck` (the stuck sensors, or null): the few stuck readings are found once and broadcast."""
    env.progress("silver: looking for stuck sensors")
    stuck = frame.transform(stuck_events(env.context, params.readings)).collect()
    return frame.join(F.broadcast(small_frame(env.spark, stuck, "event_id string, _stuck string")), "event_id", "left")


@register_rule("stuck_sensor", params=StuckParams, prepare=_stuck_prepare,
               lookback=lambda p: CADENCE * p.readings)
def stuck_sensor(params: StuckParams, env: RowEnv) -> Column:
    """A sensor repeating one value `readings` times in a row, counting the unit's stored clean readings."""
    return reject_when(F.col("_stuck").isNotNull(), F.concat(F.lit("repeating value: "), "_stuck"))


@dataclass(frozen=True)
class OutlierParams:
    """The outlier test. A sensor value is an outlier when it is

    - beyond `sigma` standard deviations of the unit's mean over its trailing `history_hours` of clean
      readings (with fewer than `min_history` of those, the batch's readings stand in), and
    - as far from each of the unit's last two readings within `previous_within_minutes` (a jump, not a
      trend; the reading after a spike is back near the one before it), and
    - isolated: with it, the unit's sensor jumped so fewer than `recurring` times in the trailing
      `history_hours` (repeated jumps, like a worn bearing's impacts, are a pattern, not noise).
    """

    sigma: float = 4.0
    history_hours: float = 24.0
    min_history: int = 48
    previous_within_minutes: float = 30.0
    recurring: int = 3

    def __post_init__(self) -> None:
        _positive(self, "sigma", "history_hours", "previous_within_minutes")
        if self.min_history < 2:
            raise ConfigError(f"min_history must be >= 2 (got {self.min_history})")
        if self.recurring < 2:
            raise ConfigError(f"recurring must be >= 2 (got {self.recurring})")


def _outlier_begin(params: OutlierParams, env: RowEnv) -> Any:
    """Start the per-unit statistics of the trailing hours (they need no labels): returns what waits for them."""
    start = env.span[0]
    history = env.clean_between(start - timedelta(hours=params.history_hours), start)
    return None if history is None else beside(unit_sensor_stats(history).collect, parallel=env.side_by_side)


def _bands(sigma: float) -> tuple[dict[str, Column], Column]:
    """Per sensor, `_band_<s>` (sigma standard deviations, null when the unit's std is not positive) as a Column
    over a frame joined with `unit_sensor_stats`, the beyond-the-band flags, and whether any sensor is beyond."""
    band = {s: F.when(F.col(f"_std_{s}") > 0, F.col(f"_std_{s}") * F.lit(sigma)) for s in SENSOR_COLUMNS}
    beyond = {s: F.when(F.abs(F.col(s) - F.col(f"_mean_{s}")) > band[s], band[s]) for s in SENSOR_COLUMNS}
    any_beyond = F.lit(False)
    for value in beyond.values():
        any_beyond = any_beyond | value.isNotNull()
    return beyond, any_beyond


def _suspects(passing: DataFrame, stats: DataFrame, sigma: float) -> list[Any]:
    """So-far clean readings beyond the band of their unit's statistics: id, unit, time, values, and per sensor
    `_band_<s>` (the band where the value is beyond it, else null)."""
    beyond, any_beyond = _bands(sigma)
    return (passing.join(F.broadcast(stats), "compressor_id", "left").where(any_beyond)
            .select("event_id", "compressor_id", "timestamp", *SENSOR_COLUMNS,
                    *[beyond[s].alias(f"_band_{s}") for s in SENSOR_COLUMNS]).collect())


def _previous(env: RowEnv, passing: DataFrame, suspects: list[Any], within: timedelta) -> dict[str, list[Any]]:
    """Each suspect's last two earlier readings within `within` (structs of time and values, newest first)
    among the so-far clean and the stored ones."""
    columns = ["compressor_id", "timestamp", *SENSOR_COLUMNS]
    pool = passing.select(*columns)
    if env.context is not None:
        pool = pool.unionByName(env.context.select(*columns))
    keys = small_frame(env.spark, [{"_event_id": r.event_id, "compressor_id": r.compressor_id, "_at": r.timestamp}
                                   for r in suspects], "_event_id string, compressor_id string, _at timestamp")
    earlier = (pool.join(F.broadcast(keys), "compressor_id")
               .where((F.col("timestamp") < F.col("_at")) & (F.col("timestamp") >= F.col("_at") - F.lit(within)))
               .groupBy("_event_id")
               .agg(F.slice(F.sort_array(F.collect_list(F.struct("timestamp", *SENSOR_COLUMNS)), asc=False), 1, 2)
                    .alias("_prev")))
    return {r._event_id: r._prev for r in earlier.collect()}


def _stored_jumps(stored: DataFrame, units: list[str], stats: DataFrame, params: OutlierParams) -> list[Any]:
    """The suspects' units' stored clean readings that were jumps (as `_jumped` tests new ones): unit, time
    and per sensor whether it jumped."""
    from pyspark.sql import Window

    within = F.lit(timedelta(minutes=params.previous_within_minutes))
    order = Window.partitionBy("compressor_id").orderBy("timestamp")
    beyond, any_beyond = _bands(params.sigma)
    rows = stored.where(F.col("compressor_id").isin(units)).select(
        "compressor_id", "timestamp", *SENSOR_COLUMNS,
        *[F.lag(c, k).over(order).alias(f"_lag{k}_{c}") for k in (1, 2) for c in ("timestamp", *SENSOR_COLUMNS)])

    def away(s: str, k: int) -> Column:  # far from the k-th previous reading, or that one is too old or missing
        near = (F.col(f"_lag{k}_timestamp") >= F.col("timestamp") - within) & F.col(f"_lag{k}_{s}").isNotNull()
        return ~F.coalesce(near, F.lit(False)) | (F.abs(F.col(s) - F.col(f"_lag{k}_{s}")) > beyond[s])

    jumped = {s: beyond[s].isNotNull() & away(s, 1) & away(s, 2) for s in SENSOR_COLUMNS}
    return (rows.join(F.broadcast(stats.where(F.col("compressor_id").isin(units))), "compressor_id")
            .where(any_beyond).select("compressor_id", "timestamp", *[jumped[s].alias(s) for s in SENSOR_COLUMNS])
            .collect())


def _earlier_jumps(env: RowEnv, units: list[str], stats: DataFrame, params: OutlierParams
                  ) -> Callable[[], dict[tuple[str, str], list[Any]]]:
    """Start reading when `units` jumped in the trailing `history_hours` before this window (stored clean
    jumps and earlier outliers, side by side); returns what waits for them, per (unit, sensor)."""
    start, end = env.span[0] - timedelta(hours=params.history_hours), env.span[1]
    stored, earlier = env.clean_between(start, env.span[0]), env.rejected_between(start, end)
    reads = []
    if stored is not None:
        before = stored.where(F.col("timestamp") < F.lit(env.span[0]))
        reads.append(beside(lambda: [(r.compressor_id, r.timestamp, [s for s in SENSOR_COLUMNS if r[s]])
                                     for r in _stored_jumps(before, units, stats, params)],
                            parallel=env.side_by_side))
    if earlier is not None:
        sensors = F.split(F.substring_index("reject_detail", ": ", -1), ",")
        outliers = (earlier.where((F.col(REASON) == "outlier_4sigma") & F.col("compressor_id").isin(units))
                    .select("compressor_id", "timestamp", sensors.alias("_sensors")))
        reads.append(beside(lambda: [(r.compressor_id, r.timestamp, r._sensors) for r in outliers.collect()],
                            parallel=env.side_by_side))

    def wait() -> dict[tuple[str, str], list[Any]]:
        times: dict[tuple[str, str], list[Any]] = {}
        for read in reads:
            for unit, at, jumped in read():
                for s in jumped:
                    times.setdefault((unit, s), []).append(at)
        return times

    return wait


def _spikes(env: RowEnv, passing: DataFrame, suspects: list[Any], stats: DataFrame, params: OutlierParams
            ) -> list[dict[str, str]]:
    """`(event_id, _outlier)` of the suspects with a sensor that jumped and is not part of a recurring pattern."""
    # The earlier jumps of the suspects' units are read beside the lookup of their previous readings.
    earlier = _earlier_jumps(env, sorted({r.compressor_id for r in suspects}), stats, params)
    previous = _previous(env, passing, suspects, timedelta(minutes=params.previous_within_minutes))
    jumped = []
    for r in suspects:
        # A jump away from both of the last two readings: the reading after a spike, which is back near the
        # one before the spike, is no jump.
        sensors = [s for s in SENSOR_COLUMNS if r[f"_band_{s}"] is not None
                   and all(abs(r[s] - p[s]) > r[f"_band_{s}"] for p in previous.get(r.event_id, []) if p[s] is not None)]
        if sensors:
            jumped.append((r, sensors))
    excursions, span = earlier(), timedelta(hours=params.history_hours)
    for r, sensors in jumped:
        for s in sensors:
            excursions.setdefault((r.compressor_id, s), []).append(r.timestamp)
    spikes = []
    for r, sensors in jumped:
        isolated = [s for s in sensors if sum(r.timestamp - span <= t <= r.timestamp
                                              for t in excursions[(r.compressor_id, s)]) < params.recurring]
        if isolated:
            spikes.append({"event_id": r.event_id, "_outlier": ",".join(isolated)})
    return spikes


def _outlier_prepare(frame: DataFrame, params: OutlierParams, env: RowEnv, begun: Any) -> DataFrame:
    """Attach `_outlier` (the sensors that spiked, or null), from the rows every earlier rule passed."""
    passing = frame.where(F.col(REASON).isNull())
    batch = unit_sensor_stats(passing)
    history = None
    if begun is not None:
        env.progress(f"silver: per-unit statistics of the trailing {params.history_hours:g} hours")
        history = small_frame(env.spark, begun(), batch.schema)
    # One row per unit, collected once so the join below does not re-aggregate the window for every action.
    stats = small_frame(env.spark, preferred_stats(history, batch, params.min_history).collect(), batch.schema)
    suspects = _suspects(passing, stats, params.sigma)
    spikes = _spikes(env, passing, suspects, stats, params) if suspects else []
    return frame.join(F.broadcast(small_frame(env.spark, spikes, "event_id string, _outlier string")),
                      "event_id", "left")


@register_rule("outlier_4sigma", params=OutlierParams, prepare=_outlier_prepare, begin=_outlier_begin,
               after_passing=True, lookback=lambda p: timedelta(minutes=p.previous_within_minutes))
def outlier_4sigma(params: OutlierParams, env: RowEnv) -> Column:
    """An isolated spike (see `OutlierParams`). A unit drifting steadily towards failure moves a little per
    reading, so its trend is kept however far it goes; recurring excursions are kept as a pattern."""
    prefix = f"beyond {params.sigma:g} sigma of the unit's trailing mean and of its previous reading: "
    return reject_when(F.col("_outlier").isNotNull(), F.concat(F.lit(prefix), "_outlier"))
