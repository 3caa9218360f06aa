#!/usr/bin/env bash
# Builds every crate (the integration tests load the plugin libraries it produces), sets up
# libtorch and builds the `torch` model plugin (scripts/setup-torch.sh: a project-local venv, so
# the first run downloads about 530 MB), then runs every unit and integration test of the
# workspace and the torch plugin's own tests. Arguments go to the workspace's `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace
bash scripts/setup-torch.sh
cargo test --workspace "$@"
(cd plugins/model-torch && cargo test --release)
