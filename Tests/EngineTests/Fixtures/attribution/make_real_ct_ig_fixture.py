#!/usr/bin/env python3
"""Integrated-gradients reference on a real CT crop, from a zero baseline (real_ct_ig.safetensors).

The instance-norm parity model (../network/instance, MONAI BasicUNet with random weights) on a
32^3 crop of a real CT: TotalSegmentator 2.18.0's tests/reference_files/aorta_report/example_ct.nii.gz
(1.5 mm, chest-abdomen; data CC BY 4.0, Wasserthal et al. 2023), obtained with
    pip download --no-deps --no-binary :all: totalsegmentator==2.18.0
The crop is one ROI, so one window: the official per-window target is the whole-input target.

At alpha = 0 the input is constant (zero), so with instance norm every interior window of the
first max-pool is an exact tie and PyTorch routes the gradient to the first element of each
window. That term carries nearly all of the IG norm, so matching PyTorch needs a convolution
whose output depends only on its receptive field. This script asserts the ties in PyTorch.

  input                  [1, 32, 32, 32] the crop, scaled like the model's preprocessing
  mask                   [32, 32, 32] int32, the clean prediction (fixed for every step)
  ig8_float32, ig20_float32
                         official-scheme IG (alpha = linspace(0, 1, steps), weights 1/steps),
                         PyTorch float32, one thread
Metadata: target_class, crop, ig8_float32_error / ig20_float32_error (distance of float32
PyTorch from float64), alpha0_share (share of the IG norm carried by the alpha = 0 term),
tied_windows (share of interior first-pool windows that are exact ties at alpha = 0).

Run from this directory: python3 make_real_ct_ig_fixture.py PATH/TO/aorta_report/example_ct.nii.gz
"""
from __future__ import annotations

import argparse
import os

import nibabel as nib
import numpy as np
import torch
from safetensors.torch import save_file

from make_attribution_fixtures import load_model, window_target

HERE = os.path.dirname(os.path.abspath(__file__))
CROP = (slice(100, 132), slice(60, 92), slice(100, 132))


def official_ig_terms(forward, x, steps):
    """The official scheme's per-step terms grad F(alpha x) / steps, alpha = k / (steps - 1)."""
    terms = []
    for k in range(steps):
        point = (k / (steps - 1) * x).detach().requires_grad_(True)
        (g,) = torch.autograd.grad(forward(point).sum(), point)
        terms.append(g / steps)
    return terms


def first_pool_ties(net, x):
    """Share of interior 2x2x2 windows of the first max-pool's input that are exact ties."""
    captured = {}
    hook = net.down_1.register_forward_pre_hook(lambda module, args: captured.update(value=args[0].detach()))
    with torch.no_grad():
        net(x)
    hook.remove()
    a = captured["value"][0]
    c, d, h, w = a.shape
    windows = a.reshape(c, d // 2, 2, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4, 6).reshape(c, d // 2, h // 2, w // 2, 8)
    tied = (windows == windows[..., :1]).all(-1)
    # Windows touching the border see the zero padding of the convolutions.
    return tied[:, 1:-1, 1:-1, 1:-1].double().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ct", help="aorta_report/example_ct.nii.gz from the TotalSegmentator 2.18.0 sdist")
    args = parser.parse_args()
    torch.set_num_threads(1)
    net64, doc = load_model(os.path.join(os.path.dirname(HERE), "network", "instance"))
    net32 = load_model(os.path.join(os.path.dirname(HERE), "network", "instance"))[0].float()
    intensity = doc["preprocessing"]["intensity"]
    volume = np.asarray(nib.load(args.ct).dataobj, dtype=np.float64)[CROP]
    scaled = (volume - intensity["a_min"]) / (intensity["a_max"] - intensity["a_min"])
    scaled = np.clip(scaled * (intensity["b_max"] - intensity["b_min"]) + intensity["b_min"], 0, 1)
    x32 = torch.from_numpy(scaled).float()[None, None]
    x64 = x32.double()
    roi, overlap = doc["inference"]["roi_size"], doc["inference"]["overlap"]
    assert list(x32.shape[2:]) == roi, "the crop is one window"

    with torch.no_grad():
        mask = net64(x64).argmax(1)[0]
    counts = torch.bincount(mask.flatten(), minlength=len(doc["classes"]))
    c = int(counts[1:].argmax()) + 1
    tied = first_pool_ties(net32, torch.zeros_like(x32))
    assert tied == 1.0, f"only {tied:.4f} of the interior first-pool windows tie at alpha = 0"

    out = {"input": x32[0], "mask": mask.int()}
    metadata = {"target_class": str(c), "crop": repr([(s.start, s.stop) for s in CROP]), "tied_windows": repr(tied)}
    for steps in (8, 20):
        terms32 = official_ig_terms(window_target(net32, roi, overlap, c, mask), x32, steps)
        terms64 = official_ig_terms(window_target(net64, roi, overlap, c, mask), x64, steps)
        ig32 = x32 * sum(terms32)
        ig64 = x64 * sum(terms64)
        error = ((ig32.double() - ig64).norm() / ig64.norm()).item()
        share = ((x64 * terms64[0]).norm() / ig64.norm()).item()
        out[f"ig{steps}_float32"] = ig32[0]
        metadata[f"ig{steps}_float32_error"] = repr(error)
        metadata[f"ig{steps}_alpha0_share"] = repr(share)
        print(f"{steps} steps: float32 PyTorch {error:.3g} from float64; alpha = 0 term carries "
              f"{share:.4f} of the IG norm")
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(HERE, "real_ct_ig.safetensors"),
              metadata=metadata)
    print(f"target class {c} ({doc['classes'][c]}), {int(counts[c])} voxels; {tied:.4f} of interior windows tie")


if __name__ == "__main__":
    main()
