"""Reference outputs of MONAI `Spacing` (and `ScaleIntensityRange`) for the resampling tests.

Run from this directory: python3 make_spacing_reference.py  → spacing_reference.json
Inputs are tiny and analytic so the file stays small; values are rounded to 6 decimals.
"""
import json

import monai
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import ScaleIntensityRange, Spacing


def volume(dims):
    i, j, k = np.meshgrid(*[np.arange(d, dtype=np.float32) for d in dims], indexing="ij")
    return (np.sin(0.9 * i) * 100 + 7 * j * j - 13 * k + 0.5 * i * k).astype(np.float32)


def labels(dims):
    i, j, k = np.meshgrid(*[np.arange(d) for d in dims], indexing="ij")
    return ((i + 2 * j + 3 * k) % 5).astype(np.float32)


def rot(axis, deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    m = np.eye(3)
    a, b = [x for x in range(3) if x != axis]
    m[a, a], m[a, b], m[b, a], m[b, b] = c, -s, s, c
    return m


cases = []
specs = [
    ("axis_aligned_upsample", [6, 5, 4], np.diag([3.0, 3.0, 3.0]), [10.0, -20.0, 5.0], [1.5, 1.5, 1.5]),
    ("anisotropic_downsample", [7, 6, 5], np.diag([0.8, 0.8, 2.5]), [0.0, 0.0, 0.0], [1.3, 1.7, 1.0]),
    ("lps_flipped", [5, 6, 4], np.diag([-2.0, -1.5, 3.0]), [40.0, 30.0, -10.0], [1.0, 1.0, 2.0]),
    ("oblique", [6, 5, 5], rot(2, 25) @ rot(0, 10) @ np.diag([2.0, 1.5, 2.5]), [3.0, -4.0, 8.0], [1.2, 1.8, 1.6]),
]
for name, dims, lin, origin, pixdim in specs:
    affine = np.eye(4)
    affine[:3, :3] = lin
    affine[:3, 3] = origin
    img = MetaTensor(torch.from_numpy(volume(dims))[None], affine=torch.as_tensor(affine))
    lab = MetaTensor(torch.from_numpy(labels(dims))[None], affine=torch.as_tensor(affine))
    out = Spacing(pixdim=pixdim, mode="bilinear")(img)
    out_lab = Spacing(pixdim=pixdim, mode="nearest")(lab)
    cases.append({
        "name": name,
        "dims": dims,
        "affine": np.round(affine, 10).ravel().tolist(),
        "pixdim": pixdim,
        "input": [round(float(v), 6) for v in volume(dims).ravel(order="F")],
        "input_labels": [int(v) for v in labels(dims).ravel(order="F")],
        "out_dims": list(out.shape[1:]),
        "out_affine": np.round(out.affine.numpy(), 10).ravel().tolist(),
        "output": [round(float(v), 5) for v in out[0].numpy().ravel(order="F")],
        "output_labels": [int(v) for v in out_lab[0].numpy().ravel(order="F")],
    })

x = np.array([-1500.0, -1000.0, -200.0, 0.0, 40.0, 500.0, 3000.0], dtype=np.float32)
window = ScaleIntensityRange(a_min=-1000, a_max=1000, b_min=0.0, b_max=1.0, clip=True)(x)
noclip = ScaleIntensityRange(a_min=-175, a_max=250, b_min=-1.0, b_max=1.0, clip=False)(x)
json.dump({
    "monai": monai.__version__,
    "torch": torch.__version__,
    "spacing": cases,
    "window_input": x.tolist(),
    "window_clip_-1000_1000_0_1": [float(v) for v in np.asarray(window)],
    "window_noclip_-175_250_-1_1": [float(v) for v in np.asarray(noclip)],
}, open("spacing_reference.json", "w"))
print("wrote spacing_reference.json", [c["out_dims"] for c in cases])
