#!/usr/bin/env python3
"""Parity fixtures for the Swift BasicUNet engine, produced by MONAI itself.

For two seeded BasicUNet variants (instance norm + LeakyReLU + bias; batch norm in eval mode with
non-trivial running statistics + PReLU + no conv bias) this writes, under network/<variant>/:

  model.safetensors, model.json   a model directory in the agg2exp-model/1 format
  expected.safetensors             reference tensors from the same weights (logits in float64,
                                   gradients from the float32 network, see make_variant):
    direct_input     [1, D, H, W] with odd sizes, so UpCat's replicate padding runs
    direct_logits    BasicUNet(direct_input)
    direct_labels    argmax over classes (int32)
    direct_gradient  d/dx of sum of class-c logits over voxels predicted as c
    window_input     larger than the ROI on two axes, smaller on the third (zero padding)
    window_logits    monai.inferers.sliding_window_inference (constant blend, zero padding)
    window_gradient_sum       Agg2Exp per-window gradient, mask = each window's own argmax
    window_gradient_weighted  same with the prob-weighted rule and the fixed stitched mask
  The target class c is stored in the header metadata as "target_class".

Run from this directory:  python3 make_network_fixtures.py
Other scripts can import `build_basic_unet` and `export_model_directory`.
"""
from __future__ import annotations

import json
import os

import torch
import torch.nn.functional as F
from monai.data.utils import dense_patch_slices
from monai.inferers import sliding_window_inference
from monai.inferers.utils import _get_scan_interval
from monai.networks.nets import BasicUNet
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT = "agg2exp-model/1"


def build_basic_unet(arguments: dict) -> BasicUNet:
    """A MONAI BasicUNet from model.json `arguments` (act/norm pairs given as JSON lists)."""
    kwargs = dict(arguments)
    for key in ("act", "norm", "dropout"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    return BasicUNet(**kwargs)


def export_model_directory(net: torch.nn.Module, arguments: dict, classes: list[str], preprocessing: dict,
                           inference: dict, out_dir: str) -> None:
    """Writes model.safetensors (the state_dict as float32) and model.json."""
    os.makedirs(out_dir, exist_ok=True)
    state = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in net.state_dict().items()}
    save_file(state, os.path.join(out_dir, "model.safetensors"))
    doc = {"format": FORMAT, "architecture": "BasicUNet", "arguments": arguments, "classes": classes,
           "preprocessing": preprocessing, "inference": inference}
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def randomise(net: torch.nn.Module, generator: torch.Generator) -> None:
    """Non-trivial norm parameters and running statistics (the defaults are 1, 0, 0, 1)."""
    for name, module in net.named_modules():
        if isinstance(module, (torch.nn.InstanceNorm3d, torch.nn.BatchNorm3d)):
            if module.weight is not None:
                module.weight.data = 0.5 + torch.rand(module.weight.shape, generator=generator)
                module.bias.data = 0.3 * torch.randn(module.bias.shape, generator=generator)
            if module.running_mean is not None:
                module.running_mean.data = 0.5 * torch.randn(module.running_mean.shape, generator=generator)
                module.running_var.data = 0.5 + 1.5 * torch.rand(module.running_var.shape, generator=generator)
                module.num_batches_tracked.fill_(7)
        if isinstance(module, torch.nn.PReLU):
            module.weight.data = 0.1 + 0.3 * torch.rand(module.weight.shape, generator=generator)


def segment_target_gradient(net, x, c):
    """Gradient of sum_{v: argmax(v) = c} z_c(v) with respect to x, for one whole input."""
    x = x.clone().requires_grad_(True)
    out = net(x)
    mask = (out.argmax(1, keepdim=True) == c).to(out.dtype)
    (g,) = torch.autograd.grad(out[:, c:c + 1], x, grad_outputs=mask)
    return g


