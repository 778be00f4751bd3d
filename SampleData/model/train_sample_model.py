#!/usr/bin/env python3
"""Train and export the demonstration BasicUNet in SampleData/model.

The model is trained on the single bundled CT (SampleData/example_ct.nii.gz) against its
TotalSegmentator labels grouped into 15 classes. It exists so the explorer has a real network
to explain; it has seen its only test scan and is not meant for clinical or research use.

Preprocessing matches the engine exactly: the scan is already RAS at 3 mm, so only the
intensity window x = clip((HU + 1024) / 2048, 0, 1) is applied. The nibabel array (X, Y, Z)
becomes the tensor [1, 1, X, Y, Z].

Training has two phases. First random 64^3 crops (half of them centred on a voxel of a randomly
chosen foreground class, so small structures are seen often), which are cheap on a CPU. Then a
short phase on the whole scan padded to the inference window (128x112x112): instance
normalisation computes its statistics over the spatial extent, so finishing on the extent the
engine infers on removes the crop/whole-scan statistics mismatch. In that phase the pad offsets
are random (inference pads symmetrically, as MONAI's sliding window does). Intensities are
lightly scaled and shifted throughout. No flips: left and right are distinct classes' context.

Outputs (written atomically into --out-dir):
  model.safetensors          state_dict as F16
  model.json                 agg2exp-model/1 description
  label_groups.json          TotalSegmentator label id -> class index
  reference_prediction.nii.gz argmax of the F16 weights run in PyTorch (uint8, CT affine)
  reference_metrics.json     per-class Dice of that prediction and training statistics

Usage:
  nice -n 10 nohup python3 SampleData/model/train_sample_model.py > /tmp/agg2exp-train.log 2>&1 &
  python3 SampleData/model/train_sample_model.py --resume        # continue after a crash
  python3 SampleData/model/train_sample_model.py --export-only   # re-export from the checkpoint
"""

import argparse
import json
import os
import tempfile
import time

import nibabel as nib
import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.networks.nets import BasicUNet
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.dirname(HERE)

FEATURES = (16, 16, 32, 64, 128, 16)
ROI = (128, 112, 112)
OVERLAP = 0.25

# TotalSegmentator v2 "total" task names (totalsegmentator/map_to_binary.py, class_map["total"])
# for every label present in the bundled segmentation.
TS_NAMES = {
    1: "spleen", 2: "kidney_right", 3: "kidney_left", 4: "gallbladder", 5: "liver",
    6: "stomach", 7: "pancreas", 8: "adrenal_gland_right", 9: "adrenal_gland_left",
    10: "lung_upper_lobe_left", 11: "lung_lower_lobe_left", 14: "lung_lower_lobe_right",
    18: "small_bowel", 19: "duodenum", 20: "colon", 21: "urinary_bladder", 22: "prostate",
    25: "sacrum", 26: "vertebrae_S1", 27: "vertebrae_L5", 28: "vertebrae_L4",
    29: "vertebrae_L3", 30: "vertebrae_L2", 31: "vertebrae_L1", 32: "vertebrae_T12",
    33: "vertebrae_T11", 52: "aorta", 63: "inferior_vena_cava",
    64: "portal_vein_and_splenic_vein", 65: "iliac_artery_left", 66: "iliac_artery_right",
    67: "iliac_vena_left", 68: "iliac_vena_right", 75: "femur_left", 76: "femur_right",
    77: "hip_left", 78: "hip_right", 79: "spinal_cord", 80: "gluteus_maximus_left",
    81: "gluteus_maximus_right", 82: "gluteus_medius_left", 83: "gluteus_medius_right",
    84: "gluteus_minimus_left", 85: "gluteus_minimus_right", 86: "autochthon_left",
    87: "autochthon_right", 88: "iliopsoas_left", 89: "iliopsoas_right",
    98: "rib_left_7", 99: "rib_left_8", 100: "rib_left_9", 101: "rib_left_10",
    102: "rib_left_11", 103: "rib_left_12", 110: "rib_right_7", 111: "rib_right_8",
    112: "rib_right_9", 113: "rib_right_10", 114: "rib_right_11", 115: "rib_right_12",
    117: "costal_cartilages",
}

