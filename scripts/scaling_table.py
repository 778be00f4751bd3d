#!/usr/bin/env python3
"""The README's "Scaling on a real CT" table: wall time and peak RSS of `agg2exp explain` (gradient)
and `agg2exp segment` for 1, 8 and 27 sliding windows, on 2 threads and on 1, with the ratio to
linear.

The CT is TotalSegmentator's `tests/reference_files/aorta_report/example_ct.nii.gz` (233×167×191
at 1.5 mm; `pip download --no-deps --no-binary :all: totalsegmentator==2.18.0`). One window is a
centred crop of the ROI's size, eight a centred crop of 2×2×2 windows at overlap 0.25 (200×160×180
for BasicUNet, 160³ for SwinUNETR),
27 the whole CT at an overlap that gives 3×3×3 windows (its 167-voxel axis takes only two at 0.25).

Models, written to WORK:
  basicunet  the sample model's network and weights, with spacing 1.5 mm (ROI 128×112×112)
  swin       SwinUNETR-48 (use_v2, 17 classes) with MONAI's seeded initialisation
             (torch.manual_seed(0)), 1.5 mm, ROI 96³; needs torch and monai

Each case runs once, one after another (run it on an otherwise idle machine).

Usage: python3 scripts/scaling_table.py AGG2EXP CT WORK [--networks basicunet,swin] [--threads 2,1]
       [--skip "swin:27:1"]   (network:windows:threads, comma-separated, to leave out)
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys

import nibabel as nib
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def windows_per_axis(size: int, roi: int, overlap: float) -> int:
    """monai.inferers.sliding_window_inference's count: interval int(roi·(1 − overlap))."""
    if size <= roi:
        return 1
    interval = int(roi * (1 - overlap))
    return math.ceil((size - roi) / interval) + 1


def centred_crop(ct, shape, out):
    data = np.asanyarray(ct.dataobj)
    starts = [(s - c) // 2 for s, c in zip(ct.shape, shape)]
    block = data[tuple(slice(a, a + c) for a, c in zip(starts, shape))]
    affine = ct.affine.copy()
    affine[:3, 3] = ct.affine[:3, :3] @ np.array(starts) + ct.affine[:3, 3]
    nib.save(nib.Nifti1Image(block, affine, ct.header), out)


def write_model(kind: str, directory: str, overlap: float) -> dict:
    os.makedirs(directory, exist_ok=True)
    if kind == "basicunet":
        sample = os.path.join(REPO, "SampleData", "model")
        description = json.load(open(os.path.join(sample, "model.json")))
        description["preprocessing"]["spacing"] = [1.5, 1.5, 1.5]
        weights = os.path.join(directory, "model.safetensors")
        if not os.path.exists(weights):
            shutil.copy(os.path.join(sample, "model.safetensors"), weights)
    else:
        weights = os.path.join(directory, "model.safetensors")
        if not os.path.exists(weights):
            import torch
            from monai.networks.nets import SwinUNETR
            from safetensors.torch import save_file
            torch.manual_seed(0)
            network = SwinUNETR(in_channels=1, out_channels=17, feature_size=48, use_v2=True)
            save_file({k: v.contiguous() for k, v in network.state_dict().items()}, weights)
        description = {
            "format": "agg2exp-model/1", "architecture": "SwinUNETR",
            "arguments": {"in_channels": 1, "out_channels": 17, "feature_size": 48, "use_v2": True},
            "classes": [f"class_{i}" for i in range(17)],
            "preprocessing": {"orientation": "RAS", "spacing": [1.5, 1.5, 1.5],
                              "intensity": {"a_min": -1024, "a_max": 1024, "b_min": 0.0, "b_max": 1.0,
                                            "clip": True}},
            "inference": {"roi_size": [96, 96, 96], "overlap": 0.25},
        }
    description["inference"]["overlap"] = overlap
    with open(os.path.join(directory, "model.json"), "w") as f:
        json.dump(description, f, indent=2)
    return description


def timed(command):
    """Runs `command` under /usr/bin/time -v; returns (wall seconds, peak RSS MB)."""
    result = subprocess.run(["/usr/bin/time", "-v"] + command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    hours, minutes, seconds = int(wall.group(1) or 0), int(wall.group(2)), float(wall.group(3))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return hours * 3600 + minutes * 60 + seconds, rss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("agg2exp")
    parser.add_argument("ct")
    parser.add_argument("work")
    parser.add_argument("--networks", default="basicunet,swin")
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--skip", default="")
    arguments = parser.parse_args()
    os.makedirs(arguments.work, exist_ok=True)
    ct = nib.load(arguments.ct)
    skip = set(filter(None, arguments.skip.split(",")))
    threads = [int(t) for t in arguments.threads.split(",")]

    rois = {"basicunet": (128, 112, 112), "swin": (96, 96, 96)}
    # The smallest overlap above 0.25 that gives three windows on every axis of the whole CT.
    whole_overlap = {"basicunet": 0.55, "swin": 0.28}
    eight = {"basicunet": (200, 160, 180), "swin": (160, 160, 160)}
    rows = []
    for network in arguments.networks.split(","):
        roi = rois[network]
        cases = [(1, roi, 0.25), (8, eight[network], 0.25), (27, ct.shape, whole_overlap[network])]
        for windows, shape, overlap in cases:
            counted = math.prod(windows_per_axis(s, r, overlap) for s, r in zip(shape, roi))
            assert counted == windows, f"{network} {shape} at overlap {overlap}: {counted} windows"
            model = os.path.join(arguments.work, f"{network}-overlap{overlap}")
            write_model(network, model, overlap)
            scan = os.path.join(arguments.work, "ct-%dx%dx%d.nii.gz" % tuple(shape))
            if not os.path.exists(scan):
                centred_crop(ct, shape, scan)
            for mode in ("explain", "segment"):
                for n in threads:
                    if f"{network}:{windows}:{n}" in skip or f"{network}:{windows}:{n}:{mode}" in skip:
                        continue
                    out = os.path.join(arguments.work, f"out-{network}-{windows}-{n}-{mode}.nii.gz")
                    command = [arguments.agg2exp, mode, scan, "--model", model, "--threads", str(n), "--out", out]
                    if mode == "explain":
                        command += ["--target", "0", "--method", "gradient"]
                    wall, rss = timed(command)
                    rows.append((network, windows, mode, n, wall, rss))
                    print(f"{network} windows={windows} {mode} threads={n} wall_s={wall:.1f} peak_rss_mb={rss:.0f}",
                          flush=True)

    def find(network, windows, mode, n):
        return next((r for r in rows if r[:4] == (network, windows, mode, n)), None)

    print("\n| network | mode | windows | 2 threads | × linear | 1 thread | × linear | 1 → 2 threads | "
          "peak RSS (2 threads) | × linear |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for network, windows, mode, n, wall, rss in rows:
        if n != threads[0]:
            continue
        one_window = find(network, 1, mode, n)
        single = find(network, windows, mode, 1)
        single_one = find(network, 1, mode, 1)
        cells = [network, mode, str(windows), f"{wall:.1f} s", f"{wall / (windows * one_window[4]):.2f}"]
        cells += [f"{single[4]:.1f} s", f"{single[4] / (windows * single_one[4]):.2f}",
                  f"{single[4] / (2 * wall):.2f}"] if single and single_one else ["—", "—", "—"]
        cells += [f"{rss:.0f} MB", f"{rss / (windows * one_window[5]):.2f}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
