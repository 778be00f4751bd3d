"""Reference outlier scores from scikit-learn's IsolationForest on the official results CSV.

For each of 5 seeds and each explained class c (background included, as the official notebook
does), IsolationForest(random_state=seed) with every other setting at its default is fitted on
the 32 scans' vectors (mass(c, s))_s over all 17 segments and scores the same scans with
decision_function. Also written: sklearn's average path length c(n), Spearman's rho of the
seed-123 scores with each class's Dice (scipy.stats.spearmanr), rho on a small input with ties,
and, as the ceiling two independent random streams can reach, the mean Spearman rho between
sklearn's own scores for consecutive seeds.

Run from the repository root:
    python3 Tests/EngineTests/Fixtures/analysis/make_isolation_forest_reference.py
"""
import csv
import json
from pathlib import Path

import numpy as np
import sklearn
from scipy.stats import spearmanr
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

HERE = Path(__file__).resolve().parent
CSV = HERE.parent / "official" / "tsv2_test_aggregated_sg_explanations_with_dice.csv"
SEEDS = [123, 124, 125, 126, 127]

with open(CSV, newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
columns = {name: np.array([float(r[i]) if r[i] not in ("", "nan", "NaN") else np.nan for r in body])
           for i, name in enumerate(header) if name != "patient"}
patients = [r[0] for r in body]
labels = [c[: -len("_explanation_var")] for c in columns if c.endswith("_explanation_var")]
scores = {}
for seed in SEEDS:
    scores[str(seed)] = {}
    for label in labels:
        X = np.stack([columns[f"{label}_explanation_in_{s}_mass"] for s in labels], axis=1)
        forest = IsolationForest(random_state=seed).fit(X)
        scores[str(seed)][label] = forest.decision_function(X).tolist()

dice_rho = {label: float(spearmanr(scores["123"][label], columns[f"{label}_dice"]).correlation) for label in labels}
mean_score = np.mean([scores["123"][label] for label in labels], axis=0)
mean_dice = np.nanmean(np.stack([columns[f"{label}_dice"] for label in labels], axis=1), axis=1)

sklearn_self = []
for a, b in zip(SEEDS, SEEDS[1:]):
    sklearn_self += [spearmanr(scores[str(a)][label], scores[str(b)][label]).correlation for label in labels]
print(f"sklearn vs sklearn (consecutive seeds): mean Spearman rho {np.mean(sklearn_self):.4f}")

ties_x = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.5]
ties_y = [0.3, 0.1, 0.4, 0.4, 0.9, 0.2, 0.9, 0.0]
out = {
    "sklearn_version": sklearn.__version__,
    "patients": patients,
    "labels": labels,
    "seeds": SEEDS,
    "decision_function": scores,
    "average_path_length": {str(n): float(_average_path_length([n])[0]) for n in [1, 2, 3, 5, 32, 256]},
    "spearman_dice_seed123": dice_rho,
    "spearman_mean_seed123": float(spearmanr(mean_score, mean_dice).correlation),
    "spearman_ties": {"x": ties_x, "y": ties_y, "rho": float(spearmanr(ties_x, ties_y).correlation)},
    "sklearn_self_agreement": float(np.mean(sklearn_self)),
}
(HERE / "isolation_forest_reference.json").write_text(json.dumps(out, indent=1) + "\n")
