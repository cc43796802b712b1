"""`altaviz bench`: time each stage on a fresh temporary lakehouse and report medians, throughput and memory."""

from __future__ import annotations

import os
import statistics
import tempfile
import time as clock
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

#: Seconds allowed per full fleet-day (4,700 units x 288 readings); scaled up for larger runs.
LIMITS_PER_FLEET_DAY: dict[str, float] = {"simulate": 5.0, "bronze": 30.0, "bronze_to_silver": 60.0,
                                          "silver_to_gold": 60.0, "ml_score": 30.0}
FLEET_DAY_UNITS = 4700
BENCH_START = date(2026, 1, 5)


class PeakMemory:
    """Peak resident memory (VmHWM) of this process and the Spark JVM, resettable between stages."""

    def __init__(self, jvm_pid: int | None) -> None:
        self.pids = {"python": os.getpid(), "jvm": jvm_pid}

    def reset(self) -> None:
        """Start measuring peaks afresh (Linux; elsewhere peaks stay cumulative)."""
        for pid in self.pids.values():
            if pid is None:
                continue
            try:  # "5" resets the peak RSS counter (Linux); elsewhere peaks are cumulative
                with open(f"/proc/{pid}/clear_refs", "w") as handle:
                    handle.write("5")
            except OSError:
                pass

    def read_mb(self) -> dict[str, float]:
        """Peak resident memory since the last reset, in MB, of `python` and `jvm` (0 when unknown)."""
        peaks = {}
        for name, pid in self.pids.items():
            peaks[name] = 0.0
            if pid is None:
                continue
            try:
                with open(f"/proc/{pid}/status") as handle:
                    for line in handle:
                        if line.startswith("VmHWM:"):
                            peaks[name] = int(line.split()[1]) / 1024
            except OSError:
                pass
        return peaks


def jvm_pid(spark: Any) -> int | None:
    """The process id of the session's JVM (local mode), or None when it cannot be seen."""
    proc = getattr(getattr(spark.sparkContext, "_gateway", None), "proc", None)
    return getattr(proc, "pid", None)


def stage_summary(stage: str, rows: int, seconds: list[float], peaks: list[dict[str, float]],
                  units: int | None, limits: dict[str, float] = LIMITS_PER_FLEET_DAY) -> dict[str, Any]:
    """Median seconds, rows/s and peak memory of one stage; its limit in `limits` (seconds per `FLEET_DAY_UNITS`
    units) scaled up to `units` (None: no limit)."""
    median = statistics.median(seconds)
    base = limits.get(stage) if units is not None else None
    limit = None if base is None else round(base * max(1.0, units / FLEET_DAY_UNITS), 2)
    return {
        "stage": stage,
        "rows": rows,
        "seconds": [round(s, 3) for s in seconds],
        "seconds_median": round(median, 3),
        "rows_per_second": round(rows / median, 1) if median > 0 else None,
        "limit_seconds": limit,
        "within_limit": None if limit is None else median <= limit,
        "peak_python_mb": round(max(p["python"] for p in peaks), 1),
        "peak_jvm_mb": round(max(p["jvm"] for p in peaks), 1),
    }


def scoring_model(model_paths: Any, ctx: Any, progress: Callable[[str], None]) -> tuple[Any | None, str]:
    """The model bench scoring uses, and where it came from.

    The latest version registered for `model_paths` (what `altaviz run` there scores with); else one fitted,
    untimed, on the bench lakehouse's own labelled Gold history; else None and why. Scoring costs the same
    whichever model it is: the settings fix the model's size.
    """
    from altaviz.ml import registry
    from altaviz.ml.fit import fit_bundle
    from altaviz.ml.registry import ML_LAKEHOUSE, MLFLOW_FOLDER, ModelVersionRef
    from altaviz.ml.settings import load_ml_settings
    from altaviz.ml.training import labelled_features
    from altaviz.thresholds import load_thresholds

    settings = load_ml_settings()
    name = settings.model.name
    store = Path(model_paths.files_path(ML_LAKEHOUSE, MLFLOW_FOLDER)) if model_paths.is_local else None
    if os.environ.get("MLFLOW_TRACKING_URI") or (store is not None and store.is_dir()):
        uri = registry.tracking_uri(model_paths)
        if registry.latest_version(name, uri=uri) is not None:
            bundle, ref = registry.load(name, None, uri=uri)
            return (bundle, ref), f"registered {ref.name} v{ref.version}"
    progress("bench: no registered model; fitting one on the bench fleet's history (not timed)")
    try:
        bundle, _ = fit_bundle(labelled_features(ctx), settings, load_thresholds())
    except ValueError as exc:
        return None, f"not timed: no registered model (run `altaviz train`) and {exc}"
    return (bundle, ModelVersionRef(name, "bench", "", "")), f"{name} fitted on the bench fleet"


def _simulated_rows(simulate: Callable[..., Any], paths: Any, compressors: int, days: int, seed: int) -> int:
    return simulate(paths, compressors=compressors, days=days, start=BENCH_START, seed=seed).readings


def _bronze_rows(bronze: Any, ctx: Any, field: str) -> int:
    return getattr(bronze.run(ctx), field)


def _silver_rows(silver: Any, ctx: Any, as_of: datetime) -> int:
    return silver.run(ctx, as_of=as_of).rows_in


def _gold_rows(gold: Any, ctx: Any, as_of: datetime) -> int:
    return gold.run(ctx, as_of=as_of).rows_in


def _scored_rows(ml: Any, ctx: Any, as_of: datetime, model: Any) -> int:
    return ml.run(ctx, as_of=as_of, model=model).rows_in


