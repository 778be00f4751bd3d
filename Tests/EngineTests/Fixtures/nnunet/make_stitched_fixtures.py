"""Input gradients of segment targets through nnU-Net's sliding window, in PyTorch (float64,
autograd), for the `plain` fixture folder (PlainConvUNet, two folds, patch 8×16×16):

    python3 make_stitched_fixtures.py     # writes expected_stitched.safetensors beside this script

The blending is nnU-Net's (nnunetv2 2.8.1 `predict_sliding_window_return_logits`): the input is
zero-padded to the patch with `pad_nd_image` (diff // 2 below), tiles start at
`compute_steps_for_sliding_window(step 0.5)`, every tile's logits (mean of the two folds) are
weighted by `compute_gaussian(patch, 1/8, 10)` (its float16 values) and the sum is divided by the
summed weights, then the padding is removed. nnU-Net runs this under no_grad; here the same steps
run with autograd in float64.

Input [1, 6, 27, 22]: axis 0 shorter than the patch (padded, one tile), axes 1 and 2 overlapped
(3 × 2 tiles). Mask = argmax of the stitched logits.

Saved: input, mask, logits (stitched [K, D, H, W]), and d/d input of
* grad_sum:        T = Σ_{v∈M_1} Z_1(v)                                  (stitched, sum rule)
* grad_prob:       T = Σ_{v∈M_1} p̄_1(v) Z_1(v), p̄ = softmax(Z)_1 / Σ_M softmax(Z)_1, held constant
* grad_perwindow:  Σ_tiles d/dx Σ_{v∈M_1∩tile} z_tile,1(v)               (per-window, sum rule, padding
                   outside the mask; no Gaussian)
"""
import copy
import os

import torch
from safetensors.torch import save_file

from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
import json

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.join(HERE, "plain", "nnUNetTrainer__nnUNetPlans__3d_fullres")
SHAPE = [6, 27, 22]
CLASS = 1


def networks():
    with open(os.path.join(FOLDER, "plans.json")) as f:
        plans = PlansManager(json.load(f))
    config = plans.get_configuration("3d_fullres")
    nets = []
    for fold in (0, 1):
        ckpt = torch.load(os.path.join(FOLDER, f"fold_{fold}", "checkpoint_final.pth"), map_location="cpu",
                          weights_only=False)
        net = get_network_from_plans(config.network_arch_class_name, config.network_arch_init_kwargs,
                                     config.network_arch_init_kwargs_req_import, 1, 3, allow_init=False,
                                     deep_supervision=False)
        net.load_state_dict(ckpt["network_weights"])
        nets.append(copy.deepcopy(net).double().eval())
    return nets, list(config.patch_size)


def tiles(shape, patch):
    padded = [max(s, p) for s, p in zip(shape, patch)]
    below = [(p - s) // 2 for s, p in zip(shape, padded)]
    steps = compute_steps_for_sliding_window(padded, patch, 0.5)
    starts = [(a, b, c) for a in steps[0] for b in steps[1] for c in steps[2]]
    return padded, below, starts


def pad(x, shape, padded, below):
    out = torch.zeros([x.shape[0]] + padded, dtype=x.dtype)
    out[:, below[0]:below[0] + shape[0], below[1]:below[1] + shape[1], below[2]:below[2] + shape[2]] = x
    return out


def crop(x, shape, below):
    return x[:, below[0]:below[0] + shape[0], below[1]:below[1] + shape[1], below[2]:below[2] + shape[2]]


def main():
    torch.set_num_threads(1)
    nets, patch = networks()
    g = torch.Generator().manual_seed(21)
    x = torch.randn([1] + SHAPE, generator=g, dtype=torch.float64)
    padded, below, starts = tiles(SHAPE, patch)
    gauss = compute_gaussian(tuple(patch), sigma_scale=1. / 8, value_scaling_factor=10,
                             device=torch.device("cpu")).double()

    def tile_logits(t):
        return sum(n(t[None])[0] for n in nets) / len(nets)

    def stitched(inp):
        xp = pad(inp, SHAPE, padded, below)
        acc = torch.zeros([3] + padded, dtype=torch.float64)
        cnt = torch.zeros(padded, dtype=torch.float64)
        for s in starts:
            sl = tuple(slice(s[d], s[d] + patch[d]) for d in range(3))
            acc[(slice(None),) + sl] = acc[(slice(None),) + sl] + tile_logits(xp[(slice(None),) + sl]) * gauss
            cnt[sl] += gauss
        return crop(acc / cnt, SHAPE, below)

    with torch.no_grad():
        z = stitched(x)
    mask = z.argmax(0)
    m = (mask == CLASS).double()

    xs = x.clone().requires_grad_(True)
    t_sum = (stitched(xs)[CLASS] * m).sum()
    (grad_sum,) = torch.autograd.grad(t_sum, xs)

    p = torch.softmax(z, 0)[CLASS] * m
    p = p / p.sum()
    xs = x.clone().requires_grad_(True)
    (grad_prob,) = torch.autograd.grad((stitched(xs)[CLASS] * p).sum(), xs)

    xs = x.clone().requires_grad_(True)
    xp = pad(xs, SHAPE, padded, below)
    mp = pad(m[None], SHAPE, padded, below)[0]
    total = 0
    for s in starts:
        sl = tuple(slice(s[d], s[d] + patch[d]) for d in range(3))
        total = total + (tile_logits(xp[(slice(None),) + sl])[CLASS] * mp[sl]).sum()
    (grad_window,) = torch.autograd.grad(total, xs)

    save_file({"input": x.float().contiguous(), "mask": mask.float().contiguous(), "logits": z.float().contiguous(),
               "grad_sum": grad_sum.float().contiguous(), "grad_prob": grad_prob.float().contiguous(),
               "grad_perwindow": grad_window.float().contiguous(),
               "target_sum": torch.tensor([float(t_sum.detach())], dtype=torch.float64),
               "tiles": torch.tensor(starts, dtype=torch.int64)},
              os.path.join(HERE, "expected_stitched.safetensors"))
    print("tiles", starts, "mask voxels", int(m.sum()), "T", float(t_sum.detach()))


if __name__ == "__main__":
    main()
