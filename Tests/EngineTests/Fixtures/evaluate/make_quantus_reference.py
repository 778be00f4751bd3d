#!/usr/bin/env python3
"""Quantus reference for `agg2exp evaluate` (CLITests.ExplainCommandsTests.testEvaluateMatchesQuantus).

Writes, beside this script:
  ct.nii.gz     a 16^3 CT at the model's 1.5 mm spacing in RAS, so preprocessing is only the HU
                window and the model sees one sliding window (no padding, no blending)
  quantus.json  the CLI settings and, per (method, target), the three metrics as Quantus computes them

The model is the batch-norm BasicUNet parity fixture (../network/batch), rebuilt in MONAI from the same
safetensors and run in float64. Attributions are computed here with torch autograd, independently of
the engine: gradient, input x gradient, Integrated Gradients (official linspace scheme with both ends,
weights 1/m, zero baseline) and SmoothGrad (sigma = 0.1 (max x - min x)), each for the target
T_c(x) = sum of class-c logits over the clean predicted mask of c.

Quantus (pinned below) computes the metrics with the settings of the official benchmark:
  FaithfulnessCorrelation(nr_runs, subset_size, perturb_baseline="black", normalise=True, abs=False)
  AvgSensitivity(nr_samples, lower_bound=0.1, normalise=True, abs=False)   similarity difference, Frobenius norms
  EffectiveComplexity(eps=0.1, abs=True, normalise=True)
The model given to Quantus returns, per class k, T_k on that input's own argmax mask, as the
official wrapper does, so Quantus's Delta = T_c(x) - T_c(x_perturbed) uses the perturbed mask.

Mapping to the engine (everything else is Quantus's own code):
  - Random draws. Quantus draws subsets with np.random.choice and noise with np.random.uniform from
    numpy's global generator; the engine uses its seeded xoshiro256** (SeededGenerator). Quantus has no
    hook for the subsets, so both numpy calls are replayed here from a Python twin of SeededGenerator
    (same seed, same order: one subset per run, shared by every method and target; per sensitivity score
    a fresh generator, one uniform per voxel in C order per sample). The values Quantus then perturbs
    with, sums and correlates are its own.
  - EffectiveComplexity: Quantus returns the count; the engine reports count / voxels (METHOD.md 2.4).
  - Max-abs normalisation in FaithfulnessCorrelation: the engine skips it (Pearson is invariant to it).

Every input the faithfulness runs evaluate keeps each voxel's top logit at least MARGIN * max|logit|
above the second, so float32 rounding in the engine cannot flip a voxel of any argmax mask.

Run from this directory:  python3 make_quantus_reference.py
"""
from __future__ import annotations

import json
import os
import sys
from unittest import mock

import nibabel as nib
import numpy as np
import quantus
import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from make_network_fixtures import build_basic_unet  # noqa: E402

QUANTUS_VERSION = "0.6.0"
MODEL_DIR = os.path.join(HERE, "..", "network", "batch")
SIZE = 16
SPACING = 1.5
SEED = 42
RUNS = 20
SUBSET_SIZE = 400
SENSITIVITY_SAMPLES = 3
BOUND = 0.1
IG_STEPS = 4
SMOOTHGRAD_SAMPLES = 4
SMOOTHGRAD_NOISE = 0.1
METHODS = ["gradient", "input-x-gradient", "integrated-gradients", "smoothgrad"]
TARGETS = ["organ", "vessel"]
MARGIN = 2e-6
MASK64 = (1 << 64) - 1


class SeededGenerator:
    """Python twin of the engine's SeededGenerator (splitmix64 seeding, xoshiro256**)."""

    def __init__(self, seed: int):
        x = seed
        state = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            state.append(z ^ (z >> 31))
        self.s = state
        self.spare = None

    @staticmethod
    def _rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & MASK64

    def next(self) -> int:
        s = self.s
        result = (self._rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def uniform(self) -> float:
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)

    def index_below(self, n: int) -> int:
        limit = MASK64 - (MASK64 % n)
        while True:
            r = self.next()
            if r < limit:
                return r % n

    def normal(self) -> float:
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        u1 = self.uniform()
        while u1 <= 0:
            u1 = self.uniform()
        u2 = self.uniform()
        r = np.sqrt(-2 * np.log(u1))
        self.spare = r * np.sin(2 * np.pi * u2)
        return r * np.cos(2 * np.pi * u2)

    def sample(self, k: int, n: int) -> list[int]:
        """k distinct indices of 0..<n by partial Fisher-Yates (the engine's order)."""
        swapped: dict[int, int] = {}
        out = []
        for i in range(k):
            j = i + self.index_below(n - i)
            vj = swapped.get(j, j)
            vi = swapped.get(i, i)
            swapped[j] = vi
            out.append(vj)
        return out


