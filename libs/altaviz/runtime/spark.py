"""The Spark session: Fabric's when running there, a tuned `local[*]` session on a laptop."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from altaviz.errors import EnvironmentSetupError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
JARS_ENV_VAR = "ALTAVIZ_DELTA_JARS"
INSTALL_JAVA = "install a full OpenJDK 17 or 21 (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"


def java_executable() -> str | None:
    """The java binary Spark will use: `$JAVA_HOME/bin/java`, else `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        return candidate if os.path.exists(candidate) else None
    return shutil.which("java")


def check_java() -> None:
    """Fail with one actionable line when the JVM cannot run Spark 4.1."""
    java = java_executable()
    if java is None:
        raise EnvironmentSetupError(f"Java 17+ is required to run Spark 4.1 and none was found: {INSTALL_JAVA}")
    probe = subprocess.run([java, "--add-modules=jdk.incubator.vector", "-version"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise EnvironmentSetupError(
            f"{java} cannot start Spark 4.1 (needs Java 17+ with the jdk.incubator.vector module): {INSTALL_JAVA}")


def get_spark(app_name: str = "altaviz", *, cores: str = "*", shuffle_partitions: int | None = None,
              driver_memory: str | None = None) -> SparkSession:
    """Return the active session (Fabric, tests) or start a local one configured for altaviz.

    The local session uses UTC, Arrow transfers, no UI, and Delta's extension when its jars are at hand:
    `$ALTAVIZ_DELTA_JARS` (comma-separated), else the cache `python -m altaviz.runtime.jvm fetch` fills. Jars are
    never downloaded here; without them the session runs without Delta's extension (the delta-rs back end).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - exercised only in a wheel-only install
        raise EnvironmentSetupError(
            "pyspark is not installed: install the local engine with `pip install 'altaviz[local]'`") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        active.conf.set("spark.sql.session.timeZone", "UTC")
        return active
    check_java()
    # Python workers (the ML stage's pandas UDFs) run this interpreter, which has altaviz and its pins; PySpark
    # reads the variable when the context starts (else it runs whichever `python3` is first on PATH).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    partitions = shuffle_partitions or max(4, 2 * (os.cpu_count() or 2))
    builder = (
        SparkSession.builder.appName(app_name)
        .master(f"local[{cores}]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.default.parallelism", str(partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.driver.memory", driver_memory or os.environ.get("ALTAVIZ_DRIVER_MEMORY", "6g"))
        .config("spark.sql.adaptive.enabled", "true")
        # The delta-rs back end collects each write as Arrow: ten fleet-days of Bronze are ~1.2 GB of results.
        .config("spark.driver.maxResultSize", os.environ.get("ALTAVIZ_MAX_RESULT_SIZE", "4g"))
        # Whole-stage code for wide projections (validation rules, window features) exceeds HotSpot's
        # 8,000-byte limit for JIT compilation; without this flag those methods run interpreted, 5x slower.
        .config("spark.driver.extraJavaOptions", "-XX:-DontCompileHugeMethods")
        # Cached stage inputs are short-lived; compressing them costs more time than the memory it saves.
        .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
    )
    jars = local_jars()
    if jars:
        builder = (builder.config("spark.jars", jars)
                   .config("spark.sql.extensions", DELTA_EXTENSION)
                   .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
                   # Delta replays its log in 50 tasks by default: on a laptop that is 50 tiny tasks per read.
                   .config("spark.databricks.delta.snapshotPartitions", str(local_cores(cores)))
                   # VACUUM lists a table in this many tasks (10,000 by default): minutes of empty tasks locally.
                   .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", str(4 * local_cores(cores))))
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        raise EnvironmentSetupError(f"could not start Spark: {str(exc).splitlines()[0]}") from exc
    # Spark logs every task failure with a stack trace; altaviz reports failures itself, in one line.
    spark.sparkContext.setLogLevel(os.environ.get("ALTAVIZ_SPARK_LOG_LEVEL", "OFF"))
    return spark


def local_cores(cores: str) -> int:
    """The number of cores `local[cores]` uses (`*` is every core of this machine)."""
    return (os.cpu_count() or 2) if cores == "*" else max(1, int(cores))


def local_jars() -> str | None:
    """The jars a local session loads, comma-separated: `$ALTAVIZ_DELTA_JARS`, else the project's cache."""
    from altaviz.runtime.jvm import cached_classpath

    explicit = os.environ.get(JARS_ENV_VAR)
    if explicit:
        return explicit
    cached = cached_classpath()
    return ",".join(cached) if cached else None


def has_spark_delta(spark: SparkSession) -> bool:
    """True when the session can use Delta natively (jars on the classpath and the extension configured)."""
    from py4j.protocol import Py4JError

    try:
        # Jars from `spark.jars` live in Spark's own class loader, not the system one `Class.forName` asks.
        spark._jvm.org.apache.spark.util.Utils.classForName(  # type: ignore[union-attr]
            "io.delta.tables.DeltaTable", True, False)
    except Py4JError:  # ClassNotFoundException arrives as a Py4JJavaError
        return False
    return DELTA_EXTENSION in (spark.conf.get("spark.sql.extensions", "") or "")
