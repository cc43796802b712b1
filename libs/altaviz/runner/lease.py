"""One pipeline run at a time on a local lakehouse: an exclusive lease held for the whole run.

Fabric enforces this with the pipeline's `concurrency: 1`; locally the lease is an advisory `flock` on a file
at the lakehouse root. The operating system releases it when the holding process ends, however it ends, so a
killed run never leaves a stale lease behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

LEASE_FILE = "_altaviz_run.lease"
#: Held by a running streaming Bronze query: one reader of a checkpoint at a time (see `altaviz.stages.bronze_stream`).
STREAM_LEASE_FILE = "_altaviz_stream.lease"


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds the lease, as the holder recorded it (best effort: the lock itself is the truth)."""

    pid: int | None
    started_at: str | None
    command: str | None

    def describe(self) -> str:
        """`pid 123, started 2026-12-01T10:00:00+00:00 (altaviz run)`, leaving out what is unknown."""
        parts = [f"pid {self.pid}" if self.pid else None, f"started {self.started_at}" if self.started_at else None]
        text = ", ".join(p for p in parts if p) or "holder unknown"
        return f"{text} ({self.command})" if self.command else text


class RunLease:
    """An exclusive, non-blocking lease on a lakehouse root; use as a context manager after `acquire()`."""

    def __init__(self, root: str | os.PathLike[str], command: str = "altaviz run", *, name: str = LEASE_FILE) -> None:
        self.path = Path(root) / name
        self.command = command
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lease if it is free; True when this process now holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        record = json.dumps({"pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                             "command": self.command}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        self._fd = fd
        return True

    def acquire(self, wait_seconds: float = 0.0, *, poll_seconds: float = 1.0,
                on_wait: Callable[[LeaseHolder], None] = lambda holder: None,
                sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> bool:
        """Take the lease, waiting up to `wait_seconds` for the holder to finish.

        Args:
            wait_seconds: how long to wait for a run in progress (0: do not wait).
            poll_seconds: how often to try again while waiting.
            on_wait: told once who holds the lease, when waiting starts.
            sleep: the sleep function (injected in tests).
            clock: a monotonic clock (injected in tests).

        Returns:
            True when held; False when another run still held it after `wait_seconds`.
        """
        deadline = clock() + max(0.0, wait_seconds)
        told = False
        while not self.try_acquire():
            if clock() >= deadline:
                return False
            if not told:
                on_wait(self.holder())
                told = True
            sleep(min(poll_seconds, max(0.0, deadline - clock())))
        return True

    def holder(self) -> LeaseHolder:
        """What the current holder wrote in the lease file."""
        try:
            data = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            data = {}
        return LeaseHolder(data.get("pid"), data.get("started_at"), data.get("command"))

    def release(self) -> None:
        """Give the lease up (closing the file drops the lock); safe to call twice."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
