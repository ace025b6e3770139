#!/usr/bin/env bash
# Every test of the project, Rust and Python: the README's one test command, and what .ci/run calls.
#
# 1. `cargo test --workspace --all-features`: the library, the command, the stress harness (the
#    PostgreSQL tests are skipped with a notice where no server answers at 127.0.0.1:5432, unless
#    SQLRETRY_REQUIRE_POSTGRES=1).
# 2. scripts/test-python.sh: the Python package (crates/sqlretry-py, outside the Cargo workspace)
#    built with pip into a fresh virtual environment, then its pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-features
bash scripts/test-python.sh
