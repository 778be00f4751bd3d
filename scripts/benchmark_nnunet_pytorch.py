#!/usr/bin/env python3
"""PyTorch reference timings for `Benchmarks nnunet`: a TotalSegmentator-sized nnU-Net
PlainConvUNet (dynamic_network_architectures 0.4.4; 6 stages, features 32..320, kernels 3,
strides [1,2,2,2,2,2], 25 classes, conv bias, InstanceNorm affine, LeakyReLU) on one seeded
128³ tile, with a fixed number of CPU threads.

  forward              model(x) under torch.no_grad
  forward_grad_frozen  forward with a graph, then the input gradient of the single-tile stitched
                       target: nnU-Net's Gaussian (compute_gaussian, 1/8, x10) times the class-c
                       logits over the voxels predicted as c; weights frozen, like the Swift engine
Each mode is the median of --runs runs after one warm-up and runs in its own process, so its peak
RSS (getrusage ru_maxrss) is its own. Output: one line per mode, e.g.
  pytorch nnunet forward_ms_median=20000.0 runs=1 threads=2 peak_rss_mb=2500.0

Usage: python3 scripts/benchmark_nnunet_pytorch.py [--runs 1] [--threads 2]
"""
import argparse
import resource
import statistics
import subprocess
import sys
import time

import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet
from nnunetv2.inference.sliding_window_prediction import compute_gaussian

MODES = ("forward", "forward_grad_frozen")


def run(mode: str, runs: int, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = PlainConvUNet(1, 6, [32, 64, 128, 256, 320, 320], torch.nn.Conv3d, 3, [1, 2, 2, 2, 2, 2], 2, 25, 2,
                          conv_bias=True, norm_op=torch.nn.InstanceNorm3d, norm_op_kwargs={"eps": 1e-5, "affine": True},
                          nonlin=torch.nn.LeakyReLU, nonlin_kwargs={"inplace": True}).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(1, 1, 128, 128, 128) * 4 - 2
    gaussian = compute_gaussian((128, 128, 128), sigma_scale=1. / 8, value_scaling_factor=10,
                                device=torch.device("cpu")).float()

    def once():
        if mode == "forward":
            with torch.no_grad():
                model(x)
            return
        xi = x.clone().requires_grad_(True)
        logits = model(xi)
        predicted = logits.argmax(dim=1)
        counts = torch.bincount(predicted.flatten(), minlength=25)
        counts[0] = -1
        c = int(counts.argmax())
        (logits[:, c] * (predicted == c) * gaussian).sum().backward()

    once()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pytorch nnunet {mode}_ms_median={statistics.median(times) * 1e3:.1f} runs={runs} threads={threads} "
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
