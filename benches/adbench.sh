#!/usr/bin/env bash
# ADBench validation of goodhart's Isolation Forest and ECOD against scikit-learn and PyOD.
#
#   benches/adbench.sh [ADBENCH_DIR]            # our AUC table vs reference.csv (asserts +-1 point)
#   benches/adbench.sh --reference [ADBENCH_DIR] # also recompute the reference with Python
#                                                # (needs: pip install scikit-learn pyod pyarrow pandas)
#
# ADBENCH_DIR defaults to $GOODHART_ADBENCH_DIR, else ../shared/datasets/adbench next to the repo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
reference=0
if [[ "${1:-}" == "--reference" ]]; then reference=1; shift; fi
dir="${1:-${GOODHART_ADBENCH_DIR:-$root/../shared/datasets/adbench}}"
[[ -f "$dir/reference.csv" ]] || { echo "no ADBench data at $dir (reference.csv missing)" >&2; exit 2; }
dir="$(cd "$dir" && pwd)"

cd "$root"
GOODHART_ADBENCH_DIR="$dir" cargo test --workspace --test adbench -- --nocapture

if [[ $reference == 1 ]]; then
  "${PYTHON:-python3}" - "$dir" <<'PY'
import sys, numpy as np, pyarrow.parquet as pq
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from pyod.models.ecod import ECOD
d = sys.argv[1]
print("dataset,sklearn_iforest_auc_mean20,sklearn_iforest_auc_sd20,pyod_ecod_auc")
for name in ["cardio", "thyroid", "satellite", "shuttle", "mammography", "breastw"]:
    t = pq.read_table(f"{d}/{name}.parquet").to_pandas()
    y = t.pop("label").values
    x = t.values.astype(float)
    aucs = [100 * roc_auc_score(y, -IsolationForest(random_state=s).fit(x).score_samples(x)) for s in range(20)]
    ecod = 100 * roc_auc_score(y, ECOD().fit(x).decision_scores_)
    print(f"{name},{np.mean(aucs):.2f},{np.std(aucs):.2f},{ecod:.2f}")
PY
fi
