"""Shared fixtures: the sample dataset and the CLI's own output on it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "data" / "sample"


def goodhart_bin() -> Path:
    """The `goodhart` binary: $GOODHART_BIN, else built here with cargo."""
    env = os.environ.get("GOODHART_BIN")
    if env:
        return Path(env)
    subprocess.run(
        ["cargo", "build", "-q", "--bin", "goodhart"], cwd=ROOT, check=True
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "goodhart"


@pytest.fixture(scope="session")
def sample() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def cli_out(tmp_path_factory) -> Path:
    """`goodhart scan data/sample` run once; its output directory."""
    out = tmp_path_factory.mktemp("cli")
    state = tmp_path_factory.mktemp("state")
    subprocess.run(
        [str(goodhart_bin()), "scan", str(SAMPLE), "--out", str(out),
         "--state", str(state), "--quiet"],
        check=True,
    )
    return out


@pytest.fixture()
def sample_copy(tmp_path) -> Path:
    dst = tmp_path / "sample"
    shutil.copytree(SAMPLE, dst)
    return dst


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "spark: needs PySpark >= 4 and Java 17 (run by .ci/run; skipped elsewhere without them)"
    )


@pytest.fixture(scope="session")
def spark():
    """A local[2] Spark session (UTC, few shuffle partitions). Under CI a
    missing PySpark fails the run instead of skipping."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("pyspark is not installed")
    import sys

    # The Python workers run this interpreter (the one goodhart is installed in).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    s = (
        SparkSession.builder.master("local[2]")
        .appName("goodhart-tests")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()
