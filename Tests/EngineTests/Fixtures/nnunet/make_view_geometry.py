"""Where the explorer's network-grid voxels lie in scanner space, computed independently with
nibabel, nnunetv2 2.8.1 and scipy (writes view_geometry.json).

For each case the steps that build nnU-Net's network input are applied to three index ramps,
images whose voxels hold their own NIfTI index i, j or k of the scan: TotalSegmentator's
as_closest_canonical and scipy.ndimage.zoom(order=1, mode="nearest") when it runs, then nnU-Net's
transpose_forward, its crop to the non-zero box of the real CT (nnunetv2's run_case_npy gives the
box) and its resampling to the plans' spacing (resample_data_or_seg_to_shape, order 1). Linear
interpolation reproduces a ramp exactly away from the edges, so at an interior network voxel the
three ramps give the scan index it was sampled from, and nibabel's affine gives its RAS position.
The CT's own values go through nnU-Net's data resampling (the plans' order 3) for the HU the
explorer shows there.

Cases: `nnunet` (the resample_iso folder on resample_ct.nii.gz: LPS, 1.5 mm, transpose_forward
[0, 2, 1], resampled to 2 mm) and `totalsegmentator` (the two parts folders on the same scan:
reoriented to RAS and zoomed to 3 mm).

Run: cd Tests/EngineTests/Fixtures/nnunet && python3 make_view_geometry.py
"""
import json
import os

import nibabel as nib
import numpy as np
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
SCAN = os.path.join(HERE, "resample_ct.nii.gz")
ISO = os.path.join(HERE, "resample_iso", "nnUNetTrainer__nnUNetPlans__3d_fullres")
PART1 = os.path.join(HERE, "parts", "Dataset291_TotalSegmentator_part1_fixture",
                     "nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres")


def managers(folder):
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    with open(os.path.join(folder, "plans.json")) as f:
        plans = PlansManager(json.load(f))
    with open(os.path.join(folder, "dataset.json")) as f:
        dataset = json.load(f)
    return plans, plans.get_configuration("3d_fullres"), dataset


def network_ramps(folder, ct_zyx, ramps_zyx, spacing_zyx):
    """nnU-Net's steps on the CT (C, z, y, x) and the same geometry on the ramps."""
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor
    from nnunetv2.preprocessing.cropping.cropping import bounding_box_to_slice
    from nnunetv2.preprocessing.resampling.default_resampling import resample_data_or_seg_to_shape

    plans, config, dataset = managers(folder)
    props = {"spacing": list(spacing_zyx)}
    data, _, props = DefaultPreprocessor(verbose=False).run_case_npy(
        ct_zyx[None].astype(np.float32), None, props, plans, config, dataset)
    tf = plans.transpose_forward
    spacing = [spacing_zyx[i] for i in tf]
    slicer = bounding_box_to_slice(props["bbox_used_for_cropping"])
    new_shape = data.shape[1:]

    def geometry(volumes, order, resampling):
        stacked = np.stack(volumes).transpose([0, *[i + 1 for i in tf]])
        cropped = stacked[(slice(None),) + slicer].astype(np.float64)
        if tuple(cropped.shape[1:]) == tuple(new_shape):
            return cropped
        return resampling(cropped, new_shape, spacing, config.spacing, order)

    linear = lambda d, s, c, n, o: resample_data_or_seg_to_shape(d, s, c, n, is_seg=False, order=o, order_z=o,
                                                                 force_separate_z=False)
    ramps = geometry(ramps_zyx, 1, linear)
    # The HU the explorer shows: the plans' own data resampling of the raw CT.
    plans_resampling = lambda d, s, c, n, o: config.resampling_fn_data(d, s, c, n)
    hu = geometry([ct_zyx], None, plans_resampling)[0]
    return ramps, hu


def samples(shape, count=6, seed=5):
    """Interior voxels (one voxel away from every face): the corners of the interior, its
    centre and seeded random ones."""
    rng = np.random.default_rng(seed)
    lo, hi = np.ones(3, dtype=int), np.array(shape) - 2
    out = [lo.tolist(), hi.tolist(), (np.array(shape) // 2).tolist()]
    while len(out) < count:
        out.append([int(rng.integers(lo[a], hi[a] + 1)) for a in range(3)])
    return out


def case(folder, ct_ijk, ramps_ijk, spacing_ijk, affine):
    to_zyx = lambda a: np.ascontiguousarray(a.transpose(2, 1, 0))
    ramps, hu = network_ramps(folder, to_zyx(ct_ijk), [to_zyx(r) for r in ramps_ijk], spacing_ijk[::-1])
    shape = list(ramps.shape[1:])
    voxels = samples(shape)
    ras, values = [], []
    for a, b, c in voxels:
        ijk = ramps[:, a, b, c]
        ras.append((affine @ np.append(ijk, 1.0))[:3].tolist())
        values.append(float(hu[a, b, c]))
    return {"dims": shape, "voxels": voxels, "ras": ras, "hu": values}


def main():
    image = nib.load(SCAN)
    ct = np.asanyarray(image.dataobj).astype(np.float64)
    index = np.indices(ct.shape).astype(np.float64)
    out = {"nnunet": case(ISO, ct, list(index), list(image.header.get_zooms()), image.affine)}

    # TotalSegmentator 2.18: as_closest_canonical, zoom to 3 mm (order 1, nearest), int32.
    canonical = nib.as_closest_canonical(image)
    zoom = np.array(canonical.header.get_zooms()) / 3.0
    ct_ts = ndimage.zoom(canonical.get_fdata(), zoom, order=1, mode="nearest").astype(np.int32)
    ramps_ts = []
    for r in index:
        moved = nib.as_closest_canonical(nib.Nifti1Image(r, image.affine)).get_fdata()
        ramps_ts.append(ndimage.zoom(moved, zoom, order=1, mode="nearest"))
    out["totalsegmentator"] = case(PART1, ct_ts.astype(np.float64), ramps_ts, [3.0, 3.0, 3.0], image.affine)

    with open(os.path.join(HERE, "view_geometry.json"), "w") as f:
        json.dump(out, f, indent=1)
    for name, c in out.items():
        print(name, c["dims"], c["voxels"][0], np.round(c["ras"][0], 3), c["hu"][0])


if __name__ == "__main__":
    main()
