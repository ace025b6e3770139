#!/usr/bin/env bash
# Builds and runs the compat crates: sqlretry in one binary with each peer SQLite crate, on the
# lowest and highest rusqlite of its range, and on the system's libsqlite3. Each crate writes one
# file through the peer and through sqlretry at once and checks the count (see shared.rs).
#
# One target dir (compat/target) for all: the crates share most dependencies, so only sqlretry and
# the SQLite builds that differ are compiled again. Not `--locked`: sqlretry's own dependencies may
# grow; Cargo then adds them to these lock files and keeps the pinned rusqlite, checked below.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="$PWD/target"
# Smaller and faster debug builds: these binaries are run once, never debugged.
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_INCREMENTAL=0

# crate directory → the rusqlite its Cargo.lock pins ("-": whatever the peer allows)
crates=(
  "r2d2-sqlite -"
  "deadpool-sqlite -"
  "tokio-rusqlite -"
  "sqlx -"
  "rusqlite-lowest 0.32.1"
  "rusqlite-highest 0.43.0"
  "system-sqlite 0.40.2"
)

for entry in "${crates[@]}"; do
  read -r dir want <<<"$entry"
  echo "== compat/$dir"
  cargo fmt --manifest-path "$dir/Cargo.toml" -- --check
  env=()
  if [[ $dir == system-sqlite ]]; then
    env=(EXPECT_SQLITE="$(pkg-config --modversion sqlite3)")
  fi
  env "${env[@]}" cargo run --quiet --manifest-path "$dir/Cargo.toml"
  have=$(cargo tree --quiet --manifest-path "$dir/Cargo.toml" -i rusqlite --depth 0 | awk '{print $2}')
  echo "   rusqlite $have"
  if [[ $want != - && $have != "v$want" ]]; then
    echo "compat/$dir: expected rusqlite $want, got $have" >&2
    exit 1
  fi
done
echo "compat: all ${#crates[@]} combinations ok"