def load_model():
    with open(os.path.join(MODEL_DIR, "model.json")) as f:
        doc = json.load(f)
    net = build_basic_unet(doc["arguments"]).double().eval()
    state = load_file(os.path.join(MODEL_DIR, "model.safetensors"))
    net.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in state.items()})
    return net, doc


class OwnMaskTargets(torch.nn.Module):
    """[B, C] with T_k(x) = sum of class-k logits over x's own argmax mask (the official wrapper)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        z = self.net(x.double())
        onehot = torch.nn.functional.one_hot(z.argmax(1), z.shape[1]).permute(0, 4, 1, 2, 3).to(z.dtype)
        return (z * onehot).sum(dim=(2, 3, 4))


def fixed_mask_gradient(net, x, c, mask):
    """d/dx of sum_{v: mask(v) = c} z_c(v) at x ([1, 1, D, H, W] float64)."""
    x = x.clone().requires_grad_(True)
    z = net(x)
    (g,) = torch.autograd.grad(z[:, c], x, grad_outputs=(mask == c).to(z.dtype)[None])
    return g.detach()


def attribute(method: str, net, x32: np.ndarray, c: int, mask: torch.Tensor) -> np.ndarray:
    """The method's map for one float32 input [1, 1, D, H, W]; float64 maths on float32 inputs."""
    x = torch.from_numpy(x32.astype(np.float64))
    if method == "gradient":
        a = fixed_mask_gradient(net, x, c, mask)
    elif method == "input-x-gradient":
        a = x * fixed_mask_gradient(net, x, c, mask)
    elif method == "integrated-gradients":
        total = torch.zeros_like(x)
        for alpha in np.linspace(0, 1, IG_STEPS):
            total += fixed_mask_gradient(net, alpha * x, c, mask)
        a = x * total / IG_STEPS
    elif method == "smoothgrad":
        sigma = SMOOTHGRAD_NOISE * float(x32.max() - x32.min())
        rng = SeededGenerator(SEED)
        flat = x32.reshape(-1)
        total = torch.zeros_like(x)
        for _ in range(SMOOTHGRAD_SAMPLES):
            noise = np.array([np.float32(sigma * rng.normal()) for _ in range(flat.size)], dtype=np.float32)
            noisy = (flat + noise).reshape(x32.shape)
            total += fixed_mask_gradient(net, torch.from_numpy(noisy.astype(np.float64)), c, mask)
        a = total / SMOOTHGRAD_SAMPLES
    else:
        raise ValueError(method)
    return a.numpy()


def smallest_margin(logits: torch.Tensor) -> float:
    top2 = logits.topk(2, dim=1).values
    return float((top2[:, 0] - top2[:, 1]).min())


