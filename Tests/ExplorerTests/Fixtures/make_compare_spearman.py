"""Reference for the explorer's compare mode: Spearman's rho between two methods' segment
rankings, as scipy.stats.spearmanr computes it (average ranks for ties).

Two rankings of the same segments, with ties inside each ranking, a tie shared by both, and one
segment that only method A ranks (it has no pair, so it is left out, as the explorer does).
rho is given over all paired segments and with the background segment (label 0) left out.

Run: python3 make_compare_spearman.py  (writes compare_spearman.json beside this script)
"""
import json
import os

from scipy.stats import spearmanr

labels = [0, 1, 2, 3, 4, 5, 6, 7, 8]
names = ["background", "liver", "spleen", "kidney_left", "kidney_right", "stomach", "bowel", "aorta", "femur"]
mass_a = [0.30, 0.20, 0.10, 0.10, 0.05, 0.05, 0.05, 0.15, 0.00]
# Label 8 is missing from method B's ranking.
mass_b = [0.25, 0.25, 0.05, 0.12, 0.05, 0.08, 0.02, 0.18, None]


def rho(keep):
    pairs = [(a, b) for l, a, b in zip(labels, mass_a, mass_b) if b is not None and keep(l)]
    return float(spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic), len(pairs)


rho_all, n_all = rho(lambda l: True)
rho_nobg, n_nobg = rho(lambda l: l != 0)
out = {
    "labels": labels, "names": names, "mass_a": mass_a, "mass_b": mass_b,
    "rho_all": rho_all, "paired_all": n_all, "rho_without_background": rho_nobg, "paired_without_background": n_nobg,
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare_spearman.json"), "w") as f:
    json.dump(out, f, indent=1)
print(out)
