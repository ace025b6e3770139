#!/usr/bin/env bash
# Soak (issue 10; not in CI): the Writer, the Store and ingest on one file from three processes,
# with a foreign lock holder taking BEGIN EXCLUSIVE now and then, for SOAK_SECS (default 600).
# Prints acknowledged writes and lost ones (must be 0), integrity_check, RSS and open file
# descriptors per process (first minute against the last) and the WAL's size; exits non-zero on a
# lost write or a damaged file. Figures go to RELIABILITY.md ("Soak") with the date.
#
#   scripts/soak.sh            # 10 minutes
#   SOAK_SECS=60 scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_SECS="${SOAK_SECS:-600}"
exec cargo bench -p sqlretry --bench soak
