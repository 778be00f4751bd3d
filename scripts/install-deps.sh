#!/usr/bin/env bash
# Installs the Debian packages agg2exp builds against (idempotent; needs root or sudo).
set -euo pipefail
packages=(libncurses-dev libnifti-dev libopenblas-dev tmux pkg-config graphviz librsvg2-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi
