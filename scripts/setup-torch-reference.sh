#!/usr/bin/env bash
# Makes `import torch` work in the project venv .venv, for the Python PyTorch reference that
# `agora bench train` runs beside the torch plugin (benches/sasrec_torch.py): the same torch 2.13.0
# wheel the plugin links, now with its dependencies (sympy, networkx, jinja2, the nvidia-* CUDA
# wheels, triton). scripts/setup-torch.sh leaves those out on purpose (see there); this adds about
# 3.9 GB to the venv (about 90 s here). Not needed by the tests or the quick start.
#
#   ./scripts/setup-torch.sh && ./scripts/setup-torch-reference.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
if [[ ! -x "$PY" ]]; then
    echo "$ROOT/.venv is missing: run scripts/setup-torch.sh first" >&2
    exit 1
fi
"$PY" -m pip install "torch==2.13.0"
"$PY" -c 'import torch; print(f"python torch {torch.__version__} imports; {torch.get_num_threads()} threads")'
