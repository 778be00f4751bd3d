"""Writes label_names.txt (ITK-SNAP label description) for the structures present in the sample
segmentation, named after TotalSegmentator's class_map["total"].

Usage: python3 make_label_names.py PATH/TO/totalsegmentator/map_to_binary.py [SEG] [OUT]
Colours are spread evenly in hue (golden-ratio steps) so neighbouring labels differ.
"""
import colorsys
import runpy
import sys

import nibabel as nib
import numpy as np

map_path = sys.argv[1]
seg_path = sys.argv[2] if len(sys.argv) > 2 else "example_seg_fast_force_split.nii.gz"
out_path = sys.argv[3] if len(sys.argv) > 3 else "label_names.txt"

class_map = runpy.run_path(map_path)["class_map"]["total"]
present = sorted(int(v) for v in np.unique(np.asanyarray(nib.load(seg_path).dataobj)) if v != 0)
missing = [v for v in present if v not in class_map]
if missing:
    sys.exit(f"labels {missing} are not in class_map['total']")

lines = [
    "################################################",
    "# ITK-SnAP Label Description File",
    "# TotalSegmentator 2.18.0 class_map['total'], structures present in",
    f"# {seg_path} ({len(present)} labels)",
    "# Columns: IDX -R- -G- -B- -A-- VIS MSH \"LABEL\"",
    "################################################",
    '    0     0    0    0        0  0  0    "Clear Label"',
]
for n, label in enumerate(present):
    h = (n * 0.618033988749895) % 1.0
    s, v = (0.65, 0.95) if n % 2 == 0 else (0.85, 0.75)
    r, g, b = (round(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))
    lines.append(f"{label:5d} {r:5d} {g:4d} {b:4d}        1  1  1    \"{class_map[label]}\"")
open(out_path, "w").write("\n".join(lines) + "\n")
print(f"wrote {out_path}: {len(present)} labels")
