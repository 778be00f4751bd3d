#!/usr/bin/env bash
# Draws every dataset-level figure from a results CSV (default: the official one) as SVG and,
# with rsvg-convert, PNG: scripts/figures.sh [RESULTS.csv] [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
csv=${1:-Tests/EngineTests/Fixtures/official/tsv2_test_aggregated_sg_explanations_with_dice.csv}
out=${2:-figures}
mkdir -p "$out"
swift build -c release --product agg2exp >/dev/null
bin=.build/release/agg2exp
"$bin" matrix "$csv" --svg "$out/matrix.svg" --csv "$out/matrix.csv" >/dev/null
"$bin" graph "$csv" --top-k 3 --svg "$out/graph.svg" >/dev/null
"$bin" context "$csv" --svg "$out/context.svg" >/dev/null
"$bin" cluster "$csv" --svg "$out/cluster.svg" --newick "$out/cluster.nwk" >/dev/null
"$bin" outliers "$csv" --svg "$out/outliers.svg" --csv "$out/outliers.csv" >/dev/null
for svg in "$out"/*.svg; do
  rsvg-convert -w 1200 "$svg" -o "${svg%.svg}.png"
done
ls "$out"
