#!/usr/bin/env bash
# Broadcast fan-out benchmark of classctl's WebSocket stack, end to end on this machine.
#
# Builds the release binaries (classbench, ws-echo), builds the shared C loadgen into
# .build-bench/ (when ../shared/bench exists), then for every server and scenario starts
# a FRESH server process on 127.0.0.1, runs each load tool against it, stops it, and
# finally prints Markdown tables. Raw output: test-output/bench/<timestamp>/.
#
#   scripts/bench.sh                          # N=5000: latency + throughput, both tools; idle memory
#   scripts/bench.sh --all-sizes              # N=1000, 5000 and 10000
#   scripts/bench.sh --servers ws-echo --tools classbench --reps 2
#   scripts/bench.sh --scenarios memory       # only the idle-memory figures
#   scripts/bench.sh --skip-build --duration 5
#   scripts/bench.sh --conns 19000 --rates "1 10" --peer uws '/path/to/relay {port}'
#
# Servers:   ws-echo   .build/release/ws-echo --port P --broadcast   (this project)
#            node-ws   Node `ws` relay (needs `apt-get install -y node-ws`; skipped if missing)
#            classctl  a live class (scenario class: the instructor's announcements)
#            --peer NAME 'CMD {port}'  any other relay ({port} replaced; phones on ws://127.0.0.1:PORT/ws),
#                      e.g. a uWebSockets relay built outside this repository
# Tools:     classbench (this project) and loadgen (../shared/bench/loadgen; skipped if missing)
# Scenarios: latency    each --rates broadcasts/s (default 10) for --duration s, 256-byte messages
#            throughput --rate max --window 4 for --duration s
#            memory     server RSS growth per idle connection, without and with --deflate
#
# To add a scenario, write a function scenario_NAME taking (server, conns, rep) that calls
# run_on_fresh_server, and name it in --scenarios. To add a server, extend start_server.
# Everything stays on loopback, and every run is bounded by `timeout`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SERVERS="ws-echo node-ws classctl"
TOOLS="classbench loadgen"
SCENARIOS="latency throughput memory class"
CONNS="5000"
REPS=1
SIZE=256
RATES="10"
WINDOW=4
DURATION=10
SKIP_BUILD=0
PORT=${PORT_BASE:-9600}
WS_ECHO_ARGS=${WS_ECHO_ARGS:-"--broadcast"}
WS_ECHO_PATH=${WS_ECHO_PATH:-/}
OUT=${OUT:-test-output/bench/$(date -u +%Y%m%d-%H%M%S)}
PEERS=()
PEER_CMDS=()

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; }

# peer_cmd NAME -> the command line given with --peer NAME (empty if none)
peer_cmd() {
    local i
    for i in "${!PEERS[@]}"; do [ "${PEERS[$i]}" = "$1" ] && { echo "${PEER_CMDS[$i]}"; return 0; }; done
    return 1
}

while [ $# -gt 0 ]; do
    case "$1" in
    --servers) SERVERS=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --peer) PEERS+=("$2"); PEER_CMDS+=("$3"); SERVERS="$SERVERS $2"; shift 3 ;;
    --all-sizes) CONNS="1000 5000 10000"; shift ;;
    --reps) REPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

BENCH_BUILD=$ROOT/.build-bench
CLASSBENCH=$ROOT/.build/release/classbench
WS_ECHO=$ROOT/.build/release/ws-echo
CLASSCTL=$ROOT/.build/release/classctl
BENCH_TOKEN=bench-instructor-token-000000000000
LOADGEN=$BENCH_BUILD/loadgen
SHARED_BENCH=$ROOT/../shared/bench
NODE_RELAY=$BENCH_BUILD/node-relay.js
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
JSONL=$OUT/results.jsonl

log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- build

build() {
    if [ "$SKIP_BUILD" = 0 ]; then
        log "building release binaries"
        swift build -c release --product classbench 2>&1 | tail -n 1 >&2
        case " $SERVERS " in *" ws-echo "*) swift build -c release --product ws-echo 2>&1 | tail -n 1 >&2 ;; esac
        case " $SERVERS " in *" classctl "*) swift build -c release --product classctl 2>&1 | tail -n 1 >&2 ;; esac
        if [ -f "$SHARED_BENCH/loadgen/loadgen.c" ]; then
            log "building the shared loadgen into $LOADGEN"
            cc -O2 -o "$LOADGEN" "$SHARED_BENCH/loadgen/loadgen.c" -lz
        fi
    fi
    if [ -f "$SHARED_BENCH/peers/node-ws/relay.js" ]; then
        cp "$SHARED_BENCH/peers/node-ws/relay.js" "$NODE_RELAY"
    else
        write_node_relay
    fi
}

