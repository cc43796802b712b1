"""Failure labels against unit-hours: which episode (if any) each hour falls in, and its hours to critical.

The simulator writes one label row per failure episode (`lh_bronze_raw` `Files/labels/failure_labels.parquet`):
onset, critical (severity 0.8), failure and back-in-service times. Training and evaluation join them to the
unit-hours the models score. An hour is judged at its end (the moment its prediction is made).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from altaviz.ml.features import utc

HOUR = pd.Timedelta(hours=1)
LABEL_COLUMNS = ("episode_id", "compressor_id", "failure_mode", "onset_time", "critical_time", "failure_time",
                 "repaired_time")


def read_labels(path: str) -> pd.DataFrame:
    """The label table as pandas, times as UTC timestamps."""
    import pyarrow.parquet as pq

    frame = pq.read_table(path, columns=list(LABEL_COLUMNS)).to_pandas()
    for c in ("onset_time", "critical_time", "failure_time", "repaired_time"):
        frame[c] = pd.to_datetime(frame[c], utc=True).astype("datetime64[ns, UTC]")
    return frame


def label_hours(hours: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """`hours` (with `compressor_id`, `hour`) plus, from the episode covering each hour's end:

    `episode_id` (-1: none), `failure_mode`, `state` (`healthy`, `degrading` before failure, `down` after it,
    until back in service), `hours_to_critical` (>= 0, degrading hours only) and `hours_to_failure`.
    """
    at = utc(hours["hour"]) + HOUR
    out = hours.copy()
    out["episode_id"] = -1
    out["failure_mode"] = None
    out["state"] = "healthy"
    out["hours_to_critical"] = np.nan
    out["hours_to_failure"] = np.nan
    if labels.empty or hours.empty:
        return out
    left = pd.DataFrame({"row": np.arange(len(hours)), "compressor_id": hours["compressor_id"].to_numpy(),
                         "at": at.to_numpy()}).sort_values("at")
    right = labels.astype({c: "datetime64[ns, UTC]" for c in LABEL_COLUMNS if c.endswith("_time")})
    right = right.sort_values("onset_time").rename(columns={"onset_time": "at"})
    joined = pd.merge_asof(left, right, on="at", by="compressor_id", direction="backward").sort_values("row")
    inside = joined["episode_id"].notna() & (joined["at"] < joined["repaired_time"])
    degrading = inside & (joined["at"] < joined["failure_time"])
    out["episode_id"] = np.where(inside, joined["episode_id"].fillna(-1), -1).astype(np.int64)
    out["failure_mode"] = np.where(inside, joined["failure_mode"], None)
    out["state"] = np.select([degrading.to_numpy(), inside.to_numpy()], ["degrading", "down"], "healthy")
    to_hours = (lambda t: ((t - joined["at"]).dt.total_seconds() / 3600.0).to_numpy())
    out["hours_to_critical"] = np.where(degrading, np.maximum(to_hours(joined["critical_time"]), 0.0), np.nan)
    out["hours_to_failure"] = np.where(degrading, to_hours(joined["failure_time"]), np.nan)
    return out
