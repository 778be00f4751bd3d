#!/usr/bin/env python3
"""Wall-clock time from launching `agg2exp` (bundled sample CT and model) under tmux to the first
frame that shows the attribution (the probe's percentile "(p…)" in the status line), with the
attribution cache warm. Reference: `echo` under the same harness.

    python3 scripts/bench_cached_reopen.py [.build/release/agg2exp] [runs]

Uses a private XDG_CACHE_HOME in a temporary directory; the first (untimed) run fills it.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/agg2exp")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp(prefix="agg2exp-reopen-")
env = f"XDG_CACHE_HOME={work}/cache AGG2EXP_SAMPLE_DATA={repo}/SampleData TERM=xterm-256color LANG=C.UTF-8"


first_frames = []


def timed(command, done, timeout=600.0):
    """Seconds from starting `command` in a 200x60 tmux pane until `done(screen)` holds; the time
    of the first frame (status line shown) goes to `first_frames`."""
    session = f"reopen-{os.getpid()}-{time.monotonic_ns()}"
    start = time.monotonic()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "60",
                    f"cd {work} && {command}; sleep 30"], check=True)
    first = None
    try:
        while time.monotonic() - start < timeout:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            if first is None and "ijk " in screen:
                first = time.monotonic() - start
                first_frames.append(first)
            if done(screen):
                return time.monotonic() - start
            time.sleep(0.01)
        raise SystemExit(f"timed out: {command}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session])


def attributed(screen):
    return "ijk " in screen and " (p" in screen


# A session that outlives the timed ones keeps one tmux server for the whole run.
keeper = f"reopen-keeper-{os.getpid()}"
subprocess.run(["tmux", "new-session", "-d", "-s", keeper, "sleep 600"], check=True)
print("filling the cache:", f"{timed(f'env {env} {binary}', attributed):.1f} s (prediction and gradient computed)", flush=True)
first_frames.clear()
reopen = [timed(f"env {env} {binary}", lambda s: attributed(s) and "from the cache" in s) for _ in range(runs)]
frames = list(first_frames)
echo = [timed("echo agg2exp-ready", lambda s: "agg2exp-ready" in s) for _ in range(runs)]
print("cached reopen to the first frame with the attribution: median %.0f ms (%s)"
      % (1000 * statistics.median(reopen), ", ".join(f"{1000 * t:.0f}" for t in reopen)))
print("first frame (before the attribution arrives) in the same runs: median %.0f ms"
      % (1000 * statistics.median(frames)))
print("echo under the same harness: median %.0f ms" % (1000 * statistics.median(echo)))
subprocess.run(["tmux", "kill-session", "-t", keeper])
