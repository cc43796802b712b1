"""Bronze transforms: map one landing file's columns onto the telemetry contract and stamp lineage."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz.schemas import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SENSOR_COLUMNS,
    is_naive_timestamp,
    telemetry_raw_schema,
)

CORRUPT_RECORD = "_corrupt_record"
_EVENT_ID_SALT = "altaviz:telemetry-event:v1"
_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
_TIMESTAMPS = (T.TimestampType, T.DateType)


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
        if not isinstance(dtype, (*allowed, T.StringType)) and not (name == "timestamp" and is_naive_timestamp(dtype)):
            wrong.append(f"{name} is {dtype.simpleString()}")
    for name in ("compressor_id", *OPTIONAL_COLUMNS):
        dtype = fields.get(name)
        if dtype is not None and not isinstance(dtype, (T.StringType, *_NUMERIC)):
            wrong.append(f"{name} is {dtype.simpleString()}")
    extra = tuple(sorted(n for n in fields if n not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and n != CORRUPT_RECORD))
    return ContractCheck(missing, tuple(wrong), extra)


def parsed_and_unparsed(name: str, dtype: T.DataType, target: str) -> tuple[Column, Column | None]:
    """The typed value of a column and, for text sources, the text when it failed to parse (else null)."""
    source = F.col(f"`{name}`")
    if not isinstance(dtype, T.StringType):
        return source.cast(target), None
    text = F.trim(source)
    parsed = text.try_cast(target)
    unparsed = F.when(parsed.isNull() & (F.length(text) > 0), source)
    return parsed, unparsed


def unparsed_values(texts: list[tuple[str, Column]]) -> Column:
    """`{"column": "text received", ...}` of the values that did not parse, in column order; null when all did.

    A struct's JSON leaves out its null fields, so no higher-order function (interpreted, row by row) is needed.
    """
    document = F.to_json(F.struct(*[text.alias(name) for name, text in texts]))
    return F.when(document != F.lit("{}"), document)


def to_contract(source_files: Mapping[str, tuple[str, int]], *, row_index: bool
                ) -> Callable[[DataFrame], DataFrame]:
    """Map a scan of landing files onto the Bronze columns in one select.

    `source_files` maps each file's `_metadata.file_path` to (path recorded as `source_file`, rank in
    the batch). Values that do not parse become null and are kept verbatim in `unparsed_values`.
    `source_offset` is the row's index in its file when the format has one (Parquet), else an id that
    preserves the read order.
    """

    def transform(df: DataFrame) -> DataFrame:
        fields = {f.name: f.dataType for f in df.schema.fields}
        typed: dict[str, Column] = {}
        unparsed: list[tuple[str, Column]] = []
        for name in ("timestamp", *SENSOR_COLUMNS):
            parsed, raw = parsed_and_unparsed(name, fields[name], "timestamp" if name == "timestamp" else "double")
            typed[name] = parsed
            if raw is not None:
                unparsed.append((name, raw))
        if CORRUPT_RECORD in fields:
            unparsed.append((CORRUPT_RECORD, F.col(CORRUPT_RECORD).cast("string")))
        # Typed sources (Parquet) skip this per-row work entirely.
        unparsed_json = unparsed_values(unparsed) if unparsed else F.lit(None).cast("string")
        optional = {n: (F.col(n).cast("string") if n in fields else F.lit(None).cast("string"))
                    for n in OPTIONAL_COLUMNS}
        uri = F.col("_metadata.file_path")
        paths = F.create_map(*[F.lit(v) for key, (path, _) in source_files.items() for v in (key, path)])
        ranks = F.create_map(*[F.lit(v) for key, (_, rank) in source_files.items() for v in (key, rank)])
        return df.select(
            F.col("compressor_id").cast("string").alias("compressor_id"),
            typed["timestamp"].alias("timestamp"),
            *[typed[n].alias(n) for n in SENSOR_COLUMNS],
            *[optional[n].alias(n) for n in OPTIONAL_COLUMNS],
            unparsed_json.alias("unparsed_values"),
            F.coalesce(F.element_at(paths, uri), uri).alias("source_file"),
            (F.col("_metadata.row_index") if row_index else F.monotonically_increasing_id()).alias("source_offset"),
            F.coalesce(F.element_at(ranks, uri), F.lit(0)).cast("int").alias("_file_rank"),
        )

    return transform


def _content_hashes() -> tuple[Column, Column]:
    """Two xxhash64 digests (one salted) of unit, time, values, unparsed text and a null mask."""
    hashed = ["compressor_id", "timestamp", *SENSOR_COLUMNS]
    null_mask = sum((F.when(F.col(c).isNull(), 1 << i).otherwise(0) for i, c in enumerate(hashed)), F.lit(0))
    parts = [*[F.col(c) for c in hashed], F.coalesce(F.col("unparsed_values"), F.lit("")), null_mask]
    return F.xxhash64(*parts), F.xxhash64(F.lit(_EVENT_ID_SALT), *parts)


def event_hashes() -> list[Column]:
    """The two halves of a reading's id as longs (`_h1`, `_h2`): cheap to shuffle and compare."""
    h1, h2 = _content_hashes()
    return [h1.alias("_h1"), h2.alias("_h2")]


