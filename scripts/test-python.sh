#!/usr/bin/env bash
# Builds the Python package (crates/sqlretry-py) the way a user installs it — `pip install` of
# the source directory into a fresh virtual environment, maturin fetched by pip — and runs its
# pytest suite. Also runs cargo fmt --check and clippy -D warnings on the extension crate, which
# lives outside the Cargo workspace.
#
# Usage: scripts/test-python.sh [pytest arguments...]
# Environment: PYTHON (default python3), CARGO_TARGET_DIR (default target/ at the repository
# root; the venv goes under it), SQLRETRY_PY_SKIP_LINT=1 to skip fmt/clippy.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
crate="$root/crates/sqlretry-py"
python="${PYTHON:-python3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
venv="$CARGO_TARGET_DIR/sqlretry-py-venv"

if [[ "${SQLRETRY_PY_SKIP_LINT:-0}" != 1 ]]; then
    echo "== cargo fmt --check (crates/sqlretry-py)"
    cargo fmt --manifest-path "$crate/Cargo.toml" -- --check
    echo "== cargo clippy (crates/sqlretry-py)"
    cargo clippy --manifest-path "$crate/Cargo.toml" --all-targets -- -D warnings
fi

echo "== venv $venv"
"$python" -m venv "$venv"
echo "== pip install ./crates/sqlretry-py pytest"
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$crate"
"$venv/bin/python" -m pip install --quiet pytest

echo "== pytest"
cd "$crate/tests"
set +e
"$venv/bin/python" -m pytest -p no:cacheprovider -q "$@" .
status=$?
set -e
if [[ $status -eq 5 ]]; then
    echo "test-python.sh: pytest collected no tests" >&2
    exit 1
fi
exit $status
