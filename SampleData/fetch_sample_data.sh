#!/usr/bin/env bash
# Reproduces SampleData/: downloads the TotalSegmentator 2.18.0 source distribution from PyPI,
# extracts the two reference volumes, checks their sha256 sums and regenerates label_names.txt.
# Needs python3 with pip (and nibabel + numpy for the label names).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m pip download --no-deps --no-binary :all: totalsegmentator==2.18.0 -d "$work"
tar -xzf "$work/totalsegmentator-2.18.0.tar.gz" -C "$work"
src="$work/totalsegmentator-2.18.0"
for f in example_ct.nii.gz example_seg_fast_force_split.nii.gz; do
  cp "$src/tests/reference_files/$f" "$here/$f"
done
(cd "$here" && sha256sum -c <<'SUMS'
dbd3ae6d614d1d7ef3a46925c30c70038ed52da6b37fdd6afdc7b9b71387e3e1  example_ct.nii.gz
e8097758e56e73099075b6caaebce23ef11bc6fad66a4ec3753b9406846558c7  example_seg_fast_force_split.nii.gz
SUMS
)
(cd "$here" && python3 make_label_names.py "$src/totalsegmentator/map_to_binary.py")