def make_scan(seed: int) -> np.ndarray:
    """Smooth noise quantised to 1/4096 of the HU window, so HU and the preprocessed input are exact in float32."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, 4, 4, 4, generator=gen, dtype=torch.float64)
    fine = torch.nn.functional.interpolate(coarse, size=(SIZE,) * 3, mode="trilinear", align_corners=True)
    q = np.round(fine[0, 0].numpy() * 4096) / 4096
    return (q * 2048 - 1024).astype(np.float32)


def main() -> None:
    assert quantus.__version__ == QUANTUS_VERSION, f"needs quantus=={QUANTUS_VERSION}, found {quantus.__version__}"
    net, doc = load_model()
    classes = doc["classes"]
    intensity = doc["preprocessing"]["intensity"]
    n = SIZE ** 3
    subsets = (lambda rng: [rng.sample(SUBSET_SIZE, n) for _ in range(RUNS)])(SeededGenerator(SEED))

    for scan_seed in range(1000):
        hu = make_scan(scan_seed)
        x32 = np.clip((hu - intensity["a_min"]) / (intensity["a_max"] - intensity["a_min"]), 0, 1).astype(np.float32)
        x = torch.from_numpy(x32.astype(np.float64))[None, None]
        with torch.no_grad():
            z = net(x)
            counts = torch.bincount(z.argmax(1).flatten(), minlength=len(classes))
            if any(counts[classes.index(t)] < 0.05 * n for t in TARGETS):
                continue
            scale = float(z.abs().max())
            margins = [smallest_margin(z)]
            base = x32.min()
            for subset in subsets:
                if min(margins) <= MARGIN * scale:
                    break
                xp = x32.reshape(-1).copy()
                xp[subset] = base
                margins.append(smallest_margin(net(torch.from_numpy(xp.reshape(x32.shape).astype(np.float64))[None, None])))
        if min(margins) > MARGIN * scale:
            break
    else:
        raise SystemExit("no scan seed gives a stable prediction")
    print(f"scan seed {scan_seed}: class counts {counts.tolist()}, smallest margin {min(margins) / scale:.2e} of max|logit|")

    affine = np.diag([SPACING, SPACING, SPACING, 1.0])
    affine[:3, 3] = [-10.0, 5.0, 3.0]
    image = nib.Nifti1Image(hu, affine)
    image.header.set_xyzt_units("mm")
    nib.save(image, os.path.join(HERE, "ct.nii.gz"))

    mask = z.argmax(1)[0]
    x_batch = x32[None, None]
    wrapper = OwnMaskTargets(net).eval()

    def choice_replay():
        it = iter(subsets)
        return lambda *args, **kwargs: np.array(next(it))

    results = []
    for target in TARGETS:
        c = classes.index(target)
        y_batch = np.array([c])
        for method in METHODS:
            a = attribute(method, net, x_batch, c, mask)
            # Voxels whose normalised |a| is within 1e-4 of the 0.1 threshold may fall either side of it in
            # the engine's float32 map; the test allows the count to differ by at most that many.
            near = int((np.abs(np.abs(a) / np.abs(a).max() - 0.1) <= 1e-4).sum())
            with mock.patch("numpy.random.choice", side_effect=choice_replay()):
                faithfulness = quantus.FaithfulnessCorrelation(
                    nr_runs=RUNS, subset_size=SUBSET_SIZE, perturb_baseline="black", normalise=True, abs=False,
                    return_aggregate=False, disable_warnings=True)(
                    model=wrapper, x_batch=x_batch, y_batch=y_batch, a_batch=a, channel_first=True, device="cpu")[0]

            rng = SeededGenerator(SEED)

            def uniform_replay(low, high, size):
                assert (low, high) == (-BOUND, BOUND)
                return np.array([(2 * rng.uniform() - 1) * BOUND for _ in range(int(np.prod(size)))]).reshape(size)

            def explain(model, inputs, targets, **kwargs):
                return np.concatenate([attribute(method, net, inputs[i:i + 1].astype(np.float32), int(t), mask)
                                       for i, t in enumerate(targets)])

            with mock.patch("numpy.random.uniform", side_effect=uniform_replay):
                sensitivity = quantus.AvgSensitivity(
                    nr_samples=SENSITIVITY_SAMPLES, lower_bound=BOUND, upper_bound=None, normalise=True, abs=False,
                    return_aggregate=False, disable_warnings=True)(
                    model=wrapper, x_batch=x_batch, y_batch=y_batch, a_batch=a, explain_func=explain,
                    channel_first=True, device="cpu")[0]
            count = quantus.EffectiveComplexity(eps=0.1, abs=True, normalise=True, return_aggregate=False,
                                                disable_warnings=True)(
                model=wrapper, x_batch=x_batch, y_batch=y_batch, a_batch=a, channel_first=True, device="cpu")[0]
            row = {"method": method, "target": target, "faithfulness": float(faithfulness),
                   "sensitivity": float(sensitivity), "complexity_count": int(count), "complexity_near_threshold": near,
                   "complexity": int(count) / n}
            print(row)
            results.append(row)

    out = {"quantus": QUANTUS_VERSION, "model": "network/batch", "scan": "ct.nii.gz",
           "arguments": ["--methods", ",".join(METHODS), "--targets", ",".join(TARGETS), "--runs", str(RUNS),
                         "--subset-size", str(SUBSET_SIZE), "--sensitivity-samples", str(SENSITIVITY_SAMPLES),
                         "--steps", str(IG_STEPS), "--samples", str(SMOOTHGRAD_SAMPLES), "--seed", str(SEED)],
           "voxels": n, "results": results}
    with open(os.path.join(HERE, "quantus.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
