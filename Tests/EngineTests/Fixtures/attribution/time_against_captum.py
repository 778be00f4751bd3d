#!/usr/bin/env python3
"""Times each attribution method in agg2exp (Swift) and in Captum on the same model, scan and
target, in one run, and prints the Swift/Captum ratios for the README.

Both sides compute the same thing: the target is class c summed over the clean prediction's
mask (fixed), gradients use the official per-window semantics, perturbation methods evaluate
the stitched sliding-window logits. Captum: Saliency, InputXGradient, IntegratedGradients
(riemann_trapezoid, 20 steps: the same 20 gradient evaluations as the official scheme),
NoiseTunnel(Saliency) smoothgrad with 20 samples, Occlusion (32³ cubes, stride 32) and KernelShap
on the predicted segments (200 samples). Swift times come from `agg2exp explain`, which prints
the attribution's wall-clock time; both sides exclude model loading and the clean prediction.
PyTorch runs with 2 threads (the machine's cores).

Usage: python3 time_against_captum.py AGG2EXP SCAN MODEL_DIR TARGET [--repeats N]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import torch
from captum.attr import InputXGradient, IntegratedGradients, KernelShap, NoiseTunnel, Occlusion, Saliency
from monai.inferers import sliding_window_inference

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from make_attribution_fixtures import window_target  # noqa: E402
from make_network_fixtures import build_basic_unet  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

METHODS = ["gradient", "input-x-gradient", "integrated-gradients", "smoothgrad", "occlusion", "kernelshap"]


def load(model_dir: str):
    with open(os.path.join(model_dir, "model.json")) as f:
        doc = json.load(f)
    net = build_basic_unet(doc["arguments"]).eval()
    net.load_state_dict(load_file(os.path.join(model_dir, "model.safetensors")))
    return net, doc


def preprocess(scan: str, doc: dict) -> torch.Tensor:
    """RAS scans already at the model spacing only need the intensity window (checked)."""
    img = nib.as_closest_canonical(nib.load(scan))
    spacing = doc["preprocessing"]["spacing"]
    if not np.allclose(img.header.get_zooms()[:3], spacing, atol=1e-3):
        raise SystemExit(f"{scan}: spacing {img.header.get_zooms()[:3]} differs from the model's {spacing}")
    w = doc["preprocessing"]["intensity"]
    hu = np.asarray(img.dataobj, dtype=np.float32)
    x = (hu - w["a_min"]) / (w["a_max"] - w["a_min"]) * (w["b_max"] - w["b_min"]) + w["b_min"]
    if w.get("clip", True):
        x = np.clip(x, w["b_min"], w["b_max"])
    return torch.from_numpy(x)[None, None]


def captum_time(method: str, net, doc, x, c) -> float:
    roi, overlap = doc["inference"]["roi_size"], doc["inference"]["overlap"]
    with torch.no_grad():
        logits = sliding_window_inference(x, roi, 1, net, overlap=overlap, mode="constant")
    mask = logits.argmax(1)[0]
    grad_target = window_target(net, roi, overlap, c, mask)

    def stitched_target(inp):
        with torch.no_grad():
            z = sliding_window_inference(inp, roi, 1, net, overlap=overlap, mode="constant")
        return (z[:, c] * (mask == c)).sum(dim=(1, 2, 3))

    start = time.perf_counter()
    if method == "gradient":
        Saliency(grad_target).attribute(x, abs=False)
    elif method == "input-x-gradient":
        InputXGradient(grad_target).attribute(x)
    elif method == "integrated-gradients":
        IntegratedGradients(grad_target).attribute(x, baselines=torch.zeros_like(x), n_steps=20,
                                                   method="riemann_trapezoid", internal_batch_size=1)
    elif method == "smoothgrad":
        sigma = 0.1 * (x.max() - x.min()).item()
        NoiseTunnel(Saliency(grad_target)).attribute(x, nt_type="smoothgrad", nt_samples=20, stdevs=sigma,
                                                     nt_samples_batch_size=1, abs=False)
    elif method == "occlusion":
        Occlusion(stitched_target).attribute(x, sliding_window_shapes=(1, 32, 32, 32), strides=(1, 32, 32, 32),
                                             baselines=0.0, perturbations_per_eval=1)
    elif method == "kernelshap":
        KernelShap(stitched_target).attribute(x, baselines=0.0, feature_mask=mask[None, None], n_samples=200,
                                              perturbations_per_eval=1)
    return time.perf_counter() - start


def swift_time(binary: str, method: str, scan: str, model_dir: str, target: str) -> float:
    r = subprocess.run([binary, "explain", scan, "--model", model_dir, "--target", target, "--method", method],
                       capture_output=True, text=True, check=True)
    m = re.search(r"attribution time ([0-9.]+) s", r.stdout + r.stderr)
    if not m:
        raise SystemExit(f"no attribution time in the output of {method}:\n{r.stdout}\n{r.stderr}")
    return float(m.group(1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("agg2exp")
    p.add_argument("scan")
    p.add_argument("model")
    p.add_argument("target")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--methods", default=",".join(METHODS))
    a = p.parse_args()
    torch.set_num_threads(2)
    net, doc = load(a.model)
    x = preprocess(a.scan, doc)
    c = doc["classes"].index(a.target)
    print(f"{'method':22}{'swift s':>10}{'captum s':>10}{'ratio':>8}   (medians of {a.repeats})")
    for method in a.methods.split(","):
        s = statistics.median(swift_time(a.agg2exp, method, a.scan, a.model, a.target) for _ in range(a.repeats))
        t = statistics.median(captum_time(method, net, doc, x, c) for _ in range(a.repeats))
        print(f"{method:22}{s:10.2f}{t:10.2f}{s / t:8.2f}", flush=True)


if __name__ == "__main__":
    main()
