"""nnU-Net v2 results folders with random weights, and the logits and input gradients PyTorch
computes for one tile (nnunetv2 2.8.1, dynamic_network_architectures 0.4.4, torch CPU, float64).

    python3 make_nnunet_fixtures.py     # writes the folders and expected_*.safetensors beside this script

Folders (each <name>/nnUNetTrainer__nnUNetPlans__3d_fullres/ with plans.json, dataset.json,
fold_N/checkpoint_final.pth in nnU-Net's checkpoint layout; the state_dict keeps nnU-Net's
alias keys and deep-supervision heads):
* plain: PlainConvUNet, 3 stages, anisotropic kernels and strides, two folds; 3d_fullres
  inherits from 3d_base (inherits_from).
* resenc: ResidualEncoderUNet (BasicBlockD) with stem_channels != features[0] (a projection-only
  skip), a strided projecting skip and a strided identity-channel skip.
* oldplans: the plain fold-0 weights under early nnU-Net v2 plans (no "architecture" entry).

* ct: a PlainConvUNet for the sample CT's 3 mm grid (transpose_forward [0, 2, 1], patch 40×48×32),
  with nnUNetPredictor's label maps (device cpu, perform_everything_on_device=False, no mirroring,
  step 0.5) of ../../../../SampleData/example_ct.nii.gz (ct_predicted.nii.gz) and of the same CT
  with the voxels outside a cylinder set to 0, as scanners store them (predicted as
  ct_masked_predicted.nii.gz; this one exercises crop_to_nonzero; the test rebuilds the masked CT).
* pipeline_rules.json: compute_steps_for_sliding_window and compute_gaussian results.
* ts_prestep.safetensors: TotalSegmentator's pre-step on the sample CT (as_closest_canonical,
  scipy.ndimage.zoom(order=1, mode="nearest") to 1.5 mm, astype(int32)): the output shape and
  four k-slices of it (int16).

expected_<name>.safetensors: input [C, D, H, W], weights w [D, H, W] (a Gaussian-like stitch
weight), logits [K, D, H, W] (fold mean for plain) and gradient = d(sum_v w_v * logits[1, v])/d input.
"""
import collections
import copy
import json
import os
import shutil

import numpy as np
import torch
from safetensors.torch import save_file

from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = "nnUNetTrainer__nnUNetPlans__3d_fullres"
IMPORTS = ["conv_op", "norm_op", "dropout_op", "nonlin"]
COMMON = {
    "conv_op": "torch.nn.modules.conv.Conv3d",
    "conv_bias": True,
    "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
    "norm_op_kwargs": {"eps": 1e-05, "affine": True},
    "dropout_op": None,
    "dropout_op_kwargs": None,
    "nonlin": "torch.nn.LeakyReLU",
    "nonlin_kwargs": {"inplace": True},
}


def plans(configurations, transpose=(0, 1, 2)):
    return {
        "dataset_name": "Dataset999_Fixture",
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [3.0, 1.0, 1.0],
        "original_median_shape_after_transp": [8, 16, 16],
        "image_reader_writer": "NibabelIO",
        "transpose_forward": list(transpose),
        "transpose_backward": [int(i) for i in np.argsort(transpose)],
        "configurations": configurations,
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {"0": {
            "max": 1500.0, "mean": 60.0, "median": 55.0, "min": -1000.0,
            "percentile_00_5": -900.0, "percentile_99_5": 1200.0, "std": 150.0}},
    }


def configuration(network, arch_kwargs, patch):
    return {
        "data_identifier": "nnUNetPlans_3d_fullres", "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2, "patch_size": patch, "median_image_size_in_voxels": patch,
        "spacing": [3.0, 1.0, 1.0], "normalization_schemes": ["CTNormalization"], "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
        "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
        "architecture": {"network_class_name": network, "arch_kwargs": arch_kwargs,
                         "_kw_requires_import": IMPORTS},
        "batch_dice": False,
    }


def dataset(labels):
    return {"channel_names": {"0": "CT"}, "labels": {n: i for i, n in enumerate(labels)},
            "numTraining": 1, "file_ending": ".nii.gz"}


