"""What a stage reports: the result monitoring, the CLI and the notebooks' exit values read (no stage imports)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StageResult:
    """What a stage did: rows in and out, wall time, and stage-specific details (JSON-serialisable)."""

    stage: str
    rows_in: int
    rows_out: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (notebook exit values, bench output)."""
        return asdict(self)
