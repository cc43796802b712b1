"""The run journal: one JSON lines file per pipeline run in the lakehouse, always written, read by later stages."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from altaviz.lakehouse.files import FileStore
from altaviz.lakehouse.paths import LakehousePaths

JOURNAL_LAKEHOUSE = "lh_gold_curated"
JOURNAL_DIR = "monitoring/runs"


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


class RunJournal:
    """`lh_gold_curated` Files/monitoring/runs/<run_id>.jsonl: every stage's record, sink errors, cards sent."""

    def __init__(self, files: FileStore, path: str) -> None:
        self.files = files
        self.path = path

    @classmethod
    def for_run(cls, paths: LakehousePaths, files: FileStore, run_id: str) -> RunJournal:
        """The journal of one run."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in run_id)
        return cls(files, paths.files_path(JOURNAL_LAKEHOUSE, JOURNAL_DIR, f"{safe}.jsonl"))

    def records(self) -> list[dict[str, Any]]:
        """Every record so far, in order."""
        text = self.files.read_text(self.path) or ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def append(self, record: dict[str, Any]) -> None:
        """Add one record (the file is small: read, add a line, write back whole)."""
        existing = self.files.read_text(self.path) or ""
        if existing and not existing.endswith("\n"):
            existing += "\n"
        self.files.write_text(self.path, existing + json.dumps(record, default=_plain, sort_keys=True) + "\n")
