#!/bin/bash
#
# Test stand-in for FATE's python/fate_flow/service.sh (start|stop|status|restart).
#
# The real script starts `python fate_flow_server.py` and finds it again through the ports in
# base_conf.yaml (lsof); tests cannot run FATE, so this one starts a small background process
# that plays the server, and keeps its pid in FATE_ROOT/.fate_flow.pid: outside python/, so the
# service.sh of the tree an upgrade unpacks (or a rollback restores) finds the process the
# previous one started, and python/ trees still compare equal. It is run as `sh service.sh`
# (dash on Debian) as well as with bash, so it stays POSIX sh. Both start and stop succeed when
# there is nothing to do, because the upgrade script runs under `set -e`.

PROJECT_BASE=$(cd "$(dirname "$0")/../.." && pwd)
echo "PROJECT_BASE: ${PROJECT_BASE}"
PID_FILE=${PROJECT_BASE}/.fate_flow.pid
module=${PROJECT_BASE}/python/fate_flow/fate_flow_server.py

# The process writes its own pid (so it does not matter how many forks the shell makes), leaves
# the caller's session and open files (a caller reading our output through a pipe must see it
# end), and gives up by itself once FATE_ROOT is gone or after a day, so a test run that dies
# does not leave it behind for long.
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

# The pid in the pid file if that process is our server. A dead process whose parent never reaps
# it (PID 1 in some containers does not) still answers kill -0, and a pid can be reused, so the
# check is the command line, which is empty for a zombie.
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
        echo "status: running, pid ${pid}"
        return 0
    fi
    echo "service not running"
    return 3
}

start() {
    getpid
    if [ -n "${pid}" ]; then
        echo "service already started. pid: ${pid}"
        return 0
    fi
    rm -f "${PID_FILE}"
    python3 -c "${DAEMON}" "${module}" "${PROJECT_BASE}" "${PID_FILE}" </dev/null >/dev/null 2>&1 &
    i=0
    while [ $i -lt 200 ]; do
        getpid
        if [ -n "${pid}" ]; then
            echo "service start sucessfully. pid: ${pid}"
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    echo "service start failed"
    return 1
}

stop() {
    getpid
    if [ -z "${pid}" ]; then
        rm -f "${PID_FILE}"
        echo "service not running"
        return 0
    fi
    echo "killing: ${pid}"
    kill "${pid}"
    i=0
    while [ $i -lt 200 ]; do
        getpid
        if [ -z "${pid}" ]; then
            rm -f "${PID_FILE}"
            echo "killed"
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    kill -9 "${pid}" 2>/dev/null
    rm -f "${PID_FILE}"
    echo "killed (SIGKILL)"
}

case "$1" in
    start)
        start
        ;;
    stop)
        stop
        ;;
    status)
        status
        ;;
    restart)
        stop && start
        ;;
    *)
        echo "usage: $0 {start|stop|status|restart}"
        exit 1
        ;;
esac
