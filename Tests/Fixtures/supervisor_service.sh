#!/bin/bash
#
# Test stand-in for SUPERVISOR_ROOT/service.sh of FATE's ansible deployment:
# `service.sh start|stop|status|restart NAME`, answering like supervisorctl.
#
# A program is known by SUPERVISOR_ROOT/supervisord.d/NAME.conf, as with supervisord; its
# `directory=` line says where fate_flow_server.py lives. Like the stand-in for fate_flow's own
# service.sh, it runs a small background process in place of the server, keeps its pid in
# SUPERVISOR_ROOT/NAME.pid, stays POSIX sh, and succeeds when there is nothing to do (the upgrade
# script runs it under `set -e`).

SUPERVISOR_ROOT=$(cd "$(dirname "$0")" && pwd)
action=$1
name=$2

usage() {
    echo "usage: $0 {start|stop|status|restart} NAME"
    exit 1
}
[ -n "${name}" ] || usage
conf=${SUPERVISOR_ROOT}/supervisord.d/${name}.conf
if [ ! -f "${conf}" ]; then
    echo "${name}: ERROR (no such process)"
    exit 1
fi
directory=$(sed -n 's/^directory=//p' "${conf}")
module=${directory}/fate_flow_server.py
PID_FILE=${SUPERVISOR_ROOT}/${name}.pid

# Writes its own pid, leaves the caller's session and open files, and gives up once
# SUPERVISOR_ROOT is gone or after a day (see fate_flow_service.sh).
DAEMON='
import os, signal, sys, time
module, base, pid_file = sys.argv[1:4]
# A parent may hand down blocked or ignored signals (threads of a test runner block most of them);
# stop must be able to end this process with a plain kill.
signal.pthread_sigmask(signal.SIG_SETMASK, [])
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.signal(signal.SIGINT, signal.SIG_DFL)
try:
    os.setsid()
except OSError:
    pass
os.closerange(3, 4096)
with open(pid_file + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.replace(pid_file + ".tmp", pid_file)
deadline = time.time() + 86400
while os.path.isdir(base) and time.time() < deadline:
    time.sleep(1)
'

# Our process only: a zombie or a reused pid has another (or an empty) command line.
getpid() {
    pid=
    [ -f "${PID_FILE}" ] || return 0
    candidate=$(cat "${PID_FILE}" 2>/dev/null)
    case "${candidate}" in ''|*[!0-9]*) return 0 ;; esac
    if tr '\000' '\n' < "/proc/${candidate}/cmdline" 2>/dev/null | grep -qxF "${module}"; then
        pid=${candidate}
    fi
}

status() {
    getpid
    if [ -n "${pid}" ]; then
        echo "${name}                    RUNNING   pid ${pid}"
        return 0
    fi
    echo "${name}                    STOPPED"
    return 3
}

start() {
    getpid
    if [ -n "${pid}" ]; then
        echo "${name}: ERROR (already started)"
        return 0
    fi
    rm -f "${PID_FILE}"
    python3 -c "${DAEMON}" "${module}" "${SUPERVISOR_ROOT}" "${PID_FILE}" </dev/null >/dev/null 2>&1 &
    i=0
    while [ $i -lt 200 ]; do
        getpid
        if [ -n "${pid}" ]; then
            echo "${name}: started"
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    echo "${name}: ERROR (spawn error)"
    return 1
}

stop() {
    getpid
    if [ -z "${pid}" ]; then
        rm -f "${PID_FILE}"
        echo "${name}: ERROR (not running)"
        return 0
    fi
    kill "${pid}"
    i=0
    while [ $i -lt 200 ]; do
        getpid
        if [ -z "${pid}" ]; then
            rm -f "${PID_FILE}"
            echo "${name}: stopped"
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    kill -9 "${pid}" 2>/dev/null
    rm -f "${PID_FILE}"
    echo "${name}: stopped (SIGKILL)"
}

case "${action}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    restart) stop && start ;;
    *) usage ;;
esac
