"""ML scoring: hourly predictions (`ml_predictions`), daily emissions (`emissions_daily`) and predictive alerts.

Each run scores the complete hours since the last scoring run (every stored hour on the first run), with a
registered model version. Features come from Gold's 1-hour windows and each unit-day's baseline: a day's
baselines are fitted once, from the `features.lookback_days` before it, by the first run that needs them, and
stored (`ml_baselines`); an hour then reads about two days of windows by date partition, so an hourly run costs
the same after a year as after a week. Baselines, features and predictions are computed in grouped pandas UDFs
over buckets of units, so a Fabric cluster spreads the work.
An hour's predictions are appended (MERGEd on their keys only when some of them are stored already: a window
scored again after a crash lost its run record); emissions and alerts are MERGEd on their keys. Re-running a
window rewrites the same rows.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from altaviz.ml import scoring
from altaviz.reports import MlReport
from altaviz.runtime.frames import as_utc, small_frame
from altaviz.runtime.side_by_side import beside, run_side_by_side
from altaviz.stages import StageResult, record_run
from altaviz.stages.gold_windows import floor_hour
from altaviz.tables import ML_RUNS, SENSOR_READINGS_AGG

if TYPE_CHECKING:
    from altaviz.ml.model import MaintenanceBundle
    from altaviz.ml.registry import ModelVersionRef
    from altaviz.runtime.context import RunContext

HOUR = timedelta(hours=1)


def _window(ctx: RunContext) -> tuple[int, datetime | None]:
    """Runs so far, and the first hour (start) not scored yet (None: never scored)."""
    from pyspark.sql import functions as F

    if not ctx.lakehouse.exists(ML_RUNS):
        return 0, None
    row = ctx.lakehouse.read(ML_RUNS).agg(F.count(F.lit(1)).alias("n"), F.max("scored_through").alias("t")).collect()[0]
    return row.n, as_utc(row.t)


def _first_hour(ctx: RunContext) -> datetime | None:
    from pyspark.sql import functions as F

    row = ctx.lakehouse.read(SENSOR_READINGS_AGG).agg(F.min("agg_timestamp").alias("t")).collect()[0]
    return as_utc(row.t)


def load_model(ctx: RunContext, version: str | None) -> tuple[MaintenanceBundle, ModelVersionRef]:
    """The registered model version to score with (None: the latest)."""
    from altaviz.ml import registry

    return registry.load(ctx.ml.model.name, version, uri=registry.tracking_uri(ctx.paths))  # type: ignore[return-value]


def run(ctx: RunContext, *, as_of: datetime | None = None, model_version: str | None = None,
        model: tuple[MaintenanceBundle, ModelVersionRef] | None = None) -> StageResult:
    """Score the complete hours up to `as_of` not scored yet; write predictions, emissions and predictive alerts.

    Raises:
        UsageError: No registered model (run `altaviz train` first) or no such version.
    """
    started = time.perf_counter()
    as_of = (as_of or ctx.clock()).astimezone(UTC)
    run_id = f"{ctx.clock().astimezone(UTC):%Y%m%dT%H%M%SZ}-{ctx.run_id}"
    if not ctx.lakehouse.exists(SENSOR_READINGS_AGG):
        return StageResult("ml", 0, 0, round(time.perf_counter() - started, 3),
                           MlReport(run_id, "no Gold windows yet: nothing to score", as_of=as_of.isoformat()))
    bundle, ref = model or load_model(ctx, model_version)
    runs, scored_through = _window(ctx)
    end = floor_hour(as_of)
    start = scored_through or _first_hour(ctx)
    if start is None or start >= end:
        return StageResult("ml", 0, 0, round(time.perf_counter() - started, 3),
                           MlReport(run_id, "no complete hour to score since the last run", as_of=as_of.isoformat(),
                                    model=ref.name, model_version=ref.version))
    ctx.progress(f"ml: scoring {(end - start) // HOUR:,} hour(s) from {start:%Y-%m-%d %H:%M} with "
                 f"{ref.name} v{ref.version}")
    parallel = ctx.lakehouse.backend.side_by_side
    # Small reads that depend only on the window, side by side.
    state = beside(functools.partial(scoring.alert_state, ctx, bundle, start), parallel=parallel)
    already_scored = beside(functools.partial(scoring.scored_before, ctx, start, end), parallel=parallel)
    scoring.ensure_baselines(ctx, bundle.settings.features, start, end)
    predictions = scoring.predictions_frame(ctx, bundle, ref, start, end, scored_at=ctx.clock().astimezone(UTC))
    written = scoring.write_predictions(ctx, predictions, start, end, already_scored=already_scored())
    # Emissions read the predictions just written; the alert lifecycle, the rows returned: different tables.
    emissions, advanced = run_side_by_side(
        [functools.partial(scoring.write_emissions, ctx, start, end),
         functools.partial(scoring.advance_alerts, ctx, bundle, written.hours, state(), start, end)], parallel=parallel)
    at_risk = scoring.at_risk(written.hours, end)
    record_run(ctx, ML_RUNS, small_frame(ctx.spark, [{
        "run_id": run_id, "as_of": as_of, "scored_from": start, "scored_through": end, "model": ref.name,
        "model_version": ref.version, "predictions": written.rows, "flagged_units": written.flagged_units,
        "alerts_changed": len(advanced.changed), "finished_at": ctx.clock().astimezone(UTC)}],
        ML_RUNS.columns()), runs)  # type: ignore[misc]
    report = MlReport(run_id, as_of=as_of.isoformat(), model=ref.name, model_version=ref.version,
                      scored_from=start.isoformat(), scored_through=end.isoformat(), predictions=written.rows,
                      flagged_units=written.flagged_units, emission_rows=emissions, alerts_opened=advanced.opened,
                      alerts_changed=len(advanced.changed), at_risk=at_risk, alerts=advanced.report_rows())
    return StageResult("ml", written.rows, written.rows, round(time.perf_counter() - started, 3), report)