# The Node `ws` relay the peer figures were measured with (the ws README broadcast
# pattern), for machines without ../shared.
write_node_relay() {
    cat >"$NODE_RELAY" <<'EOF'
'use strict';
const { WebSocketServer, WebSocket } = require('ws');
const port = Number(process.argv[2]);
const flags = new Set(process.argv.slice(3));
const perMessageDeflate = flags.has('--deflate');
const wss = new WebSocketServer({ host: '127.0.0.1', port, path: '/ws', perMessageDeflate });
wss.on('connection', (ws) => {
  ws.on('error', console.error);
  ws.on('message', (data, isBinary) => {
    wss.clients.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
  });
});
wss.on('listening', () => console.log(`node-ws relay on ws://127.0.0.1:${port}/ws`));
EOF
}

server_available() {
    case "$1" in
    ws-echo) [ -x "$WS_ECHO" ] ;;
    classctl) [ -x "$CLASSCTL" ] ;;
    node-ws) command -v node >/dev/null && node -e "require('ws')" 2>/dev/null ;;
    *) peer_cmd "$1" >/dev/null ;;
    esac
}

tool_available() {
    case "$1" in
    classbench) [ -x "$CLASSBENCH" ] ;;
    loadgen) [ -x "$LOADGEN" ] ;;
    *) return 1 ;;
    esac
}

# ---------------------------------------------------------------- servers

SERVER_PID=
URL=

# start_server NAME PORT LOG [deflate] -> SERVER_PID, URL
# "deflate" asks servers that need a switch for permessage-deflate (node-ws) to enable it.
start_server() {
    local name=$1 port=$2 logfile=$3 deflate=${4:-}
    case "$name" in
    ws-echo)
        # shellcheck disable=SC2086
        "$WS_ECHO" --port "$port" $WS_ECHO_ARGS >"$logfile" 2>&1 &
        URL="ws://127.0.0.1:$port$WS_ECHO_PATH" ;;
    node-ws)
        node "$NODE_RELAY" "$port" ${deflate:+--deflate} >"$logfile" 2>&1 &
        URL="ws://127.0.0.1:$port/ws" ;;
    classctl)
        # A live class: phones join /ws?class=BENCH; the instructor's announcements are the
        # broadcasts (encoded once, framed once, through the class queue and the fan-out path).
        "$CLASSCTL" start --host 127.0.0.1 --port "$port" --code BENCH --token "$BENCH_TOKEN" \
            --record-dir "$OUT/recordings" --fresh --log-level warning >"$logfile" 2>&1 &
        URL="ws://127.0.0.1:$port/ws?class=BENCH" ;;
    *)
        local cmd
        cmd=$(peer_cmd "$name") || { log "unknown server $name"; return 1; }
        # shellcheck disable=SC2086
        ${cmd//\{port\}/$port} >"$logfile" 2>&1 &
        URL="ws://127.0.0.1:$port/ws" ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if ss -Hltn "sport = :$port" | grep -q LISTEN; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "$name exited at start:"; tail -n 5 "$logfile" >&2; SERVER_PID=; return 1
        fi
        sleep 0.1
    done
    log "$name did not listen on port $port"
    stop_server
    return 1
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
trap stop_server EXIT INT TERM

next_port() {
    PORT=$((PORT + 1))
    while ss -Hltn "sport = :$PORT" | grep -q LISTEN; do PORT=$((PORT + 1)); done
}

# ---------------------------------------------------------------- runs

# run_on_fresh_server SERVER TOOL LABEL SERVER_DEFLATE TOOL_ARGS...
# Starts the server, runs one tool with --sub-url/--server-pid/--label added, keeps the
# tool's output and appends its JSON line (or an error line) to results.jsonl.
run_on_fresh_server() {
    local server=$1 tool=$2 label=$3 server_deflate=$4
    shift 4
    local bin
    case "$tool" in classbench) bin=$CLASSBENCH ;; loadgen) bin=$LOADGEN ;; esac
    next_port
    local base
    base=$OUT/$(echo "$label" | tr / _)
    if ! start_server "$server" "$PORT" "$base.server.log" "$server_deflate"; then
        echo "{\"label\":\"$label\",\"error\":\"server start failed\"}" >>"$JSONL"
        return 0
    fi
    local cmd=("$bin" --sub-url "$URL" --server-pid "$SERVER_PID" --label "$label" --quiet "$@")
    log "-- $label  (load $(cut -d' ' -f1-3 /proc/loadavg))  ${cmd[*]}"
    local rc=0
    timeout "$((${DURATION%.*} + 150))" "${cmd[@]}" >"$base.txt" 2>&1 || rc=$?
    stop_server
    if grep -q '^{' "$base.txt"; then
        grep '^{' "$base.txt" | tail -n 1 >>"$JSONL"
        grep -E '^# (load|delivery|fan-out|throughput|server RSS)' "$base.txt" | sed 's/^/     /' >&2
    else
        log "   $tool failed (rc=$rc):"; tail -n 3 "$base.txt" >&2
        echo "{\"label\":\"$label\",\"error\":\"$tool rc=$rc\"}" >>"$JSONL"
    fi
    sleep 1
}

