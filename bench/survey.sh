#!/usr/bin/env bash
# Benchmarks how fate-upgrade finds fate_flow (`status`: the survey of /proc, the TCP ports from
# /proc/net/tcp, the python trees and their releases, an HTTP request) against how FATE's own
# service.sh finds it (`lsof -i:HTTP_PORT` and `lsof -i:GRPC_PORT`, its getpid), in the same run:
#
#   bench/survey.sh [BUSY_PROCESSES]      (default: 0 200)
#
# For each count of extra idle processes on the host (sleep), it prints the median of 5 runs of
# `fate-upgrade status --json` and of service.sh's two lsof calls, and their ratio. The host is one
# FATE_ROOT with FATE 1.4.4's settings files and the stand-in fate_flow (Tests/Fixtures) running.
# Uses the static release binary unless FATE_UPGRADE_BIN names another.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(0 200)
RUNS=5
if [ -z "${FATE_UPGRADE_BIN:-}" ]; then
    scripts/release >&2
    BIN=$REPO/dist/$(cat dist/LATEST)/bin/fate-upgrade
else
    BIN=$FATE_UPGRADE_BIN
fi
command -v lsof >/dev/null || { echo "lsof is needed (FATE's service.sh uses it): apt-get install lsof" >&2; exit 1; }
WORK=$(mktemp -d /tmp/fate-upgrade-survey.XXXXXX)
SERVER=
SLEEPERS=()
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
    [ ${#SLEEPERS[@]} -gt 0 ] && kill "${SLEEPERS[@]}" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
seconds() { local start=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; echo "$(date +%s.%N) - $start" | bc; }
median() { printf '%s\n' "$@" | sort -g | sed -n 3p; }

ROOT=$WORK/fate
PY=$ROOT/python
HTTP=$(free_port); GRPC=$(free_port)
mkdir -p "$PY/arch/conf" "$PY/fate_flow/utils"
sed -e "s/http_port: 9380/http_port: $HTTP/" -e "s/grpc_port: 9360/grpc_port: $GRPC/" \
    Tests/Fixtures/fate-release/v1.4.4/arch/conf/base_conf.yaml > "$PY/arch/conf/base_conf.yaml"
cp Tests/Fixtures/fate-release/v1.4.4/arch/conf/server_conf.json "$PY/arch/conf/"
cp Tests/Fixtures/fate-release/v1.4.4/fate_flow/settings.py "$PY/fate_flow/"
cp Tests/Fixtures/fate_flow_server.py "$PY/fate_flow/"
mkdir -p "$PY/logs"
nohup python3 "$PY/fate_flow/fate_flow_server.py" >> "$PY/logs/console.log" 2>> "$PY/logs/error.log" &
SERVER=$!
for _ in $(seq 1 100); do lsof -i:"$HTTP" 2>/dev/null | grep -q LISTEN && break; sleep 0.1; done
lsof -i:"$HTTP" | grep -q LISTEN || { echo "the stand-in fate_flow did not start:"; cat "$PY/logs/error.log"; exit 1; } >&2
"$BIN" status --fate-root "$ROOT" | grep -q "running (pid $SERVER)" || { echo "status does not see pid $SERVER" >&2; exit 1; }

getpid() { lsof -i:"$HTTP" | grep LISTEN >/dev/null; lsof -i:"$GRPC" | grep LISTEN >/dev/null; }

printf '%-18s %12s %12s %8s\n' "processes" "status (s)" "lsof x2 (s)" "ratio"
for count in "${COUNTS[@]}"; do
    while [ ${#SLEEPERS[@]} -lt "$count" ]; do sleep 600 & SLEEPERS+=($!); done
    total=$(ls /proc | grep -c '^[0-9]')
    ours=(); theirs=()
    for _ in $(seq 1 $RUNS); do
        ours+=("$(seconds "$BIN" status --fate-root "$ROOT" --json)")
        theirs+=("$(seconds getpid)")
    done
    o=$(median "${ours[@]}"); t=$(median "${theirs[@]}")
    printf '%-18s %12.3f %12.3f %8.2f\n' "$total" "$o" "$t" "$(echo "$o / $t" | bc -l)"
done