def _time_ml_days(spark: Any, *, compressors: int, repeat: int, seed: int, model_paths: Any,
                  timed: Callable[[str, Callable[[], int]], None], progress: Callable[[str], None]) -> str:
    """Time `ml_score` on `repeat` fleet-days, each scored on top of the `features.lookback_days` before it, as the
    daily catch-up in production reads them. Bronze, Silver and Gold of every day and the scoring of the lookback
    run first, untimed; Gold being complete beforehand changes nothing, since an hour's features read only the
    windows before it. The model's source."""
    from altaviz.lakehouse.paths import LocalLakehousePaths
    from altaviz.ml.settings import load_ml_settings
    from altaviz.runtime.context import RunContext
    from altaviz.simulator import simulate
    from altaviz.stages import bronze, gold, ml, silver

    lookback = load_ml_settings().features.lookback_days
    first = datetime.combine(BENCH_START, time(0), UTC)
    with tempfile.TemporaryDirectory(prefix="altaviz-bench-ml-") as root:
        paths = LocalLakehousePaths(root)
        ctx = RunContext.create(spark, paths)
        progress(f"bench: ml_score: building {lookback} day(s) of history and {repeat} scored day(s) for "
                 f"{compressors:,} compressors (not timed)")
        simulate(paths, compressors=compressors, days=lookback + repeat, start=BENCH_START, seed=seed)
        bronze.run(ctx)
        silver.run(ctx, as_of=first + timedelta(days=lookback + repeat))
        gold.run(ctx, as_of=first + timedelta(days=lookback + repeat))
        model, source = scoring_model(model_paths or paths, ctx, progress)
        if model is None:
            progress(f"bench: ml_score {source}")
            return source
        ml.run(ctx, as_of=first + timedelta(days=lookback), model=model)
        for day in range(lookback + 1, lookback + repeat + 1):
            timed("ml_score", partial(_scored_rows, ml, ctx, first + timedelta(days=day), model))
    return source


def _add_bronze_to_silver(timings: dict[str, list[float]], peaks: dict[str, list[dict[str, float]]],
                          rows: dict[str, int]) -> None:
    """Record the latest Bronze and Silver runs together as one `bronze_to_silver` run (sum of times, max of peaks)."""
    timings["bronze_to_silver"].append(timings["bronze"][-1] + timings["silver"][-1])
    peaks["bronze_to_silver"].append({k: max(peaks["bronze"][-1][k], peaks["silver"][-1][k])
                                      for k in peaks["bronze"][-1]})
    rows["bronze_to_silver"] = rows["bronze"]


def run_bench(*, compressors: int, days: int, repeat: int = 3, seed: int = 7, model_paths: Any = None,
              progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Simulate and ingest `repeat` times into fresh temporary lakehouses; return per-stage medians.

    Stages timed: `simulate` (generate and land Parquet), `bronze` (first ingest of those files),
    `silver` (validate that Bronze window), `bronze_to_silver` (the two together), `silver_to_gold`
    (windows, alerts and health tables from those clean rows), `bronze_rerun` (the same landing zone again: what
    an idempotent re-run costs) and `ml_score` (predictions, emissions and predictive alerts for one fleet-day on
    top of the features' lookback of stored Gold history, with the model `scoring_model` finds for `model_paths`;
    see `_time_ml_days`).
    """
    from altaviz.lakehouse.lakehouse import select_backend
    from altaviz.lakehouse.paths import LocalLakehousePaths
    from altaviz.runtime.context import RunContext
    from altaviz.runtime.spark import get_spark
    from altaviz.simulator import simulate
    from altaviz.stages import bronze, gold, silver

    started = clock.perf_counter()
    spark = get_spark("altaviz-bench")
    spark_startup = clock.perf_counter() - started
    memory = PeakMemory(jvm_pid(spark))
    timings: dict[str, list[float]] = {"simulate": [], "bronze": [], "silver": [], "bronze_to_silver": [],
                                       "silver_to_gold": [], "bronze_rerun": [], "ml_score": []}
    peaks: dict[str, list[dict[str, float]]] = {k: [] for k in timings}
    rows: dict[str, int] = {}

    def timed(stage: str, action: Callable[[], int]) -> None:
        memory.reset()
        t0 = clock.perf_counter()
        rows[stage] = action()
        timings[stage].append(clock.perf_counter() - t0)
        peaks[stage].append(memory.read_mb())
        progress(f"bench: {stage} run {len(timings[stage])}/{repeat}: {timings[stage][-1]:.2f}s")

    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="altaviz-bench-") as root:
            paths = LocalLakehousePaths(root)
            ctx = RunContext.create(spark, paths, progress=progress)
            timed("simulate", partial(_simulated_rows, simulate, paths, compressors, days, seed))
            timed("bronze", partial(_bronze_rows, bronze, ctx, "rows_in"))
            as_of = datetime.combine(BENCH_START + timedelta(days=days), time(0), UTC)
            timed("silver", partial(_silver_rows, silver, ctx, as_of))
            _add_bronze_to_silver(timings, peaks, rows)
            timed("silver_to_gold", partial(_gold_rows, gold, ctx, as_of))
            timed("bronze_rerun", partial(_bronze_rows, bronze, ctx, "rows_out"))
    model_source = _time_ml_days(spark, compressors=compressors, repeat=repeat, seed=seed, model_paths=model_paths,
                                 timed=timed, progress=progress)
    return {
        "compressors": compressors, "days": days, "repeat": repeat, "cores": os.cpu_count(),
        "delta_backend": select_backend(spark).name,
        "spark_startup_seconds": round(spark_startup, 3),
        "model": model_source,
        "stages": [stage_summary(stage, rows[stage], timings[stage], peaks[stage],
                                 compressors if stage == "ml_score" else compressors * days)  # ml_score: one day
                   for stage in timings if timings[stage]],
    }
