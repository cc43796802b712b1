"""`altaviz quality holds|release`: the Silver windows a failed `block` check holds out of Gold."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from altaviz.console import RootOption, out, run_context
from altaviz.errors import UsageError

quality_app = typer.Typer(help="See and release the Silver windows a failed block quality check holds out of Gold.",
                          no_args_is_help=True, rich_markup_mode=None)


@quality_app.command("holds")
def holds_list(
    status: Annotated[str, typer.Option(help="held, passed, released or all.")] = "held",
    lakehouse_root: RootOption = None,
) -> None:
    """Show held windows (run id, why, rows, when) from lh_silver_cleaned.silver_holds, newest first."""
    if status not in ("held", "passed", "released", "all"):
        raise UsageError(f"--status must be held, passed, released or all (got {status!r})")
    from altaviz.stages import quality

    rows = quality.list_holds(run_context(lakehouse_root), status=None if status == "all" else status)
    if not rows:
        out.print("no held windows" if status == "held" else f"no holds with status {status}", highlight=False)
        return
    for r in rows:
        resolved = (f"; {r['status']} {r['resolved_at']:%Y-%m-%d %H:%M} UTC by {r['resolved_by']}"
                    if r["resolved_at"] else "")
        out.print(f"{r['silver_run_id']}  {r['status']}  {r['clean_rows']:,} clean row(s), held "
                  f"{r['held_at']:%Y-%m-%d %H:%M} UTC (as of {r['as_of']:%Y-%m-%d %H:%M} UTC): {r['reason']}"
                  f"{resolved}", highlight=False, markup=False)


@quality_app.command("release")
def release(
    silver_run_id: Annotated[str, typer.Argument(help="The held Silver run (see `altaviz quality holds`).",
                                                 show_default=False)],
    by: Annotated[str | None, typer.Option(help="Who releases (default: $USER).", show_default=False)] = None,
    note: Annotated[str, typer.Option(help="Why it may go through (kept with the hold).")] = "",
    lakehouse_root: RootOption = None,
) -> None:
    """Let a held window through: the next Gold run takes its clean rows."""
    from altaviz.stages import quality

    who = by or os.environ.get("USER") or "unknown"
    row = quality.release(run_context(lakehouse_root), silver_run_id, by=who, note=note)
    out.print(f"released the window of Silver run {row['silver_run_id']} ({row['clean_rows']:,} clean row(s)) "
              f"by {row['resolved_by']}: the next Gold run takes its rows", highlight=False, markup=False)
