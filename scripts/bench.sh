#!/usr/bin/env bash
# Benchmarks Cairn against Redis (appendonly yes, appendfsync always) on this machine.
#
#   scripts/bench.sh            full run (several minutes; the seek shard holds 10M LogGroups)
#   scripts/bench.sh --quick    short run (about two minutes after the build)
#
# The query benchmarks (scripts/bench_query.py) search and analyse 10M access-log lines in 4
# shards (300,000 with --quick; BENCH_QUERY_LINES sets it) against ripgrep, SQLite FTS5 and
# DuckDB, and ingest into a logstore with a full-text plus 6-field index against ingest without.
#
# Writes target/bench/results.json, docs/benchmarks.md and docs/benchmarks-ingest.png.
# Honours CARGO_TARGET_DIR (binaries), BENCH_OUT (default target/bench), BENCH_SKIP_BUILD=1,
# BENCH_SEEK_GROUPS (LogGroups written to the seek shard), BENCH_E2E_FRACTION (end-to-end rate as
# a fraction of the measured ingest maximum, default 0.5 as the target names) and BENCH_NO_DOCS=1 (no docs/ files).
set -euo pipefail

MODE=full
for a in "$@"; do
    case "$a" in
        --quick) MODE=quick ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument: $a" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${BENCH_OUT:-target/bench}
RAW=$OUT/raw
CAIRN=$TARGET_DIR/release/cairn
BENCH=$TARGET_DIR/release/cairn-bench

if [ "$MODE" = quick ]; then
    D=2; LARGE_D=4; E2E_D=4; CK_D=3; CK_PREFILL=5000; SEEK_N=${BENCH_SEEK_GROUPS:-100000}
    SEEK_Q=500; DISK_MIB=256; IDLE_S=3; QUERY_LINES=${BENCH_QUERY_LINES:-300000}
else
    D=10; LARGE_D=20; E2E_D=20; CK_D=10; CK_PREFILL=30000; SEEK_N=${BENCH_SEEK_GROUPS:-10000000}
    SEEK_Q=2000; DISK_MIB=2048; IDLE_S=10; QUERY_LINES=${BENCH_QUERY_LINES:-10000000}
fi
WRITERS_SCALE="1 2 4 8 16"

