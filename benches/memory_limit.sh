#!/usr/bin/env bash
# Memory limit benchmark (#15): `goodhart scan` in memory vs with a --memory-limit that
# splits the feature pass into B buckets, on `goodhart synth --users U --days 21 --seed 5`.
#
#   benches/memory_limit.sh                   # 8000 users (~10M events), B = 8, 3 runs each
#   benches/memory_limit.sh --users 24000     # ~30M events
#   benches/memory_limit.sh --buckets 4 --runs 5
#
# Environment: GOODHART_LAKES (where lakes are kept, default $TMPDIR/goodhart-lakes; never in git),
# CARGO_TARGET_DIR (the release binary is $CARGO_TARGET_DIR/release/goodhart, default
# ./target). Builds with `cargo build --release --bin goodhart` (never cleans).
#
# The lake is generated once per users/days/seed (a marker file says which). Runs alternate
# in-memory and limited so that machine noise hits both alike; each run gets a fresh --out
# and --state (the same work every time). The limit is rows_read x 140 B / B + 1 byte (the
# scan's estimate, goodhart::bucketed::ESTIMATED_BYTES_PER_ROW = 140, gives exactly B
# buckets); summary.json's feature_buckets is checked. Wall time and peak RSS come from GNU
# `/usr/bin/time -v`; medians are reported. Finally the two modes' outputs are compared
# byte for byte (summary.json without timings_ms and feature_buckets).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lakes="${GOODHART_LAKES:-${TMPDIR:-/tmp}/goodhart-lakes}"
target="${CARGO_TARGET_DIR:-$root/target}"
users=8000
days=21
seed=5
buckets=8
runs=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --users) users="$2"; shift 2 ;;
    --buckets) buckets="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=benches/lake.sh
source "$root/benches/lake.sh"
as_of=$(ls "$lake/events" | sed -n 's/^date=//p' | sort | sed -n "${days}p")
work=$(mktemp -d "${lakes}/.memory-limit-XXXXXX")
trap 'rm -rf "$work"' EXIT

# One run: prints "wall_s peak_mib buckets".
one() {
  local name=$1; shift
  rm -rf "$work/out-$name" "$work/state-$name"
  local rc=0
  /usr/bin/time -v -o "$work/time-$name" "$bin" scan "$lake" --as-of "$as_of" --window "${days}d" \
    --out "$work/out-$name" --state "$work/state-$name" --quiet "$@" || rc=$?
  # 3/4: alerts raised / incomplete last day; the outputs are written.
  if [[ $rc -ne 0 && $rc -lt 3 ]]; then echo "scan $name exited $rc" >&2; exit 1; fi
  local wall rss b
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/time-$name")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/time-$name")
  b=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["feature_buckets"])' "$work/out-$name/summary.json")
  echo "$wall $rss $b"
}

rows=""
limit=""
declare -a mem_wall mem_rss lim_wall lim_rss
for i in $(seq 1 "$runs"); do
  read -r w r b < <(one memory)
  [[ "$b" == 1 ]] || { echo "in-memory run used $b buckets" >&2; exit 1; }
  mem_wall+=("$w"); mem_rss+=("$r")
  if [[ -z "$limit" ]]; then
    rows=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"]["read"])' "$work/out-memory/summary.json")
    limit=$(( rows * 140 / buckets + 1 ))
  fi
  read -r w r b < <(one limited --memory-limit "$limit")
  [[ "$b" == "$buckets" ]] || { echo "limited run used $b buckets, not $buckets" >&2; exit 1; }
  lim_wall+=("$w"); lim_rss+=("$r")
  echo "run $i: in memory ${mem_wall[-1]} s ${mem_rss[-1]} MiB; $buckets buckets ${lim_wall[-1]} s ${lim_rss[-1]} MiB" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mw=$(median "${mem_wall[@]}"); mr=$(median "${mem_rss[@]}")
lw=$(median "${lim_wall[@]}"); lr=$(median "${lim_rss[@]}")

python3 - "$work/out-memory" "$work/out-limited" <<'EOF'
import json, os, sys
a, b = sys.argv[1:]
names = sorted(os.listdir(a))
assert names == sorted(os.listdir(b)), (names, sorted(os.listdir(b)))
def load(d, f):
    raw = open(os.path.join(d, f), "rb").read()
    if f == "summary.json":
        v = json.loads(raw)
        v.pop("timings_ms"); v.pop("feature_buckets")
        return v
    return raw
diff = [f for f in names if load(a, f) != load(b, f)]
if diff:
    sys.exit(f"outputs differ: {diff}")
print(f"outputs identical ({len(names)} files)", file=sys.stderr)
EOF

echo "lake: $lake ($rows rows read, window $days days to $as_of); limit $limit bytes; $(date -u '+%F %H:%M UTC'); nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| mode | runs | median wall (s) | walls (s) | median peak RSS (MiB) | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
echo "| in memory (1 bucket) | $runs | $mw | ${mem_wall[*]} | $mr | ${mem_rss[*]} |"
echo "| --memory-limit $limit ($buckets buckets) | $runs | $lw | ${lim_wall[*]} | $lr | ${lim_rss[*]} |"
python3 -c "import sys; mw,mr,lw,lr=map(float,sys.argv[1:]); print(f'ratios (limited / in memory): wall {lw/mw:.2f}x, peak RSS {lr/mr:.2f}x')" "$mw" "$mr" "$lw" "$lr"
