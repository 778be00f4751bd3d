#!/usr/bin/env bash
# Installs dependencies, then runs the whole test suite in release mode (numeric kernels are
# 10–50× slower in debug builds).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product agg2exp
swift test -c release "$@"
