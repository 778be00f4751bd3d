#!/usr/bin/env python3
"""Parity fixtures for the Swift MONAI UNet and SegResNet, produced by MONAI 1.6.1 itself.

Network cases (weights generated, not stored): every state_dict tensor comes from its key by the
counter-based hash of ../swin/make_swin_fixtures.py (`hashed_uniform`, reimplemented in the Swift
test), with the per-key scale and offset of `recipe_for`. The input is a real CT crop of
SampleData/example_ct.nii.gz (HU windowed [-1024, 1024] → [0, 1]), stored: 32³ voxels for
unet_default, whose four stride-2 levels leave a 2×2×2 bottom (a 16×32×32 crop leaves 1×2×2,
where instance norm over four voxels puts MONAI's own float32 gradient 1e-3 from float64's),
16×32×32 for the others.
<case>.json holds model.json, the input shape, the recipe and MONAI's floating-point state_dict
keys and shapes; <case>.safetensors holds, in float32 on one thread:
    input      the network input [1, 16, 32, 32]
    logits     net(input)[0]
    gradient   d/d input of the sum of class-1 logits over the voxels MONAI predicts as class 1

    unet_default      channels (16, 32, 64, 128, 256), strides 2×4, num_res_units 2 (INSTANCE, PRELU)
    unet_batch        channels (8, 16, 32), strides (2, (1, 2, 2)), no residual units, BATCH norm,
                      kernel_size 5, bias False: the plain-Convolution path and conv_only at the top
    segresnet_default SegResNet() with init_filters 8: blocks (1, 2, 2, 4) / (1, 1, 1), GROUP 8,
                      trilinear upsampling
    segresnet_deconv  init_filters 4, blocks (1, 2, 1) / (1, 0), GROUP 2 (eps 1e-4), LeakyReLU 0.1,
                      deconv upsampling, no final convolution (4 output channels)

ops.safetensors: single ops against PyTorch on hashed inputs, with a hashed cotangent `dy`:
GroupNorm(3 groups, 6 channels, affine), F.interpolate(×2, trilinear, align_corners=False) and
ConvTranspose3d(3 → 2, k3, s2, p1, output_padding 1), each `<op>_y` and `<op>_dx` = d(sum(y·dy))/dx.

tiny_unet/ and tiny_segresnet/: small model directories for the command-line tests (model.json,
model.safetensors, and the same weights as a torch.save checkpoint model.pth; the UNet uses batch
norm, so the checkpoint also carries int64 num_batches_tracked buffers), plus ct.nii.gz,
a 40×36×24 crop of the sample CT at its own 3 mm RAS grid (so preprocessing only windows it),
and <model>_labels.safetensors: the argmax of monai.inferers.sliding_window_inference over it
(roi 16³, overlap 0.25, constant blending) as uint8 labels [I, J, K].

Run from this directory:  python3 make_monai_fixtures.py
"""
from __future__ import annotations

import json
import os
import shutil

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import sliding_window_inference
from monai.networks.nets import SegResNet, UNet
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_CT = os.path.join(HERE, "../../../../SampleData/example_ct.nii.gz")
MASK64 = (1 << 64) - 1
WINDOW = {"a_min": -1024, "a_max": 1024, "b_min": 0, "b_max": 1, "clip": True}


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
    """(scale, offset) of a state_dict entry: norm scales around 1, running variances positive,
    PReLU slopes around 0.25, convolutions ~ 1/√(size of one output row); the norms after most
    convolutions make the exact scale unimportant."""
    if key.endswith("running_var"):
        return 0.5, 1.0
    if key.endswith("adn.A.weight"):
        return 0.1, 0.25
    if len(shape) == 1:
        if key.endswith("weight"):
            return 0.3, 1.0
        return 0.1, 0.0
    return 1.0 / np.sqrt(int(np.prod(shape[1:]))), 0.0


def ct_crop(start, size) -> np.ndarray:
    image = nib.load(SAMPLE_CT)
    data = np.asarray(image.dataobj, dtype=np.float32)
    i, j, k = start
    return data[i:i + size[0], j:j + size[1], k:k + size[2]]


