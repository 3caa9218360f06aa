#!/usr/bin/env bash
# Creates the project-local Python venv (.venv) that `agora bench ingest` uses for its pandas
# comparison (benches/clean_pandas.py) and installs the pinned packages into it. Idempotent: an
# existing venv is reused, and nothing is fetched when the pinned versions are already there.
#
# pyarrow is pinned beside pandas on purpose: pandas 3 backs its default string dtype with pyarrow
# when it is installed (pure-Python objects otherwise), and the benchmark's read_csv uses the
# pyarrow engine. Without it pandas would run several times slower and the comparison would be a
# strawman. Override the interpreter with PYTHON=/path/to/python3 (3.11 or newer).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
PINS=(pandas==3.1.1 pyarrow==26.0.1 numpy==2.4.6)

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python - "${PINS[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (pin.split("==") for pin in sys.argv[1:])))
PY
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi
echo "python venv ready: $(.venv/bin/python -c 'import pandas, pyarrow; print(f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}")')"
