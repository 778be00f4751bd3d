#!/usr/bin/env python3
"""Captum / PyTorch references for the Swift attribution methods on the network parity models.

For each model directory written by ../make_network_fixtures.py (network/<variant>/), this
loads the weights into MONAI's BasicUNet in float64 and writes attribution/<variant>.safetensors:

  input            [1, D, H, W] the variant's window_input (several overlapping windows)
  mask             [D, H, W] int32, the stitched clean prediction (fixed for every method)
  gradient         Captum Saliency(abs=False)
  input_x_gradient Captum InputXGradient
  ig_official      Integrated Gradients with the official scheme: alpha = linspace(0, 1, 20)
                   with both ends and weights 1/20, baseline zeros. No Captum method reproduces
                   it (riemann_trapezoid halves the end weights, riemann_left/right drop an end),
                   so it is computed in plain torch from the same forward function.
  ig_gauss_legendre Captum IntegratedGradients(method="gausslegendre", n_steps=20)
  ig_official_float32, ig_gauss_legendre_float32
                   the same two integrals computed by PyTorch in float32, the precision Swift
                   computes in. On the instance-norm model the zero-baseline end of the path is
                   ill-conditioned (exact max-pool ties, near-kink activations), so float32
                   PyTorch itself lands about 1e-3 from the float64 integral; metadata records
                   that distance (<name>_float32_error) so tests can hold Swift to it.
  small_input, small_mask, small_ig_official, small_target, small_baseline_target
                   a single-window input (no overlap) for the completeness check
Metadata: target_class, ig_official_float32_error, ig_gauss_legendre_float32_error.

The forward function is the Agg2Exp target under the official per-window semantics
(METHOD.md 1.2) with the fixed mask M: F(x) = sum over windows w of sum_{v in w, M(v) = c} z_c^w(v),
windows and padding as MONAI's sliding_window_inference. Its gradient is exactly the sum of
per-window gradients the official code accumulates.

Run from this directory: python3 make_attribution_fixtures.py [--network DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from monai.data.utils import dense_patch_slices
from monai.inferers import sliding_window_inference
from monai.inferers.utils import _get_scan_interval
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from make_network_fixtures import build_basic_unet  # noqa: E402

STEPS = 20


def load_model(directory: str) -> tuple[torch.nn.Module, dict]:
    with open(os.path.join(directory, "model.json")) as f:
        doc = json.load(f)
    net = build_basic_unet(doc["arguments"]).double().eval()
    state = load_file(os.path.join(directory, "model.safetensors"))
    net.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in state.items()})
    return net, doc


def window_target(net, roi, overlap, c, mask):
    """F(x) for a batch of inputs [N, 1, D, H, W] with the fixed mask [D, H, W]."""
    def forward(x):
        size = list(x.shape[2:])
        pad = []
        for k in range(2, -1, -1):
            diff = max(roi[k] - size[k], 0)
            pad.extend([diff // 2, diff - diff // 2])
        xp = F.pad(x, pad, mode="constant", value=0)
        mp = F.pad(mask[None, None].double(), pad, mode="constant", value=-1)[0, 0]
        image = list(xp.shape[2:])
        total = torch.zeros(x.shape[0], dtype=x.dtype)
        for sl in dense_patch_slices(image, roi, _get_scan_interval(image, roi, 3, (overlap,) * 3)):
            m = (mp[sl] == c).to(x.dtype)
            if m.sum() == 0:
                continue
            out = net(xp[(slice(None), slice(None), *sl)])
            total = total + (out[:, c] * m).sum(dim=(1, 2, 3))
        return total
    return forward


def official_ig(forward, x, baseline):
    total = torch.zeros_like(x)
    for k in range(STEPS):
        alpha = k / (STEPS - 1)
        point = (baseline + alpha * (x - baseline)).detach().requires_grad_(True)
        (g,) = torch.autograd.grad(forward(point).sum(), point)
        total += g / STEPS
    return (x - baseline) * total


def make(variant: str, network_dir: str) -> None:
    net, doc = load_model(os.path.join(network_dir, variant))
    roi, overlap = doc["inference"]["roi_size"], doc["inference"]["overlap"]
    expected = load_file(os.path.join(network_dir, variant, "expected.safetensors"))
    x = expected["window_input"].double()[None]
    with torch.no_grad():
        logits = sliding_window_inference(x, roi, 1, net, overlap=overlap, mode="constant")
    mask = logits.argmax(1)[0]
    counts = torch.bincount(mask.flatten(), minlength=logits.shape[1])
    c = int(counts[1:].argmax()) + 1
    forward = window_target(net, roi, overlap, c, mask)
    zeros = torch.zeros_like(x)
    net32 = build_basic_unet(doc["arguments"]).float().eval()
    net32.load_state_dict({k: v.float() for k, v in net.state_dict().items()})
    forward32 = window_target(net32, roi, overlap, c, mask)
    x32 = x.float()
    out = {
        "input": x[0], "mask": mask.int(),
        "gradient": Saliency(forward).attribute(x, abs=False)[0],
        "input_x_gradient": InputXGradient(forward).attribute(x)[0],
        "ig_official": official_ig(forward, x, zeros)[0],
        "ig_gauss_legendre": IntegratedGradients(forward).attribute(
            x, baselines=zeros, n_steps=STEPS, method="gausslegendre")[0],
        "ig_official_float32": official_ig(forward32, x32, torch.zeros_like(x32))[0],
        "ig_gauss_legendre_float32": IntegratedGradients(forward32).attribute(
            x32, baselines=torch.zeros_like(x32), n_steps=STEPS, method="gausslegendre")[0],
    }
    metadata = {"target_class": str(c)}
    for name in ("ig_official", "ig_gauss_legendre"):
        reference, single = out[name], out[f"{name}_float32"].double()
        metadata[f"{name}_float32_error"] = repr(((single - reference).norm() / reference.norm()).item())
    # Single window: the input fits in the ROI, so the per-window target equals the stitched one.
    gen = torch.Generator().manual_seed(5)
    small = torch.rand(1, 1, roi[0], roi[1], roi[2] - 4, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        small_logits = sliding_window_inference(small, roi, 1, net, overlap=overlap, mode="constant")
    small_mask = small_logits.argmax(1)[0]
    small_forward = window_target(net, roi, overlap, c, small_mask)
    with torch.no_grad():
        t = small_forward(small).item()
        t0 = small_forward(torch.zeros_like(small)).item()
    out.update({"small_input": small[0], "small_mask": small_mask.int(),
                "small_ig_official": official_ig(small_forward, small, torch.zeros_like(small))[0],
                "small_target": torch.tensor([t, t0])})
    out = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in out.items()}
    save_file(out, os.path.join(HERE, f"{variant}.safetensors"), metadata=metadata)
    delta = out["small_ig_official"].double().sum().item() - (t - t0)
    print(f"{variant}: target class {c}, voxels {int(counts[c])}, small IG completeness "
          f"delta {delta:.4g} of T(x) - T(0) = {t - t0:.4g}; float32 IG relative L2 from float64: "
          f"official {metadata['ig_official_float32_error']}, "
          f"Gauss-Legendre {metadata['ig_gauss_legendre_float32_error']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--network", default=os.path.join(os.path.dirname(HERE), "network"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name in ("instance", "batch"):
        make(name, args.network)
