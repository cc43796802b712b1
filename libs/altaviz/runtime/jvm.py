"""The JVM pieces Fabric Runtime 2.0 ships (Delta 4.2, the Spark Kafka source), fetched once from Maven Central.

`python -m altaviz.runtime.jvm fetch` (run by `make run` / `make test`) resolves the coordinates below with Maven
into a project-local cache (`.jars/`, ignored by git) and writes `.jars/classpath.txt`: the resolved jars that
pyspark does not already ship. A local Spark session puts exactly those jars on its classpath. Once the cache
matches the coordinates, nothing is downloaded again; when Maven Central cannot be reached, one line says so and
local runs use delta-rs.

`fetch --broker` also resolves an Apache Kafka broker (`kafka_2.13`) into `.jars/kafka-broker/`: the tests start it
on loopback (in its own JVM, so its Scala and Jackson never meet Spark's) to stand in for the Event Hubs Kafka
endpoint. It is a test tool: nothing in the product starts it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

JARS_DIR_ENV_VAR = "ALTAVIZ_JARS_DIR"
CLASSPATH_FILE = "classpath.txt"

# What Fabric Runtime 2.0 runs: Spark 4.1.1 (Scala 2.13), Delta 4.2.0, the Kafka source with kafka-clients 3.9.2.
COORDINATES: tuple[str, ...] = (
    "io.delta:delta-spark_2.13:4.2.0",
    "io.delta:delta-storage:4.2.0",
    "org.apache.spark:spark-sql-kafka-0-10_2.13:4.1.1",
)
# Versions forced over what the poms above bring in (Fabric's kafka-clients; jackson matching pyspark's).
PINNED: tuple[str, ...] = (
    "org.apache.kafka:kafka-clients:3.9.2",
    "com.fasterxml.jackson.datatype:jackson-datatype-jdk8:2.20.0",
)
#: The Kafka broker the tests run (KRaft); its kafka-clients 4.1 speaks to Spark's 3.9.2 and to librdkafka.
BROKER_COORDINATES: tuple[str, ...] = ("org.apache.kafka:kafka_2.13:4.1.1",)
BROKER_DIR = "kafka-broker"
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-\d[^-]*(?:-\d+)?\.jar$")


@dataclass(frozen=True)
class FetchResult:
    """What `fetch` did: the classpath it left, whether it downloaded, or why it could not."""

    jars: tuple[str, ...]
    downloaded: bool
    error: str | None = None


def project_root() -> Path | None:
    """The source checkout this package runs from (an editable install), or None for an installed wheel."""
    candidate = Path(__file__).resolve().parents[3]
    return candidate if (candidate / "pyproject.toml").is_file() and (candidate / "libs" / "altaviz").is_dir() else None


def jars_dir() -> Path | None:
    """Where the cache lives: `$ALTAVIZ_JARS_DIR`, else `.jars/` in the source checkout, else None."""
    explicit = os.environ.get(JARS_DIR_ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    root = project_root()
    return root / ".jars" if root is not None else None


@dataclass(frozen=True)
class JarSet:
    """What one cache folder holds: Maven coordinates, version pins, and whether jars pyspark ships are left out."""

    coordinates: tuple[str, ...]
    pinned: tuple[str, ...] = ()
    beside_pyspark: bool = True  # on Spark's classpath: leave out what pyspark already ships

    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.coordinates + self.pinned).encode()).hexdigest()[:16]


SPARK_JARS = JarSet(COORDINATES, PINNED)
BROKER_JARS = JarSet(BROKER_COORDINATES, beside_pyspark=False)


def broker_dir() -> Path | None:
    """Where the test broker's jars live: `kafka-broker/` inside the cache folder."""
    root = jars_dir()
    return root / BROKER_DIR if root is not None else None


def coordinates_digest() -> str:
    """A short hash of the coordinates and pins, recorded in the classpath file so a change refetches."""
    return SPARK_JARS.digest()


def cached_classpath(directory: Path | None = None, jar_set: JarSet = SPARK_JARS) -> tuple[str, ...] | None:
    """The jars of a complete cache matching today's coordinates, or None (absent, stale or a jar missing)."""
    directory = directory if directory is not None else jars_dir()
    if directory is None:
        return None
    listing = directory / CLASSPATH_FILE
    try:
        lines = listing.read_text().splitlines()
    except OSError:
        return None
    if not lines or lines[0] != f"# {jar_set.digest()}":
        return None
    jars = tuple(str(directory / line) for line in lines[1:] if line and not line.startswith("#"))
    return jars if jars and all(os.path.isfile(jar) for jar in jars) else None


def pyspark_artifacts() -> set[str]:
    """Artifact ids of the jars pyspark ships (those must not be shadowed by other versions)."""
    try:
        import pyspark
    except ImportError:
        return set()
    folder = Path(pyspark.__file__).parent / "jars"
    return {m["artifact"] for jar in folder.glob("*.jar") if (m := _VERSIONED_JAR.match(jar.name))}


