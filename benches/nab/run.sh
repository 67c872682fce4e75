#!/usr/bin/env bash
# Scores the crate's anomaly detector on the Numenta Anomaly Benchmark with NAB's own scorer
# (threshold optimisation and normalisation), beside the null detector NAB normalises with.
#
#   benches/nab/run.sh NAB_DIR [RESULTS_DIR]
#
# NAB_DIR is a checkout of github.com/numenta/NAB (MIT); its scorer needs Python with
# pandas 1.x and simplejson (`pip install "pandas<2" "numpy<2" simplejson`). Nothing of NAB
# goes into the crate. The final scores land in RESULTS_DIR/final_results.json; the held-out
# part (realKnownCause, realTraffic, realAdExchange, realTweets) is scored by
# benches/nab/held_out.py from the same results.
set -euo pipefail
nab=$(cd "$1" && pwd)
results=${2:-$(mktemp -d)}
here=$(cd "$(dirname "$0")/../.." && pwd)
detector=kotoba
cargo build --release --example anomaly --manifest-path "$here/Cargo.toml" >&2
bin="$here/target/release/examples/anomaly"
mkdir -p "$results"
rm -rf "$results/$detector"
for file in "$nab"/data/*/*.csv; do
    category=$(basename "$(dirname "$file")")
    mkdir -p "$results/$detector/$category"
    "$bin" "$file" "$results/$detector/$category/${detector}_$(basename "$file")" 2>/dev/null
done
# NAB normalises against its null detector, whose results ship with NAB.
rm -rf "$results/null"
mkdir -p "$results/null"
for dir in "$nab"/data/*/; do
    category=$(basename "$dir")
    cp -r "$nab/results/null/$category" "$results/null/$category"
done
thresholds=$(mktemp)
cp "$nab/config/thresholds.json" "$thresholds"
python3 - "$thresholds" "$detector" <<'PY'
import json, sys
path, name = sys.argv[1], sys.argv[2]
t = json.load(open(path))
t[name] = {p: {"score": 0.0, "threshold": 0.5} for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")}
json.dump(t, open(path, "w"), indent=2)
PY
(cd "$nab" && python3 run.py -d null,$detector --optimize --score --normalize --skipConfirmation \
    --resultsDir "$results" --thresholdsFile "$thresholds" -n 2 >&2)
cat "$results/final_results.json"
