"""The Python API on data/sample: known answers, the CLI's scores, every input flavour, errors."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest

import goodhart

# Figures of data/sample (`goodhart synth --users 300 --days 14 --seed 7`;
# window 2026-10-01..2026-10-15 from its goodhart.toml), as `goodhart scan`
# prints them.
SAMPLE_ROWS = 264_387
SAMPLE_USERS = 300
SAMPLE_SESSIONS = 9_350
SAMPLE_ALERTS = 18  # 17 critical, 1 high
TOP_USER = "u-00292"


def sample_events(sample) -> pa.Table:
    return pds.dataset(sample / "events", format="parquet", partitioning=None).to_table()


@pytest.fixture(scope="module")
def result(sample):
    return goodhart.scan(sample)


def assert_same_scores(a: pa.Table, b: pa.Table, key) -> None:
    """Same rows, same scores, severities and patterns (row order aside)."""
    a = a.sort_by([(k, "ascending") for k in key])
    b = b.sort_by([(k, "ascending") for k in key])
    assert a.num_rows == b.num_rows
    for col in key + ["score", "severity"]:
        assert a.column(col).to_pylist() == b.column(col).to_pylist(), col
    pcol = "top_patterns" if "top_patterns" in a.column_names else "patterns"
    assert a.column(pcol).to_pylist() == b.column(pcol).to_pylist()


def test_scan_path_known_answers(result):
    s = result.summary
    assert s["rows"]["read"] == SAMPLE_ROWS
    assert s["rows"]["read"] == s["rows"]["accepted"] + s["rows"]["quarantined"]
    assert s["users"] == SAMPLE_USERS == result.users.num_rows
    assert s["sessions"] == SAMPLE_SESSIONS == result.sessions.num_rows
    assert s["window"] == {"start": "2026-10-01", "end": "2026-10-15", "days": 15}
    assert len(result.alerts) == SAMPLE_ALERTS
    assert s["alerts_by_severity"] == {"critical": 17, "high": 1}
    assert result.users.column("user_id")[0].as_py() == TOP_USER
    assert isinstance(result.users, pa.Table)


def test_scan_equals_cli_output(result, cli_out):
    """Same table, byte for byte in values, as the binary's user_scores.parquet."""
    cli_users = pq.read_table(cli_out / "user_scores.parquet")
    cli_sessions = pq.read_table(cli_out / "session_scores.parquet")
    assert result.users.column_names == cli_users.column_names
    assert result.users.equals(cli_users.cast(result.users.schema))
    assert result.sessions.equals(cli_sessions.cast(result.sessions.schema))
    cli_summary = json.loads((cli_out / "summary.json").read_text())
    s = result.summary
    assert s["rows"] == cli_summary["rows"]
    assert s["alerts_by_severity"] == cli_summary["alerts_by_severity"]
    cli_alerts = [json.loads(l) for l in (cli_out / "alerts.jsonl").read_text().splitlines()]
    assert sorted(a["user_id"] for a in cli_alerts) == sorted(a.user_id for a in result.alerts)


def test_alerts_typed_and_table(result):
    alerts = result.alerts
    assert all(isinstance(a, goodhart.Alert) for a in alerts)
    top = alerts[0]
    assert top.user_id == TOP_USER
    assert top.severity in ("high", "critical")
    assert top.window_start == dt.date(2026, 10, 1) and top.window_end == dt.date(2026, 10, 15)
    assert top.evidence and isinstance(top.evidence[0], goodhart.Evidence)
    assert top.evidence[0].sessions, "evidence names sessions"
    t = result.alerts_table()
    assert t.num_rows == len(alerts)
    assert t.column("user_id").to_pylist() == [a.user_id for a in alerts]
    # Each alert is a user flagged `alert` in the users table.
    flagged = result.users.filter(pc.field("alert")).column("user_id").to_pylist()
    assert sorted(flagged) == sorted(a.user_id for a in alerts)


def test_explain(result):
    e = result.explain(TOP_USER)
    assert e["user_id"] == TOP_USER
    row = result.users.filter(pc.field("user_id") == TOP_USER)
    assert e["score"] == row.column("score")[0].as_py()
    assert e["patterns"][0]["pattern"] == result.alerts[0].pattern
    with pytest.raises(KeyError):
        result.explain("nobody")


