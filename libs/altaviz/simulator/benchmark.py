"""Time one simulated fleet-day, generated and written: `python -m altaviz.simulator.benchmark`."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date

from altaviz.lakehouse.paths import LocalLakehousePaths
from altaviz.simulator.failures import build_plan
from altaviz.simulator.fleet import build_fleet
from altaviz.simulator.simulation import simulate
from altaviz.simulator.telemetry import generate_day


def time_fleet_day(compressors: int = 4700, repeat: int = 3, seed: int = 7, day: date = date(2025, 6, 1)
                   ) -> dict[str, float]:
    """Median seconds of `simulate` for one day (fresh temp lakehouse per run) and of `generate_day` alone.

    Args:
        compressors: Fleet size.
        repeat: Runs per measurement; the median is reported.
        seed: Simulator seed.
        day: The day to simulate.

    Returns:
        ``{"simulate_s": ..., "generate_day_s": ..., "readings": ...}``.
    """
    fleet = build_fleet(compressors, seed)
    plan = build_plan(fleet)
    generate, full, readings = [], [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        generate_day(fleet, plan, day, seed)
        generate.append(time.perf_counter() - began)
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="altaviz-bench-") as root:
            began = time.perf_counter()
            report = simulate(LocalLakehousePaths(root), compressors=compressors, days=1, start=day,
                              seed=seed)
            full.append(time.perf_counter() - began)
            readings = report.readings
    return {"simulate_s": statistics.median(full), "generate_day_s": statistics.median(generate),
            "readings": float(readings)}


def main() -> None:
    """Print the medians for the fleet size given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compressors", type=int, default=4700)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = time_fleet_day(args.compressors, args.repeat)
    print(f"{args.compressors} units, 1 day, {int(result['readings']):,} readings: "
          f"simulate (generate + write) median {result['simulate_s']:.2f}s, "
          f"generate_day alone median {result['generate_day_s']:.2f}s (of {args.repeat} runs)")


if __name__ == "__main__":
    main()
