"""goodhart.spark on a local[2] Spark session: the scores of `goodhart scan`."""

from __future__ import annotations

import json
import subprocess

import pyarrow.parquet as pq
import pytest

import goodhart
from conftest import goodhart_bin

pytestmark = pytest.mark.spark


def same_scores(spark_df, cli_table, key) -> None:
    """Same rows, same scores, severities and patterns (row order aside)."""
    a = spark_df.toArrow().sort_by([(k, "ascending") for k in key])
    b = cli_table.sort_by([(k, "ascending") for k in key])
    assert a.num_rows == b.num_rows
    pcol = "top_patterns" if "top_patterns" in b.column_names else "patterns"
    for col in key + ["score", "severity", pcol]:
        assert a.column(col).to_pylist() == b.column(col).to_pylist(), col


def cli_scan(dataset, out, state, *args) -> dict:
    p = subprocess.run(
        [str(goodhart_bin()), "scan", str(dataset), "--out", str(out), "--state", str(state),
         "--quiet", *args],
    )
    # 4: outputs published, the last day looks incomplete (a synthetic
    # history's last partition only holds sessions that ran past midnight).
    assert p.returncode in (0, 4), p.returncode
    return json.loads((out / "summary.json").read_text())


def test_spark_scan_on_the_sample_equals_the_cli(spark, sample, cli_out):
    import goodhart.spark

    events = spark.read.parquet(str(sample / "events"))
    roster = spark.read.parquet(str(sample / "users.parquet"))
    r = goodhart.spark.scan(events, roster, config=sample / "goodhart.toml")
    same_scores(r.users, pq.read_table(cli_out / "user_scores.parquet"), ["user_id"])
    same_scores(
        r.sessions, pq.read_table(cli_out / "session_scores.parquet"), ["user_id", "session_id"]
    )
    cli_summary = json.loads((cli_out / "summary.json").read_text())
    assert r.summary["rows"] == cli_summary["rows"]
    assert r.summary["alerts_by_severity"] == cli_summary["alerts_by_severity"] == {
        "critical": 17,
        "high": 1,
    }
    cli_alerts = [json.loads(l) for l in (cli_out / "alerts.jsonl").read_text().splitlines()]
    got = r.alerts.toArrow()
    assert sorted(got.column("user_id").to_pylist()) == sorted(a["user_id"] for a in cli_alerts)
    # Phase 1 found the sample's common prompts (shared task hashes).
    assert r.summary["common_prompts"] > 0


def test_spark_scan_on_a_synthetic_org_in_many_partitions(spark, tmp_path):
    import goodhart.spark

    org = tmp_path / "org"
    s = goodhart.synth(org, users=450, days=14, seed=11)
    assert 300_000 < s["events"] < 900_000, s["events"]
    as_of = s["dates"][1]
    cli = cli_scan(org, tmp_path / "out", tmp_path / "state", "--as-of", as_of, "--window", "14d")
    events = spark.read.parquet(str(org / "events")).repartition(24)
    assert events.rdd.getNumPartitions() == 24
    roster = spark.read.parquet(str(org / "users.parquet"))
    r = goodhart.spark.scan(events, roster, as_of=as_of, window="14d", partitions=16)
    same_scores(r.users, pq.read_table(tmp_path / "out" / "user_scores.parquet"), ["user_id"])
    same_scores(
        r.sessions,
        pq.read_table(tmp_path / "out" / "session_scores.parquet"),
        ["user_id", "session_id"],
    )
    # The CLI skips the date partitions outside the window unread; Spark
    # reads them and sets their rows aside as outside_window.
    rows, cli_rows = r.summary["rows"], cli["rows"]
    assert rows["accepted"] == cli_rows["accepted"]
    assert rows["duplicate_events"] == cli_rows["duplicate_events"]
    outside = rows["quarantined_by_reason"].pop("outside_window", 0)
    assert rows["read"] - outside == cli_rows["read"] - cli_rows["quarantined_by_reason"].get("outside_window", 0)
    assert r.summary["users"] == 450
