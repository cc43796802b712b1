"""Files under a lakehouse's `Files/` area (landing zones): list and move, locally or through Hadoop FS."""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from altaviz.errors import LakehouseError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from altaviz.lakehouse.paths import LakehousePaths


@dataclass(frozen=True)
class FileInfo:
    """One file: its full path, size in bytes and last modification time (UTC)."""

    path: str
    size: int
    modified_at: datetime


class FileStore(ABC):
    """Listing and moving files; the lakehouse layer hands out the right one for the storage in use."""

    @abstractmethod
    def list_files(self, root: str) -> list[FileInfo]:
        """Every file under `root` (recursively), sorted by path; empty when `root` does not exist."""

    @abstractmethod
    def move(self, source: str, target: str) -> None:
        """Move a file, creating the target's folder; replaces an existing target."""

    @abstractmethod
    def stat(self, path: str) -> FileInfo:
        """Size and modification time of one file."""

    @abstractmethod
    def read_text(self, path: str) -> str | None:
        """A small UTF-8 file's text, or None when it does not exist."""

    @abstractmethod
    def write_text(self, path: str, text: str) -> None:
        """Replace a small UTF-8 file whole, creating its folder (readers never see half a file locally)."""


def _is_hidden(name: str) -> bool:
    # Spark/Hadoop conventions: _SUCCESS, .crc and temp files are not data.
    return name.startswith((".", "_"))


class LocalFileStore(FileStore):
    """Files on the local disk."""

    def list_files(self, root: str) -> list[FileInfo]:
        base = Path(root)
        if not base.exists():
            return []
        if base.is_file():
            return [self.stat(str(base))]
        found: list[FileInfo] = []
        for folder, dirs, names in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not _is_hidden(d))
            for name in sorted(names):
                if not _is_hidden(name):
                    found.append(self.stat(os.path.join(folder, name)))
        return sorted(found, key=lambda f: f.path)

    def stat(self, path: str) -> FileInfo:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise LakehouseError(f"cannot read {path}: {exc.strerror}") from exc
        return FileInfo(str(Path(path).resolve()), st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def move(self, source: str, target: str) -> None:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write_text(self, path: str, text: str) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, target)


class HadoopFileStore(FileStore):
    """Files in OneLake (or any Hadoop-compatible store) through the Spark JVM's FileSystem API."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm = spark._jvm  # type: ignore[attr-defined]
        self._conf = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]

    def _fs(self, path: str) -> tuple[Any, Any]:
        jpath = self._jvm.org.apache.hadoop.fs.Path(path)
        return jpath, jpath.getFileSystem(self._conf)

    def list_files(self, root: str) -> list[FileInfo]:
        jroot, fs = self._fs(root)
        if not fs.exists(jroot):
            return []
        found: list[FileInfo] = []
        iterator = fs.listFiles(jroot, True)
        while iterator.hasNext():
            status = iterator.next()
            name = status.getPath().getName()
            if _is_hidden(name) or any(_is_hidden(p) for p in status.getPath().toString().split("/")[-4:-1]):
                continue
            found.append(FileInfo(status.getPath().toString(), status.getLen(),
                                  datetime.fromtimestamp(status.getModificationTime() / 1000, UTC)))
        return sorted(found, key=lambda f: f.path)

    def stat(self, path: str) -> FileInfo:
        jpath, fs = self._fs(path)
        status = fs.getFileStatus(jpath)
        return FileInfo(status.getPath().toString(), status.getLen(),
                        datetime.fromtimestamp(status.getModificationTime() / 1000, UTC))

    def move(self, source: str, target: str) -> None:
        jsource, fs = self._fs(source)
        jtarget = self._jvm.org.apache.hadoop.fs.Path(target)
        fs.mkdirs(jtarget.getParent())
        if fs.exists(jtarget):
            fs.delete(jtarget, False)
        if not fs.rename(jsource, jtarget):
            raise LakehouseError(f"could not move {source} to {target}")

    def read_text(self, path: str) -> str | None:
        jpath, fs = self._fs(path)
        if not fs.exists(jpath):
            return None
        stream = fs.open(jpath)
        try:
            reader = self._jvm.java.io.BufferedReader(self._jvm.java.io.InputStreamReader(stream, "UTF-8"))
            return "\n".join(iter(reader.readLine, None)) + "\n"
        finally:
            stream.close()

    def write_text(self, path: str, text: str) -> None:
        jpath, fs = self._fs(path)
        fs.mkdirs(jpath.getParent())
        stream = fs.create(jpath, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()


def file_store_for(paths: LakehousePaths, spark: SparkSession | None = None) -> FileStore:
    """The file store matching `paths`: the local disk, or Hadoop FS through `spark` for OneLake."""
    if paths.is_local:
        return LocalFileStore()
    if spark is None:
        raise LakehouseError("listing OneLake files needs a Spark session")
    return HadoopFileStore(spark)
