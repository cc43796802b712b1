"""The one resolver from (lakehouse, table) to a storage location: OneLake ABFS in Fabric, a folder locally."""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from altaviz.errors import ConfigError

LAKEHOUSES: tuple[str, ...] = ("lh_bronze_raw", "lh_silver_cleaned", "lh_gold_curated", "lh_ml_serving")
DEFAULT_SCHEMA = "dbo"
DEFAULT_LOCAL_ROOT = ".lakehouse"
ROOT_ENV_VAR = "ALTAVIZ_LAKEHOUSE_ROOT"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_ONELAKE_HOST = "onelake.dfs.fabric.microsoft.com"


@dataclass(frozen=True)
class TableRef:
    """A table addressed as `<lakehouse>.<table>` (schema `dbo` unless given)."""

    lakehouse: str
    table: str
    schema: str = DEFAULT_SCHEMA

    def __post_init__(self) -> None:
        if self.lakehouse not in LAKEHOUSES:
            raise ConfigError(f"unknown lakehouse {self.lakehouse!r}; expected one of {', '.join(LAKEHOUSES)}")
        for part, value in (("table", self.table), ("schema", self.schema)):
            if not _SAFE_NAME.match(value):
                raise ConfigError(f"invalid {part} name {value!r}: use letters, digits and underscores")

    @classmethod
    def parse(cls, name: str) -> TableRef:
        """Parse `lakehouse.table` or `lakehouse.schema.table`."""
        parts = name.split(".")
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        if len(parts) == 3:
            return cls(parts[0], parts[2], parts[1])
        raise ConfigError(
            f"invalid table name {name!r}: expected <lakehouse>.<table>, e.g. lh_bronze_raw.telemetry_raw")

    def __str__(self) -> str:
        return f"{self.lakehouse}.{self.table}"


class LakehousePaths(ABC):
    """Where lakehouse tables and files live. No other code builds a storage path."""

    @abstractmethod
    def lakehouse_path(self, lakehouse: str) -> str:
        """The root of one lakehouse item (holds `Tables/` and `Files/`)."""

    def table_path(self, ref: TableRef) -> str:
        """The Delta table folder of `ref`."""
        return f"{self.lakehouse_path(ref.lakehouse)}/Tables/{ref.schema}/{ref.table}"

    def files_path(self, lakehouse: str, *parts: str) -> str:
        """A path under the lakehouse's `Files/` area."""
        if lakehouse not in LAKEHOUSES:
            raise ConfigError(f"unknown lakehouse {lakehouse!r}; expected one of {', '.join(LAKEHOUSES)}")
        return "/".join([self.lakehouse_path(lakehouse), "Files", *[p.strip("/") for p in parts if p]])

    @property
    @abstractmethod
    def is_local(self) -> bool:
        """True when paths are folders on this machine."""


class LocalLakehousePaths(LakehousePaths):
    """`<root>/<lakehouse>.Lakehouse/{Tables/dbo/<table>,Files/...}` on the local disk."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def lakehouse_path(self, lakehouse: str) -> str:
        if lakehouse not in LAKEHOUSES:
            raise ConfigError(f"unknown lakehouse {lakehouse!r}; expected one of {', '.join(LAKEHOUSES)}")
        return str(self.root / f"{lakehouse}.Lakehouse")

    @property
    def is_local(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"LocalLakehousePaths({str(self.root)!r})"


class OneLakePaths(LakehousePaths):
    """OneLake ABFS paths; the GUID form is used when a workspace or lakehouse name is unsafe in a URL."""

    def __init__(self, workspace: str, lakehouse_ids: Mapping[str, str] | None = None,
                 workspace_id: str | None = None, *, by_id: bool = False) -> None:
        if not workspace:
            raise ConfigError("OneLake paths need a workspace name or id")
        self.workspace = workspace
        self.workspace_id = workspace_id
        self.lakehouse_ids = dict(lakehouse_ids or {})
        self.by_id = by_id

    @property
    def needs_ids(self) -> bool:
        """True when paths use workspace and lakehouse GUIDs: asked for, or the workspace name is unsafe in a URL."""
        return self.by_id or not _SAFE_NAME.match(self.workspace.replace("-", "_"))

    def lakehouse_path(self, lakehouse: str) -> str:
        if lakehouse not in LAKEHOUSES:
            raise ConfigError(f"unknown lakehouse {lakehouse!r}; expected one of {', '.join(LAKEHOUSES)}")
        if self.needs_ids:
            if not self.workspace_id or lakehouse not in self.lakehouse_ids:
                raise ConfigError(
                    f"workspace name {self.workspace!r} is not URL-safe: give the workspace id and the id of "
                    f"lakehouse {lakehouse!r} to use the GUID form of OneLake paths")
            return f"abfss://{self.workspace_id}@{_ONELAKE_HOST}/{self.lakehouse_ids[lakehouse]}"
        return f"abfss://{self.workspace}@{_ONELAKE_HOST}/{lakehouse}.Lakehouse"

    @property
    def is_local(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"OneLakePaths({self.workspace!r})"


def resolve_paths(root: str | os.PathLike[str] | None = None, *, workspace: str | None = None,
                  environ: Mapping[str, str] | None = None) -> LakehousePaths:
    """Pick the storage layout: OneLake when a workspace is given, else a local root.

    The local root is, in order: `root`, `$ALTAVIZ_LAKEHOUSE_ROOT`, `.lakehouse/` in the working directory.
    """
    if workspace:
        return OneLakePaths(workspace)
    env = os.environ if environ is None else environ
    chosen = root or env.get(ROOT_ENV_VAR) or DEFAULT_LOCAL_ROOT
    return LocalLakehousePaths(chosen)