log() { printf '%s [bench] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- build ---------------------------------------------------------------------------------
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    cargo build --release --workspace --bins
fi
[ -x "$CAIRN" ] && [ -x "$BENCH" ] || { echo "missing $CAIRN or $BENCH" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------------------
if ! command -v rg >/dev/null; then
    log "installing ripgrep"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ripgrep >/dev/null
fi
QPY=$OUT/venv-query/bin/python
if [ ! -x "$QPY" ] || ! "$QPY" -c 'import aliyun.log, duckdb' 2>/dev/null; then
    log "installing the SLS Python SDK and DuckDB into $OUT/venv-query"
    mkdir -p "$OUT" && python3 -m venv "$OUT/venv-query"
    "$OUT/venv-query/bin/pip" install -q aliyun-log-python-sdk duckdb
fi
if ! command -v redis-server >/dev/null; then
    log "installing redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p "$OUT"
rm -rf "$RAW"; mkdir -p "$RAW"
WORK=$(mktemp -d "$OUT/run.XXXXXX")
WORK=$(cd "$WORK" && pwd)
CAIRN_PID=""; REDIS_PID=""; IDLE_PID=""
cleanup() {
    for p in $CAIRN_PID $REDIS_PID $IDLE_PID; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export CAIRN_ACCESS_KEY_ID=bench-ak
export CAIRN_ACCESS_KEY_SECRET=bench-secret-key
export CAIRN_LOG=warn

# Starts cairn on $1 (data dir) and $2 (port); sets STARTED_PID.
start_cairn() {
    local dir=$1 port=$2 out=$WORK/cairn-$2.out
    "$CAIRN" serve --listen "127.0.0.1:$port" --data-dir "$dir" >"$out" 2>"$WORK/cairn-$port.err" &
    STARTED_PID=$!
    for _ in $(seq 1 600); do
        grep -q "cairn listening on" "$out" 2>/dev/null && return 0
        kill -0 "$STARTED_PID" 2>/dev/null || { cat "$WORK/cairn-$port.err" >&2; return 1; }
        sleep 0.1
    done
    echo "cairn did not start" >&2; return 1
}

stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

json_get() { python3 -c "import json,sys; v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split('.'): v=v[k]
print(v)" "$1" "$2"; }

START_TS=$(date +%s)
log "mode $MODE, work dir $WORK"

# --- disk ----------------------------------------------------------------------------------
log "disk: dd ${DISK_MIB} MiB, O_DIRECT + fdatasync"
dd if=/dev/zero of="$WORK/dd.tmp" bs=1M count="$DISK_MIB" oflag=direct conv=fdatasync 2>"$WORK/dd.txt"
rm -f "$WORK/dd.tmp"
python3 - "$WORK/dd.txt" "$RAW/disk-dd.json" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
m = re.search(r"(\d+) bytes.*copied, ([\d.]+) s", text)
b, s = int(m.group(1)), float(m.group(2))
json.dump({"bytes": b, "seconds": s, "mb_s": b / s / 1e6, "dd": text.strip().splitlines()[-1]}, open(sys.argv[2], "w"))
EOF
log "disk: write 1 MiB + fdatasync loop"
"$BENCH" disk --dir "$WORK" --mib $((DISK_MIB / 2)) --chunk 1048576 >"$RAW/disk-fsync.json"

# --- servers -------------------------------------------------------------------------------
PORT=$(free_port)
mkdir -p "$WORK/cairn"
start_cairn "$WORK/cairn" "$PORT"; CAIRN_PID=$STARTED_PID
RPORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
    --appendfsync always --save "" --auto-aof-rewrite-percentage 0 --protected-mode no \
    --daemonize no --logfile "$WORK/redis.log" &
REDIS_PID=$!
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
RURL="redis://127.0.0.1:$RPORT/"
C=(--addr "127.0.0.1:$PORT" --pid "$CAIRN_PID")
R=(--url "$RURL" --pid "$REDIS_PID")

"$BENCH" setup "${C[@]}" --logstore ingest --shards 16 >/dev/null

# --- ingest at 1..16 writers ---------------------------------------------------------------
for w in $WRITERS_SCALE; do
    log "ingest: $w writers, ${D}s each side"
    "$BENCH" ingest "${C[@]}" --logstore ingest --writers "$w" --duration "$D" >"$RAW/ingest-cairn-w$w.json"
    "$BENCH" redis-ingest "${R[@]}" --clients "$w" --duration "$D" >"$RAW/ingest-redis-w$w.json"
done

# --- ingest with an index ------------------------------------------------------------------
log "ingest with a full-text plus 6-field index: 16 writers, ${D}s"
"$BENCH" setup "${C[@]}" --logstore ingestix --shards 16 >/dev/null
"$QPY" scripts/bench_query.py --index-logstore ingestix --port "$PORT"
"$BENCH" ingest "${C[@]}" --logstore ingestix --writers 16 --duration "$D" >"$RAW/ingest-indexed-cairn.json"
"$QPY" scripts/bench_query.py --index-logstore ingestix --port "$PORT" --wait --out "$RAW/ingest-indexed-lag.json"

# --- pull ----------------------------------------------------------------------------------
log "pull: everything written so far"
"$BENCH" pull "${C[@]}" --logstore ingest --shards 16 --concurrency 16 >"$RAW/pull-cairn.json"
"$BENCH" redis-pull "${R[@]}" --streams 16 >"$RAW/pull-redis.json"
# Redis keeps every stream in memory (about 10 GiB after a full ingest). The later workloads do
# not read these streams; free them so that neither server runs them with the machine's memory
# taken up by data it no longer needs.
redis-cli -p "$RPORT" flushall >/dev/null
redis-cli -p "$RPORT" memory purge >/dev/null
log "freed Redis's streams; $(awk '/MemAvailable/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) available"

# --- ingest of 1 MiB groups ----------------------------------------------------------------
log "ingest-large: 4 writers, 1 MiB groups"
"$BENCH" setup "${C[@]}" --logstore large --shards 4 >/dev/null
"$BENCH" ingest "${C[@]}" --logstore large --writers 4 --group-bytes 1048576 --distinct 8 \
    --duration "$LARGE_D" >"$RAW/ingest-large-cairn.json"

# --- end-to-end latency at half the measured maximum ---------------------------------------
RATE=$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['throughput']['groups_per_s'] * float(sys.argv[2]), 1))" \
    "$RAW/ingest-cairn-w16.json" "${BENCH_E2E_FRACTION:-0.5}")
log "e2e: $RATE LogGroups/s"
"$BENCH" setup "${C[@]}" --logstore e2e --shards 4 >/dev/null
"$BENCH" e2e "${C[@]}" --logstore e2e --shards 4 --producers 32 --rate "$RATE" --duration "$E2E_D" \
    >"$RAW/e2e-cairn.json"
"$BENCH" redis-e2e "${R[@]}" --streams 4 --producers 32 --rate "$RATE" --duration "$E2E_D" \
    >"$RAW/e2e-redis.json"

# --- checkpoint commits --------------------------------------------------------------------
log "checkpoint: 64 consumers"
"$BENCH" setup "${C[@]}" --logstore ckpt --shards 64 >/dev/null
"$BENCH" checkpoint "${C[@]}" --logstore ckpt --consumers 64 --duration "$CK_D" >"$RAW/checkpoint-cairn.json"
"$BENCH" redis-checkpoint "${R[@]}" --clients 64 --prefill "$CK_PREFILL" --duration "$CK_D" >"$RAW/checkpoint-redis.json"
REDIS_MEM=$("$BENCH" rss --pid "$REDIS_PID")
stop_pid "$REDIS_PID"; REDIS_PID=""

# --- seek ----------------------------------------------------------------------------------
log "seek: writing $SEEK_N small LogGroups to one shard"
"$BENCH" setup "${C[@]}" --logstore seek --shards 1 >/dev/null
"$BENCH" ingest "${C[@]}" --logstore seek --writers 32 --logs 1 --log-bytes 60 --distinct 256 \
    --total "$SEEK_N" --duration 86400 >"$RAW/seek-build.json"
log "seek: $SEEK_Q queries of each kind"
"$BENCH" seek "${C[@]}" --logstore seek --queries "$SEEK_Q" >"$RAW/seek-cairn.json"

# --- restart -------------------------------------------------------------------------------
CAIRN_MEM=$("$BENCH" rss --pid "$CAIRN_PID")
stop_pid "$CAIRN_PID"; CAIRN_PID=""
DATA_BYTES=$(du -sb "$WORK/cairn" | cut -f1)
log "restart: $DATA_BYTES bytes on disk"
"$BENCH" restart --addr "127.0.0.1:$PORT" --bin "$CAIRN" --data-dir "$WORK/cairn" --logstore ingest \
    >"$RAW/restart-cairn.json"
python3 -c "import json,sys; v=json.load(open(sys.argv[1])); v['data_bytes']=int(sys.argv[2]); json.dump(v,open(sys.argv[1],'w'))" \
    "$RAW/restart-cairn.json" "$DATA_BYTES"
rm -rf "$WORK/cairn"

# --- idle memory with 1,000 shards ---------------------------------------------------------
log "idle: 10 logstores x 100 shards on a fresh server"
IPORT=$(free_port)
mkdir -p "$WORK/idle"
start_cairn "$WORK/idle" "$IPORT"; IDLE_PID=$STARTED_PID
"$BENCH" many-shards --addr "127.0.0.1:$IPORT" --pid "$IDLE_PID" --logstores 10 --shards 100 \
    --idle "$IDLE_S" >"$RAW/idle-cairn.json"
stop_pid "$IDLE_PID"; IDLE_PID=""

# --- query ---------------------------------------------------------------------------------
log "query: $QUERY_LINES access-log lines, against ripgrep, SQLite FTS5 and DuckDB"
"$QPY" scripts/bench_query.py --cairn "$CAIRN" --work "$WORK/query" --lines "$QUERY_LINES" \
    --out "$RAW/query.json"
rm -rf "$WORK/query"

END_TS=$(date +%s)
printf '{"cairn": %s, "redis": %s}\n' "$CAIRN_MEM" "$REDIS_MEM" >"$RAW/final-memory.json"
log "workloads took $((END_TS - START_TS)) s"

# --- report --------------------------------------------------------------------------------
PY=python3
if ! "$PY" -c 'import matplotlib' 2>/dev/null; then
    if [ ! -x "$OUT/venv/bin/python" ] || ! "$OUT/venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
        log "installing matplotlib into $OUT/venv"
        python3 -m venv "$OUT/venv" && "$OUT/venv/bin/pip" install -q matplotlib || true
    fi
    [ -x "$OUT/venv/bin/python" ] && PY=$OUT/venv/bin/python
fi
CMD="scripts/bench.sh"; [ "$MODE" = quick ] && CMD="scripts/bench.sh --quick"
DOCS=(--md docs/benchmarks.md --png docs/benchmarks-ingest.png)
[ "${BENCH_NO_DOCS:-0}" = 1 ] && DOCS=(--md "$OUT/benchmarks.md" --png "$OUT/benchmarks-ingest.png")
"$PY" scripts/bench_report.py --raw "$RAW" --out "$OUT/results.json" "${DOCS[@]}" \
    --mode "$MODE" --command "$CMD" --seconds "$((END_TS - START_TS))" --e2e-fraction "${BENCH_E2E_FRACTION:-0.5}" \
    --cairn "$CAIRN" --redis-version "$(redis-server --version)"
log "wrote $OUT/results.json"
