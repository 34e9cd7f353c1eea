#!/usr/bin/env python3
"""Where `goodhart features` spends its time and memory on the 8000 users x 21 days lake.

Diagnostics behind the "Features vs polars" figures in BENCHMARKS.md (read-only: builds nothing
new, edits nothing):

1. CPU: ``perf record -F 99 --call-graph dwarf`` of one run, every sample attributed to the
   innermost goodhart stage on its stack (parquet decode, normalize, accumulate, reduce,
   finalize's per-session rows / sort / drop, Arrow arrays, Parquet write), split into
   malloc/free, memcpy, kernel page faults and the rest; plus a per-second timeline with the
   process RSS sampled next to it (same CLOCK_MONOTONIC).
2. Memory: ``heaptrack`` of one run; the heap at its peak, by the innermost goodhart source line
   that allocated it. heaptrack hooks malloc, which the release binary bypasses (its global
   allocator is mimalloc), so this part builds the binary once more with
   ``--no-default-features`` (the system allocator), copies it aside and rebuilds the default
   one; what is allocated where does not depend on the allocator.

Needs ``perf`` and ``heaptrack`` (Debian: apt-get install linux-perf heaptrack); the release build
keeps line tables (``[profile.release] debug = "line-tables-only"``). The data comes from
``benches/ingest.sh --prepare-only``.

    python3 benches/profile_features.py [--skip-perf] [--skip-heaptrack] [--keep DIR]
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (stage, regex on a frame); the innermost frame that matches any rule names the stage.
RULES = [
    ("accumulate: Names clone + merge_sorted (per batch)", r"merge_sorted|Names::merge|goodhart_schema::event::Names as core::clone"),
    ("normalize_at: names_of", r"names_of"),
    ("normalize_at: other (decode, hash strings, filter)", r"normalize_at"),
    ("parquet decode", r"parquet::arrow::(record_reader|array_reader|arrow_reader)|ParquetRecordBatchReader|parquet::column::reader|ArrowReaderMetadata"),
    ("accumulate: add_batch (session map + add_row)", r"SessionAccumulator::add_batch|add_row"),
    ("accumulate: SessionAccumulator::merge (rayon reduce)", r"SessionAccumulator::merge|SessionState::merge"),
    ("finalize: session_row (per-session features)", r"^session_row|finalize::session_row|^session \(inlined\)|Names::session|display_name"),
    ("finalize: user_row", r"^user_row|finalize::user_row"),
    ("finalize: sessions_batch / users_batch (Arrow arrays)", r"sessions_batch|users_batch|col_u64|col_f64|col_str"),
    # the comparator of rows.par_sort_by is inlined into finalize: its Box<str> compares count here
    ("finalize: par_sort of session rows", r"rayon::slice::sort|par_sort|cmp<alloc::boxed::Box"),
    ("finalize: drop of accumulator state", r"drop_in_place"),
    ("finalize: window filter, common prompts, rest", r"finalize::finalize|^finalize"),
    ("write Parquet (ZSTD)", r"arrow_writer|write_parquet_atomic|ZSTD_compress"),
]
ALLOC = re.compile(r"_int_malloc|unlink_chunk|malloc_consolidate|cfree|_int_free|^malloc$|realloc|__libc_malloc|__libc_free|sysmalloc|tcache|je_|jemalloc|mi_malloc|mi_free|_mi_|mi_heap|mi_page|mi_segment")
MEMCPY = re.compile(r"__memmove|__memcpy|__memset")
KERNEL = re.compile(r"exc_page_fault|clear_page|do_anonymous_page|handle_mm_fault|memcg|alloc_pages|__alloc_frozen")


def stage_of(stack):
    for f in stack:
        for name, p in RULES:
            if re.search(p, f):
                return name
    return "other"


def kind_of(stack):
    leaf = stack[0] if stack else ""
    if ALLOC.search(leaf):
        return "malloc/free"
    if MEMCPY.search(leaf):
        return "memcpy/memset"
    if any(KERNEL.search(x) for x in stack[:6]):
        return "page faults (kernel)"
    return "compute"


def parse_perf_script(text):
    samples, cur, t = [], None, None
    for line in text.splitlines():
        if not line.strip():
            if cur is not None:
                samples.append((t, cur))
                cur = None
            continue
        if not line.startswith("\t"):  # header lines (tids are space-padded); stack lines start with a tab
            m = re.search(r"(\d+\.\d+):", line)
            t = float(m.group(1)) if m else None
            cur = []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and cur is not None:
            cur.append(parts[1])
    if cur:
        samples.append((t, cur))
    return samples


def run_perf(gcmd, work):
    data = os.path.join(work, "perf.data")
    cmd = ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-F", "99", "--call-graph", "dwarf,32768",
           "-o", data, "--"] + gcmd
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rss, pid = [], None
    while p.poll() is None:
        if pid is None:
            kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
            pid = kids[0] if kids else None
        if pid:
            try:
                s = open(f"/proc/{pid}/status").read()
                rss.append((time.monotonic(), int(re.search(r"VmRSS:\s+(\d+)", s).group(1)) // 1024))
            except (OSError, AttributeError):
                pass
        time.sleep(0.1)
    if p.returncode != 0:
        raise SystemExit(f"perf record failed: {p.stderr.read()[-2000:]}")
    text = subprocess.run(["perf", "script", "-i", data, "-F", "time,tid,ip,sym"],
                          capture_output=True, text=True).stdout
    samples = parse_perf_script(text)
    n = len(samples)
    stages, kinds, cross = collections.Counter(), collections.Counter(), collections.Counter()
    bins = collections.defaultdict(collections.Counter)
    t0 = min(t for t, _ in samples if t is not None)
    for t, st in samples:
        s, k = stage_of(st), kind_of(st)
        stages[s] += 1
        kinds[k] += 1
        cross[(s, k)] += 1
        if t is not None:
            bins[int(t - t0)][s] += 1
    print(f"### CPU profile: {n} samples (perf, 99 Hz per thread, DWARF call graphs)")
    print()
    print("| stage (innermost goodhart frame on the stack) | share of CPU samples | of which malloc/free | memcpy | page faults |")
    print("|---|---|---|---|---|")
    for s, c in stages.most_common():
        print(f"| {s} | {100 * c / n:.1f}% | {100 * cross[(s, 'malloc/free')] / n:.1f}% "
              f"| {100 * cross[(s, 'memcpy/memset')] / n:.1f}% | {100 * cross[(s, 'page faults (kernel)')] / n:.1f}% |")
    print()
    print("All stages: " + ", ".join(f"{k} {100 * v / n:.1f}%" for k, v in kinds.most_common()))
    print()
    print("Timeline (one row per second of the run; RSS sampled every 0.1 s on the same clock):")
    print()
    print("| second | samples | RSS at end of second (MiB) | main stages in that second (samples) |")
    print("|---|---|---|---|")
    for b in sorted(bins):
        r = [m for t, m in rss if t <= t0 + b + 1]
        top = ", ".join(f"{k.split(' (')[0]} {v}" for k, v in bins[b].most_common(3))
        print(f"| {b} | {sum(bins[b].values())} | {r[-1] if r else '–'} | {top} |")
    print()
    print(f"Peak RSS sampled: {max((m for _, m in rss), default=0)} MiB")
    print()


# heaptrack_print prints decimal units (K = 1000 B, M = 10^6 B, G = 10^9 B)
UNITS = {"": 1, "B": 1, "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9}


def system_alloc_binary(work):
    """The goodhart binary built with the system allocator (heaptrack only sees malloc)."""
    build = ["cargo", "build", "--release", "--quiet"]
    subprocess.run(build + ["--no-default-features"], cwd=ROOT, check=True)
    dst = os.path.join(work, "goodhart-system-alloc")
    shutil.copy2(os.path.join(ROOT, "target", "release", "goodhart"), dst)
    subprocess.run(build, cwd=ROOT, check=True)  # put the default (mimalloc) binary back
    return dst


def run_heaptrack(gcmd, work):
    gcmd = [system_alloc_binary(work)] + gcmd[1:]
    out = os.path.join(work, "ht")
    p = subprocess.run(["heaptrack", "-o", out] + gcmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"heaptrack failed: {p.stdout[-1500:]}{p.stderr[-1500:]}")
    files = [f for f in os.listdir(work) if f.startswith("ht.")]
    txt = subprocess.run(["heaptrack_print", "-f", os.path.join(work, files[0]), "--print-peaks", "1",
                          "--print-allocators", "0", "--print-temporary", "0", "--print-leaks", "0",
                          "--peak-limit", "40", "--sub-peak-limit", "60"],
                         capture_output=True, text=True).stdout
    peak = re.search(r"peak heap memory consumption: ([0-9.]+)([KMG]?)", txt)
    agg, cur, lines, entries = collections.Counter(), None, [], []
    for l in txt.splitlines():
        m = re.match(r"^\s*([0-9.]+)([KMG]?)B? (peak memory )?consumed over (\d+) calls from", l)
        if m:
            if cur:
                entries.append((cur, lines))
            cur, lines = (m.group(3) is None, float(m.group(1)) * UNITS[m.group(2)]), []
            continue
        if cur:
            lines.append(l)
    if cur:
        entries.append((cur, lines))
    for (is_sub, size), ls in entries:
        if not is_sub:
            continue
        srcs = [m.group(1) for x in ls for m in [re.search(r"at ((?:crates|src)/\S+)", x)] if m]
        agg[srcs[0] if srcs else "(outside goodhart)"] += size
    print("### Heap at its peak (heaptrack), by the innermost goodhart source line that allocated it")
    print()
    if peak:
        pb = float(peak.group(1)) * UNITS[peak.group(2)]
        print(f"heaptrack peak heap: {peak.group(1)}{peak.group(2)} = {pb / 2 ** 20:.0f} MiB "
              f"(system allocator build; RSS adds the allocator's retained/fragmented pages, binary, stacks)")
        print()
    print("| MiB at peak | allocation site | code |")
    print("|---|---|---|")
    for site, size in agg.most_common(14):
        if size < 2 ** 20:
            break
        code = ""
        m = re.match(r"(.+):(\d+)$", site)
        if m and os.path.exists(os.path.join(ROOT, m.group(1))):
            code = open(os.path.join(ROOT, m.group(1))).read().splitlines()[int(m.group(2)) - 1].strip()
        print(f"| {size / 2 ** 20:.1f} | `{site}` | `{code.replace('|', '¦')}` |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-perf", action="store_true")
    ap.add_argument("--skip-heaptrack", action="store_true")
    ap.add_argument("--keep", help="keep perf.data / heaptrack files in this directory")
    a = ap.parse_args()
    prep = subprocess.run([os.path.join(ROOT, "benches", "ingest.sh"), "--prepare-only"],
                          check=True, capture_output=True, text=True)
    kv = dict(l.split("=", 1) for l in prep.stdout.splitlines() if "=" in l)
    days = (__import__("datetime").date.fromisoformat(kv["last_day"])
            - __import__("datetime").date.fromisoformat(kv["first_day"])).days + 1
    work = a.keep or tempfile.mkdtemp(prefix="goodhart-prof-")
    os.makedirs(work, exist_ok=True)
    gcmd = [kv["bin"], "features", kv["dir"], "--out", os.path.join(work, "out"), "--as-of", kv["last_day"],
            "--window", f"{days}d"]
    print(f"command: `{' '.join(gcmd)}`".replace(work, "$TMP"))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    sys.stdout.flush()
    if not a.skip_perf:
        if shutil.which("perf"):
            run_perf(gcmd, work)
        else:
            print("(perf not found: CPU profile skipped)\n")
    sys.stdout.flush()
    if not a.skip_heaptrack:
        if shutil.which("heaptrack"):
            run_heaptrack(gcmd, work)
        else:
            print("(heaptrack not found: memory profile skipped)\n")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
