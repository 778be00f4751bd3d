"""Writes tiny_ct.nii.gz: a 20x18x16 RAS CT at 1.5 mm (the network test fixtures' spacing), int16 HU,
with a soft-tissue body, a bright "bone" bar and a darker "organ" blob, for end-to-end runs of the
explorer and the report with a real (tiny) model. Run: python3 make_tiny_ct.py"""
import numpy as np
import nibabel as nib

shape = (20, 18, 16)
i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
hu = np.full(shape, -1000, dtype=np.int16)
body = ((i - 9.5) / 8) ** 2 + ((j - 8.5) / 7) ** 2 <= 1
hu[body] = 40
hu[body & (((i - 6) ** 2 + (j - 10) ** 2 + (k - 8) ** 2) <= 12)] = 90
hu[(np.abs(i - 10) <= 1) & (np.abs(j - 3) <= 1)] = 700
affine = np.diag([1.5, 1.5, 1.5, 1.0])
affine[:3, 3] = [-15.0, -13.5, -12.0]
img = nib.Nifti1Image(hu, affine)
img.set_qform(affine, code=1)
img.set_sform(affine, code=1)
nib.save(img, "tiny_ct.nii.gz")
