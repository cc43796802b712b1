"""`altaviz train` and `altaviz evaluate`: fit and register the maintenance model, and judge it on an unseen fleet."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from altaviz.console import RootOption, lakehouse_paths, out, progress
from altaviz.errors import UsageError

if TYPE_CHECKING:
    from altaviz.ml.evaluation import Evaluation
    from altaviz.reports import StageResult


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise UsageError(f"{name} must be a positive integer (got {value})")
    return value


ProfileOption = Annotated[str | None, typer.Option(
    "--fleet-profile", help="A fleet profile YAML to simulate with (default: config/fleet.yaml): other noise, "
                            "degradation speeds or failure mix.", show_default=False)]


def _profile(path: str | None) -> Any:
    from altaviz.simulator.profiles import load_profile

    return None if path is None else load_profile(path)


def _spark() -> Any:
    from altaviz.runtime.spark import get_spark

    progress("starting Spark")
    return get_spark()


def train(
    seed: Annotated[list[int] | None, typer.Option(
        "--seed", help="A training fleet's seed (repeatable; default: training.seeds in config/ml.yaml).",
        show_default=False)] = None,
    compressors: Annotated[int | None, typer.Option(help="Units per training fleet (default: config).",
                                                    show_default=False)] = None,
    days: Annotated[int | None, typer.Option(help="Days per training fleet (default: config).",
                                             show_default=False)] = None,
    fleet_profile: ProfileOption = None,
    lakehouse_root: RootOption = None,
) -> None:
    """Simulate training fleets, run them through Bronze, Silver and Gold, fit and register a model version."""
    from altaviz.ml.training import train as run_training

    for name, value in (("--compressors", compressors), ("--days", days)):
        if value is not None:
            _positive(name, value)
    profile = _profile(fleet_profile)
    result = run_training(_spark(), lakehouse_paths(lakehouse_root), seeds=seed, compressors=compressors, days=days,
                          profile=profile, progress=progress)
    m = result.metrics
    out.print(f"registered {result.ref.name} v{result.ref.version} ({result.seconds:.0f}s): "
              f"{m['healthy_hours']:,.0f} healthy and {m['degrading_hours']:,.0f} degrading unit-hours from "
              f"{m['episodes']:.0f} failure(s) ({', '.join(f'{k} {v}' for k, v in sorted(result.mode_episodes.items()))}); "
              f"healthy hours flagged {m['healthy_flag_rate']:.2%}, degrading hours flagged "
              f"{m['degrading_flag_rate']:.1%}", highlight=False)


def _cell(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def print_evaluation(evaluation: Evaluation) -> None:
    """The evaluation table: one row per failure mode, then overall."""
    table = Table(title=f"{evaluation.model} v{evaluation.model_version} on seed {evaluation.seed}: "
                        f"{evaluation.compressors} compressors x {evaluation.days} days ({evaluation.seconds:.0f}s)")
    for column in ("failure mode", "failures", "detected", "recall", "median lead h", "p10 lead h",
                   "false alarms /100 d", "RUL MAE h", "RUL 80% coverage"):
        table.add_column(column, justify="left" if column == "failure mode" else "right")
    for r in evaluation.rows:
        table.add_row(r["failure_mode"], str(r["failures"]), str(r["detected"]), _cell(r["recall"]),
                      _cell(r["median_lead_hours"], "{:.0f}"), _cell(r["p10_lead_hours"], "{:.0f}"),
                      _cell(r["false_alarms_per_100_days"]), _cell(r["rul_mae_hours"], "{:.0f}"),
                      _cell(r["rul_interval_coverage"]))
    out.print(table)


def evaluate(
    compressors: Annotated[int, typer.Option(help="Fleet size.")] = 500,
    days: Annotated[int, typer.Option(help="Days simulated.")] = 30,
    seed: Annotated[int, typer.Option(help="Fleet seed (never one the model was trained on).")] = 20261,
    version: Annotated[str | None, typer.Option(help="Registered model version (default: the latest).",
                                                show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    fleet_profile: ProfileOption = None,
    lakehouse_root: RootOption = None,
) -> None:
    """Simulate a fresh fleet, run Bronze, Silver, Gold and scoring on it, and measure the model against the
    failure labels: recall, lead time, false alarms, RUL error and interval coverage (also into model_evaluations)."""
    from altaviz.ml.evaluation import evaluate as run_evaluation

    _positive("--compressors", compressors)
    _positive("--days", days)
    profile = _profile(fleet_profile)
    evaluation = run_evaluation(_spark(), lakehouse_paths(lakehouse_root), compressors=compressors, days=days,
                                seed=seed, version=version, profile=profile, progress=progress)
    if as_json:
        out.print_json(json.dumps({"evaluation_id": evaluation.evaluation_id, "model": evaluation.model,
                                   "model_version": evaluation.model_version, "seed": evaluation.seed,
                                   "compressors": compressors, "days": days, "metrics": evaluation.rows}))
    else:
        print_evaluation(evaluation)


def ensure_model(ctx: Any) -> None:
    """Train and register a model when the lakehouse has none yet (what `altaviz run` does on a first run)."""
    from altaviz.ml import registry
    from altaviz.ml.training import train as run_training

    if registry.latest_version(ctx.ml.model.name, uri=registry.tracking_uri(ctx.paths)) is not None:
        return
    t = ctx.ml.training
    progress(f"no registered model yet: training one on {len(t.seeds)} simulated fleet(s) of {t.compressors} "
             f"compressors x {t.days} days (once; `altaviz train` retrains)")
    result = run_training(ctx.spark, ctx.paths, progress=progress)
    out.print(f"train: registered {result.ref.name} v{result.ref.version} ({result.seconds:.0f}s)", highlight=False)


def print_ml(result: StageResult) -> None:
    """The scoring summary `altaviz run` prints: hours scored, flags, predictive alerts, the units most at risk."""
    r = result.report
    if getattr(r, "message", ""):
        out.print(f"ml: {r.message}", highlight=False)
        return
    out.print(f"ml: {r.predictions:,} prediction(s) with {r.model} v{r.model_version}, {r.flagged_units} unit(s) "
              f"flagged; {r.alerts_opened} predictive alert(s) opened, {r.alerts_changed} changed; "
              f"{r.emission_rows} emission row(s) ({result.seconds:.1f}s)", highlight=False)
    for unit in r.at_risk:
        rul = (f"RUL {unit['rul_hours']:.0f} h (80 %: {unit['rul_low_hours']:.0f}-{unit['rul_high_hours']:.0f} h)"
               if unit.get("rul_hours") is not None else "RUL unknown")
        out.print(f"  at risk: {unit['compressor_id']} ({unit['basin']}): {unit['failure_mode']}, {rul}; "
                  f"{', '.join(unit['contributing_sensors']) or '-'}", highlight=False)