# Each scenario: (server, conns, rep), once per available tool.
scenario_latency() {
    local server=$1 n=$2 rep=$3 tool rate
    [ "$server" = classctl ] && return 0   # a class relays only the instructor: see scenario_class
    for rate in $RATES; do
        for tool in $TOOLS; do
            tool_available "$tool" || continue
            run_on_fresh_server "$server" "$tool" "$server/n$n/latency-$rate/$tool/$rep" "" \
                --conns "$n" --size "$SIZE" --rate "$rate" --duration "$DURATION"
        done
    done
}

scenario_throughput() {
    local server=$1 n=$2 rep=$3 tool
    [ "$server" = classctl ] && return 0
    for tool in $TOOLS; do
        tool_available "$tool" || continue
        run_on_fresh_server "$server" "$tool" "$server/n$n/throughput/$tool/$rep" "" \
            --conns "$n" --size "$SIZE" --rate max --window "$WINDOW" --duration "$DURATION"
    done
}

# The live class end to end: the instructor's command (an announcement carrying the marker)
# to the last phone, at 10 per second. Compare with scenario_latency on ws-echo at the same N.
scenario_class() {
    local server=$1 n=$2 rep=$3 rate
    [ "$server" = classctl ] || return 0
    tool_available classbench || return 0
    for rate in $RATES; do
        run_on_fresh_server classctl classbench "classctl/n$n/class-announce-$rate/classbench/$rep" "" \
            --conns "$n" --size "$SIZE" --rate "$rate" --duration "$DURATION" \
            --pub-hello "{\"type\":\"hello\",\"role\":\"instructor\",\"token\":\"$BENCH_TOKEN\"}" \
            --pub-template '{"type":"announce","text":"@@{seq}@@{pad}"}'
    done
}

# Idle memory per connection, plain and with permessage-deflate negotiated. The load
# phase is a token one (1 broadcast/s for 1 s); the figure is taken after the 2 s settle.
scenario_memory() {
    local server=$1 n=$2 rep=$3
    tool_available classbench || return 0
    run_on_fresh_server "$server" classbench "$server/n$n/memory-plain/classbench/$rep" "" \
        --conns "$n" --size "$SIZE" --rate 1 --duration 1
    run_on_fresh_server "$server" classbench "$server/n$n/memory-deflate/classbench/$rep" deflate \
        --conns "$n" --size "$SIZE" --rate 1 --duration 1 --deflate
}

# ---------------------------------------------------------------- report

