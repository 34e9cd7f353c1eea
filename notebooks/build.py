"""Builds, executes and exports goodhart's notebooks.

    python notebooks/build.py            # from the repository root

writes `notebooks/*.ipynb` (executed, outputs included) and exports each to
`notebooks-export/` as Markdown and HTML (plots as PNG images beside them).
Needs the `goodhart` package (pip install ./crates/python) and
`pip install nbformat nbclient nbconvert ipykernel polars matplotlib 'pyspark>=4'`
(Java 17 for the Spark notebook). `crates/python/tests/test_notebooks.py`
checks that the committed notebooks are this script's output: it executes
them again and compares every printed text output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXPORT = ROOT / "notebooks-export"


def _nb(cells):
    out = []
    for kind, text in cells:
        out.append(
            nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        )
    return nbformat.v4.new_notebook(
        cells=out,
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


WASTE = [
    ("md", """# Waste, not volume: goodhart's scores of the sample organisation

This notebook scans `data/sample` with the Python package (`goodhart.scan`, the same scores as
`goodhart scan`) and joins the sample's hidden truth (`data/sample/labels.parquet`, which the scan
never reads). It shows why goodhart ranks on waste ratios within peer cohorts instead of on token
volume."""),
    ("code", """import json
import goodhart
import polars as pl
r = goodhart.scan("../data/sample")
users = pl.from_arrow(r.users)
labels = pl.read_parquet("../data/sample/labels.parquet")
df = users.join(labels, on="user_id", how="left")
print(df.height, "users;", df.filter(pl.col("is_gaming")).height, "gaming (ground truth)")
print("alerts:", r.summary["alerts_by_severity"])"""),
    ("md", "## The token leaderboard rewards volume\n\nThe top k by total tokens (k = number of gaming users), by archetype:"),
    ("code", """k = labels.filter(pl.col("is_gaming")).height
board = df.sort(["total_tokens", "user_id"], descending=[True, False]).head(k)
print(board.group_by("archetype").len().sort(["len", "archetype"], descending=[True, False]))"""),
    ("md", "## goodhart's top k is the gamers\n\nThe top k by goodhart's score:"),
    ("code", """top = df.sort(["score", "user_id"], descending=[True, False]).head(k)
print(top.group_by("archetype").len().sort(["len", "archetype"], descending=[True, False]))
print("precision at k:", top.filter(pl.col("is_gaming")).height / k)"""),
    ("md", "## Volume is not guilt\n\nPower users spend several times the tokens of regular users, with proportional accepted work; their waste ratios sit with everyone else's:"),
    ("code", """cols = ["total_tokens", "tokens_per_accepted_change", "redundant_spawn_ratio", "reload_uncached_share", "loop_ratio", "score"]
with pl.Config(tbl_cols=-1, tbl_width_chars=200):
    print(df.group_by("archetype").agg([pl.col(c).median().round(3) for c in cols]).sort(["score", "archetype"]))"""),
    ("code", """%matplotlib inline
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(7, 4))
for g, sub in sorted(df.group_by("is_gaming"), key=lambda x: x[0]):
    ax.scatter(sub["total_tokens"], sub["score"], s=12, label="gaming" if g[0] else "legitimate", alpha=0.7)
ax.set_xscale("log"); ax.set_xlabel("total tokens in the window (log)"); ax.set_ylabel("goodhart score")
ax.legend(); ax.set_title("Score against volume"); fig.tight_layout(); plt.show()"""),
]

INVESTIGATION = [
    ("md", """# An analyst's investigation: from usage events to one alert

The events of the sample organisation go in as a pyarrow table (as they would from a warehouse
query); we take the top alert, read its evidence sessions, and see where the same person stood on a
token leaderboard."""),
    ("code", """import goodhart
import polars as pl
import pyarrow.dataset as pds
events = pds.dataset("../data/sample/events", format="parquet", partitioning=None).to_table()
r = goodhart.scan(events, roster="../data/sample/users.parquet", config="../data/sample/goodhart.toml")
print(f"{events.num_rows} events, {r.summary['users']} people, {r.summary['sessions']} sessions")
print("alerts by severity:", r.summary["alerts_by_severity"])"""),
    ("md", "## The alert"),
    ("code", """a = r.alerts[0]
print(a.user_id, a.severity, round(a.score, 1), a.pattern, "cohort:", a.cohort)
for e in a.evidence:
    print("-", e.text)"""),
    ("md", "## Its evidence sessions\n\nThe sessions the explanation names, with their own scores and the waste patterns they show:"),
    ("code", """sessions = pl.from_arrow(r.sessions)
ev = sorted({s for e in a.evidence for s in e.sessions})
with pl.Config(tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=60):
    print(sessions.filter(pl.col("session_id").is_in(ev))
          .select(["session_id", "score", "severity", "patterns", "total_tokens", "requests", "spawns"])
          .sort(["score", "session_id"], descending=[True, False]))"""),
    ("md", "## Against the cohort\n\nThe person's value of each feature the explanation uses, against the cohort's typical value and 95th percentile:"),
    ("code", """%matplotlib inline
