#!/bin/bash
#
# Test stand-in for SUPERVISOR_ROOT/service.sh of FATE's ansible deployment:
# `service.sh start|stop|status|restart NAME`, answering as supervisorctl 3.x does, exit status
# included: 0 for a spawn error, for "no such process" and for "not running" alike (only
# supervisor 4.x returns 7 on a spawn error), so a caller must judge the program by its process.
#
# A program is known by SUPERVISOR_ROOT/supervisord.d/NAME.conf, as with supervisord: its
# `command=` runs in its `directory=` (FATE's: `python fate_flow_server.py` in python/fate_flow),
# and its pid is what supervisord keeps (here SUPERVISOR_ROOT/run/NAME.pid), so a stop finds it
# wherever its tree was moved. As supervisord's `startsecs=1`, a program that dies within 1 s is a
# spawn error. Real supervisord starts programs as its own children; this stand-in is harsher and
# starts the program itself the way fate_flow's service.sh does (nohup … &, keeping every inherited
# descriptor), so a caller that waits for the end of this script's output instead of for the
# script would hang here too.

SUPERVISOR_ROOT=$(cd "$(dirname "$0")" && pwd)
action=$1
name=$2

usage() {
    echo "usage: $0 {start|stop|status|restart} NAME"
    exit 0
}
[[ -n "${name}" ]] || usage
conf=${SUPERVISOR_ROOT}/supervisord.d/${name}.conf
if [[ ! -f "${conf}" ]]; then
    echo "${name}: ERROR (no such process)"
    exit 0
fi
directory=$(sed -n 's/^directory=//p' "${conf}")
command=$(sed -n 's/^command=//p' "${conf}")
log_dir=${SUPERVISOR_ROOT}/logs
pid_file=${SUPERVISOR_ROOT}/run/${name}.pid

getpid() {
    pid=
    if [[ -f ${pid_file} ]]; then
        pid=$(cat "${pid_file}")
        if [[ -z ${pid} ]] || ! kill -0 "${pid}" 2>/dev/null || grep -q '^State:.*Z' /proc/${pid}/status 2>/dev/null; then
            pid=
        fi
    fi
}

status() {
    getpid
    if [[ -n ${pid} ]]; then
        echo "${name}                    RUNNING   pid ${pid}"
    else
        echo "${name}                    STOPPED"
    fi
}

start() {
    getpid
    if [[ -n ${pid} ]]; then
        echo "${name}: ERROR (already started)"
        return 0
    fi
    mkdir -p "${SUPERVISOR_ROOT}/run"
    if ! mkdir -p "${log_dir}" 2>/dev/null || ! cd "${directory}" 2>/dev/null; then
        echo "${name}: ERROR (spawn error)"
        return 0
    fi
    nohup ${command} >> "${log_dir}/${name}.out" 2>>"${log_dir}/${name}.err" &
    echo $! > "${pid_file}"
    sleep 1
    getpid
    if [[ -n ${pid} ]]; then
        echo "${name}: started"
    else
        echo "${name}: ERROR (spawn error)"
    fi
}

stop() {
    getpid
    if [[ -z ${pid} ]]; then
        echo "${name}: ERROR (not running)"
        return 0
    fi
    kill ${pid}
    for((i=1;i<=100;i++)); do
        getpid
        if [[ -z ${pid} ]]; then
            echo "${name}: stopped"
            return 0
        fi
        sleep 0.1
    done
    kill -9 ${pid} 2>/dev/null
    echo "${name}: stopped"
}

case "${action}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    restart) stop; start ;;
    *) usage ;;
esac
exit 0
