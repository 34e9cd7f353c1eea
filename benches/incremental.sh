#!/usr/bin/env bash
# Nightly incremental scan benchmark (#15): after a day is appended to a 21-day lake,
# `goodhart scan` reusing the feature cache vs a cold scan of the same window (`--full`),
# side by side in one run, on `goodhart synth --users U --days 21 --seed 5`.
#
#   benches/incremental.sh                          # 8000 users (~10M events), 3 rounds
#   benches/incremental.sh --users 24000 --runs 5
#   benches/incremental.sh --baseline-bin PATH      # also a goodhart without the cache
#
# Environment: GOODHART_LAKES (where lakes are kept, default $TMPDIR/goodhart-lakes; never in
# git), CARGO_TARGET_DIR (the release binary is $CARGO_TARGET_DIR/release/goodhart, default
# ./target). Builds with `cargo build --release --bin goodhart` (never cleans).
#
# The dataset is a directory of symbolic links to the lake's partitions: first days 1..20
# (one priming scan, --as-of day 20 --window 20d, builds the state and its feature cache),
# then day 21 is linked in. Each round copies the primed state twice and runs, in an order
# that alternates every round, `scan --as-of day21 --window 21d` (incremental: 20 files
# reused, 1 read) and the same with `--full` (every file decoded and validated again, the
# cache rebuilt); with --baseline-bin, a third side runs that binary (no cache at all) from
# a third copy. Wall time and peak RSS from GNU `/usr/bin/time -v`; the stage timings from
# summary.json (timings_ms, with the feature pass's steps in timings_ms.feature_pass). Medians are printed, with ratios.
# Finally the incremental and --full outputs are compared byte for byte (summary.json
# without timings_ms, feature_buckets and feature_cache).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lakes="${GOODHART_LAKES:-${TMPDIR:-/tmp}/goodhart-lakes}"
target="${CARGO_TARGET_DIR:-$root/target}"
users=8000
days=21
seed=5
runs=3
baseline=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --users) users="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --baseline-bin) baseline="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=benches/lake.sh
source "$root/benches/lake.sh"
mapfile -t parts < <(ls "$lake/events" | grep '^date=' | sort)
day_of() { echo "${parts[$1]#date=}"; }
first_nights=$((days - 1))
work=$(mktemp -d "${lakes}/.incremental-XXXXXX")
trap 'rm -rf "$work"' EXIT
ds="$work/ds"
mkdir -p "$ds/events"
ln -s "$lake/users.parquet" "$ds/users.parquet"
for ((i = 0; i < first_nights; i++)); do ln -s "$lake/events/${parts[$i]}" "$ds/events/${parts[$i]}"; done
prime_as_of=$(day_of $((first_nights - 1)))
as_of=$(day_of $((days - 1)))
echo "priming: days 1..$first_nights (--as-of $prime_as_of --window ${first_nights}d)" >&2
"$bin" scan "$ds" --as-of "$prime_as_of" --window "${first_nights}d" \
  --out "$work/out-prime" --state "$work/state-primed" --quiet
ln -s "$lake/events/${parts[$((days - 1))]}" "$ds/events/${parts[$((days - 1))]}"

# One run of side $1 (incremental | full | baseline): appends "wall_s rss_mib" to $work/res-$1
# and keeps the summary.
one() {
  local side=$1 b=$bin extra=()
  [[ $side == full ]] && extra=(--full)
  [[ $side == baseline ]] && b=$baseline
  rm -rf "$work/state-$side" "$work/out-$side"
  cp -a "$work/state-primed" "$work/state-$side"
  local rc=0
  /usr/bin/time -v -o "$work/time-$side" "$b" scan "$ds" --as-of "$as_of" --window "${days}d" \
    --out "$work/out-$side" --state "$work/state-$side" --quiet "${extra[@]}" || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "$side: exit $rc" >&2; cat "$work/time-$side" >&2; exit 2
  fi
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time-$side" \
    | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time-$side")
  echo "$wall $((rss / 1024))" >>"$work/res-$side"
  cp "$work/out-$side/summary.json" "$work/summary-$side-$(wc -l <"$work/res-$side")"
}

sides=(incremental full)
[[ -n $baseline ]] && sides+=(baseline)
for ((r = 1; r <= runs; r++)); do
  n=${#sides[@]}
  for ((k = 0; k < n; k++)); do
    one "${sides[$(((k + r - 1) % n))]}"
  done
done

python3 - "$work" "$runs" "${sides[@]}" <<'EOF'
import json, os, statistics as st, sys
work, runs, sides = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
med = {}
print("| side | median wall (s) | walls (s) | median peak RSS (MiB) | files reused / read |")
print("|---|---|---|---|---|")
for s in sides:
    rows = [l.split() for l in open(os.path.join(work, f"res-{s}"))]
    walls = [float(r[0]) for r in rows]
    rss = [int(r[1]) for r in rows]
    med[s] = st.median(walls)
    summ = json.load(open(os.path.join(work, f"summary-{s}-1")))
    fc = summ.get("feature_cache") or {}
    reuse = f"{fc.get('files_reused', '-')} / {fc.get('files_read', '-')}"
    print(f"| {s} | {med[s]:.2f} | {', '.join(f'{w:.2f}' for w in walls)} | {st.median(rss)} | {reuse} |")
print()
print(f"cold (--full) / incremental wall: **{med['full'] / med['incremental']:.2f}x**")
if "baseline" in med:
    print(f"baseline (no cache) / incremental wall: {med['baseline'] / med['incremental']:.2f}x")
print()
print("Stage medians (ms, from summary.json):")
print()
keys = None
for s in sides:
    per = []
    for i in range(1, runs + 1):
        v = json.load(open(os.path.join(work, f"summary-{s}-{i}")))
        t = dict(v["timings_ms"])
        for k, x in (t.pop("feature_pass", None) or {}).items():
            t[f"features.{k}"] = x
        per.append(t)
    keys = keys or list(per[0].keys())
    if keys != list(per[0].keys()):
        keys = sorted(set(keys) | set(per[0].keys()))
    print(f"- {s}: " + ", ".join(f"{k} {st.median(p.get(k, 0) for p in per):.0f}" for k in list(per[0].keys())))

def load(d, f):
    raw = open(os.path.join(d, f), "rb").read()
    if f == "summary.json":
        v = json.loads(raw)
        for k in ("timings_ms", "feature_buckets", "feature_cache"):
            v.pop(k, None)
        return json.dumps(v, sort_keys=True).encode()
    return raw
a, b = os.path.join(work, "out-incremental"), os.path.join(work, "out-full")
fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
diff = sorted(set(fa) ^ set(fb)) + [f for f in sorted(set(fa) & set(fb)) if load(a, f) != load(b, f)]
print()
print("outputs incremental vs --full: " + ("IDENTICAL (%d files)" % len(fa) if not diff else "DIFFERENT: " + ", ".join(diff)))
sys.exit(1 if diff else 0)
EOF
