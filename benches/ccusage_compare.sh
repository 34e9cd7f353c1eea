#!/usr/bin/env bash
# Compares `goodhart import claude-code` per-day token totals with
# `ccusage daily --json --offline` on the same transcript root.
#
# usage: benches/ccusage_compare.sh CLAUDE_ROOT [GOODHART_BIN]
#   CLAUDE_ROOT  a Claude Code config directory holding projects/ (e.g. ~/.claude)
#   GOODHART_BIN default: target/release/goodhart (cargo build --release first)
#
# ccusage is installed from npm, pinned (its native binary comes in the
# @ccusage/ccusage-linux-x64 package). Days are UTC on both sides (TZ=UTC).
# Exit 0 when every day's four token buckets agree exactly, 1 otherwise.
set -euo pipefail
ROOT=${1:?usage: $0 CLAUDE_ROOT [GOODHART_BIN]}
BIN=${2:-target/release/goodhart}
CCUSAGE_VERSION=20.0.24
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

npm install --prefix "$WORK/npm" --no-audit --no-fund "ccusage@$CCUSAGE_VERSION" >/dev/null
CCUSAGE="$WORK/npm/node_modules/.bin/ccusage"

start=$(date +%s.%N)
TZ=UTC CLAUDE_CONFIG_DIR="$ROOT" "$CCUSAGE" daily --json --offline >"$WORK/ccusage.json"
mid=$(date +%s.%N)
"$BIN" import claude-code "$ROOT" --out "$WORK/lake" --user me --json >"$WORK/goodhart.json" 2>"$WORK/goodhart.err"
end=$(date +%s.%N)

rc=0
python3 - "$WORK/ccusage.json" "$WORK/goodhart.json" <<'PY' || rc=$?
import json, sys
cc = json.load(open(sys.argv[1]))
gh = json.load(open(sys.argv[2]))
ours = gh["totals"]["tokens_by_day"]
theirs = {d.get("date") or d.get("period"): d for d in cc.get("daily", [])}
bad = 0
for day in sorted(set(ours) | set(theirs)):
    o = ours.get(day, {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0})
    t = theirs.get(day, {})
    a = (o["input"], o["output"], o["cache_write"], o["cache_read"])
    b = (t.get("inputTokens", 0), t.get("outputTokens", 0), t.get("cacheCreationTokens", 0), t.get("cacheReadTokens", 0))
    flag = "ok  " if a == b else "DIFF"
    bad += a != b
    print(f"{flag} {day} goodhart(in,out,cw,cr)={a} ccusage={b}")
print(f"{len(set(ours) | set(theirs))} days, {bad} differing")
sys.exit(1 if bad else 0)
PY
python3 -c "import sys; s,m,e=map(float,sys.argv[1:]); print(f'ccusage {m-s:.2f}s, goodhart import {e-m:.2f}s')" "$start" "$mid" "$end"
exit $rc
