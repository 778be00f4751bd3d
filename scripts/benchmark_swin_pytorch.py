#!/usr/bin/env python3
"""PyTorch reference timings for `Benchmarks swin`: MONAI SwinUNETR as in Agg²Exp (feature 48,
use_v2, 17 classes, instance norm) on one seeded 96³ window, with a fixed number of CPU threads.

  forward              model(x) under torch.no_grad
  forward_grad_frozen  forward with a graph, then the input gradient of the sum of class-c logits
                       over the voxels predicted as c; weights frozen (requires_grad False), so
                       autograd forms no weight gradients, like the Swift engine
Each mode is the median of --runs runs after one warm-up and runs in its own process, so its peak
RSS (getrusage ru_maxrss) is its own. Output: one line per mode, e.g.
  pytorch swin forward_ms_median=14400.0 runs=1 threads=2 peak_rss_mb=2530.1

Usage: python3 scripts/benchmark_swin_pytorch.py [--runs 1] [--threads 2]
"""
import argparse
import resource
import statistics
import subprocess
import sys
import time

import torch
from monai.networks.nets import SwinUNETR

MODES = ("forward", "forward_grad_frozen")


def run(mode: str, runs: int, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = SwinUNETR(in_channels=1, out_channels=17, feature_size=48, use_v2=True).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(1, 1, 96, 96, 96)

    def once():
        if mode == "forward":
            with torch.no_grad():
                model(x)
            return
        xi = x.clone().requires_grad_(True)
        logits = model(xi)
        predicted = logits.argmax(dim=1)
        counts = torch.bincount(predicted.flatten(), minlength=17)
        counts[0] = -1
        c = int(counts.argmax())
        (logits[:, c] * (predicted == c)).sum().backward()

    once()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pytorch swin {mode}_ms_median={statistics.median(times) * 1e3:.1f} runs={runs} threads={threads} "
          f"peak_rss_mb={rss:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", choices=MODES)
    args = parser.parse_args()
    if args.mode:
        run(args.mode, args.runs, args.threads)
        return
    for mode in MODES:
        subprocess.run([sys.executable, __file__, "--mode", mode, "--runs", str(args.runs),
                        "--threads", str(args.threads)], check=True)


if __name__ == "__main__":
    main()
