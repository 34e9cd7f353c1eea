#!/usr/bin/env bash
# Ingest benchmark: `goodhart synth` (8000 users x 21 days) and `goodhart validate` on it.
#
#   benches/ingest.sh                    # build, time synth (once) and validate (median of 3)
#   benches/ingest.sh --runs 5           # validate runs (median reported)
#   benches/ingest.sh --synth-runs 3     # timed synth runs (median reported)
#   benches/ingest.sh --prepare-only     # build and make sure the data exists; time nothing
#   benches/ingest.sh --resynth          # throw away the cached data and generate it again
#
# Environment: GOODHART_BENCH_DIR (data dir, default /tmp/goodhart-bench), BENCH_USERS (8000),
# BENCH_DAYS (21), BENCH_SEED (5).
#
# The data dir is reused when it holds the marker file `.goodhart-bench` written for the same
# users/days/seed (the synth output is byte-identical for a given seed and generator; pass
# --resynth after a change to crates/synth). When the data is reused,
# the timed synth runs write to a scratch dir `$DIR.synth-scratch` that is removed afterwards.
# Wall time is measured around the process; peak RSS comes from GNU time (`/usr/bin/time -v`).
# `cargo build --release` uses the workspace's shared target dir and waits on cargo's lock if
# another build holds it; it never cleans.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${GOODHART_BENCH_DIR:-/tmp/goodhart-bench}"
users="${BENCH_USERS:-8000}"
days="${BENCH_DAYS:-21}"
seed="${BENCH_SEED:-5}"
runs=3
synth_runs=1
prepare_only=0
resynth=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --synth-runs) synth_runs="$2"; shift 2 ;;
    --prepare-only) prepare_only=1; shift ;;
    --resynth) resynth=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "[ingest.sh] $*" >&2; }

# ---------------------------------------------------------------- GNU time
if [[ ! -x /usr/bin/time ]]; then
  log "installing GNU time (apt-get)"
  apt-get update >&2 && apt-get install -y time >&2
fi

# ---------------------------------------------------------------- build
cd "$root"
log "cargo build --release (waits on cargo's lock if another build holds it)"
cargo build --release >&2
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/release/goodhart"
[[ -x "$bin" ]] || { echo "no binary at $bin" >&2; exit 1; }
version="$("$bin" --version)"

# ---------------------------------------------------------------- helpers
# timed OUTFILE CMD...: runs CMD under GNU time; stdout to OUTFILE, prints "wall_s max_rss_kb".
timed() {
  local out="$1"; shift
  local tv; tv="$(mktemp)"
  local t0 t1
  t0="$(date +%s.%N)"
  /usr/bin/time -v -o "$tv" "$@" >"$out"
  t1="$(date +%s.%N)"
  local rss; rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")"
  rm -f "$tv"
  awk -v a="$t0" -v b="$t1" -v r="$rss" 'BEGIN { printf "%.3f %d\n", b - a, r }'
}
# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s..%s", lo, hi }'; }

marker="$dir/.goodhart-bench"
want="users=$users days=$days seed=$seed"
synth_cmd=("$bin" synth --users "$users" --days "$days" --seed "$seed" --out)

reuse=0
if [[ $resynth == 0 && -f "$marker" ]] && grep -qx "params: $want" "$marker"; then
  reuse=1
fi

# Runs one timed synth into $1 (must not exist); appends "wall rss events" to $2.
synth_once() {
  local out="$1" acc="$2" so; so="$(mktemp)"
  rm -rf "$out"
  local r; r="$(timed "$so" "${synth_cmd[@]}" "$out")"
  cat "$so" >&2
  local events; events="$(grep -oE '[0-9]+ events' "$so" | head -1 | cut -d' ' -f1)"
  first_day="$(grep -oE '^dates [0-9-]+' "$so" | cut -d' ' -f2)"
  rm -f "$so"
  echo "$r $events" >>"$acc"
}

synth_acc="$(mktemp)"
trap 'rm -f "$synth_acc"' EXIT
first_day=""
if [[ $reuse == 0 ]]; then
  if [[ -e "$dir" && ! -f "$marker" && -n "$(ls -A "$dir" 2>/dev/null)" ]]; then
    echo "$dir exists, is not empty and has no $marker: refusing to overwrite it (set GOODHART_BENCH_DIR)" >&2
    exit 2
  fi
  log "generating $want into $dir: ${synth_cmd[*]} $dir"
  synth_once "$dir" "$synth_acc"
  last_day="$(date -u -d "$first_day + $((days - 1)) days" +%F)"
  read -r w r e <"$synth_acc"
  {
    echo "params: $want"
    echo "version: $version"
    echo "first_day: $first_day"
    echo "last_day: $last_day"
    echo "events: $e"
    echo "synth: wall_s=$w max_rss_kb=$r"
  } >"$marker"
  synth_runs=$((synth_runs - 1))
