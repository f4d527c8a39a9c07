#!/usr/bin/env bash
# The GPU check of issue 22 (benchmarks/gpu_check.py says what it measures): <= 5 minutes on one
# GPU. Prints every figure and writes gpu_check.json under --out DIR (default $OUT, else
# benchmarks/results). Without a CUDA device it refuses in one line with exit 2.
#
#   benchmarks/gpu_check.sh                      # on a machine with an NVIDIA GPU
#   benchmarks/gpu_check.sh --dry-run --out DIR  # every step at a tiny size on the CPU
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's siamese
export PYTHONUNBUFFERED=1
exec "${PYTHON:-python}" "$ROOT/benchmarks/gpu_check.py" "$@"
