#!/usr/bin/env python3
"""goodhart features vs polars, and goodhart scan end to end, on the 8000 users x 21 days lake.

Side by side in one run, on the same machine, same files, same page cache:

1. ``benches/ingest.sh --prepare-only``: ``cargo build --release`` (shared target dir, waits on
   cargo's lock) and the synthetic lake in $GOODHART_BENCH_DIR (default /tmp/goodhart-bench),
   generated once by ``goodhart synth --users 8000 --days 21 --seed 5`` and reused (marker file).
2. one untimed warm-up of each side (page cache, and the outputs for the cross-check);
3. ``--runs`` (default 5) rounds, each running both sides; the order alternates every round
   (goodhart first in odd rounds, polars first in even ones; with --baseline-bin the three sides rotate)
   so drift on this shared machine hits both equally:
     goodhart: ``goodhart features DIR --out OUT --as-of LAST_DAY --window 21d``
     polars:   ``python3 benches/features_polars.py DIR --first-day .. --last-day .. --out OUT``
   each under ``/usr/bin/time -v`` (peak RSS, CPU seconds); wall time around the process;
4. a cross-check that both sides computed the same numbers for the shared features;
5. ``--scan-runs`` (default 3) runs of ``goodhart scan DIR --as-of LAST_DAY --window 21d -v``
   with a fresh --out and --state each time (so every run does the same work: all alerts new),
   stage timings parsed from the -v lines.

Prints the machine, the medians and the ratios as Markdown. ``--baseline-bin PATH`` adds a third
side: the same command run by another goodhart binary (say, one built from an earlier commit), so
that a change is measured against its baseline in the same run. Where goodhart's time and memory
go: ``benches/profile_features.py`` (perf + heaptrack).

    pip install polars
    python3 benches/features_vs_polars.py [--runs 5] [--scan-runs 3] [--engine streaming] [--baseline-bin PATH]
"""
import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RSS_TARGET_MIB = 1.5 * 1024


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.rstrip()


def prepare():
    out = subprocess.run(
        [os.path.join(ROOT, "benches", "ingest.sh"), "--prepare-only"],
        capture_output=True, text=True,
    )
    sys.stderr.write(out.stderr[-2000:])
    if out.returncode != 0:
        raise SystemExit(f"benches/ingest.sh --prepare-only failed ({out.returncode}); its stderr is above")
    kv = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    return kv


