"""nnU-Net's resampling (nnunetv2 2.8.1 default_resampling, skimage 0.26, scipy 1.17) and
nnUNetPredictor on a real CT whose spacing differs from the plans' spacing.

    python3 make_resampling_fixtures.py [AORTA_CT]

AORTA_CT defaults to TotalSegmentator 2.18.0's tests/reference_files/aorta_report/example_ct.nii.gz
(1.5 mm, LPS, 233x167x191; data CC BY 4.0) unpacked under /tmp/tsd. Writes beside this script:

* resample_ct.nii.gz: a 64x56x48 crop of that CT (int16, its affine shifted to the crop).
* resampling.safetensors: the resampler alone on a 16x20x24 (z, y, x) float32 block of the crop
  (HU / 1000) at 1.5 mm: `iso3` to (1.2, 2.0, 1.7) mm, order 3 (no separate z); `sepz3` to
  (5.0, 1.2, 1.7) mm, order 3 in-plane + order_z 0 (separate z along axis 0); and three-channel
  float16 logits `logits` on the 5x25x21 grid of sepz3 back to 1.5 mm with order 1 + order_z 0
  (separate z, decided from the current spacing) and `logits_iso` on the iso3 grid back with
  order 1. Each reference is nnunetv2's `resample_data_or_seg` with dtype_out float64 (stored
  as float32), and for the logits also the float16 array nnU-Net itself returns (`*_f16`).
* separate_z.json: determine_do_sep_z_and_axis on a few spacings.
* resample_iso/, resample_aniso/: PlainConvUNet folders (random weights) with plans spacing
  2.0 mm isotropic (transpose_forward [0, 2, 1]) and (7.0, 2.0, 2.0) mm (separate z both ways),
  and nnUNetPredictor's label maps of resample_ct.nii.gz (resample_iso_predicted.nii.gz,
  resample_aniso_predicted.nii.gz; device cpu, perform_everything_on_device=False, no mirroring,
  step 0.5).
"""
import json
import os
import shutil
import sys

import nibabel as nib
import numpy as np
import torch
from safetensors.numpy import save_file

from make_nnunet_fixtures import COMMON, CONFIG_DIR, HERE, build, configuration, dataset, plans, write_folder

AORTA_CT = "/tmp/tsd/totalsegmentator-2.18.0/tests/reference_files/aorta_report/example_ct.nii.gz"
NET = "dynamic_network_architectures.architectures.unet.PlainConvUNet"


def crop_ct(source):
    image = nib.load(source)
    cropped = image.slicer[85:149, 55:111, 60:108]
    data = np.asanyarray(cropped.dataobj).astype(np.int16)
    out = nib.Nifti1Image(data, cropped.affine)
    out.header.set_xyzt_units("mm")
    path = os.path.join(HERE, "resample_ct.nii.gz")
    nib.save(out, path)
    return path, data


