"""Silver's last test, on the labelled batch the driver holds: per-unit outliers against trailing statistics.

Everything else is decided in Spark; the outlier test needs per-unit statistics of the readings that passed
every other test, which are cheap to compute on the collected batch (one vectorised group-by) and save a
second pass of the labelling plan over the window.
"""

from __future__ import annotations

from functools import reduce

import pyarrow as pa
import pyarrow.compute as pc

from altaviz.schemas import SENSOR_COLUMNS

OUTLIER_REASON = "outlier_4sigma"
#: Statistics columns, as `unit_sensor_stats` (Spark) names them: `_n`, `_mean_<sensor>`, `_std_<sensor>`.
STAT_COLUMNS = ("_n", *[f"_{kind}_{s}" for s in SENSOR_COLUMNS for kind in ("mean", "std")])


def batch_sensor_stats(batch: pa.Table) -> pa.Table:
    """Per compressor in `batch` (rows whose `reject_reason` is null): count, mean and sample std per sensor."""
    passing = batch.filter(pc.is_null(batch["reject_reason"])).select(["compressor_id", *SENSOR_COLUMNS])
    aggregates = [([], "count_all")]
    for s in SENSOR_COLUMNS:
        aggregates += [(s, "mean"), (s, "stddev", pc.VarianceOptions(ddof=1))]
    grouped = passing.group_by("compressor_id").aggregate(aggregates)
    columns = {"compressor_id": grouped["compressor_id"], "_n": grouped["count_all"]}
    for s in SENSOR_COLUMNS:
        columns[f"_mean_{s}"] = grouped[f"{s}_mean"]
        columns[f"_std_{s}"] = grouped[f"{s}_stddev"]
    return pa.table(columns)


def preferred_stats(history: pa.Table | None, batch: pa.Table, min_history: int) -> pa.Table:
    """Per unit, its trailing-history stats when they cover at least `min_history` readings, else the batch's.

    Args:
        history: stats of the unit's clean readings before the window (None when there is no clean table).
        batch: stats of the window's readings that passed every other test.
        min_history: readings of history a unit needs before its history is trusted.

    Returns:
        One row per unit found in either input, with the `STAT_COLUMNS`.
    """
    if history is None or history.num_rows == 0:
        return batch.select(["compressor_id", *STAT_COLUMNS])
    trusted = history.filter(pc.greater_equal(history["_n"], min_history))
    fallback = batch.filter(pc.invert(pc.is_in(batch["compressor_id"], value_set=trusted["compressor_id"])))
    columns = ["compressor_id", *STAT_COLUMNS]
    schema = pa.schema([batch.schema.field(c) for c in columns])
    return pa.concat_tables([trusted.select(columns).cast(schema), fallback.select(columns)])


def flag_outliers(batch: pa.Table, stats: pa.Table, sigma: float) -> pa.Table:
    """Reject as `outlier_4sigma` a so-far-valid reading beyond `sigma` standard deviations of its unit's mean.

    A sensor is only tested when its unit's standard deviation is positive; `reject_detail` lists the
    sensors beyond the band. Rows already rejected keep their reason.
    """
    def column(table: pa.Table, name: str) -> pa.Array:  # plain arrays: element-wise kernels need equal chunks
        return table[name].combine_chunks()

    position = pc.index_in(column(batch, "compressor_id"), value_set=column(stats, "compressor_id"))
    beyond = {}
    for s in SENSOR_COLUMNS:
        mean = column(stats, f"_mean_{s}").take(position)
        std = column(stats, f"_std_{s}").take(position)
        far = pc.greater(pc.abs(pc.subtract(column(batch, s), mean)), pc.multiply(std, sigma))
        beyond[s] = pc.fill_null(pc.and_(pc.greater(std, 0), far), False)
    reasons = column(batch, "reject_reason")
    candidate = pc.and_(pc.is_null(reasons), reduce(pc.or_, beyond.values()))
    if not pc.any(candidate).as_py():
        return batch
    # Each flagged sensor contributes "name,"; the trailing comma is trimmed. (No nulls: pyarrow 26 drops
    # rows whose inputs are all null from binary_join_element_wise with null_handling="skip".)
    parts = [pc.if_else(flag, pa.scalar(f"{s},"), pa.scalar("")) for s, flag in beyond.items()]
    names = pc.utf8_rtrim(pc.binary_join_element_wise(*parts, pa.scalar("")), characters=",")
    prefix = pa.scalar(f"beyond {sigma:g} sigma of the unit's trailing mean: ")
    detail = pc.binary_join_element_wise(prefix, names, pa.scalar(""))
    reason_at = batch.schema.get_field_index("reject_reason")
    detail_at = batch.schema.get_field_index("reject_detail")
    batch = batch.set_column(reason_at, "reject_reason",
                             pc.if_else(candidate, pa.scalar(OUTLIER_REASON), reasons))
    return batch.set_column(detail_at, "reject_detail", pc.if_else(candidate, detail, column(batch, "reject_detail")))
