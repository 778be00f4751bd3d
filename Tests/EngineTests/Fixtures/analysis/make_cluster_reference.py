"""Reference for the dataset-level analyses on the official results CSV, from pandas and scipy.

Writes cluster_reference.json: the global mean and median class x RoI mass matrices (background
left out), and for each linkage method scipy.cluster.hierarchy.linkage on the official analysis'
distance (W[to, from] = sqrt(mean mass), NA -> 0, d = max(W) - W, lower triangle as R's as.dist
reads it with classes in R's alphabetical order), with the cophenetic correlation and the
dendrogram leaf order.

Run from the repository root:
    python3 Tests/EngineTests/Fixtures/analysis/make_cluster_reference.py
"""
import csv
import json
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import cophenet, dendrogram, linkage

HERE = Path(__file__).resolve().parent
CSV = HERE.parent / "official" / "tsv2_test_aggregated_sg_explanations_with_dice.csv"

with open(CSV, newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
columns = {name: np.array([float(r[i]) if r[i] not in ("", "nan", "NaN") else np.nan for r in body])
           for i, name in enumerate(header) if name != "patient"}
patients = [r[0] for r in body]
pairs = []
for column in columns:
    if column.endswith("_mass") and "_explanation_in_" in column:
        to, roi = column[: -len("_mass")].split("_explanation_in_")
        pairs.append((to, roi, column))
classes = list(dict.fromkeys(t for t, _, _ in pairs if t != "background"))
rois = list(dict.fromkeys(r for _, r, _ in pairs if r != "background"))
mean = {(t, r): float(np.nanmean(columns[c])) for t, r, c in pairs}
median = {(t, r): float(np.nanmedian(columns[c])) for t, r, c in pairs}

# R's acast(to ~ from) orders factor levels alphabetically; the R script has replaced "_" by " ".
names = sorted(classes, key=lambda s: s.replace("_", " "))
W = np.array([[np.sqrt(mean.get((to, fr), 0.0)) for fr in names] for to in names])
W[np.isnan(W)] = 0.0
D = W.max() - W
n = len(names)
# as.dist keeps the lower triangle: entry (i, j) with i > j, i.e. row = later name.
condensed = np.array([D[j, i] for i in range(n) for j in range(i + 1, n)])

out = {
    "classes": classes,
    "rois": rois,
    "mean_matrix": [[mean[(t, r)] for r in rois] for t in classes],
    "median_matrix": [[median[(t, r)] for r in rois] for t in classes],
    "labels": names,
    "condensed": condensed.tolist(),
    "methods": {},
}
for method in ["average", "complete", "single", "ward"]:
    Z = linkage(condensed, method=method)
    r, _ = cophenet(Z, condensed)
    leaves = dendrogram(Z, no_plot=True)["leaves"]
    out["methods"][method] = {
        "Z": [[int(a), int(b), float(h), int(c)] for a, b, h, c in Z],
        "cophenetic_correlation": float(r),
        "leaves": [int(x) for x in leaves],
    }
    print(f"{method}: cophenetic correlation {r:.4f}")

(HERE / "cluster_reference.json").write_text(json.dumps(out, indent=1) + "\n")
