"""PyTorch checkpoint fixtures for PyTorchCheckpointTests (torch 2.x, CPU).

    python3 make_pth_fixtures.py      # writes the .pth files and expected.json beside this script

* dtypes.pth: {"state_dict": {"module.<name>": tensor}} with one tensor of every supported
  dtype, a transposed (strided) view, a slice with a storage offset, a Parameter and a
  torch.compile-style "_orig_mod." key; expected.json holds every value as torch reads it.
* nnunet_style.pth: nnU-Net's checkpoint layout (network_weights, trainer_name, init_args with a
  torch.device, NumPy float64 values in the training log, mirroring axes).
* top_level.pth: a bare state_dict.
* legacy.pth: the pre-1.6 non-zip format.
* os_system.pth / builtins_eval.pth: zip checkpoints whose data.pkl calls os.system / builtins.eval.
* short_storage.pth: a tensor of 12 elements whose storage file holds 8.
* huge_length.pth: a pickle whose BINBYTES8 length does not fit in Int.
* batch_model.pth: the weights of Fixtures/network/batch/model.safetensors as a DataParallel
  training checkpoint ({"state_dict": {"module.<key>": ...}, "epoch": ...}).
"""
import collections
import json
import os
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def out(name):
    return os.path.join(HERE, name)


def write_huge_length():
    """huge_length.pth: a BINBYTES8 whose 8-byte length, 0xFFFFFFFFFFFF0000, exceeds Int (a fuzzing find)."""
    payload = b"\x80\x02\x8e" + (0xFFFFFFFFFFFF0000).to_bytes(8, "little") + b"."
    with zipfile.ZipFile(out("huge_length.pth"), "w") as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl", date_time=(2020, 1, 1, 0, 0, 0)), payload)


def main():
    g = torch.Generator().manual_seed(7)
    base = torch.randn(3, 4, generator=g)
    tensors = {
        "f32": torch.randn(2, 3, generator=g),
        "f16": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 2, generator=g).bfloat16(),
        "f64": torch.randn(3, generator=g).double(),
        "i64": torch.tensor([[-3, 0], [2**40, 7]], dtype=torch.int64),
        "i32": torch.tensor([-(2**31), 5, 2**31 - 1], dtype=torch.int32),
        "transposed": base.t(),                    # strides (1, 4)
        "offset_slice": base[1:, 1:3],             # offset 5, strides (4, 1), shares base's storage
        "scalar": torch.tensor(2.5),
        "param": torch.nn.Parameter(torch.randn(2, generator=g)),
    }
    state = collections.OrderedDict(("module." + k, v) for k, v in tensors.items())
    state["_orig_mod.compiled.weight"] = torch.ones(1, 2)
    torch.save({"state_dict": state, "epoch": 3, "note": "fixture"}, out("dtypes.pth"))

    expected = {}
    for k, v in list(tensors.items()) + [("compiled.weight", state["_orig_mod.compiled.weight"])]:
        v = v.detach()
        floating = v.is_floating_point()
        expected[k] = {
            "shape": list(v.shape),
            "floating": floating,
            "values": (v.float().reshape(-1).tolist() if floating else v.reshape(-1).tolist()),
        }
    with open(out("expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)

    net = collections.OrderedDict([("encoder.w", torch.arange(6, dtype=torch.float32).reshape(2, 3))])
    torch.save({
        "network_weights": net,
        "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.01, "params": [0]}]},
        "grad_scaler_state": None,
        "logging": {"ema_fg_dice": [np.float64(0.25), np.float64(0.5)], "epoch_end_timestamps": [1.0]},
        "_best_ema": np.float64(0.75),
        "current_epoch": 1000,
        "init_args": {"configuration": "3d_fullres", "fold": 0, "device": torch.device("cpu")},
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": (0, 1, 2),
    }, out("nnunet_style.pth"))

    torch.save(collections.OrderedDict([("a", torch.tensor([1.0, -2.0]))]), out("top_level.pth"))
    torch.save({"a": torch.tensor([1.0])}, out("legacy.pth"), _use_new_zipfile_serialization=False)

    # Hand-written pickles (protocol 2): GLOBAL module\nname\n, an argument tuple, REDUCE.
    for name, module, function in [("os_system.pth", "os", "system"), ("builtins_eval.pth", "builtins", "eval")]:
        payload = b"\x80\x02c" + module.encode() + b"\n" + function.encode() + b"\nX\x04\x00\x00\x00true\x85R."
        with zipfile.ZipFile(out(name), "w") as z:
            z.writestr("archive/data.pkl", payload)
            z.writestr("archive/byteorder", "little")
            z.writestr("archive/version", "3\n")

    write_huge_length()

    torch.save({"w": torch.arange(12, dtype=torch.float32)}, out("full_storage.tmp"))
    with zipfile.ZipFile(out("full_storage.tmp")) as src, zipfile.ZipFile(out("short_storage.pth"), "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data/0"):
                data = data[: 8 * 4]
            dst.writestr(info.filename, data)
    os.remove(out("full_storage.tmp"))

    from safetensors.torch import load_file
    weights = load_file(os.path.join(HERE, "..", "network", "batch", "model.safetensors"))
    torch.save({"state_dict": collections.OrderedDict(("module." + k, v) for k, v in weights.items()), "epoch": 1},
               out("batch_model.pth"))


if __name__ == "__main__":
    main()
