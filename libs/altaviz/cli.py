"""The `altaviz` command: simulate, ingest, run, pipeline, alerts, quality, sql and bench on a local lakehouse."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table

from altaviz import ml_command
from altaviz.bench_command import bench
from altaviz.console import RootOption, err, lakehouse_paths, out, progress, run_context
from altaviz.errors import AltavizError, UsageError, described, one_line
from altaviz.fabric_command import fabric_app
from altaviz.pipeline_command import WaitOption, pipeline_app
from altaviz.quality_command import quality_app
from altaviz.stream_command import stream_app

if TYPE_CHECKING:
    from altaviz.reports import BronzeReport, StageResult

app = typer.Typer(
    name="altaviz",
    help="Predictive maintenance for compressor fleets: simulate telemetry, run the medallion locally, query it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_paths = lakehouse_paths
_progress = progress


_context = run_context


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise UsageError(f"{name} must be a positive integer (got {value})")
    return value


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--start must be a date like 2026-11-20 (got {value!r})") from exc


def _parse_timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--as-of must be an ISO 8601 time like 2026-11-21T06:00:00Z (got {value!r})") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _print_report(result: StageResult) -> None:
    d: BronzeReport = result.report  # type: ignore[assignment]
    out.print(f"{result.stage}: {d.files_landed} file(s) landed, {d.files_skipped} already landed, "
              f"{len(d.files_rejected)} set aside; {d.rows_read:,} reading(s) read, "
              f"{d.rows_landed:,} new, {d.rows_duplicate:,} already present or repeated "
              f"({result.seconds:.1f}s)", highlight=False)
    for rejected in d.files_rejected:
        where = f" -> {rejected['set_aside_to']}" if rejected["set_aside_to"] else ""
        out.print(f"  set aside: {rejected['file']}: {rejected['reason']}{where}", highlight=False)
    for file, extra in d.extra_columns.items():
        out.print(f"  ignored extra column(s) in {file}: {', '.join(extra)}", highlight=False)


@app.command()
def simulate(
    compressors: Annotated[int, typer.Option(help="Fleet size (1 to 4,700+).")] = 200,
    days: Annotated[int, typer.Option(help="Days of telemetry to generate.")] = 1,
    start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD, UTC); default: today minus --days.",
                                              show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same fleet and readings.")] = 42,
    to: Annotated[str, typer.Option(help="landing: Parquet files in Files/landing; eventhub: events over AMQP; "
                                         "kafka: events over the Kafka protocol (Event Hubs' endpoint or a broker).")
                  ] = "landing",
    speed: Annotated[float, typer.Option(help="Event replay pace: 0 as fast as possible, 1 real time, 60 an hour "
                                              "a minute.")] = 0.0,
    namespace: Annotated[str | None, typer.Option(help="Event Hubs namespace for --to eventhub with Entra ID "
                                                       "(default: $ALTAVIZ_EVENTHUBS_NAMESPACE).",
                                                  show_default=False)] = None,
    hub: Annotated[str | None, typer.Option(help="Event hub / topic (default: $ALTAVIZ_EVENTHUBS_HUB, else "
                                                 "telemetry).", show_default=False)] = None,
    lakehouse_root: RootOption = None,
) -> None:
    """Generate fleet telemetry (files or events), plus reference data and failure labels in lh_bronze_raw."""
    _positive("--compressors", compressors)
    _positive("--days", days)
    first_day = _parse_date(start)
    if to not in ("landing", "eventhub", "kafka"):
        raise UsageError(f"--to must be landing, eventhub or kafka (got {to!r})")
    if speed < 0:
        raise UsageError(f"--speed must be 0 or more (got {speed:g})")
    if to == "landing" and (speed or namespace or hub):
        raise UsageError("--speed, --namespace and --hub apply to --to eventhub or --to kafka")
    from altaviz.simulator import simulate as run_simulation

    replay = None
    if to != "landing":
        from altaviz.ingestion.cli_support import open_replay

        replay = open_replay(to, speed=speed, namespace=namespace, hub=hub,
                             progress=lambda report: _progress(f"send: {report.line()}"))
    try:
        report = run_simulation(_paths(lakehouse_root), compressors=compressors, days=days, start=first_day,
                                seed=seed, send=replay,
                                progress=lambda step, done, total: _progress(f"simulate: {step} {done}/{total}"))
    finally:
        sent = replay.finish() if replay is not None else None
    where = (f"{len(report.files)} file(s)" if sent is None else sent.line())
    out.print(f"simulated {report.compressors:,} compressor(s) x {report.days} day(s) from {report.start}: "
              f"{report.readings:,} reading(s); {where}; "
              f"{report.failing_units} failing unit(s), {report.label_rows} failure label(s) "
              f"({report.seconds:.1f}s)", highlight=False, markup=False)
    if sent is not None:
        for key, size in sent.oversize[:10]:
            out.print(f"  not sent: an event of {key} is {size:,} bytes, larger than any batch", highlight=False)
        if sent.failed or sent.oversize:
            raise typer.Exit(1)


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Telemetry files or folders (.parquet, .csv, .json/.jsonl).",
                                               show_default=False)],
    strict: Annotated[bool, typer.Option(help="Exit with status 1 when any file is set aside.")] = False,
    lakehouse_root: RootOption = None,
) -> None:
    """Bring your own telemetry files into lh_bronze_raw.telemetry_raw (same contract as the landing zone)."""
    from altaviz.stages import bronze

    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or directory: {missing[0]}")
    result = bronze.run(_context(lakehouse_root), sources=paths)
    _print_report(result)
    if strict and result.report.files_rejected:  # type: ignore[attr-defined]
        raise typer.Exit(1)


@app.command()
def run(
    lakehouse_root: RootOption = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="The run's as-of time (ISO 8601, UTC when no offset) for freshness and alerts; "
                "default: now, or for a simulated fleet the end of its simulated data.",
        show_default=False)] = None,
    wait: WaitOption = 0.0,
) -> None:
    """The main job: simulate a demo fleet if nothing has landed, then run pipelines/pl_altaviz_hourly."""
    from altaviz import tables
    from altaviz.pipeline_command import execute as execute_pipeline
    from altaviz.pipeline_command import exit_documents, print_run, raise_if_failed, simulated_as_of, take_lease
    from altaviz.reports import StageResult
    from altaviz.runner.plan import build_plan
    from altaviz.runner.project import medallion_pipeline, notebooks_for
    from altaviz.simulator import simulate as run_simulation

    params = {"as_of": _parse_timestamp(as_of).isoformat()} if as_of else {}  # type: ignore[union-attr]
    folder = medallion_pipeline()
    plan = build_plan(folder, notebooks_for(folder), params)  # a broken definition fails before anything runs
    lease = take_lease(lakehouse_root, wait, "altaviz run")
    if lease is None:
        return
    with lease:
        ctx = _context(lakehouse_root)
        out.print(f"Delta back end: {ctx.lakehouse.backend.name}", highlight=False)
        landing = ctx.paths.files_path("lh_bronze_raw", ctx.settings.bronze.landing_dir)
        if not ctx.files.list_files(landing) and not ctx.lakehouse.exists(tables.TELEMETRY_RAW):
            demo = ctx.settings.demo
            _progress(f"nothing has landed: simulating a demo fleet of {demo.compressors} compressors x "
                      f"{demo.days} day(s)")
            report = run_simulation(ctx.paths, compressors=demo.compressors, days=demo.days, seed=demo.seed,
                                    progress=lambda step, done, total: _progress(f"simulate: {step} {done}/{total}"))
            out.print(f"simulate: {report.readings:,} reading(s) from {report.compressors:,} compressor(s), "
                      f"{report.failing_units} failing unit(s) ({report.seconds:.1f}s)", highlight=False)
        ml_command.ensure_model(ctx)
        plan = build_plan(folder, notebooks_for(folder), simulated_as_of(plan, params, lakehouse_root))
        result = execute_pipeline(plan, root=lakehouse_root, spark=lambda: ctx.spark)
    from altaviz.stage_printers import print_gold, print_silver
    from altaviz.stream_command import print_stream

    printers = {"bronze": _print_report, "bronze_stream": print_stream, "silver": print_silver, "gold": print_gold,
                "ml": ml_command.print_ml}
    for document in exit_documents(result):
        printer = printers.get(document.get("stage"))
        if printer:
            printer(StageResult.from_dict(document))
    print_run(result)
    raise_if_failed(result)


def _render(table: Any, fmt: str) -> str:
    """Render a pyarrow table as an aligned text table, JSON records or CSV."""
    records = table.to_pylist()

    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    if fmt == "json":
        return json.dumps([{k: plain(v) for k, v in r.items()} for r in records], default=str)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows([[plain(v) for v in r.values()] for r in records])
        return buffer.getvalue().rstrip("\n")
    rich_table = Table(show_edge=False)
    for name in table.column_names:
        rich_table.add_column(name)
    for r in records:
        rich_table.add_row(*["NULL" if v is None else str(plain(v)) for v in r.values()])
    console = Console(file=io.StringIO(), width=max(80, 24 * len(table.column_names)), soft_wrap=True)
    console.print(rich_table)
    return console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]


alerts_app = typer.Typer(help="List and acknowledge Gold alerts.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(alerts_app, name="alerts")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(quality_app, name="quality")
app.add_typer(fabric_app, name="fabric")
app.add_typer(stream_app, name="stream")
app.command()(bench)
app.command("train")(ml_command.train)
app.command("evaluate")(ml_command.evaluate)


@alerts_app.command("list")
def alerts_list(
    status: Annotated[str, typer.Option(help="open, resolved, closed or all.")] = "open",
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    format: Annotated[str, typer.Option("--format", "-f", help="Output: table, json or csv.")] = "table",
    lakehouse_root: RootOption = None,
) -> None:
    """Show alerts (id, unit, sensor, severity, status, times) from lh_gold_curated.alerts."""
    if status not in ("open", "resolved", "closed", "all"):
        raise UsageError(f"--status must be open, resolved, closed or all (got {status!r})")
    _positive("--limit", limit)
    if format not in ("table", "json", "csv"):
        raise UsageError(f"--format must be one of table, json, csv (got {format!r})")
    import pyarrow as pa

    from altaviz.stages import gold_alerts

    rows = gold_alerts.list_alerts(_context(lakehouse_root), status=None if status == "all" else status, limit=limit)
    if not rows:
        out.print(f"no alerts with status {status}" if status != "all" else "no alerts yet", highlight=False)
        return
    columns = ("alert_id", "compressor_id", "alert_type", "sensor", "severity", "status", "opened_at",
               "escalated_at", "resolved_at", "acknowledged_by", "message")
    table = pa.Table.from_pylist([{c: r[c] for c in columns} for r in rows])
    out.print(_render(table, format), highlight=False, markup=False)


@alerts_app.command("ack")
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(help="The alert_id to acknowledge.", show_default=False)],
    by: Annotated[str | None, typer.Option(help="Who acknowledges (default: $USER).", show_default=False)] = None,
    lakehouse_root: RootOption = None,
) -> None:
    """Acknowledge an open alert: it stays open but no longer escalates by time."""
    from altaviz.stages import gold_alerts

    who = by or os.environ.get("USER") or "unknown"
    row = gold_alerts.acknowledge(_context(lakehouse_root), alert_id, by=who)
    out.print(f"acknowledged {row['alert_id']} ({row['compressor_id']} {row['sensor'] or row['alert_type']}, "
              f"{row['severity']}) by {row['acknowledged_by']}", highlight=False, markup=False)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL; tables are <lakehouse>.<table>, e.g. lh_bronze_raw.telemetry_raw.",
                                         show_default=False)],
    format: Annotated[str, typer.Option("--format", "-f", help="Output: table, json or csv.")] = "table",
    lakehouse_root: RootOption = None,
) -> None:
    """Query the local Delta tables with DuckDB (the local stand-in for the SQL analytics endpoint)."""
    from altaviz.lakehouse.sql import query as run_query

    if format not in ("table", "json", "csv"):
        raise UsageError(f"--format must be one of table, json, csv (got {format!r})")
    out.print(_render(run_query(_paths(lakehouse_root), query), format), highlight=False, markup=False)


def spark_failure(exc: BaseException) -> str | None:
    """The one line worth showing from a Spark/JVM failure (its root cause), or None for other errors."""
    return one_line(exc) if type(exc).__module__.startswith(("py4j", "pyspark")) else None


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line and a non-zero exit for every expected error, never a traceback."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="altaviz", standalone_mode=False)
        if isinstance(code, int):  # click returns Exit codes instead of raising when not standalone
            return code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        err.print("altaviz: aborted", highlight=False)
        return 130
    except click.ClickException as exc:
        err.print(f"altaviz: error: {exc.format_message()} (see 'altaviz --help')", highlight=False, markup=False)
        return exc.exit_code
    except AltavizError as exc:
        err.print(f"altaviz: error: {exc}", highlight=False, markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("altaviz: interrupted", highlight=False)
        return 130
    except Exception as exc:  # a bug, not bad input: one line, the traceback only on request
        if os.environ.get("ALTAVIZ_DEBUG"):
            raise
        cause = spark_failure(exc)
        if cause:
            err.print(f"altaviz: error: Spark failed: {cause} (set ALTAVIZ_DEBUG=1 for the traceback)",
                      highlight=False, markup=False)
            return 1
        err.print(f"altaviz: internal error: {described(exc)} "
                  "(set ALTAVIZ_DEBUG=1 for the traceback)", highlight=False, markup=False)
        return 70
    return 0


if __name__ == "__main__":
    sys.exit(main())
