#!/usr/bin/env python3
"""Writes the seed corpora in Fuzz/corpus/<harness>/: small valid inputs of every format the
harnesses read (standard library only). Run from the repository root: python3 Fuzz/make_corpus.py"""
import gzip, json, os, shutil, struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(harness, name, data):
    d = os.path.join(root, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def nifti1(dims, datatype, bitpix, values, fmt, sform=True):
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, datatype, bitpix)
    struct.pack_into("<8f", h, 76, 1, 1.5, 2.0, 3.0, 1, 0, 0, 0)
    struct.pack_into("<fff", h, 108, 352, 1, 0)
    h[123] = 2
    struct.pack_into("<hh", h, 252, 1, 1 if sform else 0)
    struct.pack_into("<6f", h, 256, 0, 0, 0, -10, 5, 3)
    struct.pack_into("<12f", h, 280, -1.5, 0, 0, 10, 0, -2, 0, 20, 0, 0, 3, -30)
    h[344:348] = b"n+1\0"
    return bytes(h) + b"\0\0\0\0" + struct.pack("<%d%s" % (len(values), fmt), *values)


def nifti2(dims, values):
    h = bytearray(540)
    struct.pack_into("<i", h, 0, 540)
    h[4:12] = b"n+2\0\r\n\x1a\n"
    struct.pack_into("<hh", h, 12, 16, 32)
    struct.pack_into("<8q", h, 16, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<8d", h, 104, 1, 1, 1, 1, 1, 0, 0, 0)
    struct.pack_into("<q", h, 168, 544)
    struct.pack_into("<dd", h, 176, 1, 0)
    struct.pack_into("<ii", h, 344, 0, 0)
    struct.pack_into("<i", h, 500, 2)
    return bytes(h) + b"\0\0\0\0" + struct.pack("<%df" % len(values), *values)


values = [float(v) for v in range(2 * 3 * 2)]
put("nifti", "float32.nii", nifti1((2, 3, 2), 16, 32, values, "f"))
put("nifti", "float32.nii.gz", gzip.compress(nifti1((2, 3, 2), 16, 32, values, "f"), mtime=0))
put("nifti", "labels-uint8.nii", nifti1((2, 3, 2), 2, 8, [v % 4 for v in range(12)], "B", sform=False))
put("nifti", "int16-scaled.nii.gz", gzip.compress(nifti1((2, 3, 2), 4, 16, list(range(-6, 6)), "h"), mtime=0))
put("nifti", "nifti2.nii", nifti2((2, 3, 2), values))


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "mixed.safetensors", safetensors([
    ("w", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)),
    ("h", "F16", [2], struct.pack("<2H", 0x3E00, 0xC000)),
    ("b", "BF16", [1], struct.pack("<H", 0x3F80)),
    ("n", "I64", [], struct.pack("<q", 7)),
], {"format": "pt"}))
put("safetensors", "empty-tensor.safetensors", safetensors([("e", "F32", [0, 3], b""), ("d", "F64", [1], struct.pack("<d", 2.5))]))

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
os.makedirs(os.path.join(root, "model-json"), exist_ok=True)
shutil.copy(os.path.join(repo, "Tests/EngineTests/Fixtures/network/batch/model.json"), os.path.join(root, "model-json", "batch.json"))
shutil.copy(os.path.join(repo, "SampleData/model/model.json"), os.path.join(root, "model-json", "sample.json"))

put("results-csv", "official-schema.csv",
    "patient,liver_explanation_in_liver_mass,liver_explanation_in_liver_mean,liver_explanation_in_background_mass,"
    "liver_explanation_in_background_mean,liver_explanation_var,liver_explanation_mean,liver_iou,liver_dice\n"
    "s0001,0.5,0.001,0.3,,1e-05,-2.5e-07,0.9,0.95\n"
    "s0002,0.25,0.002,0.6,0.0001,2e-05,3e-07,,\n")
put("results-csv", "quoted.csv", 'patient,"a,b_explanation_in_c_mass"\n"x ""1""",0.5\r\ny,nan\n')

put("label-table", "itksnap.txt", '# ITK-SnAP Label Description File\n    0     0    0    0        0  0  0    "Clear Label"\n'
    '    1   255    0    0        1  1  1    "liver"\n    2     0  255    0        1  1  1    "spleen"\n')
put("label-table", "slicer.ctbl", "# Color table\n0 background 0 0 0 0\n1 liver 255 0 0 255\n2 spleen 0 255 0 255\n")
put("label-table", "table.json", json.dumps({"0": "background", "1": {"name": "liver", "color": [255, 0, 0]}}))
shutil.copy(os.path.join(repo, "SampleData/model/label_groups.json"), os.path.join(root, "label-table", "label_groups.json"))
