"""NAB scores of one part of the corpus, from a full run's per-file scores (run.sh's results).

    python3 benches/nab/held_out.py RESULTS_DIR NAB_DIR [DETECTOR]

Each file was scored at the threshold NAB's optimiser chose on the whole corpus; a part's
score is normalised as NAB normalises the whole (100 * (score - null) / (perfect - null),
perfect being one true positive per anomaly window), with the null detector's scores of the
same files. Prints the held-out part (realKnownCause, realTraffic, realAdExchange,
realTweets) and the tuning part (artificial*, realAWSCloudwatch).
"""
import csv
import json
import sys

results, nab = sys.argv[1], sys.argv[2]
detector = sys.argv[3] if len(sys.argv) > 3 else "kotoba"
windows = json.load(open(f"{nab}/labels/combined_windows.json"))
profiles = json.load(open(f"{nab}/config/profiles.json"))
parts = {
    "held-out": ("realKnownCause", "realTraffic", "realAdExchange", "realTweets"),
    "tuning": ("artificialNoAnomaly", "artificialWithAnomaly", "realAWSCloudwatch"),
}


def per_file(name, profile):
    with open(f"{results}/{name}/{name}_{profile}_scores.csv") as f:
        return {row["File"]: float(row["Score"]) for row in csv.DictReader(f) if row["File"]}


for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
    ours, null = per_file(detector, profile), per_file("null", profile)
    tp = profiles[profile]["CostMatrix"]["tpWeight"]
    for part, categories in parts.items():
        files = [f for f in windows if f.split("/")[0] in categories]
        score = sum(ours[f] for f in files)
        base = sum(null[f] for f in files)
        perfect = tp * sum(len(windows[f]) for f in files)
        print(f"{profile:20} {part:9} {100 * (score - base) / (perfect - base):6.1f}")