def _pom(coordinates: tuple[str, ...], pinned: tuple[str, ...]) -> str:
    def dependency(coordinate: str) -> str:
        group, artifact, version = coordinate.split(":")
        return (f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
                f"<version>{version}</version></dependency>")

    return ("<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>"
            "<groupId>altaviz</groupId><artifactId>altaviz-jvm-deps</artifactId><version>1</version>"
            "<packaging>pom</packaging>"
            f"<dependencyManagement><dependencies>{''.join(map(dependency, pinned))}</dependencies>"
            "</dependencyManagement>"
            f"<dependencies>{''.join(map(dependency, coordinates))}</dependencies></project>")


def _last_error(output: str) -> str:
    """Maven's most telling line: its first [ERROR] line, else the last non-empty one."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("[ERROR]").strip() for line in lines if line.startswith("[ERROR]")]
    return (errors[0] if errors else (lines[-1] if lines else "no output"))[:300]


def fetch(directory: Path | None = None, *, mvn: str | None = None, timeout: float = 900.0,
          jar_set: JarSet = SPARK_JARS) -> FetchResult:
    """Resolve the coordinates into `directory` with Maven, once; a complete matching cache is reused as is.

    Args:
        directory: the cache folder (default `jars_dir()`).
        mvn: the Maven executable (default `mvn` on PATH).
        timeout: seconds Maven may take.
        jar_set: what to resolve (default the Spark jars; `BROKER_JARS` for the test broker).

    Returns:
        The classpath; `downloaded` when Maven ran; `error` (and no jars) when it could not.
    """
    directory = directory if directory is not None else jars_dir()
    if directory is None:
        return FetchResult((), False, f"no cache folder: set {JARS_DIR_ENV_VAR}")
    cached = cached_classpath(directory, jar_set)
    if cached is not None:
        return FetchResult(cached, downloaded=False)
    mvn = mvn or shutil.which("mvn")
    if mvn is None:
        return FetchResult((), False, "Maven (mvn) is not installed (apt-get install maven)")
    directory.mkdir(parents=True, exist_ok=True)
    lib = directory / "lib"
    with tempfile.TemporaryDirectory(dir=directory, prefix="resolve-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_pom(jar_set.coordinates, jar_set.pinned))
        staged = Path(work) / "lib"
        command = [mvn, "-B", "-q", "-f", str(pom), f"-Dmaven.repo.local={_repository(directory)}",
                   "dependency:copy-dependencies", f"-DoutputDirectory={staged}", "-DincludeScope=runtime"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return FetchResult((), True, f"Maven did not finish within {timeout:.0f} s")
        if done.returncode != 0:
            return FetchResult((), True, _last_error(done.stdout + "\n" + done.stderr))
        shipped = pyspark_artifacts() if jar_set.beside_pyspark else set()
        chosen = sorted(jar.name for jar in staged.glob("*.jar")
                        if (m := _VERSIONED_JAR.match(jar.name)) is None or m["artifact"] not in shipped)
        lib.mkdir(exist_ok=True)
        for name in chosen:
            os.replace(staged / name, lib / name)
    listing = directory / CLASSPATH_FILE
    partial = listing.with_suffix(".tmp")
    partial.write_text("\n".join([f"# {jar_set.digest()}", *(f"lib/{name}" for name in chosen)]) + "\n")
    os.replace(partial, listing)  # the listing appears only once every jar is in place
    return FetchResult(tuple(str(lib / name) for name in chosen), downloaded=True)


def _repository(directory: Path) -> Path:
    """Maven's local repository: one per cache root, shared by the broker's folder inside it."""
    return (directory.parent if directory.name == BROKER_DIR else directory) / "m2"


def _fetch_broker() -> None:
    directory = broker_dir()
    if directory is None or cached_classpath(directory, BROKER_JARS) is not None:
        return
    print(f"altaviz: fetching the Kafka broker the tests run ({BROKER_COORDINATES[0]}) into {directory} (once)",
          flush=True)
    result = fetch(directory, jar_set=BROKER_JARS)
    if result.error:
        print(f"altaviz: could not fetch the Kafka broker ({result.error}); the streaming tests will fail",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """`python -m altaviz.runtime.jvm fetch`: fill the cache; never fails the set-up (delta-rs is the fallback)."""
    args = sys.argv[1:] if argv is None else argv
    if args not in (["fetch"], ["fetch", "--broker"], ["classpath"]):
        print("usage: python -m altaviz.runtime.jvm fetch [--broker]|classpath\n"
              "  fetch      resolve Delta 4.2 and the Spark Kafka source from Maven Central into the local cache\n"
              "             (--broker: also the Kafka broker the tests start)\n"
              "  classpath  print the cached jars, one per line (exit 1 when the cache is absent)",
              file=sys.stderr)
        return 2
    if args == ["classpath"]:
        jars = cached_classpath()
        print("\n".join(jars or ()))
        return 0 if jars else 1
    directory = jars_dir()
    if cached_classpath(directory) is None:
        print(f"altaviz: fetching Delta 4.2 and the Spark Kafka source from Maven Central into {directory} (once)",
              flush=True)
    result = fetch(directory)
    if result.error:
        print(f"altaviz: could not fetch the JVM jars ({result.error}); local runs use delta-rs", file=sys.stderr)
    elif result.downloaded:
        print(f"altaviz: {len(result.jars)} jars cached in {directory}")
    if args[1:] == ["--broker"]:
        _fetch_broker()
    return 0


if __name__ == "__main__":
    sys.exit(main())
