#!/usr/bin/env python3
"""PyTorch reference timings for the Swift benchmark: the sample model on the sample CT.

Measures, with a fixed number of CPU threads (default 2):
  forward       sliding-window inference under torch.no_grad (the sample CT fits one window)
  forward_grad  forward plus the input gradient of a segment target: the sum of the class-c
                logits over the voxels predicted as c (default class: liver), with the weights
                requiring gradients as in an ordinary PyTorch attribution run
  forward_grad_frozen
                the same with weights.requires_grad_(False), so autograd skips weight gradients
Each measurement is the median of --runs runs after one warm-up run, and runs in its own
process so that its peak RSS (getrusage ru_maxrss) is its own.

Preprocessing is the engine's: the scan must already be in the model orientation and spacing
(true for the sample CT); the intensity window from model.json is applied.

Output, one machine-readable line per measurement, e.g.
  pytorch forward_ms_median=3012.4 runs=5 threads=2 peak_rss_mb=1234.5

Usage:
  python3 scripts/benchmark_pytorch.py [--runs 5] [--threads 2] [--class liver]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import BasicUNet
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("forward", "forward_grad", "forward_grad_frozen")


def load_model(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        spec = json.load(f)
    if spec.get("architecture") != "BasicUNet":
        raise SystemExit(f"{model_dir}/model.json: only BasicUNet is supported here")
    kw = dict(spec["arguments"])
    for key in ("act", "norm"):
        if isinstance(kw.get(key), list):
            kw[key] = tuple(kw[key])
    kw["features"] = tuple(kw["features"])
    model = BasicUNet(**kw)
    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    model.load_state_dict({k: v.float() for k, v in weights.items() if not k.endswith("num_batches_tracked")})
    model.eval()
    return model, spec


def load_input(ct_path, spec):
    img = nib.load(ct_path)
    pre = spec["preprocessing"]
    if "".join(nib.aff2axcodes(img.affine)) != pre["orientation"]:
        raise SystemExit(f"{ct_path}: orientation {nib.aff2axcodes(img.affine)} differs from the model's "
                         f"{pre['orientation']}; this script does not reorient")
    if not np.allclose(img.header.get_zooms()[:3], pre["spacing"], atol=1e-3):
        raise SystemExit(f"{ct_path}: spacing {img.header.get_zooms()[:3]} differs from the model's "
                         f"{pre['spacing']}; this script does not resample")
    w = pre["intensity"]
    x = (img.get_fdata(dtype=np.float64) - w["a_min"]) / (w["a_max"] - w["a_min"])
    x = x * (w["b_max"] - w["b_min"]) + w["b_min"]
    if w.get("clip", False):
        x = np.clip(x, w["b_min"], w["b_max"])
    # nibabel (X, Y, Z) -> [1, 1, X, Y, Z], the engine's layout.
    return torch.from_numpy(x.astype(np.float32))[None, None]


def run_mode(args):
    torch.set_num_threads(args.threads)
    model, spec = load_model(args.model)
    x = load_input(args.ct, spec)
    roi, overlap = spec["inference"]["roi_size"], spec["inference"]["overlap"]
    classes = spec["classes"]
    c = classes.index(args.target_class) if args.target_class in classes else int(args.target_class)

    def infer(inp):
        return sliding_window_inference(inp, roi, 1, model, overlap=overlap, mode="constant")

    if args.only == "forward_grad_frozen":
        model.requires_grad_(False)

    def once():
        if args.only == "forward":
            with torch.no_grad():
                infer(x)
            return None
        xi = x.clone().requires_grad_(True)
        logits = infer(xi)
        mask = logits[0].argmax(0) == c
        target = (logits[0, c] * mask).sum()
        target.backward()
        return float(target.detach()), float(xi.grad.norm()), int(mask.sum())

    once()  # warm-up
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        info = once()
        times.append((time.perf_counter() - t) * 1000.0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    extra = ""
    if info is not None:
        extra = f" class={classes[c]} mask_voxels={info[2]} target={info[0]:.6g} grad_l2={info[1]:.6g}"
    print(f"pytorch {args.only}_ms_median={statistics.median(times):.1f} runs={args.runs} "
          f"threads={args.threads} peak_rss_mb={peak_mb:.1f}{extra}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(ROOT, "SampleData", "model"))
    p.add_argument("--ct", default=os.path.join(ROOT, "SampleData", "example_ct.nii.gz"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--class", dest="target_class", default="liver", help="class name or index")
    p.add_argument("--only", choices=MODES, help="run one measurement in this process")
    args = p.parse_args()
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    if args.only:
        run_mode(args)
        return
    print(f"# torch {torch.__version__}, {args.runs} runs after 1 warm-up, {args.threads} threads", flush=True)
    for mode in MODES:
        cmd = [sys.executable, os.path.abspath(__file__), "--only", mode, "--model", args.model, "--ct", args.ct,
               "--runs", str(args.runs), "--threads", str(args.threads), "--class", args.target_class]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
