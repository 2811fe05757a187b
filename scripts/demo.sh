#!/usr/bin/env bash
# Install everything (idempotent) and run the main job on its embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/edgegeo demo --out out/demo "$@"
