#!/usr/bin/env bash
# Creates the project-local Python venvs the benchmarks compare against and installs the pinned
# packages into them. Idempotent: an existing venv is reused, and nothing is fetched when the
# pinned versions are already there.
#
# - .venv: pandas for `agora bench ingest` (benches/clean_pandas.py). pyarrow is pinned beside
#   pandas on purpose: pandas 3 backs its default string dtype with pyarrow when it is installed
#   (pure-Python objects otherwise), and the benchmark's read_csv uses the pyarrow engine. Without
#   it pandas would run several times slower and the comparison would be a strawman.
# - .venv-forecast: statsforecast for `agora bench forecast` (benches/forecast_statsforecast.py).
#   A venv of its own because statsforecast 2.1 requires pandas < 3.
#
# Override the interpreter with PYTHON=/path/to/python3 (3.11 or newer).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"

# venv_with DIR PIN...: creates DIR if needed and installs the pins unless they are all there.
venv_with() {
    local dir="$1"
    shift
    if [ ! -x "$dir/bin/python" ]; then
        "$PYTHON" -m venv "$dir"
    fi
    if ! "$dir/bin/python" - "$@" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (pin.split("==") for pin in sys.argv[1:])))
PY
        "$dir/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check "$@"
    fi
}

venv_with .venv pandas==3.1.1 pyarrow==26.0.1 numpy==2.4.6
venv_with .venv-forecast statsforecast==2.1.1 pandas==2.3.3 numpy==2.4.6
echo "python venvs ready: $(.venv/bin/python -c 'import pandas, pyarrow; print(f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}")');" \
    "$(.venv-forecast/bin/python -c 'from importlib.metadata import version; print("statsforecast", version("statsforecast"))')"
