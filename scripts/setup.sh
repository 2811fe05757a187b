#!/usr/bin/env bash
# Idempotent set-up on a Debian/Ubuntu machine (root or sudo), Python >= 3.10:
#   - the system library Open3D needs (libusb-1.0-0),
#   - a virtual environment in .venv,
#   - the pinned CPU torch wheel (EDGEGEO_TORCH to override, e.g. a JetPack wheel),
#   - edgegeo itself, editable, with its Cython extensions built.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ldconfig -p | grep -q 'libusb-1.0.so.0'; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libusb-1.0-0 >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
py=.venv/bin/python

# Pin torch first: any other spec would pull several GB of CUDA wheels on an x86 CPU machine.
if ! $py -c "import torch" 2>/dev/null; then
    $py -m pip install -q "${EDGEGEO_TORCH:-torch==2.13.0}"
fi
$py -m pip install -q -e ".[dev]"
