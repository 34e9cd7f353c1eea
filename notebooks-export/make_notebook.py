"""Builds and executes waste-vs-volume.ipynb, then exports it to Markdown and HTML.

Run from the repository root after `cargo run --release -- scan data/sample`:

    python3 notebooks-export/make_notebook.py

Needs: pip install nbformat nbclient nbconvert ipykernel polars pyarrow matplotlib
"""
import os
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))
cells = []
md = lambda s: cells.append(nbformat.v4.new_markdown_cell(s))
code = lambda s: cells.append(nbformat.v4.new_code_cell(s))

md("""# Waste, not volume: reading goodhart's scores of the sample organisation

This notebook reads the outputs of `goodhart scan data/sample` (the Quick start's first command)
and the sample's hidden truth (`data/sample/labels.parquet`, which the scan never reads). It shows
why goodhart ranks on waste ratios within peer cohorts instead of on token volume.""")
code("""import os, json
import polars as pl
OUT = os.environ.get("GOODHART_OUT", "../goodhart-out")
users = pl.read_parquet(f"{OUT}/user_scores.parquet")
labels = pl.read_parquet("../data/sample/labels.parquet")
df = users.join(labels, on="user_id", how="left")
print(df.height, "users;", df.filter(pl.col("is_gaming")).height, "gaming (ground truth)")""")
md("## The token leaderboard rewards volume\n\nThe top k by total tokens (k = number of gaming users), by archetype:")
code("""k = labels.filter(pl.col("is_gaming")).height
board = df.sort("total_tokens", descending=True).head(k)
print(board.group_by("archetype").len().sort("len", descending=True))""")
md("## goodhart's top k is the gamers\n\nThe top k by goodhart's score (k = number of gaming users):")
code("""top = df.sort(["score", "user_id"], descending=[True, False]).head(k)
print(top.group_by("archetype").len().sort("len", descending=True))
print("precision at k:", top.filter(pl.col("is_gaming")).height / k)""")
md("## Volume is not guilt\n\nPower users spend several times the tokens of regular users, with proportional accepted work; their waste ratios sit with everyone else's:")
code("""cols = ["total_tokens", "tokens_per_accepted_change", "redundant_spawn_ratio", "reload_uncached_share", "loop_ratio", "score"]
print(df.group_by("archetype").agg([pl.col(c).median().round(3) for c in cols]).sort("score"))""")
code("""%matplotlib inline
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(7, 4))
for g, sub in df.group_by("is_gaming"):
    ax.scatter(sub["total_tokens"], sub["score"], s=12, label="gaming" if g[0] else "legitimate", alpha=0.7)
ax.set_xscale("log"); ax.set_xlabel("total tokens in the window (log)"); ax.set_ylabel("goodhart score")
ax.legend(); ax.set_title("Score against volume"); fig.tight_layout(); plt.show()""")
md("## Every score explains itself\n\nThe explanation of the highest-scored user, as a reviewer reads it:")
code("""u = top.row(0, named=True)
print(u["user_id"], u["archetype"], u["score"], u["severity"])
for p in json.loads(u["explanations"])["patterns"]:
    print("-", p["pattern"], ":", p["text"], "| sessions:", ", ".join(p["sessions"]))""")

nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": HERE}}).execute()
path = os.path.join(HERE, "waste-vs-volume.ipynb")
nbformat.write(nb, path)
for fmt in ["markdown", "html"]:
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", fmt, path], check=True)
