"""Landing files for Bronze: check each against the telemetry contract, then read alike files in one scan."""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from altaviz.errors import one_line
from altaviz.lakehouse.files import FileInfo
from altaviz.schemas import LANDING_FORMATS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameReader, SparkSession
    from pyspark.sql.types import StructType

LANDED, REJECTED, SKIPPED = "landed", "rejected", "skipped"
@dataclass
class FileOutcome:
    """What Bronze did with one file."""

    info: FileInfo
    file_format: str | None
    status: str
    reason: str | None = None
    extra_columns: tuple[str, ...] = ()
    rows_read: int = 0
    rows_landed: int = 0
    set_aside_to: str | None = None


@dataclass
class OpenedFile:
    """A file that passed the contract check; `group` keys files that can share one scan."""

    outcome: FileOutcome
    schema: StructType
    group: str


def _spark_reader(spark: SparkSession, file_format: str, schema: StructType | None = None) -> DataFrameReader:
    reader = spark.read.option("mode", "PERMISSIVE")
    if schema is not None:
        reader = reader.schema(schema)
    if file_format == "csv":
        # No inferSchema: every column is text, typed later by the contract.
        reader = reader.option("header", True)
    elif file_format == "json" and schema is None:
        # Names come from the keys; primitivesAsString keeps every value as the text received.
        reader = reader.option("primitivesAsString", True)
    return reader.format(file_format)


def _local_schema(path: str, file_format: str) -> StructType | None:
    """The schema of a local Parquet or CSV file from its footer or header, without a Spark round trip."""
    from pyspark.sql.types import StringType, StructField, StructType

    if file_format == "parquet":
        import pyarrow.parquet as pq
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(pq.read_schema(path))
    if file_format == "csv":
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
        if not header:
            raise ValueError("no header row")
        return StructType([StructField(name.strip(), StringType()) for name in header])
    return None  # JSON keys are only known after reading every line: Spark does that


def probe(spark: SparkSession, info: FileInfo, *, local: bool) -> tuple[OpenedFile | None, FileOutcome]:
    """Check one file against the contract; an unreadable or off-contract file is an outcome, not an error."""
    from altaviz.transforms.bronze import check_contract

    suffix = Path(info.path).suffix.lower()
    file_format = LANDING_FORMATS.get(suffix)
    if file_format is None:
        allowed = ", ".join(sorted(LANDING_FORMATS))
        reason = f"unsupported file type {suffix or '(none)'!r}; expected {allowed}"
        return None, FileOutcome(info, None, REJECTED, reason)
    if info.size == 0:
        return None, FileOutcome(info, file_format, REJECTED, "empty file")
    try:
        schema = _local_schema(info.path, file_format) if local else None
        if schema is None:
            schema = _spark_reader(spark, file_format).load(info.path).schema
    except Exception as exc:  # noqa: BLE001 - pyarrow, csv and Spark raise many types for unreadable files
        return None, FileOutcome(info, file_format, REJECTED, f"unreadable {file_format} file: {one_line(exc)}")
    if file_format == "json" and schema.fieldNames() == ["_corrupt_record"]:
        return None, FileOutcome(info, file_format, REJECTED, "unreadable json file: no line is a JSON object")
    check = check_contract(schema)
    if not check.ok:
        return None, FileOutcome(info, file_format, REJECTED, check.reason(), check.extra)
    outcome = FileOutcome(info, file_format, LANDED, None, check.extra)
    # CSV columns are positional once a schema is given, so the header order is part of the group.
    return OpenedFile(outcome, schema, f"{file_format}:{schema.json()}"), outcome


def _metadata_uri(uri: str) -> str:
    """A URI from `DataFrame.inputFiles()` in the form `_metadata.file_path` takes (`file:/x`, not `file:///x`)."""
    return re.sub(r"^file:/+", "file:/", uri)


def _plain(uri: str) -> str:
    return unquote(re.sub(r"^file:/+", "/", uri))


def read_group(spark: SparkSession, files: list[OpenedFile], ranks: Mapping[str, int]) -> DataFrame:
    """One scan over files of one format and schema mapped onto the Bronze columns.

    One scan is far cheaper than a union of one scan per file. `ranks` gives each path its place in
    the batch (path order: the order in which files count as received).
    """
    from altaviz.transforms.bronze import to_contract

    file_format = files[0].outcome.file_format or ""
    paths = [f.outcome.info.path for f in files]
    # Parquet carries its own schema (Spark reads one footer); text formats get the probed one.
    schema = None if file_format == "parquet" else files[0].schema
    scan = _spark_reader(spark, file_format, schema).load(paths)
    by_uri = {_metadata_uri(uri): (_plain(uri), ranks.get(_plain(uri), -1)) for uri in scan.inputFiles()}
    return scan.transform(to_contract(by_uri, row_index=file_format == "parquet"))
