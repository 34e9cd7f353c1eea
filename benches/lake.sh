# Sourced by the benchmark scripts: builds the release binary and makes sure the synthetic
# lake exists. Needs $root, $lakes, $target, $users, $days and $seed; sets $bin and $lake.
# The lake is generated once per users/days/seed (a marker file says which) and reused.
(cd "$root" && cargo build --release -q --bin goodhart)
bin="$target/release/goodhart"
lake="$lakes/synth-u$users-d$days-s$seed"
marker="$lake/.goodhart-bench"
if [[ ! -f "$marker" ]]; then
  rm -rf "$lake"
  mkdir -p "$lakes"
  echo "generating $lake ..." >&2
  "$bin" synth --users "$users" --days "$days" --seed "$seed" --out "$lake" >/dev/null
  echo "users=$users days=$days seed=$seed" >"$marker"
fi