def test_input_flavours_give_the_cli_scores(sample, result):
    events = sample_events(sample)
    roster = sample / "users.parquet"
    flavours = {
        "pyarrow table": events,
        "record batch reader": pa.RecordBatchReader.from_batches(
            events.schema, events.to_batches(max_chunksize=10_000)
        ),
        "pandas": events.to_pandas(),
    }
    try:
        import polars as pl

        flavours["polars"] = pl.from_arrow(events)
    except ImportError:  # pragma: no cover - polars is installed in CI
        pass
    for name, ev in flavours.items():
        r = goodhart.scan(ev, roster=roster, config=sample / "goodhart.toml")
        assert r.summary["rows"]["read"] == SAMPLE_ROWS, name
        # Same accounting as the dataset path, duplicate events included.
        assert r.summary["rows"] == result.summary["rows"], name
        assert_same_scores(r.users, result.users, ["user_id"])
        assert_same_scores(r.sessions, result.sessions, ["user_id", "session_id"])


def test_pandas_float_counts_integral_accepted_fractional_refused_as_the_cli(tmp_path):
    """pandas' float stand-in for a nullable integer is undone; a real fraction is refused."""
    import pandas as pd
    from conftest import goodhart_bin
    import subprocess

    ts = pd.to_datetime(["2026-10-01T10:00:00Z", "2026-10-01T10:01:00Z", "2026-10-01T10:02:00Z"])
    base = {
        "ts": ts,
        "user_id": ["ann"] * 3,
        "session_id": ["s1"] * 3,
        "event": ["request"] * 3,
    }
    ok = pd.DataFrame({**base, "input_tokens": [100.0, None, 300.0]})
    assert str(ok["input_tokens"].dtype) == "float64"
    f = goodhart.features(ok, as_of="2026-10-01", window="1d")
    # The null counts as 0 (the schema's rule): 100 + 0 + 300.
    assert f.sessions.column("input_tokens").to_pylist() == [400]
    assert f.ingest["rows_accepted"] == 3

    bad = pd.DataFrame({**base, "input_tokens": [100.0, None, 2.5]})
    path = tmp_path / "events" / "f.parquet"
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), path)
    with pytest.raises(goodhart.InputError) as e:
        goodhart.features(bad, as_of="2026-10-01", window="1d", source=str(path))
    msg = str(e.value)
    assert msg.startswith(f'{path}: column "input_tokens" has type Float64; expected an integer type'), msg
    p = subprocess.run(
        [str(goodhart_bin()), "features", str(path), "--out", str(tmp_path / "o"),
         "--as-of", "2026-10-01", "--window", "1d"],
        capture_output=True, text=True,
    )
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == f"error: {msg}"


def test_roster_as_table(sample, result):
    events = sample_events(sample)
    r = goodhart.scan(
        events, roster=pq.read_table(sample / "users.parquet"), config=sample / "goodhart.toml"
    )
    assert_same_scores(r.users, result.users, ["user_id"])


def test_features_then_score_equals_scan(sample, result):
    f = goodhart.features(sample)
    assert f.users.num_rows == SAMPLE_USERS
    assert f.sessions.num_rows == SAMPLE_SESSIONS
    assert f.ingest["rows_read"] == SAMPLE_ROWS
    cli_cfg = sample / "goodhart.toml"
    s = goodhart.score(f.users, f.sessions, config=cli_cfg)
    # The scan's tables are the score tables plus the waste stage's columns
    # (`waste_*`; its conservative `waste_tokens` replaces the feature of
    # that name, the raw waste the feature pass counts).
    for got, scanned in ((s.users, result.users), (s.sessions, result.sessions)):
        common = [c for c in got.column_names if not c.startswith("waste_")]
        assert len(common) > 20
        assert got.select(common).equals(scanned.select(common))
    assert "waste_usd" in result.users.column_names
    assert "waste_usd" not in s.users.column_names
    assert [a.user_id for a in s.alerts] == [a.user_id for a in result.alerts]


def test_features_as_of_and_window(sample):
    f = goodhart.features(sample, as_of=dt.date(2026, 10, 7), window="7d")
    ing = f.ingest
    assert ing["files_pruned"] == 8  # 2026-10-08 .. 2026-10-15
    assert ing["rows_read"] < SAMPLE_ROWS


