"""Python-over-Rust overhead: `goodhart.scan` against `goodhart scan` on one synthetic lake.

    python benches/python_overhead.py --goodhart target/release/goodhart --users 11200 --runs 3

Writes a synthetic lake (`goodhart synth --users N --days 14 --seed 5`) to a
scratch directory, then alternates, `--runs` times: the CLI (`goodhart scan
LAKE --as-of LAST --window 14d`, fresh output and state directories, process
wall time) and `goodhart.scan(LAKE, as_of=LAST, window="14d")` in this
interpreter (call wall time; the package imported once beforehand). Prints
the medians and their ratio, then deletes the lake.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import goodhart


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--goodhart", required=True, help="the goodhart binary (release build)")
    ap.add_argument("--users", type=int, default=11_200)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="goodhart-pybench-"))
    try:
        lake = scratch / "lake"
        subprocess.run(
            [a.goodhart, "synth", "--users", str(a.users), "--days", "14", "--seed", "5",
             "--out", str(lake)],
            check=True, capture_output=True,
        )
        events = goodhart.validate(lake)["rows_read"]
        last = max(p.name.split("=")[1] for p in (lake / "events").iterdir())
        cli, py = [], []
        for i in range(a.runs):
            out, state = scratch / f"out{i}", scratch / f"state{i}"
            t = time.perf_counter()
            p = subprocess.run(
                [a.goodhart, "scan", str(lake), "--as-of", last, "--window", "14d",
                 "--out", str(out), "--state", str(state), "--quiet"],
            )
            cli.append(time.perf_counter() - t)
            assert p.returncode in (0, 4), p.returncode
            t = time.perf_counter()
            r = goodhart.scan(lake, as_of=last, window="14d")
            py.append(time.perf_counter() - t)
            assert r.summary["rows"]["read"] == json.loads((out / "summary.json").read_text())["rows"]["read"]
            shutil.rmtree(out)
            shutil.rmtree(state)
        mc, mp = statistics.median(cli), statistics.median(py)
        print(json.dumps({
            "events": events, "users": a.users, "runs": a.runs,
            "cli_s": [round(x, 2) for x in cli], "python_s": [round(x, 2) for x in py],
            "cli_median_s": round(mc, 2), "python_median_s": round(mp, 2),
            "python_over_cli": round(mp / mc, 3),
        }))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
