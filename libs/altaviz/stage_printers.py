"""How `altaviz run` prints the Silver and Gold results: books, quality checks, holds, units needing attention."""

from __future__ import annotations

from typing import TYPE_CHECKING

from altaviz.console import out

if TYPE_CHECKING:
    from altaviz.reports import GoldReport, SilverReport, StageResult


def print_silver(result: StageResult) -> None:
    """The books, the reasons, every quality check and, when held, what to do about it."""
    d: SilverReport = result.report  # type: ignore[assignment]
    if d.message:
        out.print(f"silver: {d.message} ({result.seconds:.1f}s)", highlight=False)
        return
    reasons = ", ".join(f"{k} {v:,}" for k, v in d.reject_reasons.items()) or "none"
    out.print(f"silver: {d.raw_rows:,} reading(s) in = {d.clean_rows:,} clean + {d.rejected_rows:,} "
              f"rejected + {d.duplicate_rows:,} duplicate(s) ({'balanced' if d.balanced else 'NOT balanced'}); "
              f"rejected by reason: {reasons} ({result.seconds:.1f}s)", highlight=False)
    if d.adopted_runs:
        out.print(f"silver: re-judged and adopted the rows of interrupted run(s) {', '.join(d.adopted_runs)}",
                  highlight=False)
    from altaviz.quality import CheckResult, format_report

    out.print("quality checks:", highlight=False)
    for line in format_report([CheckResult(**r) for r in d.quality]):
        out.print(f"  {line}", highlight=False, markup=False)
    if d.held:
        out.print(f"silver: this window is HELD out of Gold ({', '.join(d.blocked)} failed); `altaviz quality "
                  "holds` lists it, `altaviz quality release <silver_run_id>` lets it through", highlight=False)


def print_gold(result: StageResult, *, shown: int = 15) -> None:
    """Windows written, alerts opened or changed, units by status and the first `shown` needing attention."""
    d: GoldReport = result.report  # type: ignore[assignment]
    if d.message:
        out.print(f"gold: {d.message} ({result.seconds:.1f}s)", highlight=False)
        return
    by = d.units_by_status
    out.print(f"gold: {d.clean_rows:,} new clean reading(s) -> {d.agg_rows:,} window row(s); "
              f"{d.alerts_opened:,} alert(s) opened, {d.alerts_changed:,} opened or changed; units: "
              f"{by['critical']:,} critical, {by['warning']:,} warning, {by['normal']:,} normal, "
              f"{d.units_stale:,} silent >= stale limit ({result.seconds:.1f}s)", highlight=False)
    attention = d.attention
    if attention:
        out.print(f"units in warning/critical ({len(attention):,}):", highlight=False)
        for unit in attention[:shown]:
            out.print(f"  {unit['status']:<8} {unit['compressor_id']}  {unit['basin'] or '-'}  "
                      f"{', '.join(unit['sensors'])}", highlight=False, markup=False)
        if len(attention) > shown:
            out.print(f"  ... and {len(attention) - shown:,} more: altaviz sql \"SELECT * FROM "
                      f"lh_gold_curated.fleet_health WHERE status <> 'normal'\"", highlight=False, markup=False)