def timed(cmd, cwd, env=None):
    """Runs cmd under GNU time; returns dict(wall, rss_mib, cpu, stdout, stderr)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tv:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v", "-o", tv.name] + cmd, cwd=cwd,
                           capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        rep = tv.read()
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}")

    def field(name):
        m = re.search(rf"{re.escape(name)}: ([0-9.]+)", rep)
        return float(m.group(1)) if m else float("nan")

    return {
        "wall": wall,
        "rss_mib": field("Maximum resident set size (kbytes)") / 1024,
        "cpu": field("User time (seconds)") + field("System time (seconds)"),
        "stdout": p.stdout,
        "stderr": p.stderr,
    }


def med(xs):
    return statistics.median(xs)


def rng(xs):
    return f"{min(xs):.2f}–{max(xs):.2f}"


def machine(polars_version, goodhart_version):
    lines = [
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- `nproc`: {sh('nproc')}",
        f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (machine shared with other builds)",
        f"- {sh('rustc --version')}; {goodhart_version}; polars {polars_version}; Python {platform.python_version()}",
        "- `free -g`:", "", "```", sh("free -g"), "```",
        "- `lscpu | head`:", "", "```", sh("lscpu | head"), "```",
    ]
    return "\n".join(lines)


def cross_check(g_dir, p_dir):
    """Compares the shared session and user features of both sides; returns Markdown lines."""
    import polars as pl

    out = []
    key = ["user_id", "session_id"]
    cols = ["total_tokens", "accepted", "redundant_spawns", "reloads", "reload_uncached_tokens",
            "loop_requests", "tokens_per_accepted_change"]
    for table, k in (("session_features.parquet", key), ("user_features.parquet", ["user_id"])):
        g = pl.read_parquet(os.path.join(g_dir, table))
        p = pl.read_parquet(os.path.join(p_dir, table))
        if table.startswith("user"):
            # goodhart's user table has ratios; rebuild the sums from its session table.
            gs = pl.read_parquet(os.path.join(g_dir, "session_features.parquet"))
            g = gs.group_by("user_id").agg(
                [pl.col(c).sum() for c in cols if c != "tokens_per_accepted_change"]
            ).join(g.select("user_id", "tokens_per_accepted_change"), on="user_id")
        g = g.with_columns(pl.col(c).cast(pl.String) for c in k)
        p = p.with_columns(pl.col(c).cast(pl.String) for c in k)
        j = g.select(k + cols).join(p.select(k + cols), on=k, how="full", suffix="_pl", coalesce=True)
        only = j.filter(pl.any_horizontal(pl.col(c).is_null() for c in ["total_tokens", "total_tokens_pl"])).height
        parts = []
        for c in cols:
            a, b = pl.col(c).cast(pl.Float64), pl.col(f"{c}_pl").cast(pl.Float64)
            diff = j.filter(((a - b).abs() > 1e-9 * (a.abs() + 1)) | (a.is_null() != b.is_null())).height
            parts.append(f"{c} {j.height - diff}/{j.height}")
        out.append(f"- {table}: {g.height} rows (goodhart), {p.height} (polars), {only} on one side only; "
                   f"equal values: " + ", ".join(parts))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed rounds of features vs polars (default 5)")
    ap.add_argument("--scan-runs", type=int, default=3, help="timed goodhart scan runs (default 3; 0 = skip)")
    ap.add_argument("--engine", default="streaming", help="polars engine (default streaming)")
    ap.add_argument("--raw", default="/tmp/goodhart-fvp-raw.json", help="per-run figures as JSON ('' = none)")
    ap.add_argument("--baseline-bin", default=None,
                    help="also run `features` with this goodhart binary (e.g. built from an earlier commit) "
                         "as a third interleaved side, to measure a change against its baseline in one run")
    ap.add_argument("--python", default=sys.executable, help="python running the polars side")
    a = ap.parse_args()

    import polars as pl

    kv = prepare()
    data, gbin, last_day, first_day = kv["dir"], kv["bin"], kv["last_day"], kv["first_day"]
    days = (dt.date.fromisoformat(last_day) - dt.date.fromisoformat(first_day)).days + 1
    work = tempfile.mkdtemp(prefix="goodhart-fvp-")
    g_out, p_out = os.path.join(work, "goodhart"), os.path.join(work, "polars")
    g_cmd = [gbin, "features", data, "--out", g_out, "--as-of", last_day, "--window", f"{days}d"]
    p_cmd = [a.python, os.path.join(ROOT, "benches", "features_polars.py"), data,
             "--first-day", first_day, "--last-day", last_day, "--out", p_out, "--engine", a.engine]
    print(machine(pl.__version__, kv["version"]))
    print()
    print(f"- data: `{data}` (goodhart synth --users 8000 --days 21 --seed 5; "
          f"{kv['events']} events, window {first_day} .. {last_day})")
    print(f"- goodhart: `{' '.join(g_cmd)}`".replace(work, "$OUT"))
    print(f"- polars:   `{' '.join(p_cmd)}`".replace(work, "$OUT").replace(a.python, "python3").replace(ROOT + "/", ""))
    print()
    sys.stdout.flush()

    sides = {"goodhart": (g_cmd, None), "polars": (p_cmd, None)}
    if a.baseline_bin:
        if not os.path.exists(a.baseline_bin):
            raise SystemExit(f"--baseline-bin: {a.baseline_bin} not found (build it from the baseline commit)")
        b_out = os.path.join(work, "goodhart-baseline")
        sides["baseline"] = ([a.baseline_bin] + [x if x != g_out else b_out for x in g_cmd[1:]], None)
        print(f"- third side: the same command with the baseline binary `{a.baseline_bin}`")
        print()
    res = {k: [] for k in sides}
    for s, (cmd, env) in sides.items():
        r = timed(cmd, work, env)
        print(f"warm-up {s}: {r['wall']:.2f} s, {r['rss_mib']:.0f} MiB — {r['stdout'].strip()}", file=sys.stderr)
        if s == "goodhart":
            m = re.search(r"rows (\d+) read, (\d+) accepted", r["stdout"])
            rows_read, rows_accepted = int(m.group(1)), int(m.group(2))
    checks = cross_check(g_out, p_out)
    for c in checks:
        print("cross-check: " + c, file=sys.stderr)
    for i in range(a.runs):
        names = list(sides)
        order = names[i % len(names):] + names[:i % len(names)]  # rotate: each side goes first in turn
        for s in order:
            r = timed(sides[s][0], work, sides[s][1])
            res[s].append(r)
            print(f"round {i + 1} {s}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU, {r['rss_mib']:.0f} MiB",
                  file=sys.stderr)
    if a.raw:
        with open(a.raw, "w") as f:
            json.dump({k: [{x: r[x] for x in ("wall", "cpu", "rss_mib")} for r in v] for k, v in res.items()}, f)

    gw, pw = med([r["wall"] for r in res["goodhart"]]), med([r["wall"] for r in res["polars"]])
    gm, pm = med([r["rss_mib"] for r in res["goodhart"]]), med([r["rss_mib"] for r in res["polars"]])
    gc, pc = med([r["cpu"] for r in res["goodhart"]]), med([r["cpu"] for r in res["polars"]])
    print(f"### Features vs polars: {a.runs} interleaved rounds, medians "
          f"({rows_read} rows read, {rows_accepted} in the window)")
    print()
    print("| side | median wall (s) | wall range (s) | events/s (rows read / wall) | median CPU user+sys (s) | median peak RSS (MiB) | max peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for s, w, c, m in (("goodhart features", gw, gc, gm), (f"polars {pl.__version__} ({a.engine})", pw, pc, pm)):
        k = "goodhart" if s.startswith("goodhart") else "polars"
        print(f"| {s} | {w:.2f} | {rng([r['wall'] for r in res[k]])} | {rows_read / w:,.0f} | {c:.2f} | {m:.0f} "
              f"| {max(r['rss_mib'] for r in res[k]):.0f} |")
    if a.baseline_bin:
        k = "baseline"
        bw, bc, bm = (med([r[x] for r in res[k]]) for x in ("wall", "cpu", "rss_mib"))
        print(f"| goodhart features, baseline binary | {bw:.2f} | {rng([r['wall'] for r in res[k]])} "
              f"| {rows_read / bw:,.0f} | {bc:.2f} | {bm:.0f} | {max(r['rss_mib'] for r in res[k]):.0f} |")
    print()
    print(f"- wall ratio polars / goodhart: **{pw / gw:.2f}×** ({'goodhart faster' if gw < pw else 'goodhart SLOWER'}; target: goodhart faster)")
    print(f"- CPU ratio polars / goodhart: {pc / gc:.2f}×")
    print(f"- peak RSS ratio goodhart / polars: {gm / pm:.2f}×; goodhart median peak RSS {gm:.0f} MiB "
          f"({'within' if gm < RSS_TARGET_MIB else 'ABOVE'} the 1.5 GiB = {RSS_TARGET_MIB:.0f} MiB target)")
    if a.baseline_bin:
        print(f"- goodhart vs the baseline binary: wall {gw / bw:.2f}×, CPU {gc / bc:.2f}×, "
              f"peak RSS {gm / bm:.2f}×; polars / baseline wall {pw / bw:.2f}×")
    print("- cross-check of the shared features (warm-up outputs of both sides):")
    for c in checks:
        print("  " + c)
    print()
    sys.stdout.flush()

    if a.scan_runs > 0:
        scans = []
        stage_times = {}
        for i in range(a.scan_runs):
            so, ss = os.path.join(work, f"scan-out-{i}"), os.path.join(work, f"scan-state-{i}")
            s_cmd = [gbin, "scan", data, "--as-of", last_day, "--window", f"{days}d", "--out", so,
                     "--state", ss, "-v"]
            r = timed(s_cmd, work)
            scans.append(r)
            marks = [(float(t), name.strip()) for t, name in re.findall(r"^\[\s*([0-9.]+)s\] (.+)$", r["stderr"], re.M)]
            marks.append((r["wall"], "(exit)"))
            for (t0, n), (t1, _) in zip(marks, marks[1:]):
                stage_times.setdefault(n, []).append(t1 - t0)
            print(f"scan run {i + 1}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU, {r['rss_mib']:.0f} MiB", file=sys.stderr)
            shutil.rmtree(so, ignore_errors=True)
            shutil.rmtree(ss, ignore_errors=True)
        sw = med([r["wall"] for r in scans])
        print(f"### Scan end to end: {a.scan_runs} runs, medians")
        print()
        shown = [x.replace(so, "$OUT/scan-out").replace(ss, "$OUT/scan-state") for x in s_cmd]
        print(f"- command: `{' '.join(shown)}` (fresh --out and --state per run)")
        summary = [l for l in scans[-1]["stdout"].splitlines() if l.startswith(("rows:", "scored:", "alerts:"))]
        for l in summary:
            print(f"- last run: {l}")
        print()
        print("| median wall (s) | wall range (s) | events/s (rows read / wall) | median CPU user+sys (s) | median peak RSS (MiB) | max peak RSS (MiB) |")
        print("|---|---|---|---|---|---|")
        print(f"| {sw:.2f} | {rng([r['wall'] for r in scans])} | {rows_read / sw:,.0f} | "
              f"{med([r['cpu'] for r in scans]):.2f} | {med([r['rss_mib'] for r in scans]):.0f} | "
              f"{max(r['rss_mib'] for r in scans):.0f} |")
        print()
        print("Stage times from `-v` (time from one stage line to the next; the last one runs to process exit "
              "and so also holds start-up: discovery and footer reading happen before the stage clock starts):")
        print()
        print("| stage | median (s) | share of median wall |")
        print("|---|---|---|")
        for n, ts in stage_times.items():
            print(f"| {n} | {med(ts):.2f} | {100 * med(ts) / sw:.0f}% |")
        print()
        print(f"- scan vs features (goodhart): {sw / gw:.2f}× the features wall time")
    print(f"- load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