def build(network, arch_kwargs, classes, seed, imports=IMPORTS):
    """nnU-Net's initialisation, then random norm weights and biases so that every affine term matters."""
    torch.manual_seed(seed)
    net = get_network_from_plans(network, arch_kwargs, imports, 1, classes, allow_init=True, deep_supervision=True)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if ".norm." in name and name.endswith("weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.2 * (torch.rand(p.shape, generator=g) - 0.5))
    return net.eval()


def checkpoint(net, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({
        "network_weights": net.state_dict(),
        "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.01, "params": []}]},
        "grad_scaler_state": None,
        "logging": {"ema_fg_dice": [np.float64(0.5)], "mean_fg_dice": [np.float64(0.5)]},
        "_best_ema": np.float64(0.5),
        "current_epoch": 1000,
        "init_args": {"plans": {}, "configuration": "3d_fullres", "fold": 0, "dataset_json": {},
                      "device": torch.device("cpu")},
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": (0, 1, 2),
    }, path)


def write_folder(name, plans_json, dataset_json, nets):
    root = os.path.join(HERE, name)
    shutil.rmtree(root, ignore_errors=True)
    folder = os.path.join(root, CONFIG_DIR)
    os.makedirs(folder)
    with open(os.path.join(folder, "plans.json"), "w") as f:
        json.dump(plans_json, f, indent=1)
    with open(os.path.join(folder, "dataset.json"), "w") as f:
        json.dump(dataset_json, f, indent=1)
    for fold, net in enumerate(nets):
        checkpoint(net, os.path.join(folder, f"fold_{fold}", "checkpoint_final.pth"))


def expected(name, nets, patch, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn([1, 1] + patch, generator=g, dtype=torch.float64)
    coords = [torch.arange(n, dtype=torch.float64) for n in patch]
    w = torch.ones(patch, dtype=torch.float64)
    for axis, c in enumerate(coords):
        sigma = patch[axis] / 8
        shape = [1, 1, 1]
        shape[axis] = patch[axis]
        w = w * torch.exp(-((c - patch[axis] // 2) ** 2) / (2 * sigma ** 2)).reshape(shape)
    x.requires_grad_(True)
    logits = sum(_inference_forward(n, x) for n in nets) / len(nets)
    target = (logits[0, 1] * w).sum()
    (grad,) = torch.autograd.grad(target, x)
    save_file({"input": x.detach()[0].float().contiguous(), "weights": w.float().contiguous(),
               "logits": logits.detach()[0].float().contiguous(), "gradient": grad[0].float().contiguous()},
              os.path.join(HERE, f"expected_{name}.safetensors"))


def _inference_forward(net, x):
    """The network's inference output (full resolution head only) in float64."""
    n = copy.deepcopy(net).double().eval()
    n.decoder.deep_supervision = False
    return n(x)


def predict_ct():
    import nibabel as nib
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    kwargs = dict(COMMON, n_stages=3, features_per_stage=[4, 8, 16], kernel_sizes=[[3, 3, 3]] * 3,
                  strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2]], n_conv_per_stage=[2, 2, 2], n_conv_per_stage_decoder=[2, 2])
    net = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
    config = configuration(net, kwargs, [40, 48, 32])
    config["spacing"] = [3.0, 3.0, 3.0]
    p = plans({"3d_fullres": config}, transpose=(0, 2, 1))
    p["image_reader_writer"] = "SimpleITKIO"
    p["foreground_intensity_properties_per_channel"]["0"].update(
        {"mean": 100.0, "std": 200.0, "percentile_00_5": -1000.0, "percentile_99_5": 1500.0})
    write_folder("ct", p, dataset(["background", "soft", "bone"]), [build(net, kwargs, 3, 5)])

    sample = os.path.join(HERE, "..", "..", "..", "..", "SampleData", "example_ct.nii.gz")
    image = nib.load(sample)
    data = np.asanyarray(image.dataobj)
    i, j = np.meshgrid(np.arange(data.shape[0]), np.arange(data.shape[1]), indexing="ij")
    inside = (i - data.shape[0] / 2) ** 2 + (j - data.shape[1] / 2) ** 2 < (0.45 * data.shape[0]) ** 2
    masked = np.where(inside[:, :, None], data, 0).astype(np.int32)
    masked_path = os.path.join(HERE, "ct_masked.tmp.nii.gz")
    nib.save(nib.Nifti1Image(masked, image.affine, image.header), masked_path)

    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                                perform_everything_on_device=False, device=torch.device("cpu"),
                                verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(os.path.join(HERE, "ct", CONFIG_DIR), use_folds=(0,),
                                                   checkpoint_name="checkpoint_final.pth")
    out = os.path.join(HERE, "predicted.tmp")
    os.makedirs(out, exist_ok=True)
    predictor.predict_from_files([[sample], [masked_path]],
                                 [os.path.join(out, "ct"), os.path.join(out, "ct_masked")],
                                 save_probabilities=False, overwrite=True,
                                 num_processes_preprocessing=1, num_processes_segmentation_export=1)
    shutil.move(os.path.join(out, "ct.nii.gz"), os.path.join(HERE, "ct_predicted.nii.gz"))
    shutil.move(os.path.join(out, "ct_masked.nii.gz"), os.path.join(HERE, "ct_masked_predicted.nii.gz"))
    shutil.rmtree(out)
    os.remove(masked_path)


def ts_prestep():
    import nibabel as nib
    from scipy import ndimage

    image = nib.as_closest_canonical(nib.load(os.path.join(HERE, "..", "..", "..", "..", "SampleData", "example_ct.nii.gz")))
    data = image.get_fdata()
    zoom = np.array(image.header.get_zooms()) / 1.5
    out = ndimage.zoom(data, zoom, order=1, mode="nearest").astype(np.int32)
    ks = [0, 77, 150, out.shape[2] - 1]
    save_file({"shape": torch.tensor(out.shape, dtype=torch.int64), "k": torch.tensor(ks, dtype=torch.int64),
               "slices": torch.from_numpy(np.stack([out[:, :, k] for k in ks]).astype(np.int16))},
              os.path.join(HERE, "ts_prestep.safetensors"))


def pipeline_rules():
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window

    cases = [([300], [128], 0.8), ([112, 122, 101], [40, 48, 32], 0.5), ([97, 64, 33], [64, 64, 32], 0.5),
             ([250, 173, 129], [96, 80, 112], 0.3)]
    steps = [{"size": s, "patch": p, "step": t, "starts": [list(map(int, a)) for a in
                                                           compute_steps_for_sliding_window(s, p, t)]}
             for s, p, t in cases]
    g = compute_gaussian((6, 8, 5), sigma_scale=1. / 8, value_scaling_factor=10, device=torch.device("cpu"))
    big = compute_gaussian((40, 48, 32), sigma_scale=1. / 8, value_scaling_factor=10, device=torch.device("cpu"))
    with open(os.path.join(HERE, "pipeline_rules.json"), "w") as f:
        json.dump({"steps": steps, "gaussian_6_8_5": g.float().reshape(-1).tolist(),
                   "gaussian_40_48_32_sum": float(big.double().sum()), "gaussian_40_48_32_min": float(big.min())}, f)


def main():
    torch.set_num_threads(1)
    # PlainConvUNet, two folds, configuration inheritance.
    plain_kwargs = dict(COMMON, n_stages=3, features_per_stage=[4, 8, 16],
                        kernel_sizes=[[1, 3, 3], [3, 3, 3], [3, 3, 3]], strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2]],
                        n_conv_per_stage=[2, 2, 2], n_conv_per_stage_decoder=[2, 2])
    net = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
    patch = [8, 16, 16]
    base = configuration(net, plain_kwargs, [4, 8, 8])
    plain_plans = plans({"3d_base": base,
                         "3d_fullres": {"inherits_from": "3d_base", "patch_size": patch,
                                        "median_image_size_in_voxels": patch}})
    labels = ["background", "liver", "spleen"]
    folds = [build(net, plain_kwargs, 3, 1), build(net, plain_kwargs, 3, 2)]
    write_folder("plain", plain_plans, dataset(labels), folds)
    expected("plain", folds, patch, 10)

    # ResidualEncoderUNet.
    res_kwargs = dict(COMMON, n_stages=3, features_per_stage=[4, 8, 8],
                      kernel_sizes=[[3, 3, 3]] * 3, strides=[[1, 1, 1], [2, 2, 2], [1, 2, 2]],
                      n_blocks_per_stage=[1, 2, 2], n_conv_per_stage_decoder=[1, 1], stem_channels=3,
                      block="dynamic_network_architectures.building_blocks.residual.BasicBlockD",
                      bottleneck_channels=None)
    res_net = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
    res_plans = plans({"3d_fullres": configuration(res_net, res_kwargs, patch)})
    res_plans["configurations"]["3d_fullres"]["architecture"]["_kw_requires_import"] = IMPORTS + ["block"]
    r = build(res_net, res_kwargs, 2, 3, imports=IMPORTS + ["block"])
    write_folder("resenc", res_plans, dataset(["background", "kidney"]), [r])
    expected("resenc", [r], patch, 11)

    # Early nnU-Net v2 plans: the same network as plain fold 0, described the old way.
    old = dict(configuration(net, plain_kwargs, patch))
    del old["architecture"]
    old.update({"UNet_class_name": "PlainConvUNet", "UNet_base_num_features": 4, "unet_max_num_features": 16,
                "n_conv_per_stage_encoder": [2, 2, 2], "n_conv_per_stage_decoder": [2, 2],
                "num_pool_per_axis": [1, 2, 2], "pool_op_kernel_sizes": plain_kwargs["strides"],
                "conv_kernel_sizes": plain_kwargs["kernel_sizes"]})
    write_folder("oldplans", plans({"3d_fullres": old}), dataset(labels), folds[:1])
    expected("oldplans", folds[:1], patch, 12)

    predict_ct()
    pipeline_rules()
    ts_prestep()


if __name__ == "__main__":
    main()
