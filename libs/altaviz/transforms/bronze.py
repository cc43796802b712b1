"""Bronze transforms: map one landing file's columns onto the telemetry contract and stamp lineage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz.schemas import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SENSOR_COLUMNS, telemetry_raw_schema

CORRUPT_RECORD = "_corrupt_record"
_EVENT_ID_SALT = "altaviz:telemetry-event:v1"
_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
_TIMESTAMPS = (T.TimestampType, T.TimestampNTZType, T.DateType)


@dataclass(frozen=True)
class ContractCheck:
    """How one file's columns compare with the telemetry contract."""

    missing: tuple[str, ...]
    wrong_types: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.wrong_types

    def reason(self) -> str:
        """One line saying why the file is off-contract."""
        parts = []
        if self.missing:
            parts.append(f"missing required column(s): {', '.join(self.missing)}")
        if self.wrong_types:
            parts.append(f"unsupported column type(s): {', '.join(self.wrong_types)}")
        return "; ".join(parts)


def check_contract(schema: T.StructType) -> ContractCheck:
    """Compare a file's schema with the contract: required names present, types readable, extras listed."""
    fields = {f.name: f.dataType for f in schema.fields}
    missing = tuple(c for c in REQUIRED_COLUMNS if c not in fields)
    wrong: list[str] = []
    for name in ("timestamp", *SENSOR_COLUMNS):
        dtype = fields.get(name)
        if dtype is None:
            continue
        allowed = _TIMESTAMPS if name == "timestamp" else _NUMERIC
        if not isinstance(dtype, (*allowed, T.StringType)):
            wrong.append(f"{name} is {dtype.simpleString()}")
    for name in ("compressor_id", *OPTIONAL_COLUMNS):
        dtype = fields.get(name)
        if dtype is not None and not isinstance(dtype, (T.StringType, *_NUMERIC)):
            wrong.append(f"{name} is {dtype.simpleString()}")
    extra = tuple(sorted(n for n in fields if n not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and n != CORRUPT_RECORD))
    return ContractCheck(missing, tuple(wrong), extra)


def _parsed_and_unparsed(name: str, dtype: T.DataType, target: str) -> tuple[Column, Column]:
    """The typed value of a column and, when text failed to parse, the text as received (else null)."""
    source = F.col(f"`{name}`")
    if not isinstance(dtype, T.StringType):
        return source.cast(target), F.lit(None).cast("string")
    text = F.trim(source)
    parsed = text.try_cast(target)
    unparsed = F.when(parsed.isNull() & (F.length(text) > 0), source)
    return parsed, unparsed


def to_contract(source_file: str, file_rank: int) -> Callable[[DataFrame], DataFrame]:
    """Map a landing file's DataFrame onto the Bronze columns in one select.

    Values that do not parse become null and are kept verbatim in `unparsed_values`; `source_offset`
    preserves the order rows were read in (unique within the file, not necessarily contiguous).
    """

    def transform(df: DataFrame) -> DataFrame:
        fields = {f.name: f.dataType for f in df.schema.fields}
        typed: dict[str, Column] = {}
        unparsed: list[tuple[str, Column]] = []
        for name in ("timestamp", *SENSOR_COLUMNS):
            parsed, raw = _parsed_and_unparsed(name, fields[name], "timestamp" if name == "timestamp" else "double")
            typed[name] = parsed
            unparsed.append((name, raw))
        if CORRUPT_RECORD in fields:
            unparsed.append((CORRUPT_RECORD, F.col(CORRUPT_RECORD).cast("string")))
        entries = F.filter(
            F.array(*[F.struct(F.lit(n).alias("key"), c.alias("value")) for n, c in unparsed]),
            lambda e: e["value"].isNotNull(),
        )
        optional = {n: (F.col(n).cast("string") if n in fields else F.lit(None).cast("string"))
                    for n in OPTIONAL_COLUMNS}
        return df.select(
            F.col("compressor_id").cast("string").alias("compressor_id"),
            typed["timestamp"].alias("timestamp"),
            *[typed[n].alias(n) for n in SENSOR_COLUMNS],
            *[optional[n].alias(n) for n in OPTIONAL_COLUMNS],
            F.when(F.size(entries) > 0, F.to_json(F.map_from_entries(entries))).alias("unparsed_values"),
            F.lit(source_file).alias("source_file"),
            F.monotonically_increasing_id().alias("source_offset"),
            F.lit(file_rank).alias("_file_rank"),
        )

    return transform


def event_id() -> Column:
    """A deterministic 128-bit id of a reading's content: unit, time, values and any unparsed text.

    Two xxhash64 digests (one salted) over the typed values plus a null mask, so the same reading
    received as Parquet, CSV or JSON gets the same id, and nulls in different places never collide.
    """
    hashed = ["compressor_id", "timestamp", *SENSOR_COLUMNS]
    null_mask = sum((F.when(F.col(c).isNull(), 1 << i).otherwise(0) for i, c in enumerate(hashed)), F.lit(0))
    parts = [*[F.col(c) for c in hashed], F.coalesce(F.col("unparsed_values"), F.lit("")), null_mask]
    return F.format_string("%016x%016x", F.xxhash64(*parts), F.xxhash64(F.lit(_EVENT_ID_SALT), *parts))


def first_received_per_event() -> Callable[[DataFrame], DataFrame]:
    """Collapse readings with the same event id to the first received (earliest file, then offset)."""

    def transform(df: DataFrame) -> DataFrame:
        keyed = df.select(F.col("event_id"), F.struct(
            F.col("_file_rank"), F.col("source_offset"),
            *[F.col(c) for c in df.columns if c not in ("event_id", "_file_rank", "source_offset")],
        ).alias("r"))
        first = keyed.groupBy("event_id").agg(F.min("r").alias("r"))
        return first.select("event_id", "r.*")

    return transform


def with_lineage(batch_id: str, ingested_at: datetime) -> Callable[[DataFrame], DataFrame]:
    """Add batch id, ingestion time and date, and order columns as `telemetry_raw` declares them."""

    def transform(df: DataFrame) -> DataFrame:
        at = F.lit(ingested_at).cast("timestamp")
        extra = {"batch_id": F.lit(batch_id), "ingested_at": at, "ingestion_date": F.to_date(at)}
        schema = telemetry_raw_schema()
        return df.select(*[
            (extra[f.name] if f.name in extra else F.col(f.name)).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ])

    return transform
