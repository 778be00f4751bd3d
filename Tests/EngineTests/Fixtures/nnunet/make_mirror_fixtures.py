"""nnU-Net's test-time mirroring (nnunetv2 2.8.1 `nnUNetPredictor._internal_maybe_mirror_and_predict`):
every tile is predicted once as is and once per non-empty combination of the allowed axes
(`itertools.combinations`, flip in, flip back), and the passes are averaged, Σ / (combinations + 1).
The allowed axes are the first fold's checkpoint `inference_allowed_mirroring_axes`, in the
network's (transposed) axis order.

    python3 make_mirror_fixtures.py     # needs resample_iso/ and resample_ct.nii.gz (make_resampling_fixtures.py)

Writes beside this script:
* mirror/nnUNetTrainer__nnUNetPlans__3d_fullres: the resample_iso folder (PlainConvUNet, random
  weights, 2.0 mm, transpose_forward [0, 2, 1], patch 32³) with its checkpoint's
  inference_allowed_mirroring_axes set to (0, 2), so that a mirror over all three axes differs.
* mirror_predicted.nii.gz: nnUNetPredictor(device cpu, perform_everything_on_device=False,
  use_mirroring=True, step 0.5) on resample_ct.nii.gz.
* expected_mirror.safetensors:
  - axes: predictor.allowed_mirroring_axes;
  - logits: predictor.predict_logits_from_preprocessed_data on the same case preprocessed by the
    folder's preprocessor (float16 [K, 36, 48, 42], the network grid);
  - one tile in PyTorch float64 with autograd: input [1, 20, 24, 18] (padded, centred, to the
    32³ patch), tile_logits = the mirrored average, stitched = Σ g·z / Σ g with
    compute_gaussian(patch, 1/8, 10), cropped; mask = argmax; grad_sum = d/d input of
    Σ_{v∈M_c} Z_c(v), grad_prob of Σ_{v∈M_c} p̄_c(v) Z_c(v) (p̄ = softmax(Z)_c / Σ_M softmax(Z)_c,
    held constant), c = CLASS.
"""
import itertools
import json
import os
import shutil

import torch
from safetensors.torch import save_file

from nnunetv2.inference.sliding_window_prediction import compute_gaussian
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = "nnUNetTrainer__nnUNetPlans__3d_fullres"
SOURCE = os.path.join(HERE, "resample_iso", CONFIG_DIR)
FOLDER = os.path.join(HERE, "mirror", CONFIG_DIR)
AXES = (0, 2)
SHAPE = [20, 24, 18]
CLASS = 2


def write_folder():
    shutil.rmtree(os.path.join(HERE, "mirror"), ignore_errors=True)
    os.makedirs(os.path.join(FOLDER, "fold_0"))
    for name in ("plans.json", "dataset.json"):
        shutil.copy(os.path.join(SOURCE, name), os.path.join(FOLDER, name))
    ckpt = torch.load(os.path.join(SOURCE, "fold_0", "checkpoint_final.pth"), map_location="cpu", weights_only=False)
    ckpt["inference_allowed_mirroring_axes"] = AXES
    torch.save(ckpt, os.path.join(FOLDER, "fold_0", "checkpoint_final.pth"))


def predictor():
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    p = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                        perform_everything_on_device=False, device=torch.device("cpu"),
                        verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    p.initialize_from_trained_model_folder(FOLDER, use_folds=(0,), checkpoint_name="checkpoint_final.pth")
    assert tuple(p.allowed_mirroring_axes) == AXES, p.allowed_mirroring_axes
    return p


def predict_case(p, tensors):
    ct = os.path.join(HERE, "resample_ct.nii.gz")
    out = os.path.join(HERE, "predicted.tmp")
    os.makedirs(out, exist_ok=True)
    p.predict_from_files([[ct]], [os.path.join(out, "mirror")], save_probabilities=False, overwrite=True,
                         num_processes_preprocessing=1, num_processes_segmentation_export=1)
    shutil.move(os.path.join(out, "mirror.nii.gz"), os.path.join(HERE, "mirror_predicted.nii.gz"))
    shutil.rmtree(out)

    preprocessor = p.configuration_manager.preprocessor_class(verbose=False)
    data, _, _ = preprocessor.run_case([ct], None, p.plans_manager, p.configuration_manager, p.dataset_json)
    logits = p.predict_logits_from_preprocessed_data(torch.from_numpy(data))
    assert logits.dtype == torch.float16, logits.dtype
    tensors["logits"] = logits.contiguous()
    tensors["axes"] = torch.tensor(p.allowed_mirroring_axes, dtype=torch.int64)
    print("network grid", list(logits.shape[1:]))


def network():
    with open(os.path.join(FOLDER, "plans.json")) as f:
        config = PlansManager(json.load(f)).get_configuration("3d_fullres")
    ckpt = torch.load(os.path.join(FOLDER, "fold_0", "checkpoint_final.pth"), map_location="cpu", weights_only=False)
    net = get_network_from_plans(config.network_arch_class_name, config.network_arch_init_kwargs,
                                 config.network_arch_init_kwargs_req_import, 1, 3, allow_init=False,
                                 deep_supervision=False)
    net.load_state_dict(ckpt["network_weights"])
    return net.double().eval(), list(config.patch_size)


def one_tile(tensors):
    net, patch = network()
    g = torch.Generator().manual_seed(31)
    x = torch.randn([1] + SHAPE, generator=g, dtype=torch.float64)
    below = [(p - s) // 2 for s, p in zip(SHAPE, patch)]
    gauss = compute_gaussian(tuple(patch), sigma_scale=1. / 8, value_scaling_factor=10,
                             device=torch.device("cpu")).double()
    # nnU-Net's combinations of the allowed axes, offset by the batch and channel dimensions.
    combos = [c for i in range(len(AXES)) for c in itertools.combinations([a + 2 for a in AXES], i + 1)]

    def tile_logits(t):
        t = t[None]
        z = net(t)
        for axes in combos:
            z = z + torch.flip(net(torch.flip(t, axes)), axes)
        return z[0] / (len(combos) + 1)

    def stitched(inp):
        sl = tuple(slice(b, b + s) for b, s in zip(below, SHAPE))
        widths = [w for d in (2, 1, 0) for w in (below[d], patch[d] - SHAPE[d] - below[d])]
        z = tile_logits(torch.nn.functional.pad(inp, widths)) * gauss / gauss
        return z[(slice(None),) + sl]

    with torch.no_grad():
        z = stitched(x)
    mask = z.argmax(0)
    m = (mask == CLASS).double()
    xs = x.clone().requires_grad_(True)
    (grad_sum,) = torch.autograd.grad((stitched(xs)[CLASS] * m).sum(), xs)
    p = torch.softmax(z, 0)[CLASS] * m
    p = p / p.sum()
    xs = x.clone().requires_grad_(True)
    (grad_prob,) = torch.autograd.grad((stitched(xs)[CLASS] * p).sum(), xs)
    tensors.update({"input": x.float().contiguous(), "mask": mask.to(torch.int8).contiguous(),
                    "tile_logits": z.float().contiguous(), "grad_sum": grad_sum.float().contiguous(),
                    "grad_prob": grad_prob.float().contiguous()})
    print("tile mask voxels per class", torch.bincount(mask.reshape(-1), minlength=3).tolist())


def main():
    torch.set_num_threads(1)
    write_folder()
    tensors = {}
    predict_case(predictor(), tensors)
    one_tile(tensors)
    save_file(tensors, os.path.join(HERE, "expected_mirror.safetensors"))


if __name__ == "__main__":
    main()
