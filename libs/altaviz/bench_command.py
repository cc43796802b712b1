"""`altaviz bench`: time each stage (fleet-day, hourly or stream scenario) and print medians against the targets."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from altaviz.console import lakehouse_paths, out
from altaviz.console import progress as _progress
from altaviz.errors import UsageError


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise UsageError(f"{name} must be a positive integer (got {value})")
    return value


def _check_options(*, compressors: int, days: int, repeat: int, history_days: int, scenario: str) -> None:
    _positive("--compressors", compressors)
    _positive("--days", days)
    _positive("--repeat", repeat)
    _positive("--history-days", history_days)
    if scenario not in ("fleet-day", "hourly", "stream"):
        raise UsageError(f"--scenario must be fleet-day, hourly or stream, got {scenario!r}")
    if scenario == "hourly" and repeat > 23:
        raise UsageError(f"--repeat is at most 23 for the hourly scenario (new hours of one day), got {repeat}")


def bench(
    compressors: Annotated[int, typer.Option(help="Fleet size to time.")] = 4700,
    days: Annotated[int, typer.Option(help="Days of telemetry per run (fleet-day scenario).")] = 1,
    repeat: Annotated[int, typer.Option(help="Runs per stage; the median is reported.")] = 3,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    scenario: Annotated[str, typer.Option(
        help="fleet-day: whole days on fresh lakehouses; hourly: one fleet-hour increment per stage on top of "
             "--history-days of stored history, as the hourly schedule runs; stream: one fleet-hour of events "
             "batched for Event Hubs, sent to a loopback Kafka broker and streamed into Bronze.")] = "fleet-day",
    history_days: Annotated[int, typer.Option(help="Days of history before the timed hours (hourly).")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
    lakehouse_root: Annotated[str | None, typer.Option(
        "--lakehouse-root", help="Lakehouse whose latest registered model ML scoring is timed with (default: "
                                 "$ALTAVIZ_LAKEHOUSE_ROOT, else ./.lakehouse); without one, a model is fitted on the "
                                 "bench fleet. Nothing is written there.", show_default=False)] = None,
) -> None:
    """Time each stage: median seconds, rows per second, peak memory of Python and the JVM, and the back end.

    Stages run on temporary lakehouses; ML scoring uses the model registered in --lakehouse-root.
    """
    _check_options(compressors=compressors, days=days, repeat=repeat, history_days=history_days, scenario=scenario)
    if scenario == "stream":
        from altaviz.bench_stream import run_stream_bench

        report = run_stream_bench(compressors=compressors, repeat=repeat, seed=seed, progress=_progress)
        title = (f"altaviz bench stream: {compressors:,} compressors, one fleet-hour of events, median of {repeat}, "
                 f"Delta back end {report['delta_backend']}")
    elif scenario == "hourly":
        from altaviz.bench_hourly import run_hourly_bench

        report = run_hourly_bench(compressors=compressors, history_days=history_days, repeat=repeat, seed=seed,
                                  model_paths=lakehouse_paths(lakehouse_root), progress=_progress)
        title = (f"altaviz bench hourly: {compressors:,} compressors, one hour on {history_days} day(s) of history, "
                 f"median of {repeat}, Delta back end {report['delta_backend']}, model {report['model']}")
    else:
        from altaviz.bench import run_bench

        report = run_bench(compressors=compressors, days=days, repeat=repeat, seed=seed,
                           model_paths=lakehouse_paths(lakehouse_root), progress=_progress)
        title = (f"altaviz bench: {compressors:,} compressors x {days} day(s), median of {repeat}, "
                 f"Delta back end {report['delta_backend']}, model {report['model']}")
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table(title=title)
    for column in ("stage", "rows", "median s", "rows/s", "limit s", "ok", "peak py MB", "peak jvm MB"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for s in report["stages"]:
        limit = s.get("limit_seconds")
        verdict = "-" if limit is None else ("yes" if s["within_limit"] else "NO")
        table.add_row(s["stage"], f"{s['rows']:,}", f"{s['seconds_median']:.2f}",
                      f"{s['rows_per_second']:,.0f}" if s["rows_per_second"] is not None else "-",
                      "-" if limit is None else f"{limit:.1f}", verdict,
                      f"{s['peak_python_mb']:,.0f}", f"{s['peak_jvm_mb']:,.0f}")
    out.print(table)
