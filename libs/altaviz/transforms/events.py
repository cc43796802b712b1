"""Streamed events onto the Bronze columns: parse each body with the explicit contract schema, or say why not.

A body is read the way a JSON-lines landing file is (every value as the text received, then typed), so a reading
sent as an event gets the `event_id` the same reading gets in a file, and Bronze lands it once either way.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from altaviz.schemas import CONTRACT_COLUMNS, SENSOR_COLUMNS
from altaviz.transforms.bronze import CORRUPT_RECORD, event_hashes, parsed_and_unparsed, unparsed_values

SUPPORTED_MAJOR = "1"
_BODY = T.StructType([T.StructField(name, T.StringType()) for name in CONTRACT_COLUMNS]
                     + [T.StructField(CORRUPT_RECORD, T.StringType())])
_JSON_OPTIONS = {"primitivesAsString": "true", "mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
REASON = "_reason"


def _reason(body: Column, parsed: Column) -> Column:
    """Why an event is not a reading (null when it is one): the first problem found."""
    missing = F.concat_ws(", ", *[F.when(parsed[name].isNull() | (F.trim(parsed[name]) == ""), F.lit(name))
                                  for name in ("compressor_id", "timestamp")])
    version = F.trim(parsed["schema_version"])
    return (F.when(body.isNull() | (F.length(body) == 0), F.lit("empty body"))
            .when(~F.is_valid_utf8(body), F.lit("body is not UTF-8 text"))
            .when(parsed.isNull() | parsed[CORRUPT_RECORD].isNotNull(), F.lit("body is not a JSON object"))
            .when(missing != "", F.concat(F.lit("missing required field(s): "), missing))
            .when(version.isNotNull() & (F.substring_index(version, ".", 1) != SUPPORTED_MAJOR),
                  F.concat(F.lit("unsupported schema_version '"), version,
                           F.lit(f"' (this reader takes {SUPPORTED_MAJOR}.x)"))))


def parse_events() -> Callable[[DataFrame], DataFrame]:
    """Kafka rows (`topic`, `partition`, `offset`, `timestamp`, `key`, `value`) -> the rows plus `_reason` and,
    for readings, the contract columns typed as Bronze types them, lineage and the event hash halves.

    `source_file` is `kafka:<topic>/<partition>` and `source_offset` the event's offset, so a stored reading
    points back at the event it came from.
    """

    def transform(events: DataFrame) -> DataFrame:
        body = F.col("value").cast("string")
        parsed = F.from_json(body, _BODY, _JSON_OPTIONS)
        step = (events.select("topic", "partition", "offset", F.col("timestamp").alias("_event_timestamp"),
                              F.col("key").cast("string").alias("_event_key"), "value", parsed.alias("_parsed"))
                .select("*", *[F.col(f"_parsed.{name}").alias(name) for name in CONTRACT_COLUMNS]))
        typed: dict[str, Column] = {}
        unparsed: list[tuple[str, Column]] = []
        for name in ("timestamp", *SENSOR_COLUMNS):
            value, raw = parsed_and_unparsed(name, T.StringType(), "timestamp" if name == "timestamp" else "double")
            typed[name] = value
            unparsed.append((name, raw))  # type: ignore[arg-type]  # a text source always has one
        return step.select(
            "topic", "partition", "offset", "_event_timestamp", "_event_key", "value",
            _reason(F.col("value"), F.col("_parsed")).alias(REASON),
            "compressor_id",
            typed["timestamp"].alias("timestamp"),
            *[typed[n].alias(n) for n in SENSOR_COLUMNS],
            "schema_version", "station_id",
            unparsed_values(unparsed).alias("unparsed_values"),
            F.concat(F.lit("kafka:"), F.col("topic"), F.lit("/"), F.col("partition").cast("string"))
            .alias("source_file"),
            F.col("offset").alias("source_offset"),
            F.col("partition").cast("int").alias("_file_rank"),
        ).select("*", *event_hashes())

    return transform