def windowed(hu: np.ndarray) -> np.ndarray:
    return np.clip((hu + 1024.0) / 2048.0, 0.0, 1.0).astype(np.float32)


def randomise(net: torch.nn.Module) -> tuple[dict, list]:
    recipe, state, keys = {}, {}, []
    for key, value in net.state_dict().items():
        if not value.is_floating_point():
            state[key] = value
            continue
        scale, offset = recipe_for(key, list(value.shape))
        recipe[key] = [float(scale), float(offset)]
        keys.append([key, list(value.shape)])
        state[key] = hashed_tensor(key, list(value.shape), scale, offset)
    net.load_state_dict(state)
    return recipe, keys


def build(architecture: str, arguments: dict) -> torch.nn.Module:
    def convert(v):
        return tuple(convert(x) for x in v) if isinstance(v, list) else v
    kwargs = {k: convert(v) for k, v in arguments.items()}
    return (UNet if architecture == "UNet" else SegResNet)(**kwargs).eval()


def model_json(architecture: str, arguments: dict, classes: int, spacing: float, roi: list[int], overlap: float,
               weights: str | None = None) -> dict:
    model = {"format": "agg2exp-model/1", "architecture": architecture, "arguments": arguments,
             "classes": ["background"] + [f"class{c}" for c in range(1, classes)],
             "preprocessing": {"orientation": "RAS", "spacing": [spacing] * 3, "intensity": WINDOW},
             "inference": {"roi_size": roi, "overlap": overlap}, "monai_version": "1.6.1"}
    if weights:
        model["weights"] = weights
    return model


def make_case(name: str, architecture: str, arguments: dict, classes: int, crop: np.ndarray) -> None:
    torch.manual_seed(0)
    net = build(architecture, arguments)
    recipe, keys = randomise(net)
    x = torch.from_numpy(windowed(crop))[None, None].requires_grad_(True)
    logits = net(x)
    predicted = logits.argmax(dim=1)
    target = (logits[:, 1] * (predicted == 1)).sum()
    (gradient,) = torch.autograd.grad(target, x)
    shape = list(crop.shape)
    doc = {"model": model_json(architecture, arguments, classes, 1.5, shape, 0.0), "input_shape": [1] + shape,
           "recipe": recipe, "state_dict": keys,
           "reference": f"monai {__import__('monai').__version__}, torch {torch.__version__}, float32, 1 thread"}
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    save_file({"input": x.detach()[0].contiguous(), "logits": logits.detach()[0].contiguous(),
               "gradient": gradient[0].contiguous()}, os.path.join(HERE, f"{name}.safetensors"))
    print(name, "logits", tuple(logits.shape), "max|logit|", float(logits.detach().abs().max()),
          "class-1 voxels", int((predicted == 1).sum()), "|grad|", float(gradient.norm()))


def make_ops() -> None:
    out = {}
    x = hashed_tensor("gn_x", [1, 6, 3, 4, 5], 1.0, 0.3).requires_grad_(True)
    weight, bias = hashed_tensor("gn_weight", [6], 0.3, 1.0), hashed_tensor("gn_bias", [6], 0.1, 0.0)
    y = F.group_norm(x, 3, weight, bias, eps=1e-5)
    out["groupnorm_y"], out["groupnorm_dx"] = y, grad(y, x, "gn_dy")
    x = hashed_tensor("up_x", [1, 2, 3, 4, 5], 1.0, 0.0).requires_grad_(True)
    y = F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=False)
    out["upsample_y"], out["upsample_dx"] = y, grad(y, x, "up_dy")
    x = hashed_tensor("deconv_x", [1, 3, 3, 4, 2], 1.0, 0.0).requires_grad_(True)
    w, b = hashed_tensor("deconv_weight", [3, 2, 3, 3, 3], 0.2, 0.0), hashed_tensor("deconv_bias", [2], 0.1, 0.0)
    y = F.conv_transpose3d(x, w, b, stride=2, padding=1, output_padding=1)
    out["deconv_y"], out["deconv_dx"] = y, grad(y, x, "deconv_dy")
    save_file({k: v.detach()[0].contiguous() for k, v in out.items()}, os.path.join(HERE, "ops.safetensors"))


