"""`altaviz stream ingest`: streaming Bronze from Event Hubs (Kafka endpoint) or a Kafka broker, locally.

Where it reads: `ALTAVIZ_EVENTHUBS_LISTEN_CONNECTION_STRING` (the Listen rule's connection string: SASL PLAIN over
TLS, as Fabric reads it), `ALTAVIZ_EVENTHUBS_KAFKA_BOOTSTRAP` (overrides `<namespace>:9093`; alone, a plain
broker), `ALTAVIZ_EVENTHUBS_KAFKA_TRUSTSTORE` (a PEM CA file for a broker with its own certificate) and
`ALTAVIZ_EVENTHUBS_HUB` (the topic when the connection string names none; default `telemetry`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from altaviz.console import RootOption, out, run_context
from altaviz.errors import UsageError

stream_app = typer.Typer(help="Streaming Bronze: Event Hubs telemetry into lh_bronze_raw, exactly once.",
                         no_args_is_help=True, rich_markup_mode=None)


@stream_app.command("ingest")
def ingest(
    trigger: Annotated[str, typer.Option(help="available-now: drain what the hub holds and stop; continuous: "
                                              "micro-batches until stopped or --max-seconds.")] = "available-now",
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.",
                                                      show_default=False)] = None,
    interval: Annotated[str, typer.Option(help="Processing-time trigger of a continuous run.")] = "30 seconds",
    max_events: Annotated[int | None, typer.Option(help="Cap on events per micro-batch (default: none).",
                                                   show_default=False)] = None,
    lakehouse_root: RootOption = None,
) -> None:
    """Read the telemetry hub into telemetry_raw (readings) and telemetry_deadletter (what is not a reading)."""
    from altaviz.config import secret_env_var
    from altaviz.ingestion.settings import BOOTSTRAP_ENV, LISTEN_SECRET, listen_endpoint
    from altaviz.stages import bronze_stream

    if trigger not in bronze_stream.TRIGGERS:
        raise UsageError(f"--trigger must be available-now or continuous (got {trigger!r})")
    if max_seconds is not None and max_seconds <= 0:
        raise UsageError(f"--max-seconds must be positive (got {max_seconds:g})")
    if max_events is not None and max_events < 1:
        raise UsageError(f"--max-events must be a positive integer (got {max_events})")
    endpoint = listen_endpoint()
    if endpoint is None:
        raise UsageError(f"no Event Hubs to read: set {secret_env_var(LISTEN_SECRET)} (Event Hubs) or "
                         f"{BOOTSTRAP_ENV} (a Kafka broker)")
    ctx = run_context(lakehouse_root)
    out.print(f"Delta back end: {ctx.lakehouse.backend.name}", highlight=False)
    result = bronze_stream.run(ctx, endpoint, trigger=trigger, max_seconds=max_seconds, interval=interval,
                               max_offsets_per_trigger=max_events)
    print_stream(result)


def print_stream(result) -> None:
    """One line for a streaming Bronze result (and one per dead-letter reason); nothing when it was skipped."""
    r = result.report
    if r.skipped:
        return
    reasons = "".join(f"\n  dead-lettered: {n:,} {reason}" for reason, n in r.reasons.items())
    out.print(f"bronze_stream: {r.batches} batch(es), {r.events_read:,} event(s) read, "
              f"{r.rows_landed:,} new reading(s), {r.rows_duplicate:,} already present or repeated, "
              f"{r.deadlettered:,} dead-lettered ({result.seconds:.1f}s){reasons}", highlight=False, markup=False)
