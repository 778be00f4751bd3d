"""IG completeness of the stitched target in PyTorch float64, for comparison with
NNUNetAttributionTests.testIntegratedGradientsCompletenessByWindowTarget: the `plain` folder on the
input of make_stitched_fixtures.py, baseline = the input reversed, Gauss–Legendre with 16–128
nodes, mask fixed to the clean stitched argmax of class 1. Prints |Σ a − ΔT| / |ΔT| per node count.

    python3 ig_completeness_reference.py
"""
import numpy as np
import torch
from nnunetv2.inference.sliding_window_prediction import compute_gaussian

import make_stitched_fixtures as fixtures


def main():
    torch.set_num_threads(1)
    nets, patch = fixtures.networks()
    g = torch.Generator().manual_seed(21)
    x = torch.randn([1] + fixtures.SHAPE, generator=g, dtype=torch.float64)
    baseline = torch.from_numpy(x.numpy().ravel()[::-1].copy()).reshape(x.shape)
    padded, below, starts = fixtures.tiles(fixtures.SHAPE, patch)
    gauss = compute_gaussian(tuple(patch), sigma_scale=1. / 8, value_scaling_factor=10,
                             device=torch.device("cpu")).double()

    def stitched(inp):
        xp = fixtures.pad(inp, fixtures.SHAPE, padded, below)
        acc = torch.zeros([3] + padded, dtype=torch.float64)
        cnt = torch.zeros(padded, dtype=torch.float64)
        for s in starts:
            sl = tuple(slice(s[d], s[d] + patch[d]) for d in range(3))
            tile = sum(n(xp[(slice(None),) + sl][None])[0] for n in nets) / len(nets)
            acc[(slice(None),) + sl] = acc[(slice(None),) + sl] + tile * gauss
            cnt[sl] += gauss
        return fixtures.crop(acc / cnt, fixtures.SHAPE, below)

    with torch.no_grad():
        mask = (stitched(x).argmax(0) == fixtures.CLASS).double()
        delta = float((stitched(x)[fixtures.CLASS] * mask).sum() - (stitched(baseline)[fixtures.CLASS] * mask).sum())
    for nodes in (16, 32, 64, 128):
        t, w = np.polynomial.legendre.leggauss(nodes)
        total = 0.0
        for alpha, weight in zip((t + 1) / 2, w / 2):
            point = (baseline + alpha * (x - baseline)).requires_grad_(True)
            (grad,) = torch.autograd.grad((stitched(point)[fixtures.CLASS] * mask).sum(), point)
            total += weight * float((grad * (x - baseline)).sum())
        print(f"{nodes} nodes: |sum a - dT| / |dT| = {abs(total - delta) / abs(delta):.3e}")


if __name__ == "__main__":
    main()