def grad(y: torch.Tensor, x: torch.Tensor, key: str) -> torch.Tensor:
    dy = hashed_tensor(key, list(y.shape), 1.0, 0.0)
    (dx,) = torch.autograd.grad((y * dy).sum(), x)
    return dx


def make_tiny(name: str, architecture: str, arguments: dict, classes: int, scan: nib.Nifti1Image) -> None:
    torch.manual_seed(0)
    net = build(architecture, arguments)
    randomise(net)
    directory = os.path.join(HERE, name)
    os.makedirs(directory, exist_ok=True)
    state = {k: v.contiguous() for k, v in net.state_dict().items() if v.is_floating_point()}
    save_file(state, os.path.join(directory, "model.safetensors"))
    torch.save(net.state_dict(), os.path.join(directory, "model.pth"))
    with open(os.path.join(directory, "model.json"), "w") as f:
        json.dump(model_json(architecture, arguments, classes, 3.0, [16, 16, 16], 0.25), f, indent=1, sort_keys=True)
        f.write("\n")
    image = torch.from_numpy(windowed(np.asarray(scan.dataobj, dtype=np.float32)))[None, None]
    with torch.no_grad():
        logits = sliding_window_inference(image, [16, 16, 16], 1, net, overlap=0.25, mode="constant")
    labels = logits.argmax(dim=1)[0].to(torch.uint8)
    save_file({"labels": labels.contiguous()}, os.path.join(HERE, f"{name}_labels.safetensors"))
    print(name, "labels", tuple(labels.shape), "counts", torch.bincount(labels.flatten().long()).tolist())


def main() -> None:
    torch.set_num_threads(1)
    crop = ct_crop((40, 30, 50), (16, 32, 32))
    make_case("unet_default", "UNet", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2,
                                       "channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2],
                                       "num_res_units": 2}, 2, ct_crop((40, 30, 50), (32, 32, 32)))
    make_case("unet_batch", "UNet", {"spatial_dims": 3, "in_channels": 1, "out_channels": 3, "channels": [8, 16, 32],
                                     "strides": [2, [1, 2, 2]], "kernel_size": 5, "norm": "BATCH", "bias": False},
              3, crop)
    make_case("segresnet_default", "SegResNet", {"init_filters": 8, "in_channels": 1, "out_channels": 2}, 2, crop)
    make_case("segresnet_deconv", "SegResNet",
              {"init_filters": 4, "blocks_down": [1, 2, 1], "blocks_up": [1, 0], "upsample_mode": "deconv",
               "norm": ["GROUP", {"num_groups": 2, "eps": 1e-4}], "act": ["LEAKYRELU", {"negative_slope": 0.1}],
               "use_conv_final": False}, 4, crop)
    make_ops()

    source = nib.load(SAMPLE_CT)
    start = np.array([40, 30, 44])
    data = np.asarray(source.dataobj)[40:80, 30:66, 44:68]
    affine = source.affine.copy()
    affine[:3, 3] = source.affine[:3, :3] @ start + source.affine[:3, 3]
    scan = nib.Nifti1Image(data.astype(np.int16), affine)
    scan.header.set_xyzt_units("mm")
    nib.save(scan, os.path.join(HERE, "ct.nii.gz"))
    scan = nib.load(os.path.join(HERE, "ct.nii.gz"))
    make_tiny("tiny_unet", "UNet", {"spatial_dims": 3, "in_channels": 1, "out_channels": 3, "channels": [4, 8, 16],
                                    "strides": [2, 2], "norm": "BATCH"}, 3, scan)
    make_tiny("tiny_segresnet", "SegResNet", {"init_filters": 4, "blocks_down": [1, 1, 1], "blocks_up": [1, 1],
                                              "norm": ["GROUP", {"num_groups": 2}], "out_channels": 3}, 3, scan)


if __name__ == "__main__":
    main()
