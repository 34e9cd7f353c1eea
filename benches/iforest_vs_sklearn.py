#!/usr/bin/env python3
"""Isolation Forest speed: scikit-learn vs goodhart, same data, same machine, same run.

Generates a seeded 100 000 x 20 matrix (standard normal, 1% planted outliers shifted by +/-6 in
5 random features), writes it to Parquet (Float64 x0..x19 + Int8 label), then times

* scikit-learn ``IsolationForest(random_state=0)`` (defaults: 100 trees, max_samples=256):
  ``fit`` and ``score_samples`` separately, median of 5 runs each;
* goodhart's Isolation Forest via
  ``cargo run --release -p goodhart-detect --example outliers -- FILE --repeat 5``, which prints the
  median fit and score milliseconds as JSON (Parquet reading excluded on both sides);

and prints a Markdown table with medians, the ratio and both ROC-AUCs.

Usage (from the repository root):
    pip install scikit-learn pyarrow numpy pandas
    python3 benches/iforest_vs_sklearn.py [--rows 100000] [--dims 20] [--repeat 5] [--jobs 1]

``--jobs`` is scikit-learn's ``n_jobs`` (default 1, its default); goodhart uses all rayon threads
(RAYON_NUM_THREADS to restrict). The machine's core count is printed.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score


def make_data(rows, dims, seed=20240601):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, dims))
    y = np.zeros(rows, dtype=np.int8)
    outliers = rng.choice(rows, size=rows // 100, replace=False)
    for i in outliers:
        feats = rng.choice(dims, size=min(5, dims), replace=False)
        x[i, feats] += rng.choice([-6.0, 6.0], size=len(feats))
    y[outliers] = 1
    return x, y


def write_parquet(path, x, y):
    cols = {f"x{j}": pa.array(x[:, j]) for j in range(x.shape[1])}
    cols["label"] = pa.array(y, type=pa.int8())
    pq.write_table(pa.table(cols), path)


def time_sklearn(x, repeat, jobs):
    fit_ms, score_ms, scores = [], [], None
    for _ in range(repeat):
        t = time.perf_counter()
        model = IsolationForest(random_state=0, n_jobs=jobs).fit(x)
        fit_ms.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        scores = -model.score_samples(x)
        score_ms.append((time.perf_counter() - t) * 1e3)
    return statistics.median(fit_ms), statistics.median(score_ms), scores


def time_goodhart(path, repeat, root):
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "goodhart-detect", "--example", "outliers",
           "--", path, "--method", "iforest", "--seed", "0", "--repeat", str(repeat)]
    out = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1]), " ".join(cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dims", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=1, help="scikit-learn n_jobs (default 1)")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    x, y = make_data(args.rows, args.dims)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "iforest_bench.parquet")
        write_parquet(path, x, y)
        # Build first so compile time is not measured; the example itself times fit and score.
        subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "goodhart-detect", "--example",
                        "outliers"], cwd=root, check=True)
        sk_fit, sk_score, sk_scores = time_sklearn(x, args.repeat, args.jobs)
        ours, cmd = time_goodhart(path, args.repeat, root)

    import sklearn
    sk_auc = 100 * roc_auc_score(y, sk_scores)
    print(f"data: {args.rows} x {args.dims} (seeded normal, 1% planted outliers); "
          f"median of {args.repeat}; machine cores: {os.cpu_count()}; "
          f"scikit-learn {sklearn.__version__} n_jobs={args.jobs}; goodhart threads={ours['threads']}")
    print(f"goodhart command: {cmd}")
    print()
    print("| step | scikit-learn ms | goodhart ms | speed-up |")
    print("|---|---:|---:|---:|")
    rows = [("fit", sk_fit, ours["fit_ms"]), ("score", sk_score, ours["score_ms"]),
            ("fit + score", sk_fit + sk_score, ours["fit_ms"] + ours["score_ms"])]
    for name, sk, gh in rows:
        print(f"| {name} | {sk:.1f} | {gh:.1f} | {sk / gh:.1f}x |")
    print()
    print(f"ROC-AUC on the planted outliers: scikit-learn {sk_auc:.2f}, "
          f"goodhart {100 * ours['roc_auc']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
