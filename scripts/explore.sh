#!/usr/bin/env bash
# Installs dependencies, builds in release mode and opens the explorer on the bundled CT and model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product agg2exp
exec .build/release/agg2exp "$@"