# Class index = position in this list. Labels not listed (gallbladder, pancreas, adrenals, lung
# bases, prostate, spinal cord, ribs, costal cartilages: small or only partly in the field of
# view) become background. vertebrae_S1 is the top of the sacrum, so it joins the pelvic bones.
GROUPS = [
    ("background", []),
    ("liver", [5]),
    ("spleen", [1]),
    ("kidney_left", [3]),
    ("kidney_right", [2]),
    ("stomach", [6]),
    ("bowel", [18, 19, 20]),
    ("urinary_bladder", [21]),
    ("vertebrae", [27, 28, 29, 30, 31, 32, 33]),
    ("pelvic_bones", [25, 26, 77, 78]),
    ("femurs", [75, 76]),
    ("great_vessels", [52, 63, 64, 65, 66, 67, 68]),
    ("autochthon", [86, 87]),
    ("iliopsoas", [88, 89]),
    ("gluteal_muscles", [80, 81, 82, 83, 84, 85]),
]
CLASSES = [name for name, _ in GROUPS]


def atomic_write(path, write):
    """Write through a temporary file in the same directory, then rename over `path`."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, obj):
    def w(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    atomic_write(path, w)


def load_data(ct_path, seg_path):
    ct = nib.load(ct_path)
    seg = nib.load(seg_path)
    if nib.aff2axcodes(ct.affine) != ("R", "A", "S"):
        raise SystemExit(f"{ct_path}: expected RAS orientation, found {nib.aff2axcodes(ct.affine)}")
    if not np.allclose(ct.header.get_zooms()[:3], (3.0, 3.0, 3.0), atol=1e-3):
        raise SystemExit(f"{ct_path}: expected 3 mm spacing, found {ct.header.get_zooms()[:3]}")
    if seg.shape != ct.shape or not np.allclose(seg.affine, ct.affine, atol=1e-4):
        raise SystemExit(f"{seg_path}: grid differs from {ct_path}")
    hu = ct.get_fdata(dtype=np.float64)
    x = np.clip((hu + 1024.0) / 2048.0, 0.0, 1.0).astype(np.float32)
    labels = np.asarray(seg.dataobj).astype(np.int64)
    present = sorted(int(v) for v in np.unique(labels) if v != 0)
    unknown = [v for v in present if v not in TS_NAMES]
    if unknown:
        raise SystemExit(f"{seg_path}: labels without a name in TS_NAMES: {unknown}")
    lut = np.zeros(labels.max() + 1, dtype=np.int64)
    for index, (_, ids) in enumerate(GROUPS):
        for i in ids:
            lut[i] = index
    grouped = lut[labels]
    missing = [CLASSES[c] for c in range(1, len(CLASSES)) if not (grouped == c).any()]
    if missing:
        raise SystemExit(f"{seg_path}: classes without voxels: {missing}")
    return ct, x, grouped, present, lut


def make_model():
    return BasicUNet(spatial_dims=3, in_channels=1, out_channels=len(CLASSES), features=FEATURES)


def predict(model, x):
    """Argmax of MONAI sliding-window inference, exactly as the engine runs it."""
    model.eval()
    with torch.no_grad():
        logits = sliding_window_inference(torch.from_numpy(x)[None, None], ROI, 1, model,
                                          overlap=OVERLAP, mode="constant")
    model.train()
    return logits[0].argmax(0).numpy()


def dice_per_class(pred, truth):
    out = {}
    for c in range(1, len(CLASSES)):
        p, t = pred == c, truth == c
        denom = p.sum() + t.sum()
        out[CLASSES[c]] = float(2.0 * (p & t).sum() / denom) if denom else 1.0
    return out


def augment_intensity(x, rng):
    return x * np.float32(rng.uniform(0.9, 1.1)) + np.float32(rng.uniform(-0.05, 0.05))


def random_crop(x, y, rng, size, class_voxels):
    """A size^3 crop; half the time centred on a voxel of a random foreground class."""
    if rng.random() < 0.5:
        voxels = class_voxels[int(rng.integers(len(class_voxels)))]
        centre = voxels[int(rng.integers(len(voxels)))]
        start = [int(np.clip(c - size // 2, 0, d - size)) for c, d in zip(centre, x.shape)]
    else:
        start = [int(rng.integers(0, d - size + 1)) for d in x.shape]
    sl = tuple(slice(s0, s0 + size) for s0 in start)
    xc = augment_intensity(x[sl], rng).astype(np.float32)
    return torch.from_numpy(xc)[None, None], torch.from_numpy(np.ascontiguousarray(y[sl]))[None, None]


def padded_window(x, y, rng):
    """The whole scan zero-padded to the ROI at a random offset, intensities augmented."""
    pads = []
    for dim, roi in zip(x.shape, ROI):
        diff = max(roi - dim, 0)
        lo = int(rng.integers(0, diff + 1))
        pads.append((lo, diff - lo))
    xp = np.pad(augment_intensity(x, rng), pads).astype(np.float32)
    yp = np.pad(y, pads)
    return torch.from_numpy(xp)[None, None], torch.from_numpy(yp)[None, None]


def train(args, x, y):
    ckpt_path = os.path.join(args.work_dir, "checkpoint.pt")
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    state = {"step": 0, "elapsed_s": 0.0, "best": -1.0, "best_step": 0, "history": []}
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        torch.set_rng_state(ck["torch_rng"])
        rng.bit_generator.state = ck["np_rng"]
        state = ck["state"]
        print(f"resumed at step {state['step']}", flush=True)

    def save_checkpoint():
        ck = {"model": model.state_dict(), "opt": opt.state_dict(), "torch_rng": torch.get_rng_state(),
              "np_rng": rng.bit_generator.state, "state": state}
        atomic_write(ckpt_path, lambda tmp: torch.save(ck, tmp))

    if min(x.shape) < args.crop:
        raise SystemExit(f"scan {x.shape} is smaller than the {args.crop}^3 crop")
    class_voxels = [np.argwhere(y == c) for c in range(1, len(CLASSES))]
    total = args.crop_steps + args.full_steps
    model.train()
    t0 = time.time() - state["elapsed_s"]
    while state["step"] < total:
        step = state["step"]
        lr = args.lr if step < args.lr_drop_step else args.lr_final
        for g in opt.param_groups:
            g["lr"] = lr
        if step < args.crop_steps:
            xb, yb = random_crop(x, y, rng, args.crop, class_voxels)
        else:
            xb, yb = padded_window(x, y, rng)
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        state["step"] = step + 1
        state["elapsed_s"] = time.time() - t0
        every = args.eval_every if state["step"] <= args.crop_steps else args.full_eval_every
        if state["step"] % every == 0 or state["step"] in (args.crop_steps, total):
            dice = dice_per_class(predict(model, x), y)
            mean = float(np.mean(list(dice.values())))
            state["history"].append({"step": state["step"], "loss": float(loss.detach()), "mean_dice": mean})
            if mean > state["best"]:
                state["best"], state["best_step"] = mean, state["step"]
                atomic_write(os.path.join(args.work_dir, "best.pt"),
                             lambda tmp: torch.save(model.state_dict(), tmp))
            print(f"step {state['step']} lr {lr:g} loss {float(loss.detach()):.4f} mean_fg_dice {mean:.4f} "
                  f"elapsed {state['elapsed_s'] / 60:.1f} min", flush=True)
            save_checkpoint()
    return state


def export(args, ct, x, y, present, lut, state):
    sd = torch.load(os.path.join(args.work_dir, "best.pt"), weights_only=True)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in sd.items()
               if not k.endswith("num_batches_tracked")}
    worst = max(float(v.abs().max()) for v in sd.values() if v.is_floating_point())
    if worst > 6.0e4:
        raise SystemExit(f"weights exceed the F16 range (max |w| = {worst})")
    out = args.out_dir
    atomic_write(os.path.join(out, "model.safetensors"), lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    write_json(os.path.join(out, "model.json"), {
        "format": "agg2exp-model/1",
        "architecture": "BasicUNet",
        "arguments": {"spatial_dims": 3, "in_channels": 1, "out_channels": len(CLASSES),
                      "features": list(FEATURES),
                      "act": ["LeakyReLU", {"negative_slope": 0.1, "inplace": True}],
                      "norm": ["instance", {"affine": True}], "bias": True, "dropout": 0.0,
                      "upsample": "deconv"},
        "classes": CLASSES,
        "preprocessing": {"orientation": "RAS", "spacing": [3.0, 3.0, 3.0],
                          "intensity": {"a_min": -1024, "a_max": 1024, "b_min": 0.0, "b_max": 1.0,
                                        "clip": True}},
        "inference": {"roi_size": list(ROI), "overlap": OVERLAP},
    })
    write_json(os.path.join(out, "label_groups.json"), {
        "source": "TotalSegmentator v2 task 'total' labels of SampleData/example_seg_fast_force_split.nii.gz",
        "classes": CLASSES,
        "label_to_class": {str(i): int(lut[i]) for i in present},
        "label_names": {str(i): TS_NAMES[i] for i in present},
    })

    # Reference prediction from the F16-rounded weights, loaded back as float32.
    model = make_model()
    model.load_state_dict({k: v.float() for k, v in load_file(os.path.join(out, "model.safetensors")).items()})
    pred = predict(model, x).astype(np.uint8)
    img = nib.Nifti1Image(pred, ct.affine)
    img.set_qform(ct.affine, code=int(ct.header["qform_code"]) or 1)
    img.set_sform(ct.affine, code=int(ct.header["sform_code"]) or 1)
    # The temporary name keeps the .nii.gz suffix, so nibabel compresses it.
    atomic_write(os.path.join(out, "reference_prediction.nii.gz"), lambda tmp: nib.save(img, tmp))
    dice = dice_per_class(pred, y)
    mean = float(np.mean(list(dice.values())))
    write_json(os.path.join(out, "reference_metrics.json"), {
        "dice_pytorch_f16_weights": dice,
        "mean_foreground_dice": mean,
        "training": {"steps": state["step"], "exported_step": state["best_step"],
                     "wall_time_min": round(state["elapsed_s"] / 60, 1), "history": state["history"]},
    })
    for name, d in dice.items():
        print(f"dice {name:16s} {d:.4f}")
    print(f"mean_fg_dice {mean:.4f} (exported step {state['best_step']} of {state['step']})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ct", default=os.path.join(SAMPLE, "example_ct.nii.gz"))
    p.add_argument("--seg", default=os.path.join(SAMPLE, "example_seg_fast_force_split.nii.gz"))
    p.add_argument("--out-dir", default=HERE)
    p.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "agg2exp-sample-model"))
    p.add_argument("--crop", type=int, default=64, help="edge of the random cubic crops")
    p.add_argument("--crop-steps", type=int, default=600)
    p.add_argument("--full-steps", type=int, default=60, help="final steps on the whole padded scan")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-drop-step", type=int, default=650)
    p.add_argument("--lr-final", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=100, help="evaluation interval in the crop phase")
    p.add_argument("--full-eval-every", type=int, default=20, help="evaluation interval in the whole-scan phase")
    p.add_argument("--seed", type=int, default=0)
    # One thread: on a loaded 2-core machine a step took ~3 s with one thread against ~9 s with two.
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --work-dir")
    p.add_argument("--export-only", action="store_true", help="export the best checkpoint without training")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    ct, x, y, present, lut = load_data(args.ct, args.seg)
    if args.export_only:
        state = torch.load(os.path.join(args.work_dir, "checkpoint.pt"), weights_only=False)["state"]
    else:
        state = train(args, x, y)
    export(args, ct, x, y, present, lut, state)


if __name__ == "__main__":
    main()
