#!/usr/bin/env bash
# End-to-end test of aggregate-array.sbatch on a running SLURM cluster (scripts/slurm/local-cluster.sh
# starts one): four small scans and the tiny test model, two shards.
#
#  1. The array job plus its dependent merge must give a results.csv byte-identical to one
#     unsharded `agg2exp aggregate` run.
#  2. A task killed (SIGKILL) after its first row and resubmitted with the same command must
#     resume: the merged result is again byte-identical (no row lost or duplicated) and the
#     resubmitted task skipped the row it already had.
#
# Needs the release binary (swift build -c release --product agg2exp) and python3 (standard
# library only, to write the scans). Exits non-zero with a message on the first failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
bin="$root/.build/release/agg2exp"
model="$root/Tests/EngineTests/Fixtures/network/batch"
work="$(mktemp -d /tmp/agg2exp-slurm-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "$bin not built"
sinfo -h >/dev/null || fail "no SLURM cluster (start one with scripts/slurm/local-cluster.sh)"

# Four 24×20×12 float32 NIfTI-1 scans at 1.5 mm, different seeds.
python3 - "$work/scans" <<'PY'
import gzip, os, random, struct, sys
out = sys.argv[1]
os.makedirs(out)
for n in range(4):
    rng = random.Random(n)
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, 3, 24, 20, 12, 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, 16, 32)
    struct.pack_into("<8f", h, 76, 1, 1.5, 1.5, 1.5, 1, 0, 0, 0)
    struct.pack_into("<fff", h, 108, 352, 1, 0)
    h[123] = 2
    struct.pack_into("<hh", h, 252, 0, 1)
    struct.pack_into("<12f", h, 280, 1.5, 0, 0, 0, 0, 1.5, 0, 0, 0, 0, 1.5, 0)
    h[344:348] = b"n+1\0"
    voxels = []
    for k in range(12):
        for j in range(20):
            for i in range(24):
                r = ((i - 12) ** 2 + (j - 10) ** 2) ** 0.5
                voxels.append((300.0 if r < 5 + n else -700.0) + rng.gauss(0, 200))
    with gzip.open(os.path.join(out, f"case{n}.nii.gz"), "wb") as f:
        f.write(bytes(h) + b"\0\0\0\0" + struct.pack(f"<{len(voxels)}f", *voxels))
PY
scans=("$work"/scans/case*.nii.gz)
options=(--model "$model" --method smoothgrad --samples 100 --targets organ)

echo "reference: one unsharded run"
"$bin" aggregate "${options[@]}" --csv "$work/reference.csv" "${scans[@]}" 2>"$work/reference.log" \
    || { cat "$work/reference.log" >&2; fail "the unsharded run failed"; }
[ "$(wc -l < "$work/reference.csv")" -eq 5 ] || fail "reference.csv should hold a header and 4 rows"

# Waits until job $1 has left the queue, then checks it ended in state $2.
wait_job() {
    for _ in $(seq 600); do
        [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && break
        sleep 0.5
    done
    local state
    state=$(scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' ')
    [[ "$state" == "$2 " ]] || fail "job $1 ended as '$state', expected $2"
}

# Submits the array and merge jobs; sets array_job and merge_job.
submit() {
    local line
    line=$(AGG2EXP_BIN="$bin" scripts/slurm/aggregate-array.sbatch 2 "$1" "${options[@]}" -- "${scans[@]}")
    echo "  $line"
    array_job=$(sed -n 's/^array job \([0-9]*\) .*/\1/p' <<<"$line")
    merge_job=$(sed -n 's/.*merge job \([0-9]*\);.*/\1/p' <<<"$line")
    [ -n "$array_job" ] && [ -n "$merge_job" ] || fail "could not read the job ids from: $line"
}

echo "1. array job and dependent merge"
submit "$work/run1"
wait_job "$array_job" COMPLETED
wait_job "$merge_job" COMPLETED
cmp "$work/reference.csv" "$work/run1/results.csv" || fail "merged shards differ from the unsharded run"
echo "  results.csv is byte-identical to the unsharded run"

echo "2. kill a task after its first row, then resubmit"
submit "$work/run2"
part="$work/run2/part-0.csv"
for _ in $(seq 600); do
    [ -f "$part" ] && [ "$(wc -l < "$part")" -ge 2 ] && break
    sleep 0.1
done
[ "$(wc -l < "$part")" -eq 2 ] || fail "task 0 should have exactly one row before the kill"
scancel --signal=KILL "${array_job}_0"
scancel "${array_job}_0"
wait_job "$merge_job" CANCELLED
[ ! -f "$work/run2/results.csv" ] || fail "the merge ran although a task was killed"
submit "$work/run2"
wait_job "$array_job" COMPLETED
wait_job "$merge_job" COMPLETED
cmp "$work/reference.csv" "$work/run2/results.csv" || fail "the resumed result differs from the unsharded run"
grep -q "already in $part, skipped" "$work/run2/shard-0.log" || fail "the resubmitted task did not resume"
echo "  resumed: the killed task's finished row was kept, the rest recomputed; byte-identical again"
echo "SLURM test passed"
