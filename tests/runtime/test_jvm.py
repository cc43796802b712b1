"""The JVM set-up: Delta and the Kafka source fetched once into the project cache, and a clear fallback without it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from altaviz.runtime import jvm
from altaviz.runtime.spark import has_spark_delta


def _fake_mvn(tmp_path: Path, body: str) -> str:
    script = tmp_path / "mvn"
    script.write_text("#!/usr/bin/env bash\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_the_set_up_cached_what_fabric_runs_and_the_session_loaded_it(spark):
    """The cache holds Delta 4.2 and the Kafka source for Spark 4.1.1, and the test session runs on them."""
    jars = jvm.cached_classpath()
    assert jars, "`make test` fetches the jars first (python -m altaviz.runtime.jvm fetch)"
    names = {Path(jar).name for jar in jars}
    assert {"delta-spark_2.13-4.2.0.jar", "delta-storage-4.2.0.jar", "spark-sql-kafka-0-10_2.13-4.1.1.jar",
            "kafka-clients-3.9.2.jar"} <= names
    shipped = jvm.pyspark_artifacts()
    assert "scala-library" in shipped and not any(name.startswith(("scala-library-", "jackson-core-"))
                                                  for name in names)
    assert has_spark_delta(spark)
    spark._jvm.org.apache.spark.util.Utils.classForName(  # the Kafka source is on the classpath too
        "org.apache.spark.sql.kafka010.KafkaSourceProvider", True, False)


def test_a_complete_cache_is_reused_without_running_maven(tmp_path):
    """Once the cache matches the coordinates, fetch downloads nothing (Maven is not even started)."""
    cached = jvm.jars_dir()
    assert cached is not None
    result = jvm.fetch(cached, mvn=_fake_mvn(tmp_path, f"touch {tmp_path}/maven-ran; exit 1\n"))
    assert result.error is None and not result.downloaded and result.jars
    assert not (tmp_path / "maven-ran").exists()


def test_a_stale_or_incomplete_cache_is_fetched_again(tmp_path):
    """A listing for other coordinates, or naming a missing jar, does not count as a cache."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "delta-spark_2.13-4.2.0.jar").write_bytes(b"jar")
    listing = tmp_path / jvm.CLASSPATH_FILE
    listing.write_text("# 0000000000000000\nlib/delta-spark_2.13-4.2.0.jar\n")
    assert jvm.cached_classpath(tmp_path) is None
    listing.write_text(f"# {jvm.coordinates_digest()}\nlib/delta-spark_2.13-4.2.0.jar\nlib/gone.jar\n")
    assert jvm.cached_classpath(tmp_path) is None
    listing.write_text(f"# {jvm.coordinates_digest()}\nlib/delta-spark_2.13-4.2.0.jar\n")
    assert jvm.cached_classpath(tmp_path) == (str(tmp_path / "lib" / "delta-spark_2.13-4.2.0.jar"),)


def test_maven_resolves_into_the_cache_and_leaves_out_jars_pyspark_ships(tmp_path):
    """Resolved jars land in lib/ and the listing; a jar pyspark already has (another version) is left out."""
    mvn = _fake_mvn(tmp_path, (
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; esac; done\n'
        'mkdir -p "$out"; touch "$out/delta-spark_2.13-4.2.0.jar" "$out/scala-library-2.13.99.jar"\n'))
    cache = tmp_path / "cache"
    result = jvm.fetch(cache, mvn=mvn)
    assert result.error is None and result.downloaded
    assert [Path(j).name for j in result.jars] == ["delta-spark_2.13-4.2.0.jar"]
    assert jvm.cached_classpath(cache) == result.jars
    assert not any(p.name.startswith("resolve-") for p in cache.iterdir())  # the work folder is gone


@pytest.mark.parametrize("mvn_body", [
    ("echo '[ERROR] Failed to execute goal: Could not transfer artifact io.delta:delta-spark_2.13:pom:4.2.0 "
    "from/to central: repo.maven.apache.org: Temporary failure in name resolution'; exit 1\n"),
    None,
], ids=["maven-central-unreachable", "no-maven"])
def test_without_maven_central_the_set_up_says_so_in_one_line_and_goes_on(tmp_path, monkeypatch, capsys, mvn_body):
    """No Maven, or no Maven Central: one line naming the cause, exit 0, no listing; local runs use delta-rs."""
    monkeypatch.setenv(jvm.JARS_DIR_ENV_VAR, str(tmp_path / "cache"))
    if mvn_body is None:
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    else:
        monkeypatch.setenv("PATH", f"{Path(_fake_mvn(tmp_path, mvn_body)).parent}{os.pathsep}{os.environ['PATH']}")
    assert jvm.main(["fetch"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("local runs use delta-rs")
    assert ("Temporary failure in name resolution" if mvn_body else "Maven (mvn) is not installed") in lines[0]
    assert jvm.cached_classpath() is None


def test_the_module_has_a_usage_line(capsys):
    """An unknown subcommand prints the usage and exits 2."""
    assert jvm.main(["nonsense"]) == 2
    assert "usage: python -m altaviz.runtime.jvm fetch [--broker]|classpath" in capsys.readouterr().err


@pytest.mark.parametrize(("cores", "expected"), [("1", 1), ("3", 3), ("*", os.cpu_count() or 2)],
                         ids=["one", "three", "every-core"])
def test_local_cores_is_what_local_master_uses(cores, expected):
    """Delta's log-replay and listing parallelism follow `local[N]`, not this machine's core count."""
    from altaviz.runtime.spark import local_cores

    assert local_cores(cores) == expected
