"""`altaviz bench --scenario hourly`: what one production hour costs on top of N days of history.

The production schedule is hourly, so the number that matters is the cost of one fleet-hour increment once
months of data are stored. This scenario simulates `history_days + 1` days, runs Bronze, Silver and Gold over
the first `history_days` (untimed), scores them with the ML model (untimed), then lands the next day's arrival
hours one at a time and times each stage on each increment (a new hour per repeat, so every timed run has real new
data). ML scoring of one hour reads the `features.lookback_days` of Gold windows before it, so build at least that
much history for a production-like figure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altaviz.bench import BENCH_START, PeakMemory, jvm_pid, scoring_model, stage_summary

if TYPE_CHECKING:
    from altaviz.runtime.context import RunContext

HOURLY_STAGES = ("bronze", "silver", "gold", "ml_score")
#: Seconds allowed per fleet-hour increment of 4,700 units (scaled up for larger fleets).
LIMITS_PER_FLEET_HOUR: dict[str, float] = {"ml_score": 8.0}


def _hour_files(folder: Path) -> list[Path]:
    """A held-back day's landing files in arrival order (`telemetry_YYYYMMDD_HH.parquet`)."""
    return sorted(p for p in folder.glob("*.parquet"))


def _time_stage(action: Callable[[], int], memory: PeakMemory, timings: list[float], rows: list[int],
                peaks: list[dict[str, float]]) -> None:
    """Run one stage increment, appending its seconds, rows and peak memory."""
    memory.reset()
    started = clock.perf_counter()
    rows.append(action())
    timings.append(clock.perf_counter() - started)
    peaks.append(memory.read_mb())


def _build_history(ctx: RunContext, days: int, end: datetime, model_paths: Any,
                   progress: Callable[[str], None]) -> tuple[Any, str]:
    """Bronze, Silver, Gold and ML scoring over the stored days (not timed); the scoring model and its source."""
    from altaviz.stages import bronze, gold, ml, silver

    progress(f"bench: building {days} day(s) of history (Bronze, Silver, Gold, ML scoring; not timed)")
    started = clock.perf_counter()
    bronze.run(ctx)
    silver.run(ctx, as_of=end)
    gold.run(ctx, as_of=end)
    model, source = scoring_model(model_paths or ctx.paths, ctx, progress)
    if model is not None:
        ml.run(ctx, as_of=end, model=model)
    progress(f"bench: history built in {clock.perf_counter() - started:.0f}s (model: {source})")
    return model, source


def _time_hours(ctx: Any, hours: list[Path], landing_day: Path, history_end: datetime, model: Any,
                record: tuple[Any, dict, dict, dict], progress: Callable[[str], None]) -> None:
    """Land each held-back hour file in turn and time every stage on it (ml_score only with a model)."""
    from altaviz.stages import bronze, gold, ml, silver

    memory, timings, rows, peaks = record
    for number, hour_file in enumerate(hours, start=1):
        landing_day.mkdir(parents=True, exist_ok=True)
        shutil.move(str(hour_file), landing_day / hour_file.name)
        as_of = history_end + timedelta(hours=number)
        for stage, action in (("bronze", lambda: bronze.run(ctx).rows_out),
                              ("silver", lambda: silver.run(ctx, as_of=as_of).rows_in),  # noqa: B023
                              ("gold", lambda: gold.run(ctx, as_of=as_of).rows_in),  # noqa: B023
                              ("ml_score", lambda: ml.run(ctx, as_of=as_of, model=model).rows_in)):  # noqa: B023
            if stage == "ml_score" and model is None:
                continue
            _time_stage(action, memory, timings[stage], rows[stage], peaks[stage])
            progress(f"bench: hour {number}/{len(hours)} {stage}: {timings[stage][-1]:.2f}s "
                     f"({rows[stage][-1]:,} rows)")


def run_hourly_bench(*, compressors: int, history_days: int, repeat: int = 3, seed: int = 7, model_paths: Any = None,
                     progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Build `history_days` of history, then time `repeat` one-hour increments per stage; medians reported.

    Args:
        compressors: fleet size.
        history_days: days of telemetry stored before the timed hours (at least 1).
        repeat: timed increments (one new arrival hour each, at most 23).
        seed: simulator seed; progress: one line per step.
        model_paths: the lakehouse whose latest registered model scores (see `scoring_model`).

    Returns:
        The scenario, sizes, the Delta back end and, per stage, seconds, median, rows/s and peak memory.
    """
    from altaviz.lakehouse.lakehouse import select_backend
    from altaviz.lakehouse.paths import LocalLakehousePaths
    from altaviz.runtime.context import RunContext
    from altaviz.runtime.spark import get_spark
    from altaviz.simulator import simulate
    from altaviz.simulator.landing import LAKEHOUSE, LANDING_DIR
    spark = get_spark("altaviz-bench")
    memory = PeakMemory(jvm_pid(spark))
    timings: dict[str, list[float]] = {s: [] for s in HOURLY_STAGES}
    peaks: dict[str, list[dict[str, float]]] = {s: [] for s in HOURLY_STAGES}
    rows: dict[str, list[int]] = {s: [] for s in HOURLY_STAGES}
    history_end = datetime.combine(BENCH_START + timedelta(days=history_days), time(0), UTC)
    with tempfile.TemporaryDirectory(prefix="altaviz-bench-hourly-") as root:
        paths = LocalLakehousePaths(root)
        ctx = RunContext.create(spark, paths)
        progress(f"bench: simulating {compressors:,} compressors x {history_days + 1} day(s)")
        simulate(paths, compressors=compressors, days=history_days + 1, start=BENCH_START, seed=seed)
        landing = Path(paths.files_path(LAKEHOUSE, *LANDING_DIR))
        held = Path(root) / "held-back"
        shutil.move(str(landing / f"date={history_end:%Y-%m-%d}"), held)
        model, model_source = _build_history(ctx, history_days, history_end, model_paths, progress)
        lookback = ctx.ml.features.lookback_days
        if history_days < lookback:
            progress(f"bench: ml_score reads {lookback} days of Gold windows per hour in production; with "
                     f"{history_days} it reads less (and scores no unit on its first day)")
        hours = _hour_files(held)
        if len(hours) < repeat:
            raise ValueError(f"only {len(hours)} held-back hour(s) to time, {repeat} asked")
        _time_hours(ctx, hours[:repeat], landing / f"date={history_end:%Y-%m-%d}", history_end, model,
                    (memory, timings, rows, peaks), progress)
    return {
        "scenario": "hourly",
        "compressors": compressors,
        "history_days": history_days,
        "repeat": repeat,
        "cores": os.cpu_count(),
        "delta_backend": select_backend(spark).name,
        "model": model_source,
        "stages": [stage_summary(stage, round(sum(rows[stage]) / len(rows[stage])), timings[stage], peaks[stage],
                                 compressors, LIMITS_PER_FLEET_HOUR) for stage in HOURLY_STAGES if timings[stage]],
    }
