#!/usr/bin/env python3
"""Writes the seed corpus of the `pth` fuzz harness in Fuzz/corpus/pth/ (needs torch): a few tiny
torch.save checkpoints, whole, and their data.pkl pickles alone (the harness packs a pickle into a
zip with valid CRCs, so mutations of it reach the unpickler). Run from the repository root:
python3 Fuzz/make_pth_corpus.py"""
import collections
import io
import os
import zipfile

import numpy as np
import torch

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "pth")
os.makedirs(root, exist_ok=True)
torch.manual_seed(0)
seeds = {
    "state_dict": {"state_dict": collections.OrderedDict(
        [("module.conv.weight", torch.randn(2, 1, 1, 1, 1)), ("module.conv.bias", torch.zeros(2))]), "epoch": 3},
    "dtypes": {"f16": torch.ones(2, dtype=torch.float16), "bf16": torch.ones(2, dtype=torch.bfloat16),
               "f64": torch.arange(3, dtype=torch.float64), "i64": torch.arange(2), "i32": torch.arange(2, dtype=torch.int32),
               "strided": torch.arange(6.0).reshape(2, 3).t(), "offset": torch.arange(4.0)[1:]},
    "nnunet": {"network_weights": {"w": torch.ones(1)}, "trainer_name": "nnUNetTrainer",
               "init_args": {"device": torch.device("cpu")}, "log": [np.float64(0.5)], "axes": (0, 1, 2)},
    "top_level": collections.OrderedDict([("w", torch.full((2,), 2.0)), ("b", torch.tensor([1], dtype=torch.int64))]),
}
for name, obj in seeds.items():
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    with open(os.path.join(root, name + ".pth"), "wb") as f:
        f.write(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        pickle = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        with open(os.path.join(root, name + ".pkl"), "wb") as f:
            f.write(z.read(pickle))
