#!/usr/bin/env bash
# Import throughput: `goodhart import claude-code` against `ccusage daily
# --json --offline` on the same generated transcript corpus, at several corpus
# sizes (peak memory: a chunk working set (--chunk-mb) plus the dedup index's
# in-memory budget (--index-mb); past it the index lives in sorted runs on disk,
# so peak memory should not grow with the corpus).
#
# usage: benches/import_throughput.sh GOODHART_BIN [SIZES_MB] [RUNS]
#   GOODHART_BIN  a release build, e.g.
#                 CARGO_TARGET_DIR=/work/targets/import-release cargo build --release
#   SIZES_MB      corpus sizes in MB, default "250 1024"
#   RUNS          timed runs per tool and size (median reported), default 3
#   GOODHART_ARGS (environment) extra options for goodhart import, e.g.
#                 GOODHART_ARGS='--index-mb 1' to force the index onto disk
#
# The corpus replicates the claude-code test fixtures
# (crates/import/tests/fixtures/claude-code: streaming duplicates, sidechain
# replays, sub-agent files in both layouts, tool results, compactions, a
# malformed line) with fresh message, request, tool-use, session and agent
# ids per copy, so nothing deduplicates across copies; 500 copies per file,
# both layouts kept. Times are wall clock from /usr/bin/time -v (cpu_s: user
# plus system CPU seconds, which depend less on other load), peak memory its
# maximum resident set size. ccusage is installed from npm, pinned (its
# native binary comes in @ccusage/ccusage-linux-x64). Every run writes a fresh
# lake. The corpus and lakes live in a temporary directory removed at exit.
set -euo pipefail
BIN=$(realpath "${1:?usage: $0 GOODHART_BIN [SIZES_MB] [RUNS]}")
SIZES=${2:-"250 1024"}
RUNS=${3:-3}
CCUSAGE_VERSION=20.0.24
HERE=$(cd "$(dirname "$0")/.." && pwd)
FIX="$HERE/crates/import/tests/fixtures/claude-code"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

npm install --prefix "$WORK/npm" --no-audit --no-fund "ccusage@$CCUSAGE_VERSION" >/dev/null 2>&1
CCUSAGE="$WORK/npm/node_modules/.bin/ccusage"

gen() { # gen DIR MB
  python3 - "$FIX" "$1" "$2" <<'PY'
import os, re, sys
fix, out, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = []
for root, _, names in os.walk(fix):
    for n in sorted(names):
        if n.endswith(".jsonl"):
            p = os.path.join(root, n)
            files.append((os.path.relpath(p, fix), open(p).read()))
# Mark every id with \0, replaced by a per-copy suffix.
pat = re.compile(r'"((?:msg_|req_|toolu_|sess-|u-|cb)[^"]*)"|("agentId":\s*")([^"]*)"')
def mark(t):
    return pat.sub(lambda m: f'"{m.group(1)}\0"' if m.group(1) else f'{m.group(2)}{m.group(3)}\0"', t)
tmpl = [(rel, mark(t)) for rel, t in files]
per_copy = sum(len(t) for _, t in files)
copies_per_file, target = 500, mb * 1024 * 1024
written, batch = 0, 0
while written < target:
    for rel, t in tmpl:
        # .../projects/<project>/<file> -> projects/<project>-<batch>/<file with batch in the session dir>
        parts = rel.split("/projects/")[1].split("/")
        parts[0] = f"{parts[0]}-{batch}"
        if len(parts) > 2:  # <session>/subagents/agent-x.jsonl
            parts[1] = f"{parts[1]}-{batch}"
        else:
            parts[1] = parts[1].replace(".jsonl", f"-{batch}.jsonl")
        p = os.path.join(out, "projects", *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            for c in range(copies_per_file):
                s = t.replace("\0", f"-{batch}x{c}")
                f.write(s)
                written += len(s)
    batch += 1
print(f"{written / 1e6:.0f} MB in {batch * len(tmpl)} files")
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
wall() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
cpu() { awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$1"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "goodhart: $("$BIN" --version 2>/dev/null || echo "$BIN") ${GOODHART_ARGS:-}; ccusage $CCUSAGE_VERSION"
printf '%-8s %-9s %9s %9s %9s %10s %10s %11s\n' size tool wall_s cpu_s MB/s events events/s peak_rss_MB
for mb in $SIZES; do
  C="$WORK/corpus-$mb"
  gen "$C" "$mb" >"$WORK/gen.txt"
  bytes=$(du -sb "$C/projects" | cut -f1)
  for tool in goodhart ccusage; do
    : >"$WORK/walls"; : >"$WORK/rss"; : >"$WORK/cpus"
    for r in $(seq "$RUNS"); do
      if [ "$tool" = goodhart ]; then
        rm -rf "$WORK/lake"
        /usr/bin/time -v "$BIN" import claude-code "$C" --out "$WORK/lake" --user bench --json ${GOODHART_ARGS:-} \
          >"$WORK/gh.json" 2>"$WORK/time.txt" || { tail -5 "$WORK/time.txt"; exit 1; }
      else
        TZ=UTC CLAUDE_CONFIG_DIR="$C" /usr/bin/time -v "$CCUSAGE" daily --json --offline \
          >"$WORK/cc.json" 2>"$WORK/time.txt" || { tail -5 "$WORK/time.txt"; exit 1; }
      fi
      wall "$WORK/time.txt" >>"$WORK/walls"
      rss "$WORK/time.txt" >>"$WORK/rss"
      cpu "$WORK/time.txt" >>"$WORK/cpus"
    done
    w=$(median <"$WORK/walls"); m=$(median <"$WORK/rss"); c=$(median <"$WORK/cpus")
    if [ "$tool" = goodhart ]; then
      ev=$(python3 -c "import json,sys; print(sum(json.load(open(sys.argv[1]))['totals']['events'].values()))" "$WORK/gh.json")
      printf -v gw '%s' "$w"
    else
      ev=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1])).get('daily',[])))" "$WORK/cc.json")
    fi
    python3 -c "import sys; b,w,ev,m,c=map(float,sys.argv[1:6]); print(f'{sys.argv[6]:<8} {sys.argv[7]:<9} {w:9.2f} {c:9.2f} {b/1e6/w:9.1f} {int(ev):10d} {ev/w:10.0f} {m/1024:11.0f}')" \
      "$bytes" "$w" "$ev" "$m" "$c" "${mb}MB" "$tool"
  done
  # Same per-day token totals on this corpus?
  python3 - "$WORK/cc.json" "$WORK/gh.json" <<'PY'
import json, sys
cc = {d.get("date") or d.get("period"): d for d in json.load(open(sys.argv[1])).get("daily", [])}
gh = json.load(open(sys.argv[2]))["totals"]["tokens_by_day"]
bad = [d for d in set(cc) | set(gh)
       if (gh.get(d, {}).get("input", 0), gh.get(d, {}).get("output", 0), gh.get(d, {}).get("cache_write", 0), gh.get(d, {}).get("cache_read", 0))
       != (cc.get(d, {}).get("inputTokens", 0), cc.get(d, {}).get("outputTokens", 0), cc.get(d, {}).get("cacheCreationTokens", 0), cc.get(d, {}).get("cacheReadTokens", 0))]
print(f"  per-day token totals: {len(set(cc) | set(gh))} days, {len(bad)} differing")
PY
  rm -rf "$C" "$WORK/lake"
done
echo "(ccusage 'events' = days reported; runs per cell: $RUNS, median)"