def resampler(data):
    from nnunetv2.preprocessing.resampling.default_resampling import (
        compute_new_shape, determine_do_sep_z_and_axis, resample_data_or_seg, resample_data_or_seg_to_shape)

    block = (data.transpose(2, 1, 0)[10:26, 18:38, 20:44].astype(np.float32) / 1000)[None]
    iso = [1.5, 1.5, 1.5]

    def run(x, current, new, order, order_z, new_shape=None):
        new_shape = compute_new_shape(x.shape[1:], current, new) if new_shape is None else new_shape
        do_sep, axis = determine_do_sep_z_and_axis(None, current, new)
        exact = resample_data_or_seg(x, new_shape, False, axis, order, do_sep, order_z=order_z, dtype_out=np.float64)
        native = resample_data_or_seg_to_shape(x, new_shape, current, new, is_seg=False, order=order,
                                               order_z=order_z, force_separate_z=None)
        return exact, native

    tensors = {"ct": block[0]}
    iso3, _ = run(block, iso, [1.2, 2.0, 1.7], 3, 0)
    sepz3, _ = run(block, iso, [5.0, 1.2, 1.7], 3, 0)
    tensors["iso3"], tensors["sepz3"] = iso3[0].astype(np.float32), sepz3[0].astype(np.float32)

    # Smooth three-class logits on each resampled grid, in float16 as nnU-Net keeps them.
    rng = np.random.default_rng(7)
    for name, grid, spacing in [("logits", sepz3[0], [5.0, 1.2, 1.7]), ("logits_iso", iso3[0], [1.2, 2.0, 1.7])]:
        logits = np.stack([grid * s + o for s, o in [(4.0, 0.0), (-3.0, 0.5), (1.0, -0.2)]])
        logits = (logits + 0.3 * rng.standard_normal(logits.shape)).astype(np.float16)
        exact, native = run(logits, spacing, iso, 1, 0, new_shape=block.shape[1:])
        tensors[name] = logits
        tensors[name + "_back"] = exact.astype(np.float32)
        assert native.dtype == np.float16
        tensors[name + "_back_f16"] = native
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, os.path.join(HERE, "resampling.safetensors"))

    cases = [(None, [1.5, 1.5, 1.5], [5.0, 1.2, 1.7]), (None, [5.0, 1.2, 1.7], [1.5, 1.5, 1.5]),
             (None, [1.5, 1.5, 1.5], [1.2, 2.0, 1.7]), (None, [3.0, 1.0, 1.0], [1.0, 1.0, 1.0]),
             (None, [0.8, 3.0, 3.0], [1.0, 1.0, 1.0]), (None, [1.0, 1.0, 4.0], [1.0, 1.0, 1.0]),
             (True, [1.0, 1.0, 2.0], [1.0, 1.0, 1.0]), (True, [1.0, 2.0, 2.0], [1.0, 1.0, 1.0]),
             (False, [5.0, 1.0, 1.0], [1.0, 1.0, 1.0])]
    out = []
    for force, current, new in cases:
        do_sep, axis = determine_do_sep_z_and_axis(force, current, new)
        out.append({"force": force, "current": current, "new": new, "axis": int(axis) if do_sep else None})
    shapes = [{"shape": [16, 20, 24], "old": iso, "new": new, "result": [int(v) for v in
                                                                        compute_new_shape([16, 20, 24], iso, new)]}
              for new in ([1.2, 2.0, 1.7], [5.0, 1.2, 1.7], [2.0, 2.0, 2.0], [1.0, 0.7, 3.3])]
    with open(os.path.join(HERE, "separate_z.json"), "w") as f:
        json.dump({"cases": out, "shapes": shapes}, f, indent=1)


def folder(name, spacing, kernels, strides, patch, transpose, seed):
    kwargs = dict(COMMON, n_stages=3, features_per_stage=[4, 8, 16], kernel_sizes=kernels, strides=strides,
                  n_conv_per_stage=[2, 2, 2], n_conv_per_stage_decoder=[2, 2])
    config = configuration(NET, kwargs, patch)
    config["spacing"] = spacing
    p = plans({"3d_fullres": config}, transpose=transpose)
    p["image_reader_writer"] = "SimpleITKIO"
    p["foreground_intensity_properties_per_channel"]["0"].update(
        {"mean": 100.0, "std": 200.0, "percentile_00_5": -1000.0, "percentile_99_5": 1500.0})
    write_folder(name, p, dataset(["background", "soft", "bone"]), [build(NET, kwargs, 3, seed)])


def predict(ct_path):
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    folder("resample_iso", [2.0, 2.0, 2.0], [[3, 3, 3]] * 3, [[1, 1, 1], [2, 2, 2], [2, 2, 2]], [32, 32, 32],
           (0, 2, 1), 21)
    folder("resample_aniso", [7.0, 2.0, 2.0], [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
           [[1, 1, 1], [1, 2, 2], [2, 2, 2]], [8, 32, 32], (0, 1, 2), 22)
    out = os.path.join(HERE, "predicted.tmp")
    os.makedirs(out, exist_ok=True)
    for name in ["resample_iso", "resample_aniso"]:
        predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                                    perform_everything_on_device=False, device=torch.device("cpu"),
                                    verbose=False, verbose_preprocessing=False, allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(os.path.join(HERE, name, CONFIG_DIR), use_folds=(0,),
                                                       checkpoint_name="checkpoint_final.pth")
        predictor.predict_from_files([[ct_path]], [os.path.join(out, name)], save_probabilities=False,
                                     overwrite=True, num_processes_preprocessing=1,
                                     num_processes_segmentation_export=1)
        shutil.move(os.path.join(out, name + ".nii.gz"), os.path.join(HERE, name + "_predicted.nii.gz"))
    shutil.rmtree(out)


def main():
    torch.set_num_threads(1)
    ct_path, data = crop_ct(sys.argv[1] if len(sys.argv) > 1 else AORTA_CT)
    resampler(data)
    predict(ct_path)


if __name__ == "__main__":
    main()
