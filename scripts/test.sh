#!/usr/bin/env bash
# Builds every crate (the integration tests load the plugin libraries it produces), sets up
# libtorch and builds the `torch` model plugin (scripts/setup-torch.sh: a project-local venv, so
# the first run downloads about 530 MB), then runs every unit and integration test of the
# workspace and the torch plugin's own tests. Arguments go to the workspace's `cargo test` runs.
#
# The integration tests (tests/integration) run one process per test, two at a time: sled 0.34
# shares a lock and a thread pool between every database of a process, and a finished test's store
# closing while another test writes can deadlock inside sled (spacejam/sled#1308, never released).
# One database per process is how Agora itself runs, so each test gets exactly that. A test that
# runs longer than AGORA_TEST_TIMEOUT seconds (default 900) fails instead of hanging the run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace
bash scripts/setup-torch.sh
cargo test --workspace --exclude agora "$@"
cargo test -p agora --lib --bins "$@"
cargo test -p agora --doc "$@"

integration=$(cargo test -p agora --test integration --no-run 2>&1 | tee /dev/stderr |
  sed -n 's/^ *Executable tests\/integration\/main.rs (\(.*\))$/\1/p')
if [ ! -x "$integration" ]; then
  echo "could not find the integration test executable in cargo's output" >&2
  exit 1
fi
export AGORA_TEST_BINARY="$integration" AGORA_TEST_TIMEOUT="${AGORA_TEST_TIMEOUT:-900}"
tests=$("$integration" --list --format terse | sed -n 's/: test$//p')
echo "running $(echo "$tests" | wc -l) integration tests, one process each"
started=$SECONDS
failed=$(echo "$tests" | xargs -P 2 -I{} bash -c '
  if output=$(timeout "$AGORA_TEST_TIMEOUT" "$AGORA_TEST_BINARY" --exact "$1" --nocapture 2>&1); then
    echo "ok      $1" >&2
  else
    status=$?
    { echo "FAILED  $1 (exit $status$([ $status = 124 ] && echo ", timed out after ${AGORA_TEST_TIMEOUT} s"))"; echo "$output" | tail -n 200; } >&2
    echo "$1"
  fi' _ {})
echo "integration tests done in $((SECONDS - started)) s"
if [ -n "$failed" ]; then
  echo "failed integration tests:" >&2
  echo "$failed" >&2
  exit 1
fi
# One test at a time: libtorch's thread count is per process, and a test scoring one history on
# one thread while another test's fit runs on two changes that fit's arithmetic.
(cd plugins/model-torch && cargo test --release -- --test-threads=1)
