"""Independent lakehouse writes run side by side on the driver."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_side_by_side(calls: Sequence[Callable[[], Any]], *, parallel: bool = True) -> list[Any]:
    """Run independent calls (writes to different tables) in threads; return their results in order.

    A write of a small table or a MERGE of an hour's rows is mostly the driver planning, committing and
    waiting on the storage, not the cores' work, so two or three of them side by side take little longer
    than the slowest alone. Spark runs jobs from several threads at once. Every call runs to its end; the
    first failure, in the order given, is raised after. With `parallel` false they run one after another.
    """
    if len(calls) <= 1 or not parallel:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="altaviz-write") as pool:
        futures = [pool.submit(call) for call in calls]
    return [future.result() for future in futures]


def beside(call: Callable[[], T], *, parallel: bool = True) -> Callable[[], T]:
    """Start `call` in a thread now and return what waits for its result (raising what it raised).

    For reads that do not depend on the work the caller does meanwhile: their planning and small jobs overlap
    that work's. With `parallel` false, `call` runs (once) when its result is first asked for.
    """
    if not parallel:
        return functools.cache(call)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="altaviz-read")
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future.result