def event_id_of(h1: Column, h2: Column) -> Column:
    """The 32-hex-digit event id of two hash halves (hex() of a long is its two's-complement digits)."""
    return F.lower(F.concat(F.lpad(F.hex(h1), 16, "0"), F.lpad(F.hex(h2), 16, "0")))


def event_id() -> Column:
    """A deterministic 128-bit id of a reading's content: unit, time, values and any unparsed text.

    The same reading received as Parquet, CSV or JSON gets the same id, and nulls in different places
    never collide (a null mask is hashed too).
    """
    return event_id_of(*_content_hashes())


def first_received() -> Callable[[DataFrame], DataFrame]:
    """Keep each reading of a batch once: all but the first received copy of a repeated reading are dropped.

    Only the id halves and arrival order are shuffled, not whole rows: the few ids that repeat are found by one
    aggregate, then removed with a broadcast join. Readings already stored are left to Bronze's insert-only
    MERGE, which checks them atomically with the write.
    """

    def transform(batch: DataFrame) -> DataFrame:
        # Arrival order as one long (file rank in the high bits) keeps the aggregate a fast hash aggregate.
        order = F.shiftleft(F.col("_file_rank").cast("long"), 40) + F.col("source_offset")
        repeats = (batch.groupBy("_h1", "_h2")
                   .agg(F.count(F.lit(1)).alias("copies"), F.min(order).alias("first_received"))
                   .where(F.col("copies") > 1)
                   .select("_h1", "_h2", "first_received"))
        # Broadcast: normally a handful of ids; even a whole re-sent day is ~40 MB of longs, and it
        # spares shuffling every full row of the batch.
        joined = batch.join(F.broadcast(repeats), ["_h1", "_h2"], "left")
        keep = F.col("first_received").isNull() | (order == F.col("first_received"))
        return joined.where(keep).select(*batch.columns)

    return transform


def with_lineage(batch_id: str, ingested_at: datetime) -> Callable[[DataFrame], DataFrame]:
    """Add the event id, batch id, ingestion time and date; order columns as `telemetry_raw` declares them."""

    def transform(df: DataFrame) -> DataFrame:
        at = F.lit(ingested_at).cast("timestamp")
        extra = {"batch_id": F.lit(batch_id), "ingested_at": at, "ingestion_date": F.to_date(at),
                 "event_id": event_id_of(F.col("_h1"), F.col("_h2"))}
        schema = telemetry_raw_schema()
        return df.select(*[
            (extra[f.name] if f.name in extra else F.col(f.name)).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ])

    return transform