summarize() {
    python3 - "$JSONL" <<'EOF'
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def ms(us): v = us / 1000.0; return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"
def pct(v): return "n/a" if v is None else f"{v:.0f}"
def kib(r):
    b = r.get("mem_per_conn_bytes")
    return "n/a" if b is None else f"{b / 1024:.2f}"
ok = [r for r in rows if "error" not in r]
errors = [r for r in rows if "error" in r]

def split(r):
    server, n, scenario, tool, rep = (r["label"].split("/") + [""] * 5)[:5]
    return server, n[1:], scenario, tool, rep

lat = [r for r in ok if split(r)[2].startswith("latency") or split(r)[2].startswith("class-announce")]
if lat:
    print("\n### Latency: 256 B (class: instructor announcements to every phone)\n")
    print("| server | tool | N | broadcasts/s | delivery p50 ms | p99 ms | p99.9 ms | fan-out p50 ms | fan-out p99 ms | lost | dups | server CPU % | machine busy % | load avg | KiB/conn |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in lat:
        s, n, scenario, tool, rep = split(r)
        rate = scenario.rsplit("-", 1)[-1]
        print(f"| {s} | {tool} {rep} | {n} | {rate} | {ms(r['lat_us']['p50'])} | {ms(r['lat_us']['p99'])} | {ms(r['lat_us']['p999'])} "
              f"| {ms(r['fanout_us']['p50'])} | {ms(r['fanout_us']['p99'])} | {r['lost']} | {r['dups']} "
              f"| {pct(r.get('server_cpu_pct'))} | {pct(r.get('system_busy_pct'))} | {r.get('loadavg_start')} | {kib(r)} |")
thr = [r for r in ok if split(r)[2] == "throughput"]
if thr:
    print("\n### Throughput: 256 B, window 4\n")
    print("| server | tool | N | deliveries/s | broadcasts/s | delivery p50 ms | p99 ms | fan-out p50 ms | lost | server CPU % | tool CPU % | machine busy % | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in thr:
        s, n, _, tool, rep = split(r)
        print(f"| {s} | {tool} {rep} | {n} | {r['deliveries_per_s']:,.0f} | {r['broadcasts_per_s']:.1f} | {ms(r['lat_us']['p50'])} "
              f"| {ms(r['lat_us']['p99'])} | {ms(r['fanout_us']['p50'])} | {r['lost']} | {pct(r.get('server_cpu_pct'))} "
              f"| {pct(r.get('loadgen_cpu_pct'))} | {pct(r.get('system_busy_pct'))} | {r.get('loadavg_start')} |")
mem = [r for r in ok if split(r)[2].startswith("memory")]
if mem:
    print("\n### Idle memory per connection (server RSS growth / open connections)\n")
    print("| server | N | permessage-deflate | negotiated on | RSS before KiB | RSS idle KiB | KiB/conn |")
    print("|---|---|---|---|---|---|---|")
    for r in mem:
        s, n, scenario, _, rep = split(r)
        print(f"| {s} | {n} | {'offered' if r['deflate_offered'] else 'no'} | {r['deflate_negotiated']}/{r['conns_open'] + 1} "
              f"| {r.get('rss_before_kb')} | {r.get('rss_idle_kb')} | {kib(r)} |")
for r in errors:
    print(f"\nerror: {r.get('label')}: {r.get('error')}")
EOF
}

# ---------------------------------------------------------------- main

for scenario in $SCENARIOS; do
    declare -F "scenario_$scenario" >/dev/null || { log "unknown scenario: $scenario"; exit 2; }
done
mkdir -p "$OUT" "$BENCH_BUILD"
build
tool_available classbench || { log "classbench was not built ($CLASSBENCH)"; exit 1; }
if ! tool_available loadgen; then
    if [ -f "$SHARED_BENCH/loadgen/loadgen.c" ]; then
        log "loadgen: not built in $LOADGEN (run without --skip-build): classbench only"
    elif [ "${CI:-}" = "true" ]; then
        log "loadgen: FAILED — ../shared/bench/loadgen is not beside this clone, and CI=true requires it"; exit 1
    else
        log "loadgen: skipped — ../shared/bench/loadgen is not beside this clone (it ships with the project's shared tools): classbench only"
    fi
fi
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host: $(nproc) cpus, $(uname -r)"
    echo "uptime at start: $(uptime)"
    echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$OUT/env.txt"
log "servers: $SERVERS  tools: $TOOLS  scenarios: $SCENARIOS  conns: $CONNS  reps: $REPS  -> $OUT"

for server in $SERVERS; do
    if ! server_available "$server"; then
        log "skipping $server (not available)"
        echo "{\"label\":\"$server\",\"error\":\"not available\"}" >>"$JSONL"
        continue
    fi
    for n in $CONNS; do
        for rep in $(seq 1 "$REPS"); do
            for scenario in $SCENARIOS; do
                "scenario_$scenario" "$server" "$n" "r$rep"
            done
        done
    done
done

summarize | tee "$OUT/summary.md"
log "results: $JSONL"
