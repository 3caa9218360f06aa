#!/usr/bin/env bash
# The main job on the embedded default: build Agora and its plugins, ingest the bundled shop
# (data/shop) into the sled store at data/agora.sled and print the data-quality report, train the
# recommendation models and forecast the sales (progress bars, then a validation table), then serve
# the JSON API (recommendations, forecasts, analytics, the chatbot's POST /api/v1/qa), /metrics and
# the admin console (/console)
# on http://127.0.0.1:7700 until Ctrl-C.
# Running it again resumes from the stored checkpoints and adds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
target/release/agora --config config/agora.toml ingest --once
target/release/agora --config config/agora.toml train
exec target/release/agora --config config/agora.toml serve