import matplotlib.pyplot as plt
x = goodhart_explain = r.explain(a.user_id)
pats = [p for p in x["patterns"] if p.get("value") is not None and p.get("typical") is not None][:5]
fig, ax = plt.subplots(figsize=(7, 3.5))
names = [p["feature"] for p in pats]
ax.barh(names, [p["typical"] for p in pats], color="#bbb", label="cohort typical")
ax.scatter([p["p95"] for p in pats], names, marker="|", s=300, color="k", label="cohort p95")
ax.scatter([p["value"] for p in pats], names, color="crimson", zorder=3, label=a.user_id)
ax.set_xscale("symlog"); ax.legend(loc="lower right"); ax.set_title("The alert's features against the cohort")
fig.tight_layout(); plt.show()
for p in pats:
    print(p["feature"], "value", round(p["value"], 3), "typical", round(p["typical"], 3), "p95", round(p["p95"], 3))"""),
    ("md", "## What a leaderboard would have said\n\nA usage leaderboard ranks on tokens. The person's place on it, and their tokens against their cohort's:"),
    ("code", """users = pl.from_arrow(r.users).sort(["total_tokens", "user_id"], descending=[True, False]).with_row_index("token_rank", offset=1)
me = users.filter(pl.col("user_id") == a.user_id).row(0, named=True)
print(f"token leaderboard rank: {me['token_rank']} of {users.height}")
print(f"goodhart rank: {[u.user_id for u in r.alerts].index(a.user_id) + 1}")
cohort = users.filter(pl.col("cohort") == a.cohort)
print("tokens vs cohort median:", round(me["total_tokens"] / cohort["total_tokens"].median(), 1), "x")
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(range(users.height), users["total_tokens"], color=["crimson" if u == a.user_id else "#9ab" for u in users["user_id"]], width=1.0)
ax.set_yscale("log"); ax.set_xlabel("token leaderboard rank"); ax.set_ylabel("tokens (log)")
ax.set_title(f"{a.user_id} on a token leaderboard"); fig.tight_layout(); plt.show()"""),
]

SPARK = [
    ("md", """# goodhart on Spark (local session)

`goodhart.spark.scan` runs the same Rust core on Spark DataFrames: phase 1 finds the organisation's
common prompts, phase 2 computes each user's features with `groupBy(user_id).applyInArrow`, and the
driver scores (see `docs/spark.md`). Here on a local two-core session over the sample."""),
    ("code", """import os, sys
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "8").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
import goodhart, goodhart.spark
events = spark.read.parquet("../data/sample/events")
roster = spark.read.parquet("../data/sample/users.parquet")
print(events.count(), "events in", events.rdd.getNumPartitions(), "partitions")"""),
    ("code", """r = goodhart.spark.scan(events, roster, config="../data/sample/goodhart.toml")
print({k: r.summary[k] for k in ["users", "sessions", "alerts_by_severity", "common_prompts", "common_prompt_threshold"]})
r.users.select("user_id", "cohort", "score", "severity", "top_patterns").orderBy("score", ascending=False).show(5, truncate=False)"""),
    ("md", "## The same scores as the single-machine scan"),
    ("code", """local = goodhart.scan("../data/sample")
a = r.users.toArrow().sort_by("user_id"); b = local.users.sort_by("user_id")
print("user scores identical:", a.column("score").to_pylist() == b.column("score").to_pylist())
print("severities identical:", a.column("severity").to_pylist() == b.column("severity").to_pylist())
r.alerts.groupBy("severity").count().orderBy("severity").show()
spark.stop()"""),
]

NOTEBOOKS = {
    "waste-vs-volume": WASTE,
    "investigation": INVESTIGATION,
    "spark-local": SPARK,
}


def execute(name: str) -> nbformat.NotebookNode:
    """Builds and runs one notebook (working directory: notebooks/)."""
    nb = _nb(NOTEBOOKS[name])
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    # Log lines on stderr (Spark's JVM, library warnings) carry times and
    # host names: they are not the notebook's results.
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = [o for o in c.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    return nb


def text_outputs(nb) -> list:
    """The printed text of every code cell (stdout and plain results), for comparison."""
    out = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        text = []
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                text.append(o["text"])
            elif o.get("output_type") in ("execute_result", "display_data"):
                t = o.get("data", {}).get("text/plain")
                if t and not t.startswith("<Figure"):
                    text.append(t)
        out.append("".join(text))
    return out


def main() -> None:
    EXPORT.mkdir(exist_ok=True)
    for name in sys.argv[1:] or list(NOTEBOOKS):
        nb = execute(name)
        path = HERE / f"{name}.ipynb"
        nbformat.write(nb, path)
        for fmt in ["markdown", "html"]:
            subprocess.run(
                [sys.executable, "-m", "nbconvert", "--to", fmt, str(path), "--output-dir", str(EXPORT)],
                check=True,
            )
        print("wrote", path, "and its exports in", EXPORT)


if __name__ == "__main__":
    main()
