#!/bin/bash
#
#  Copyright 2019 The FATE Authors. All Rights Reserved.
#
#  Licensed under the Apache License, Version 2.0 (the "License");
#  you may not use this file except in compliance with the License.
#
# Test stand-in for FATE 1.4.x python/fate_flow/service.sh (start|stop|status|restart), shaped as
# the real one and with its habits: bash ([[ ]], for ((…))), the server found again through ps,
# and started with
#     nohup python …/fate_flow_server.py >> "${log_dir}/console.log" 2>>"${log_dir}/error.log" &
# and nothing else: no setsid, no closing of inherited descriptors, no change of signals. The
# server keeps every descriptor its caller passed down for its whole life, as FATE's does.
#
# Tests cannot run FATE's server, so the process started is a small Python loop that plays it;
# its command line names ${PROJECT_BASE}/python/fate_flow/fate_flow_server.py, which is how
# getpid finds it (by full path, so that sandboxes side by side do not see each other's). The
# loop ends once the folder holding FATE_ROOT is gone (a sandbox removed), so a test run that dies
# does not leave it behind for long; FATE_ROOT itself may be moved aside and back meanwhile.

PROJECT_BASE=$(cd "$(dirname "$0")";cd ../;cd ../;pwd)
echo "PROJECT_BASE: "${PROJECT_BASE}

# As FATE's: the logs are inside python/ (FATE_PYTHON_ROOT/logs), which the upgrade moves aside.
log_dir=${PROJECT_BASE}/python/logs
module=${PROJECT_BASE}/python/fate_flow/fate_flow_server.py
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

mklogsdir() {
    if [[ ! -d $log_dir ]]; then
        mkdir -p $log_dir
    fi
}

status() {
    getpid
    if [[ -n ${pid} ]]; then
        echo "status: running, pid ${pid}"
        exit 0
    else
        echo "service not running"
        exit 1
    fi
}

start() {
    getpid
    if [[ ${pid} == "" ]]; then
        mklogsdir
        nohup python3 -c "${SERVER}" ${module} >> "${log_dir}/console.log" 2>>"${log_dir}/error.log" &
        for((i=1;i<=100;i++));
        do
            sleep 0.1
            getpid
            if [[ -n ${pid} ]]; then
                echo "service start sucessfully. pid: ${pid}"
                return
            fi
        done
        echo "service start failed"
        exit 1
    else
        echo "service already started. pid: ${pid}"
    fi
}

stop() {
    getpid
    if [[ -n ${pid} ]]; then
        echo "killing: ${pid}"
        kill -9 ${pid}
        if [[ $? -eq 0 ]]; then
            for((i=1;i<=100;i++));
            do
                getpid
                if [[ -z ${pid} ]]; then
                    echo "killed"
                    return
                fi
                sleep 0.1
            done
            echo "kill error"
            exit 1
        else
            echo "kill error"
            exit 1
        fi
    else
        echo "service not running"
    fi
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
        stop
        start
        ;;
    *)
        echo "usage: $0 {start|stop|status|restart}"
        exit 1
esac
