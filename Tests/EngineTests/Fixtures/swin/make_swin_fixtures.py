#!/usr/bin/env python3
"""Parity fixtures for the Swift SwinUNETR, produced by MONAI 1.6.1 itself (pip install monai einops).

A feature-size-12 SwinUNETR has 4.7 M parameters (19 MB as float32), too large to commit, so the
weights are not stored: every tensor is generated from its state_dict key by a counter-based hash
that the Swift test reimplements bit for bit (`hashed_uniform`), with a per-key scale and offset
listed in `recipe.json`. Norm affines and relative-position bias tables are randomised so that
they matter. Network inputs are generated the same way (key "input").

For each case this writes <case>.json (model.json contents, input shape, recipe) and
<case>.safetensors with float32 references computed by MONAI in float32 on one thread:
    logits     SwinUNETR(input)
    gradient   d/d input of the sum of class-1 logits over the voxels predicted as class 1
and, for the sliding-window case, `window_logits` from monai.inferers.sliding_window_inference.

Cases (ARCHITECTURES.md §1.7):
    v2_merging     use_v2, "merging" (MONAI >= 1.5), heads (3, 6, 12, 24), input 32x64x96: padding and
                   shifted windows (stages 1-2), a mixed clamp (4, 7, 7) with shift (0, 3, 3) (stage 3),
                   a full clamp (2, 4, 6) with the sliced-index quirk (stage 4), a 1x2x3 bottleneck.
                   The relative_position_index buffers stay in the file.
    v1_mergingv2   no v2 blocks, "mergingv2", heads (1, 2, 2, 4), no qkv bias, patch_norm, input 64x32x64.
    legacy         as v2_merging but with the MONAI <= 1.4 merging slot order ("monai_version": "1.4.0"),
                   input 32x64x64. MONAI 1.6.1's PatchMerging is patched with the legacy order of
                   ARCHITECTURES.md §1.4.8 (checked there against MONAI 1.3.2 and 1.4.0).
    window         v1_mergingv2's network on a 40x50x70 input, roi 32x32x64, overlap 0.25.

Run from this directory:  python3 make_swin_fixtures.py
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import SwinUNETR
from monai.networks.nets import swin_unetr as swin_module
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
MASK64 = (1 << 64) - 1


def fnv1a(text: str) -> int:
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def hashed_uniform(key: str, count: int) -> np.ndarray:
    """u_i in [0, 1): SplitMix64's finaliser of fnv1a(key) + (i + 1)·golden, top 24 bits."""
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a(key)) + (np.arange(count, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def hashed_tensor(key: str, shape, scale: float, offset: float) -> torch.Tensor:
    """offset + scale·(2u − 1), rounded once to float32."""
    count = int(np.prod(shape))
    values = (offset + scale * (2.0 * hashed_uniform(key, count) - 1.0)).astype(np.float32)
    return torch.from_numpy(values.reshape(shape))


def recipe_for(key: str, shape) -> tuple[float, float]:
    """(scale, offset) of a state_dict entry."""
    if key.endswith("relative_position_bias_table"):
        return 0.5, 0.0
    if len(shape) == 1:
        if "norm" in key and key.endswith("weight"):
            return 0.3, 1.0
        return 0.1, 0.0
    fan_in = int(np.prod(shape[1:]))
    if ".transp_conv." in key:
        fan_in = shape[0] * int(np.prod(shape[2:]))
    return 1.0 / np.sqrt(fan_in), 0.0


def legacy_patch_merging_forward(self, x):
    """MONAI <= 1.4 `PatchMerging.forward` for 3-D input (slot order of ARCHITECTURES.md §1.4.8)."""
    b, d, h, w, c = x.shape
    if (d % 2 == 1) or (h % 2 == 1) or (w % 2 == 1):
        x = torch.nn.functional.pad(x, (0, 0, 0, w % 2, 0, h % 2, 0, d % 2))
    x0 = x[:, 0::2, 0::2, 0::2, :]
    x1 = x[:, 1::2, 0::2, 0::2, :]
    x2 = x[:, 0::2, 1::2, 0::2, :]
    x3 = x[:, 0::2, 0::2, 1::2, :]
    x4 = x[:, 1::2, 0::2, 1::2, :]
    x5 = x[:, 0::2, 1::2, 0::2, :]
    x6 = x[:, 0::2, 0::2, 1::2, :]
    x7 = x[:, 1::2, 1::2, 1::2, :]
    x = torch.cat([x0, x1, x2, x3, x4, x5, x6, x7], -1)
    return self.reduction(self.norm(x))


def make_case(name: str, arguments: dict, input_shape: list[int], keep_index: bool, legacy: bool,
              window: dict | None = None) -> None:
    torch.manual_seed(0)
    net = SwinUNETR(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in arguments.items()}).eval()
    recipe = {}
    state = {}
    for key, value in net.state_dict().items():
        if not value.is_floating_point():
            state[key] = value
            continue
        scale, offset = recipe_for(key, list(value.shape))
        recipe[key] = [float(scale), float(offset)]
        state[key] = hashed_tensor(key, list(value.shape), scale, offset)
    net.load_state_dict(state)
    if legacy:
        for module in net.modules():
            if isinstance(module, swin_module.PatchMerging):
                module.forward = legacy_patch_merging_forward.__get__(module)
    x = hashed_tensor("input", [1, 1] + input_shape, 0.5, 0.5).requires_grad_(True)
    logits = net(x)
    predicted = logits.argmax(dim=1)
    target = (logits[:, 1] * (predicted == 1)).sum()
    (gradient,) = torch.autograd.grad(target, x)
    out = {"logits": logits.detach()[0].contiguous(), "gradient": gradient[0].contiguous()}
    inference = {"roi_size": input_shape, "overlap": 0.0}
    if window is not None:
        image = hashed_tensor("window_input", [1, 1] + window["image"], 0.5, 0.5)
        with torch.no_grad():
            stitched = sliding_window_inference(image, window["roi"], 1, net, overlap=window["overlap"], mode="constant")
        out["window_logits"] = stitched[0].contiguous()
        inference = {"roi_size": window["roi"], "overlap": window["overlap"]}
    model = {"format": "agg2exp-model/1", "architecture": "SwinUNETR", "arguments": arguments,
             "classes": ["background", "target"],
             "preprocessing": {"orientation": "RAS", "spacing": [1.5, 1.5, 1.5],
                               "intensity": {"a_min": -1024, "a_max": 1024, "b_min": 0, "b_max": 1, "clip": True}},
             "inference": inference}
    if legacy:
        model["monai_version"] = "1.4.0"
    doc = {"model": model, "input_shape": [1] + input_shape, "keep_index": keep_index, "recipe": recipe,
           "window_image": window["image"] if window else None,
           "reference": f"MONAI {swin_module.__name__} from monai {__import__('monai').__version__}, torch {torch.__version__}, float32, 1 thread"}
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    save_file(out, os.path.join(HERE, f"{name}.safetensors"), metadata={"predicted_target_voxels": str(int((predicted == 1).sum()))})
    print(name, "logits", tuple(logits.shape), "max|logit|", float(logits.abs().max()),
          "target voxels", int((predicted == 1).sum()), "|grad|", float(gradient.norm()))


def main() -> None:
    torch.set_num_threads(1)
    base = {"in_channels": 1, "out_channels": 2, "feature_size": 12}
    make_case("v2_merging", {**base, "num_heads": [3, 6, 12, 24], "use_v2": True, "downsample": "merging"},
              [32, 64, 96], keep_index=True, legacy=False)
    v1 = {**base, "num_heads": [1, 2, 2, 4], "use_v2": False, "downsample": "mergingv2", "qkv_bias": False,
          "patch_norm": True}
    make_case("v1_mergingv2", v1, [64, 32, 64], keep_index=False, legacy=False)
    make_case("legacy", {**base, "num_heads": [3, 6, 12, 24], "use_v2": True, "downsample": "merging"},
              [32, 64, 64], keep_index=False, legacy=True)
    make_case("window", v1, [32, 32, 64], keep_index=False, legacy=False,
              window={"image": [40, 50, 70], "roi": [32, 32, 64], "overlap": 0.25})


if __name__ == "__main__":
    main()