def test_quarantine_counts(sample):
    events = sample_events(sample)
    # The bad rows keep the column's type (a dictionary, not null): pyarrow
    # only concatenates tables of one schema.
    field = events.schema.field("event")
    bad = events.slice(0, 10).set_column(
        events.column_names.index("event"),
        field,
        pa.array(["bogus"] * 10).dictionary_encode().cast(field.type),
    )
    r = goodhart.features(
        pa.concat_tables([events, bad]), source="mixed", config=sample / "goodhart.toml"
    )
    ing = r.ingest
    assert ing["rows_read"] == SAMPLE_ROWS + 10
    assert ing["reasons"] == {"unknown_event": 10}
    q = r.quarantine
    assert q.num_rows == 10
    assert set(q.column("reason").to_pylist()) == {"unknown_event"}
    assert set(q.column("source_file").to_pylist()) == {"mixed"}
    assert q.column("row_index").to_pylist() == list(range(SAMPLE_ROWS, SAMPLE_ROWS + 10))


def test_duplicate_events_counted_as_the_cli(sample, tmp_path):
    """50 rows given twice: 50 duplicate events, counted (not removed), as `goodhart scan` counts them."""
    import shutil
    import subprocess
    from conftest import goodhart_bin

    events = sample_events(sample)
    doubled = pa.concat_tables([events, events.slice(1000, 50)])
    r = goodhart.scan(doubled, roster=sample / "users.parquet", config=sample / "goodhart.toml")
    rows = r.summary["rows"]
    assert rows["duplicate_events"] == 50
    assert rows["read"] == rows["accepted"] == SAMPLE_ROWS + 50
    # The CLI on the same rows (the sample plus one file of the 50 copies).
    ds = tmp_path / "ds"
    shutil.copytree(sample, ds)
    pq.write_table(events.slice(1000, 50), ds / "events" / "date=2026-10-01" / "copies.parquet")
    subprocess.run(
        [str(goodhart_bin()), "scan", str(ds), "--out", str(tmp_path / "o"),
         "--state", str(tmp_path / "st"), "--quiet"],
        check=True,
    )
    cli = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert cli["rows"] == rows


def test_validate(sample, tmp_path):
    rep = goodhart.validate(sample)
    assert rep["rows_read"] == SAMPLE_ROWS
    assert rep["files_read"] == 15
    rep = goodhart.validate(sample, as_of="2026-10-07", window="7d", quarantine=tmp_path / "q.parquet")
    assert rep["files_pruned"] == 8
    assert (tmp_path / "q.parquet").exists()


def test_synth(tmp_path):
    s = goodhart.synth(tmp_path / "org", users=40, days=3, seed=3)
    assert s["users"] == 40
    assert len(s["dates"]) == 2
    rep = goodhart.validate(tmp_path / "org")
    assert rep["rows_read"] == s["events"]
    r = goodhart.scan(tmp_path / "org", as_of=s["dates"][1], window="3d")
    assert r.users.num_rows == 40


# --- errors -----------------------------------------------------------------


def test_missing_path_is_input_error(tmp_path):
    with pytest.raises(goodhart.InputError) as e:
        goodhart.scan(tmp_path / "nope")
    assert isinstance(e.value, ValueError) and isinstance(e.value, goodhart.GoodhartError)
    assert str(e.value) == (
        f"{tmp_path / 'nope'}: no such file or directory. Fix: pass a dataset directory holding "
        "events/ (and optionally users.parquet), or event Parquet files"
    )


def test_missing_column_names_the_column(sample):
    events = sample_events(sample).drop_columns(["user_id"])
    with pytest.raises(goodhart.InputError, match="user_id"):
        goodhart.scan(events, source="my_table")


def test_bad_arguments():
    t = pa.table({"x": [1]})
    with pytest.raises(goodhart.InputError, match="window"):
        goodhart.scan(t, window="soon")
    with pytest.raises(goodhart.InputError, match="as_of"):
        goodhart.scan(t, as_of="yesterday")
    with pytest.raises(TypeError, match="not an Arrow table"):
        goodhart.scan(42)


def test_bad_config(tmp_path, sample):
    cfg = tmp_path / "goodhart.toml"
    cfg.write_text('[scan]\nwindow = "forever"\n')
    with pytest.raises(goodhart.InputError, match=r"goodhart.toml.*\[scan\] window"):
        goodhart.scan(sample, config=cfg)


def test_messages_match_the_cli(tmp_path):
    import subprocess

    from conftest import goodhart_bin

    cfg = tmp_path / "goodhart.toml"
    cfg.write_text('[scan]\nwindow = "forever"\n')
    p = subprocess.run(
        [str(goodhart_bin()), "scan", str(tmp_path / "nope"), "--quiet"],
        capture_output=True, text=True,
    )
    assert p.returncode == 2
    with pytest.raises(goodhart.InputError) as e:
        goodhart.scan(tmp_path / "nope")
    assert p.stderr.strip() == f"error: {e.value}"
