"""SHA-256 (Python hashlib) and CRC-32 (Python zlib) references for the attribution cache's key
digests and entry checksums.

Run from this directory: python3 make_cache_reference.py  (writes cache_reference.json).
Each input is described by a generator the Swift test rebuilds byte for byte.
"""
import hashlib
import json
import zlib

import numpy as np


def pattern(n):
    """Bytes i % 251 for i < n: no period aligned with the 64-byte block."""
    return bytes(i % 251 for i in range(n))


cases = []
for text in ["", "abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"]:
    cases.append({"kind": "text", "text": text, "sha256": hashlib.sha256(text.encode()).hexdigest()})
# Lengths around the padding boundaries (55, 56, 63, 64, 65 bytes) and a long multi-block input.
for n in [55, 56, 63, 64, 65, 1000, 1_000_003]:
    cases.append({"kind": "pattern", "length": n, "sha256": hashlib.sha256(pattern(n)).hexdigest(),
                  "crc32": zlib.crc32(pattern(n))})
# float32 voxels hashed as their little-endian bytes, as the cache hashes a preprocessed input.
floats = (np.arange(24, dtype=np.float32) / np.float32(23)).astype("<f4")
cases.append({"kind": "float32-ramp", "count": 24, "sha256": hashlib.sha256(floats.tobytes()).hexdigest()})

with open("cache_reference.json", "w") as f:
    json.dump(cases, f, indent=1)
    f.write("\n")
