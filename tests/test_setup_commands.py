"""The two set-up commands stop at once, with one line saying what to install, when Java cannot run Spark."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FAKE_JAVA = """#!/bin/sh
case "$1" in
  --add-modules=*) {vector} ;;
esac
echo 'openjdk version "{version}" 2020-01-01' >&2
exit 0
"""


def _fake_java_home(tmp_path: Path, version: str, has_vector: bool) -> Path:
    home = tmp_path / f"jdk-{version}-{has_vector}"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(FAKE_JAVA.format(version=version, vector="" if has_vector else
                                     "echo 'Module jdk.incubator.vector not found' >&2; exit 1"))
    java.chmod(0o755)
    return home


def _check_java(java_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JAVA_HOME": str(java_home)}
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "check-java"], env=env,
                          capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    ("version", "has_vector", "expected"),
    [("11.0.2", True, "is version '11'"), ("1.8.0_292", True, "is version '1'"),
     ("17.0.9", False, "lacks the jdk.incubator.vector module")],
    ids=["java-11", "java-8", "trimmed-runtime"],
)
def test_unusable_java_stops_with_one_line(tmp_path, version, has_vector, expected):
    """Too old a Java, or a trimmed runtime, fails fast with a single actionable line."""
    done = _check_java(_fake_java_home(tmp_path, version, has_vector))
    lines = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert done.returncode != 0
    assert len(lines) == 1 and expected in lines[0] and "install a full OpenJDK" in lines[0]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_missing_java_stops_with_one_line(tmp_path):
    """A JAVA_HOME without java says what to install."""
    done = _check_java(tmp_path / "no-jdk")
    lines = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert done.returncode != 0 and len(lines) == 1 and "was not found" in lines[0]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_usable_java_passes(tmp_path):
    """A full Java 17+ passes the check silently."""
    done = _check_java(_fake_java_home(tmp_path, "21.0.1", True))
    assert done.returncode == 0, done.stderr
