"""What every `altaviz` command shares: the two consoles, progress lines and the lakehouse-root option."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

RootOption = Annotated[str | None, typer.Option(
    "--lakehouse-root", help="Local lakehouse folder (default: $ALTAVIZ_LAKEHOUSE_ROOT, else ./.lakehouse).",
    show_default=False)]


def progress(message: str) -> None:
    """A timestamped progress line on stderr (stdout stays for results); the message is never read as markup."""
    err.print(Text.assemble((f"{datetime.now():%H:%M:%S} ", "dim"), message), highlight=False)


def lakehouse_paths(root: str | None):
    """The local lakehouse layout for `--lakehouse-root` (or its defaults)."""
    from altaviz.lakehouse.paths import resolve_paths

    return resolve_paths(root)


def run_context(root: str | None):
    """A run context on the local lakehouse at `root`, starting Spark (said first: it takes a few seconds)."""
    from altaviz.runtime.context import RunContext
    from altaviz.runtime.spark import get_spark

    progress("starting Spark")
    return RunContext.create(get_spark(), lakehouse_paths(root), progress=progress)