else
  log "reusing $dir ($(grep '^version:' "$marker"))"
fi
last_day="$(awk '/^last_day:/ {print $2}' "$marker")"
events="$(awk '/^events:/ {print $2}' "$marker")"

if [[ $prepare_only == 1 ]]; then
  echo "dir=$dir"
  echo "bin=$bin"
  echo "version=$version"
  echo "first_day=$(awk '/^first_day:/ {print $2}' "$marker")"
  echo "last_day=$last_day"
  echo "events=$events"
  exit 0
fi

scratch="$dir.synth-scratch"
for ((i = 0; i < synth_runs; i++)); do
  log "timed synth run into $scratch"
  synth_once "$scratch" "$synth_acc"
  rm -rf "$scratch"
done
if [[ ! -s "$synth_acc" ]]; then
  log "no synth run timed in this invocation (data reused); pass --synth-runs N to time it"
fi

events_bytes="$(du -sb "$dir/events" | cut -f1)"
total_bytes="$(du -sb --exclude=.goodhart-bench "$dir" | cut -f1)"
n_files="$(find "$dir/events" -name '*.parquet' | wc -l)"

# ---------------------------------------------------------------- validate
val_acc="$(mktemp)"
trap 'rm -f "$synth_acc" "$val_acc"' EXIT
vcmd=("$bin" validate "$dir")
log "validate x$runs: ${vcmd[*]}"
rows_read=""
for ((i = 1; i <= runs; i++)); do
  vo="$(mktemp)"
  r="$(timed "$vo" "${vcmd[@]}")"
  # throughput: 1234 rows/s (1.23 s), peak memory 456 MiB
  tl="$(grep '^throughput:' "$vo")"
  rps="$(sed -E 's/^throughput: ([0-9.]+) rows\/s.*/\1/' <<<"$tl")"
  secs="$(sed -E 's/.*rows\/s \(([0-9.]+) s\).*/\1/' <<<"$tl")"
  mib="$(sed -nE 's/.*peak memory ([0-9]+) MiB.*/\1/p' <<<"$tl")"
  rows_read="$(awk '/^rows read/ {print $3}' "$vo")"
  log "validate run $i: $r (self: $tl)"
  echo "$r $rps $secs ${mib:-nan}" >>"$val_acc"
  rm -f "$vo"
done

# ---------------------------------------------------------------- report
col() { awk -v c="$1" '{ print $c }' "$2"; }
echo
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nproc: $(nproc); $(rustc --version)"
echo '```'
free -g
echo
lscpu | head
echo '```'
echo "goodhart: $version ($bin)"
echo "data: $dir ($want, first day $(awk '/^first_day:/ {print $2}' "$marker"), last day $last_day)"
echo "events: $events in $n_files files; on disk: events/ $events_bytes bytes ($(awk -v b="$events_bytes" 'BEGIN{printf "%.1f", b/1048576}') MiB), whole dataset $total_bytes bytes ($(awk -v b="$total_bytes" 'BEGIN{printf "%.1f", b/1048576}') MiB), $(awk -v b="$events_bytes" -v e="$events" 'BEGIN{printf "%.1f", b/e}') bytes/event"
echo
echo "| step | runs | median wall (s) | range (s) | events/s | median peak RSS (MiB, GNU time) | self-reported |"
echo "|---|---|---|---|---|---|---|"
if [[ -s "$synth_acc" ]]; then
  n="$(wc -l <"$synth_acc")"
  sw="$(col 1 "$synth_acc" | median)"
  echo "| \`goodhart synth --users $users --days $days --seed $seed\` | $n | $sw | $(col 1 "$synth_acc" | minmax) | $(awk -v e="$events" -v w="$sw" 'BEGIN{printf "%.0f", e/w}') | $(col 2 "$synth_acc" | median | awk '{printf "%.0f", $1/1024}') | – |"
else
  echo "| \`goodhart synth\` (from marker, earlier run) | 1 | $(sed -nE 's/^synth: wall_s=([0-9.]+).*/\1/p' "$marker") | – | – | $(sed -nE 's/.*max_rss_kb=([0-9]+).*/\1/p' "$marker" | awk '{printf "%.0f", $1/1024}') | – |"
fi
vw="$(col 1 "$val_acc" | median)"
echo "| \`goodhart validate\` | $runs | $vw | $(col 1 "$val_acc" | minmax) | $(awk -v e="$rows_read" -v w="$vw" 'BEGIN{printf "%.0f", e/w}') | $(col 2 "$val_acc" | median | awk '{printf "%.0f", $1/1024}') | $(col 3 "$val_acc" | median | awk '{printf "%.0f", $1}') rows/s in $(col 4 "$val_acc" | median) s, peak $(col 5 "$val_acc" | median) MiB |"
echo
echo "validate: rows read $rows_read (events/s in the table = rows read / wall time of the whole process)"