def window_gradient(net, x, roi, overlap, c, rule, fixed_mask=None):
    """Agg2Exp sliding-window input gradient (METHOD.md 1.2): per window, the gradient of the
    window's target is added into the full volume; windows whose mask is empty are skipped.
    Windows, padding and start positions are MONAI's sliding_window_inference ones."""
    size = list(x.shape[2:])
    pad = []
    for k in range(len(size) - 1, -1, -1):
        diff = max(roi[k] - size[k], 0)
        pad.extend([diff // 2, diff - diff // 2])
    xp = F.pad(x, pad, mode="constant", value=0)
    mp = None
    if fixed_mask is not None:
        mp = F.pad(fixed_mask[None, None].double(), pad, mode="constant", value=-1)[0, 0]
    image = list(xp.shape[2:])
    slices = dense_patch_slices(image, roi, _get_scan_interval(image, roi, 3, (overlap,) * 3))
    grad = torch.zeros_like(xp)
    for sl in slices:
        win = xp[(slice(None), slice(None), *sl)].clone().requires_grad_(True)
        out = net(win)
        if mp is None:
            mask = (out.argmax(1) == c).to(out.dtype)
        else:
            mask = (mp[sl] == c).to(out.dtype)[None]
        if mask.sum() == 0:
            continue
        if rule == "sum":
            weight = mask
        elif rule == "mean":
            weight = mask / mask.sum()
        else:
            p = torch.softmax(out, 1)[:, c].detach() * mask
            weight = p / p.sum()
        (g,) = torch.autograd.grad(out[:, c], win, grad_outputs=weight)
        grad[(slice(None), slice(None), *sl)] += g
    crop = [slice(pad[2 * (2 - k)], pad[2 * (2 - k)] + size[k]) for k in range(3)]
    return grad[(slice(None), slice(None), *crop)]


def smooth_noise(size, generator):
    """Uniform noise at a quarter of the resolution, trilinearly upsampled: CT-like smooth
    structure, so that predicted regions are compact and few voxels sit on a class boundary."""
    coarse = torch.rand(1, 1, *[max(2, s // 4) for s in size], generator=generator, dtype=torch.float64)
    return F.interpolate(coarse, size=size, mode="trilinear", align_corners=True)


def smallest_margin(logits, c):
    """Smallest |z_c - max_{k != c} z_k| over voxels: how far every voxel is from changing
    whether it is predicted as c."""
    others = torch.cat([logits[:, :c], logits[:, c + 1:]], 1).amax(1)
    return (logits[:, c] - others).abs().min().item()


VARIANTS = {
    "instance": dict(
        arguments={"spatial_dims": 3, "in_channels": 1, "out_channels": 5, "features": [6, 8, 8, 12, 16, 6],
                   "act": ["LeakyReLU", {"negative_slope": 0.1, "inplace": True}],
                   "norm": ["instance", {"affine": True}], "bias": True, "dropout": 0.0, "upsample": "deconv"},
        classes=["background", "liver", "spleen", "kidney", "bone"], seed=1,
        # Instance norm needs more than one voxel per channel at the bottom level: ROI 32.
        inference={"roi_size": [32, 32, 32], "overlap": 0.25}, direct=[33, 18, 20], window=[36, 34, 20]),
    "batch": dict(
        arguments={"spatial_dims": 3, "in_channels": 1, "out_channels": 3, "features": [4, 6, 8, 10, 12, 4],
                   "act": ["PReLU", {"init": 0.2}], "norm": "batch", "bias": False, "dropout": 0.1,
                   "upsample": "deconv"},
        classes=["background", "organ", "vessel"], seed=2,
        inference={"roi_size": [16, 16, 16], "overlap": 0.25}, direct=[17, 18, 20], window=[24, 20, 12]),
}
PREPROCESSING = {"orientation": "RAS", "spacing": [1.5, 1.5, 1.5],
                 "intensity": {"a_min": -1024, "a_max": 1024, "b_min": 0.0, "b_max": 1.0, "clip": True}}


def make_variant(name: str, spec: dict) -> None:
    seed = spec["seed"]
    inference = spec["inference"]
    roi, overlap = inference["roi_size"], inference["overlap"]
    # Re-draw until the target class covers between 5% and 90% of the input and no voxel is within 5e-6 * max|logit| of flipping in or out of the target
    # class (several times the float32 error of the Swift logits), so that rounding cannot change a mask.
    while True:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = build_basic_unet(spec["arguments"])
        randomise(net, gen)
        net.eval()
        ref = build_basic_unet(spec["arguments"]).double().eval()
        ref.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in net.state_dict().items()})
        # Rounded to float32 first: the references are for exactly the stored inputs.
        direct_input = smooth_noise(spec["direct"], gen).float().double()
        window_input = smooth_noise(spec["window"], gen).float().double()
        with torch.no_grad():
            direct_logits = ref(direct_input)
            window_logits = sliding_window_inference(window_input, roi, 1, ref, overlap=overlap, mode="constant")
        counts = torch.bincount(direct_logits.argmax(1).flatten(), minlength=len(spec["classes"]))
        counts[0] = 0 if counts[1:].sum() > 0 else counts[0]
        c = int(counts.argmax())
        margins = [smallest_margin(direct_logits, c)]
        pad = (roi[2] - spec["window"][2]) // 2
        padded = F.pad(window_input, [pad, pad, 0, 0, 0, 0])
        image = list(padded.shape[2:])
        with torch.no_grad():
            for sl in dense_patch_slices(image, roi, _get_scan_interval(image, roi, 3, (overlap,) * 3)):
                margins.append(smallest_margin(ref(padded[(slice(None), slice(None), *sl)]), c))
        scale = max(direct_logits.abs().max().item(), window_logits.abs().max().item())
        print(f"{name}: seed {seed}, class {c}, smallest margin / max|logit| = {min(margins) / scale:.2e}", flush=True)
        share = counts[c].item() / direct_logits[0, 0].numel()
        if min(margins) > 5e-6 * scale and 0.05 < share < 0.9:
            break
        seed += 100
    # Gradients come from the float32 network, as users run it: a gradient through LeakyReLU /
    # PReLU kinks is discontinuous, and a hidden pre-activation within rounding of zero can take
    # the other branch in float64 (seen here: 0.3% relative L2 in one window).
    direct_gradient = segment_target_gradient(net, direct_input.float(), c)
    stitched = window_logits.argmax(1)[0]
    grad_sum = window_gradient(net, window_input.float(), roi, overlap, c, "sum")
    grad_weighted = window_gradient(net, window_input.float(), roi, overlap, c, "prob-weighted", fixed_mask=stitched)

    out_dir = os.path.join(HERE, "network", name)
    export_model_directory(net, spec["arguments"], spec["classes"], PREPROCESSING, inference, out_dir)
    expected = {
        "direct_input": direct_input[0], "direct_logits": direct_logits[0],
        "direct_labels": direct_logits.argmax(1)[0].int(), "direct_gradient": direct_gradient[0],
        "window_input": window_input[0], "window_logits": window_logits[0],
        "window_gradient_sum": grad_sum[0], "window_gradient_weighted": grad_weighted[0],
    }
    expected = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in expected.items()}
    save_file(expected, os.path.join(out_dir, "expected.safetensors"),
              metadata={"target_class": str(c), "seed": str(seed)})
    print(f"{name}: seed {seed}, max |logit| {direct_logits.abs().max().item():.3f}, target class {c}, min margin {min(margins):.4f}, "
          f"predicted counts {counts.tolist()}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    for variant_name, variant in VARIANTS.items():
        make_variant(variant_name, variant)
