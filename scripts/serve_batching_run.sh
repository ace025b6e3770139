#!/bin/bash
# The fixed-vs-adaptive batching runs of BENCHMARKS.md (issue #11); the adaptive variant needs
# commit bed1575 (the code was not kept). Run from the repository root after a release build.
# run.sh VARIANT SCENARIO ROUND PORT -> one JSON line in results.jsonl
# VARIANT fixed|adaptive; SCENARIO load|max|lock
set -u
V=$1; S=$2; R=$3; PORT=$4
BIN=${BIN:-target/release/sqlretry}
D=${OUT:-target/tmp/bench}/run-$S-$V-$R; rm -rf $D; mkdir -p $D
case $V in
  fixed64) export SQLRETRY_SERVE_BATCHING=fixed SQLRETRY_WRITER_MAX_GROUP=64 ;;
  *) export SQLRETRY_SERVE_BATCHING=$V ;;
esac
$BIN serve --db $D/t.db --listen 127.0.0.1:$PORT > $D/serve.out 2> $D/serve.err &
SP=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
unset SQLRETRY_SERVE_BATCHING SQLRETRY_WRITER_MAX_GROUP
LP=
case $S in
  load) $BIN load --url http://127.0.0.1:$PORT --duration 30s --db $D/t.db --quiet --json > $D/load.json 2> $D/load.err ;;
  max)  $BIN load --url http://127.0.0.1:$PORT --rate 500 --batch 100 --duration 5s --max --p99-bound 50ms --db $D/t.db --quiet --json > $D/load.json 2> $D/load.err ;;
  lock) python3 $(dirname "$0")/foreign_exclusive_locker.py $D/t.db 31 > $D/locker.out 2>&1 & LP=$!
        $BIN load --url http://127.0.0.1:$PORT --duration 30s --db $D/t.db --quiet --json > $D/load.json 2> $D/load.err ;;
  high) $BIN load --url http://127.0.0.1:$PORT --rate 12500 --batch 100 --duration 10s --db $D/t.db --quiet --json > $D/load.json 2> $D/load.err ;;
  highlock) python3 $(dirname "$0")/foreign_exclusive_locker.py $D/t.db 11 > $D/locker.out 2>&1 & LP=$!
        $BIN load --url http://127.0.0.1:$PORT --rate 12500 --batch 100 --duration 10s --db $D/t.db --quiet --json > $D/load.json 2> $D/load.err ;;
esac
RC=$?
[ -n "$LP" ] && wait $LP
curl -s http://127.0.0.1:$PORT/api/tick-stats > $D/stats.json
curl -s http://127.0.0.1:$PORT/metrics > $D/metrics.txt
HWM=$(grep VmHWM /proc/$SP/status | awk '{print $2}')
kill -TERM $SP; wait $SP; SRC=$?
python3 - "$V" "$S" "$R" "$RC" "$SRC" "$HWM" "$D" >> ${OUT:-target/tmp/bench}/results.jsonl <<'PY'
import json, sys
v, s, r, rc, src, hwm, d = sys.argv[1:]
def load(p):
    try: return json.load(open(p))
    except Exception: return None
print(json.dumps({"variant": v, "scenario": s, "round": int(r), "load_rc": int(rc), "serve_rc": int(src),
                  "hwm_kb": int(hwm or 0), "load": load(d + "/load.json"), "stats": load(d + "/stats.json")}))
PY
