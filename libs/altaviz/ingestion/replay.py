"""Replay simulated telemetry as events: as fast as the sink takes them, in real time, or N times faster.

`Replay` is the `send` hook of `altaviz.simulator.simulate`: it takes one arrival hour at a time, cuts it into
slices of one wall-clock second of simulated arrivals (at `speed`), waits until each slice is due, encodes it
(`contract.encode`) and hands it to a sink. A progress line with events/s follows along.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from altaviz.ingestion.contract import encode
from altaviz.ingestion.producer import EventHubSink, KafkaSink, SendReport
from altaviz.simulator.telemetry import ARRIVAL_COLUMN

_US = 1_000_000
_AS_FAST_AS_POSSIBLE_SLICE = 60_000  # events per sink call when nothing paces them


class Replay:
    """Sends arrival hours through `sink`; `speed` None (or 0) sends at once, 1.0 is real time, 60 an hour a minute."""

    def __init__(self, sink: EventHubSink | KafkaSink, report: SendReport, *, speed: float | None = None,
                 progress: Callable[[SendReport], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 progress_every: float = 2.0) -> None:
        if speed is not None and speed < 0:
            raise ValueError(f"speed must be positive (got {speed})")
        self.sink, self.report, self.speed = sink, report, speed or None
        self.progress, self.clock, self.sleep, self.progress_every = progress, clock, sleep, progress_every
        self.started = clock()
        self._origin: tuple[int, float] | None = None  # (first arrival µs, wall time it was sent)
        self._said = self.started

    def __call__(self, hour: pa.Table) -> None:
        if hour.num_rows == 0:
            return
        arrival = hour.column(ARRIVAL_COLUMN).to_numpy().view(np.int64)
        if self.speed is None:
            cuts = np.arange(_AS_FAST_AS_POSSIBLE_SLICE, hour.num_rows, _AS_FAST_AS_POSSIBLE_SLICE)
        else:
            if self._origin is None:
                self._origin = (int(arrival[0]), self.clock())
            step = max(1, int(self.speed * _US))  # simulated µs per wall second
            first = self._origin[0] + (int(arrival[0]) - self._origin[0]) // step * step
            cuts = np.searchsorted(arrival, np.arange(first + step, int(arrival[-1]) + 1, step))
        edges = np.unique(np.concatenate(([0], cuts, [hour.num_rows])))
        for lo, hi in itertools.pairwise(edges):
            if self.speed is not None and self._origin is not None:
                due = self._origin[1] + (int(arrival[lo]) - self._origin[0]) / (self.speed * _US)
                wait = due - self.clock()
                if wait > 0:
                    self.sleep(wait)
            self.sink.send(list(encode(hour.slice(int(lo), int(hi - lo)))), self.report)
            self._tick()

    def _tick(self) -> None:
        now = self.clock()
        self.report.seconds = now - self.started
        if self.progress is not None and now - self._said >= self.progress_every:
            self._said = now
            self.progress(self.report)

    def finish(self) -> SendReport:
        """Flush and close the sink; the report with the whole send's time."""
        try:
            self.sink.close(self.report)
        finally:
            self.report.seconds = self.clock() - self.started
        return self.report
