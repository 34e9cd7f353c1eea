#!/usr/bin/env bash
# Are the scan outputs of the working tree byte-identical to those of BASE_REV?
#
#   benches/outputs_identical.sh BASE_REV [USERS]
#
# For refactors that must not change results. Builds BASE_REV in a temporary git worktree
# and the working tree (debug profile, sharing one target dir; this touches the working
# tree's sources so that cargo rebuilds them), then scans, with each
# binary:
#   1. data/sample (its own goodhart.toml), and
#   2. a synthetic organisation of USERS users (default 1000) x 21 days, seed 11, generated
#      once by BASE_REV's synth so both sides read the same files,
# and compares every output file byte for byte; summary.json is compared without
# `timings_ms`, the one part of the outputs that varies between identical runs.
# Exit 0: identical; 1: a difference (the differing files are listed).
set -euo pipefail

base=${1:?usage: benches/outputs_identical.sh BASE_REV [USERS]}
users=${2:-1000}
root=$(git rev-parse --show-toplevel)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

git -C "$root" worktree add --detach -q "$work/base" "$base"
echo "building $base ..." >&2
(cd "$work/base" && CARGO_TARGET_DIR="$target" cargo build -q --bin goodhart)
cp "$target/debug/goodhart" "$work/goodhart-base"
echo "building the working tree ..." >&2
# Cargo names workspace-crate artifacts by their path relative to the workspace root, so
# both checkouts share them and judge freshness by mtime: make the working tree's sources
# newer than the base build, or cargo would call base's artifacts fresh.
git -C "$root" ls-files -z -- '*.rs' '*.toml' | (cd "$root" && xargs -0 touch)
(cd "$root" && CARGO_TARGET_DIR="$target" cargo build -q --bin goodhart)
cp "$target/debug/goodhart" "$work/goodhart-new"

"$work/goodhart-base" synth --users "$users" --days 21 --seed 11 --out "$work/org" >/dev/null

status=0
last=$(ls "$work/org/events" | sed -n 's/^date=//p' | sort | tail -1)
for input in "$root/data/sample" "$work/org"; do
  args=()
  [ "$input" = "$work/org" ] && args=(--as-of "$last")
  for side in base new; do
    # Exit 3/4 (alerts, incomplete last day) still write the outputs.
    rc=0
    (cd "$work" && "./goodhart-$side" scan "$input" "${args[@]}" --out "$work/out-$side" \
      --state "$work/state-$side" >"$work/log-$side" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -lt 3 ]; then
      echo "$side: goodhart scan $input exited $rc:" >&2; cat "$work/log-$side" >&2; exit 2
    fi
  done
  python3 - "$work/out-base" "$work/out-new" "$input" <<'EOF' || status=1
import json, os, sys
a, b, name = sys.argv[1:]
def load(d, f):
    raw = open(os.path.join(d, f), "rb").read()
    if f == "summary.json":
        v = json.loads(raw)
        v.pop("timings_ms", None)
        # Machine-dependent like the timings: the bucket count follows the
        # available memory when --memory-limit is the default (#15).
        v.pop("feature_buckets", None)
        # What the feature cache reused depends on earlier runs (#15).
        v.pop("feature_cache", None)
        return json.dumps(v, sort_keys=True).encode()
    return raw
fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
diff = [f for f in sorted(set(fa) ^ set(fb))]
diff += [f for f in sorted(set(fa) & set(fb)) if load(a, f) != load(b, f)]
if diff:
    print(f"{name}: DIFFERENT: {', '.join(diff)}")
    sys.exit(1)
print(f"{name}: identical ({len(fa)} files)")
EOF
  rm -rf "$work"/out-* "$work"/state-*
done
exit $status
