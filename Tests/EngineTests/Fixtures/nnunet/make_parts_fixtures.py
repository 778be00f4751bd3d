"""A two-part TotalSegmentator-style model with random weights, and the merged label map
TotalSegmentator 2.18.0 would write for a crop of the sample CT (nnunetv2 2.8.1, torch CPU):

    python3 make_parts_fixtures.py     # writes parts/, parts_ct.nii.gz, parts_predicted.nii.gz

parts/Dataset291_TotalSegmentator_part1_fixture/ and parts/Dataset292_TotalSegmentator_part2_fixture/
(each nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres/) hold a PlainConvUNet at 3 mm with
different classes and CT intensity statistics. parts_ct.nii.gz is voxels [20:84, 30:86, 30:78]
of ../../../../SampleData/example_ct.nii.gz (RAS, 3 mm).

The reference follows totalsegmentator.nnunet.nnUNet_predict_image for a multi-part task:
as_closest_canonical; change_spacing with scipy.ndimage.zoom(order=1, mode="nearest") to the
parts' 3 mm (the identity here) and astype(int32); nnUNetPredictor per part (tile step 0.8,
Gaussian, no mirroring, fold 0, device cpu, perform_everything_on_device=False); the parts'
labels mapped through TotalSegmentator's lookup table (part label -> index in the union, the
classes of the parts in order) and copied where non-zero, later parts last (the lines below are
TotalSegmentator's); then undo_canonical.
"""
import json
import os
import shutil

import nibabel as nib
import numpy as np
import torch
from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform
from scipy import ndimage

from make_nnunet_fixtures import COMMON, build, configuration, dataset, plans, checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = "nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres"
PARTS = [("Dataset291_TotalSegmentator_part1_fixture", ["background", "liver", "spleen", "kidney_left"], 31,
          {"mean": 80.0, "std": 180.0, "percentile_00_5": -950.0, "percentile_99_5": 1400.0}),
         ("Dataset292_TotalSegmentator_part2_fixture", ["background", "vertebrae_L1", "rib_left_1"], 32,
          {"mean": 300.0, "std": 350.0, "percentile_00_5": -500.0, "percentile_99_5": 1800.0})]


def write_parts():
    kwargs = dict(COMMON, n_stages=3, features_per_stage=[4, 8, 16], kernel_sizes=[[3, 3, 3]] * 3,
                  strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2]], n_conv_per_stage=[2, 2, 2], n_conv_per_stage_decoder=[2, 2])
    net = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
    shutil.rmtree(os.path.join(HERE, "parts"), ignore_errors=True)
    folders = []
    for name, labels, seed, stats in PARTS:
        config = configuration(net, kwargs, [32, 32, 32])
        config["spacing"] = [3.0, 3.0, 3.0]
        p = plans({"3d_fullres": config})
        p["dataset_name"] = name
        p["foreground_intensity_properties_per_channel"]["0"].update(stats)
        folder = os.path.join(HERE, "parts", name, CONFIG)
        os.makedirs(folder)
        with open(os.path.join(folder, "plans.json"), "w") as f:
            json.dump(p, f, indent=1)
        with open(os.path.join(folder, "dataset.json"), "w") as f:
            json.dump(dataset(labels), f, indent=1)
        checkpoint(build(net, kwargs, len(labels), seed), os.path.join(folder, "fold_0", "checkpoint_final.pth"))
        folders.append(folder)
    return folders


def write_ct():
    image = nib.load(os.path.join(HERE, "..", "..", "..", "..", "SampleData", "example_ct.nii.gz"))
    data = np.asanyarray(image.dataobj)[20:84, 30:86, 30:78].astype(np.int16)
    affine = image.affine.copy()
    affine[:3, 3] = image.affine[:3, :3] @ np.array([20, 30, 30]) + image.affine[:3, 3]
    path = os.path.join(HERE, "parts_ct.nii.gz")
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


def predict(folders, ct):
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    img_orig = nib.load(ct)
    img = nib.as_closest_canonical(img_orig)
    zoom = np.array(img.header.get_zooms()) / 3.0
    data = ndimage.zoom(img.get_fdata(), zoom, order=1, mode="nearest").astype(np.int32)
    affine = img.affine.copy()
    for i in range(3):
        affine[i, i] /= zoom[i]
    tmp = os.path.join(HERE, "parts.tmp")
    os.makedirs(tmp, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), os.path.join(tmp, "s01_0000.nii.gz"))

    class_map_inv = {}
    for _, labels, _, _ in PARTS:
        for n in labels[1:]:
            class_map_inv[n] = len(class_map_inv) + 1
    seg_combined = np.zeros(data.shape, dtype=np.uint8)
    for folder, (_, labels, _, _) in zip(folders, PARTS):
        predictor = nnUNetPredictor(tile_step_size=0.8, use_gaussian=True, use_mirroring=False,
                                    perform_everything_on_device=False, device=torch.device("cpu"),
                                    verbose=False, verbose_preprocessing=False, allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(folder, use_folds=(0,), checkpoint_name="checkpoint_final.pth")
        predictor.predict_from_files([[os.path.join(tmp, "s01_0000.nii.gz")]], [os.path.join(tmp, "s01")],
                                     save_probabilities=False, overwrite=True,
                                     num_processes_preprocessing=1, num_processes_segmentation_export=1)
        # TotalSegmentator 2.18.0, totalsegmentator/nnunet.py:
        part_map = dict(enumerate(labels))
        del part_map[0]
        lut = np.zeros(max(part_map.keys()) + 1, dtype=np.uint8)
        for jdx, class_name in part_map.items():
            lut[jdx] = class_map_inv[class_name]
        seg = np.asanyarray(nib.load(os.path.join(tmp, "s01.nii.gz")).dataobj).astype(np.uint8)
        mapped_seg = lut[seg]
        np.copyto(seg_combined, mapped_seg, where=mapped_seg != 0)
    back = ndimage.zoom(seg_combined, np.array(img.shape) / np.array(seg_combined.shape), order=0, mode="nearest")
    merged = nib.Nifti1Image(back.astype(np.uint8), img.affine)
    # totalsegmentator.alignment.undo_canonical
    from_canonical = ornt_transform(axcodes2ornt("RAS"), io_orientation(img_orig.affine))
    out = merged.as_reoriented(from_canonical)
    nib.save(nib.Nifti1Image(np.asanyarray(out.dataobj).astype(np.uint8), img_orig.affine),
             os.path.join(HERE, "parts_predicted.nii.gz"))
    shutil.rmtree(tmp)
    print("merged labels", np.unique(back, return_counts=True))


def main():
    torch.set_num_threads(1)
    folders = write_parts()
    predict(folders, write_ct())


if __name__ == "__main__":
    main()
