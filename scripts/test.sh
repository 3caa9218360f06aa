#!/usr/bin/env bash
# Builds every crate (the integration tests load the plugin libraries it produces) and runs
# every unit and integration test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace
cargo test --workspace "$@"
