"""`altaviz bench --scenario hourly`: what one production hour costs on top of N days of history.

The production schedule is hourly, so the number that matters is the cost of one fleet-hour increment once
months of data are stored. This scenario simulates `history_days + 1` days, runs Bronze, Silver and Gold over
the first `history_days` (untimed), then lands the next day's arrival hours one at a time and times each stage
on each increment (a new hour per repeat, so every timed run has real new data).
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

from altaviz.bench import BENCH_START, PeakMemory, jvm_pid, stage_summary

if TYPE_CHECKING:
    from altaviz.runtime.context import RunContext

HOURLY_STAGES = ("bronze", "silver", "gold")


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


def _build_history(ctx: RunContext, days: int, end: datetime, progress: Callable[[str], None]) -> None:
    """Bronze, Silver and Gold over the stored days (not timed)."""
    from altaviz.stages import bronze, gold, silver

    progress(f"bench: building {days} day(s) of history (Bronze, Silver, Gold; not timed)")
    started = clock.perf_counter()
    bronze.run(ctx)
    silver.run(ctx, as_of=end)
    gold.run(ctx, as_of=end)
    progress(f"bench: history built in {clock.perf_counter() - started:.0f}s")


def run_hourly_bench(*, compressors: int, history_days: int, repeat: int = 3, seed: int = 7,
                     progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Build `history_days` of history, then time `repeat` one-hour increments per stage; medians reported.

    Args:
        compressors: fleet size.
        history_days: days of telemetry stored before the timed hours (at least 1).
        repeat: timed increments (one new arrival hour each, at most 23).
        seed: simulator seed; progress: one line per step.

    Returns:
        The scenario, sizes, the Delta back end and, per stage, seconds, median, rows/s and peak memory.
    """
    from altaviz.lakehouse.lakehouse import select_backend
    from altaviz.lakehouse.paths import LocalLakehousePaths
    from altaviz.runtime.context import RunContext
    from altaviz.runtime.spark import get_spark
    from altaviz.simulator import simulate
    from altaviz.simulator.landing import LAKEHOUSE, LANDING_DIR
    from altaviz.stages import bronze, gold, silver

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
        _build_history(ctx, history_days, history_end, progress)
        hours = _hour_files(held)
        if len(hours) < repeat:
            raise ValueError(f"only {len(hours)} held-back hour(s) to time, {repeat} asked")
        for number, hour_file in enumerate(hours[:repeat], start=1):
            target = landing / f"date={history_end:%Y-%m-%d}" / hour_file.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(hour_file), target)
            as_of = history_end + timedelta(hours=number)
            for stage, action in (("bronze", lambda: bronze.run(ctx).rows_out),
                                  ("silver", lambda: silver.run(ctx, as_of=as_of).rows_in),  # noqa: B023
                                  ("gold", lambda: gold.run(ctx, as_of=as_of).rows_in)):  # noqa: B023
                _time_stage(action, memory, timings[stage], rows[stage], peaks[stage])
                progress(f"bench: hour {number}/{repeat} {stage}: {timings[stage][-1]:.2f}s "
                         f"({rows[stage][-1]:,} rows)")
    return {
        "scenario": "hourly",
        "compressors": compressors,
        "history_days": history_days,
        "repeat": repeat,
        "cores": os.cpu_count(),
        "delta_backend": select_backend(spark).name,
        "stages": [stage_summary(stage, round(sum(rows[stage]) / len(rows[stage])), timings[stage], peaks[stage],
                                 None) for stage in HOURLY_STAGES],
    }
