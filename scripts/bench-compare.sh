#!/usr/bin/env bash
# mba's CPU pipeline against the Python peers (benches/peer_numba.py: numba and numpy) on this
# machine: RUNS runs (default 3) of `mba bench --backend cpu --compare numba`, each measuring
# mba, then numba, then numpy at both scales (so load from other jobs falls on each in turn),
# and the median realizations/s of each over the runs.
# Usage: scripts/bench-compare.sh [MBA_BIN] [RUNS]     (needs python3 with numba and numpy)
set -euo pipefail
MBA=${1:-target/release/mba}
RUNS=${2:-3}
OUT=$(mktemp -d)
for i in $(seq 1 "$RUNS"); do
  "$MBA" bench --backend cpu --compare numba --json > "$OUT/run$i.json"
  echo "run $i of $RUNS done" >&2
done
python3 - "$OUT"/run*.json <<'PY'
import json, statistics, sys
runs = [json.load(open(p)) for p in sys.argv[1:]]
rates, worst = {}, {}
for run in runs:
    for row in run["rows"]:
        rates.setdefault((row["scale"], "mba cpu (%d threads)" % run["cpu_threads"]), []).append(row["realizations_per_s"])
    for row in run["peer"]["rows"]:
        key = (row["scale"], "%s (%d threads)" % (row["variant"], row["threads"]))
        rates.setdefault(key, []).append(row["realizations_per_s"])
        err = max(e["max_rel_error"] for e in row["vs_mba"].values())
        worst[key] = max(worst.get(key, 0.0), err)
print("| scale | implementation | realizations/s (median of %d) | runs | max rel. latency diff vs mba |" % len(runs))
print("|---|---|---|---|---|")
for (scale, who), xs in rates.items():
    diff = "%.1e" % worst[(scale, who)] if (scale, who) in worst else "-"
    print("| %s | %s | %.3g | %s | %s |" % (scale, who, statistics.median(xs), ", ".join("%.3g" % x for x in xs), diff))
PY
