"""Independent lakehouse calls run side by side: results in order, every call finished, failures raised."""

from __future__ import annotations

import threading

import pytest

from altaviz.runtime.side_by_side import beside, run_side_by_side


def test_side_by_side_calls_overlap_and_return_in_order() -> None:
    both_started = threading.Barrier(2, timeout=10)

    def call(value: str) -> str:
        both_started.wait()  # only returns once the other call runs at the same time
        return value

    assert run_side_by_side([lambda: call("first"), lambda: call("second")]) == ["first", "second"]


def test_side_by_side_finishes_every_call_before_raising_the_first_failure() -> None:
    finished: list[str] = []

    def fails() -> None:
        raise ValueError("first write failed")

    def slow() -> None:
        threading.Event().wait(0.2)
        finished.append("slow")

    with pytest.raises(ValueError, match="first write failed"):
        run_side_by_side([fails, slow])
    assert finished == ["slow"]


def test_side_by_side_runs_in_order_when_not_parallel() -> None:
    order: list[int] = []
    assert run_side_by_side([lambda: order.append(1), lambda: order.append(2)], parallel=False) == [None, None]
    assert order == [1, 2]


def test_beside_starts_the_read_before_its_result_is_asked_for() -> None:
    started = threading.Event()

    def read() -> int:
        started.set()
        return 42

    result = beside(read)
    assert started.wait(10), "the read did not start in the background"
    assert result() == 42
    assert result() == 42


def test_beside_raises_what_the_read_raised_when_asked() -> None:
    def read() -> None:
        raise KeyError("no such table")

    result = beside(read)
    with pytest.raises(KeyError, match="no such table"):
        result()


def test_beside_without_parallel_reads_once_and_only_when_asked() -> None:
    calls: list[int] = []

    def read() -> int:
        calls.append(1)
        return len(calls)

    result = beside(read, parallel=False)
    assert calls == []
    assert (result(), result()) == (1, 1)
    assert calls == [1]
