"""The error a monitoring sink raises when it cannot deliver."""

from __future__ import annotations

from altaviz.errors import AltavizError


class MonitorSinkError(AltavizError):
    """Azure Monitor or Teams did not take a delivery; the one-line message says what and why, never a secret."""
