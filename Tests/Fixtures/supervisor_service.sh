#!/bin/bash
#
# Test stand-in for SUPERVISOR_ROOT/service.sh of FATE's ansible deployment:
# `service.sh start|stop|status|restart NAME`, answering like supervisorctl.
#
# A program is known by SUPERVISOR_ROOT/supervisord.d/NAME.conf, as with supervisord; its
# `directory=` line says where fate_flow_server.py lives. Real supervisord starts programs as its
# own children; this stand-in is harsher and starts the server itself the way fate_flow's
# service.sh does (nohup … &, keeping every inherited descriptor), so a caller that waits for
# the end of this script's output instead of for the script would hang here too.

SUPERVISOR_ROOT=$(cd "$(dirname "$0")" && pwd)
action=$1
name=$2

usage() {
    echo "usage: $0 {start|stop|status|restart} NAME"
    exit 1
}
[[ -n "${name}" ]] || usage
conf=${SUPERVISOR_ROOT}/supervisord.d/${name}.conf
if [[ ! -f "${conf}" ]]; then
    echo "${name}: ERROR (no such process)"
    exit 1
fi
directory=$(sed -n 's/^directory=//p' "${conf}")
module=${directory}/fate_flow_server.py
log_dir=${SUPERVISOR_ROOT}/logs
SERVER='
import os, re, select, socket, sys, time
python = os.path.dirname(os.path.dirname(sys.argv[1]))
base = os.path.dirname(os.path.dirname(python))
# As fate_flow does: the HTTP address comes from arch/conf/base_conf.yaml (fate_flow: host, http_port),
# and a port that cannot be bound ends the server with a traceback in error.log.
conf = open(os.path.join(python, "arch", "conf", "base_conf.yaml")).read()
block = re.search(r"^fate_flow:[ \t]*\n((?:[ \t]+.*\n?)*)", conf, re.M).group(1)
host = re.search(r"^[ \t]+host:[ \t]*(\S+)", block, re.M).group(1)
port = int(re.search(r"^[ \t]+http_port:[ \t]*(\d+)", block, re.M).group(1))
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen(16)
# As fate_flow does on start (settings.py reads server_conf.json, LoggerFactory writes under
# python/logs/fate_flow): the settings it runs with are logged there, where tests read them.
import json
def setting(pattern, text, default="?"):
    found = re.search(pattern, text, re.M)
    return found.group(1) if found else default
database = re.search(r"^database:[ \t]*\n((?:[ \t]+.*\n?)*)", conf, re.M)
database = database.group(1) if database else ""
servers = json.load(open(os.path.join(python, "arch", "conf", "server_conf.json")))["servers"]
tunables = open(os.path.join(python, "fate_flow", "settings.py")).read()
os.makedirs(os.path.join(python, "logs", "fate_flow"), exist_ok=True)
with open(os.path.join(python, "logs", "fate_flow", "fate_flow_stat.log"), "a") as log:
    log.write("fate_flow started: pid %d, http %s:%d, work_mode %s, database %s@%s, proxy %s:%s, MAX_CONCURRENT_JOB_RUN %s\n" % (
        os.getpid(), host, port, setting(r"^work_mode:[ \t]*(\S+)", conf), setting(r"^[ \t]+user:[ \t]*(\S+)", database),
        setting(r"^[ \t]+host:[ \t]*(\S+)", database), servers["proxy"]["host"], servers["proxy"]["port"],
        setting(r"^MAX_CONCURRENT_JOB_RUN[ \t]*=[ \t]*(\S+)", tunables)))
deadline = time.time() + 86400
print("fate_flow server started, pid %d, http %s:%d" % (os.getpid(), host, port), flush=True)
while os.path.isdir(base) and time.time() < deadline:
    if select.select([server], [], [], 1)[0]:
        client, _ = server.accept()
        client.settimeout(2)
        try:
            client.recv(65536)
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n{\"retcode\": 0, \"retmsg\": \"success\"}")
        except OSError:
            pass
        client.close()
'

getpid() {
    pid=`ps -eo pid,args | grep -F "${module}" | grep -v grep | awk '{print $1}' | head -n 1`
}

status() {
    getpid
    if [[ -n ${pid} ]]; then
        echo "${name}                    RUNNING   pid ${pid}"
        return 0
    fi
    echo "${name}                    STOPPED"
    return 3
}

start() {
    getpid
    if [[ -n ${pid} ]]; then
        echo "${name}: ERROR (already started)"
        return 0
    fi
    mkdir -p "${log_dir}"
    nohup python3 -c "${SERVER}" ${module} >> "${log_dir}/${name}.out" 2>>"${log_dir}/${name}.err" &
    for((i=1;i<=100;i++)); do
        sleep 0.1
        getpid
        if [[ -n ${pid} ]]; then
            echo "${name}: started"
            return 0
        fi
    done
    echo "${name}: ERROR (spawn error)"
    return 1
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
    echo "${name}: stopped (SIGKILL)"
}

case "${action}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    restart) stop && start ;;
    *) usage ;;
esac
