#
#  Copyright 2019 The FATE Authors. All Rights Reserved.
#
#  Licensed under the Apache License, Version 2.0 (the "License");
#  you may not use this file except in compliance with the License.
#
# Test stand-in for FATE 1.4.x python/fate_flow/fate_flow_server.py. Tests cannot run FATE's server,
# so this file plays it where FATE's is: inside python/fate_flow of every tree, started the way FATE
# starts it (service.sh: `nohup python ${FATE_PYTHON_ROOT}/fate_flow/fate_flow_server.py >> … &`;
# supervisord: `python fate_flow_server.py` in `directory=`). It does what fate_flow does on start
# that an upgrade can get wrong, with FATE's habits:
# - reads python/arch/conf/base_conf.yaml, settings.py and server_conf.json of the tree it is in,
#   once, at start (a later change is not seen until a restart);
# - binds fate_flow.host with http_port and grpc_port; a port that cannot be bound ends it with a
#   traceback in error.log (service.sh still exits 0);
# - in cluster mode (work_mode 1) logs in to base_conf.yaml's database with PyMySQL, as fate_flow
#   does, and dies with a traceback when it cannot;
# - in standalone mode (work_mode 0, or --standalone_node) opens python/fate_flow/fate_flow_sqlite.db and keeps it open;
# - with use_registry, registers in ZooKeeper as fate_flow 1.4.4 does (fate_flow_register.py);
# - logs what it runs with to python/logs/fate_flow/fate_flow_stat.log, where tests read it;
# - keeps every descriptor it inherited; no session of its own.
# It ends once the folder holding FATE_ROOT is gone (a sandbox removed), so a test run that dies
# does not leave it behind for long; its own tree may be moved aside and back meanwhile.
import json
import os
import re
import select
import socket
import sys
import time

python = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))
base = os.path.dirname(os.path.dirname(python))


def block(name, text):
    found = re.search(r"^%s:[ \t]*\n((?:[ \t]+.*\n?)*)" % name, text, re.M)
    return found.group(1) if found else ""


def setting(pattern, text, default="?"):
    found = re.search(pattern, text, re.M)
    return found.group(1) if found else default


import yaml
conf = open(os.path.join(python, "arch", "conf", "base_conf.yaml")).read()
settings = yaml.safe_load(conf)
flow = settings.get("fate_flow") or {}
host = str(flow.get("host", "0.0.0.0"))
http_port = int(flow.get("http_port", 9380))
grpc_port = int(flow.get("grpc_port", 9360))
work_mode = str(settings.get("work_mode", 0))
# As fate_flow_server.py's own flag: standalone whatever base_conf.yaml says.
if "--standalone_node" in sys.argv[1:]:
    work_mode = "0"
database = block("database", conf)
servers = json.load(open(os.path.join(python, "arch", "conf", "server_conf.json")))["servers"]
tunables = open(os.path.join(python, "fate_flow", "settings.py")).read()

# As ServiceUtils.register() at fate_flow 1.4.4's start, before its servers: with use_registry, an
# ephemeral node in ZooKeeper under this host's IP (gethostbyname(getfqdn())) and http_port; an
# unreachable ZooKeeper ends it, a refused create is only logged (fate_flow_register.py, which the
# trees carry as fate_flow/utils/service_utils.py).
registry = None
if settings.get("use_registry", False):
    import importlib.util
    spec = importlib.util.spec_from_file_location("service_utils", os.path.join(python, "fate_flow", "utils", "service_utils.py"))
    service_utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(service_utils)
    os.makedirs(os.path.join(python, "logs", "fate_flow"), exist_ok=True)
    def stat_log(message):
        with open(os.path.join(python, "logs", "fate_flow", "fate_flow_stat.log"), "a") as log:
            log.write(message.rstrip("\n") + "\n")
    registry = service_utils.register(conf, socket.gethostbyname(socket.getfqdn()), http_port, stat_log)

listeners = []
for port in (grpc_port, http_port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(16)
    listeners.append(server)
http = listeners[1]

# As fate_flow (peewee over PyMySQL) in cluster mode: it logs in to base_conf.yaml's database at start,
# and a database it cannot reach, or credentials it is refused with, end it with a traceback.
mysql = None
if work_mode == "1":
    import pymysql
    db = settings.get("database") or {}
    mysql = pymysql.connect(host=str(db.get("host")), port=int(db.get("port", 3306)), user=str(db.get("user")),
                            password=str(db.get("passwd", "")), database=str(db.get("name")), connect_timeout=5)

sqlite = None
if work_mode == "0":
    import sqlite3
    sqlite = sqlite3.connect(os.path.join(python, "fate_flow", "fate_flow_sqlite.db"))
    sqlite.execute("CREATE TABLE IF NOT EXISTS t_job (f_job_id VARCHAR(25) PRIMARY KEY)")
    sqlite.commit()

os.makedirs(os.path.join(python, "logs", "fate_flow"), exist_ok=True)
with open(os.path.join(python, "logs", "fate_flow", "fate_flow_stat.log"), "a") as log:
    log.write("fate_flow started: pid %d, http %s:%d, grpc %d, work_mode %s, database %s@%s, proxy %s:%s, MAX_CONCURRENT_JOB_RUN %s\n" % (
        os.getpid(), host, http_port, grpc_port, work_mode, setting(r"^[ \t]+user:[ \t]*(\S+)", database),
        setting(r"^[ \t]+host:[ \t]*(\S+)", database), servers["proxy"]["host"], servers["proxy"]["port"],
        setting(r"^MAX_CONCURRENT_JOB_RUN[ \t]*=[ \t]*(\S+)", tunables)))
print("fate_flow server started, pid %d, http %s:%d, grpc %d" % (os.getpid(), host, http_port, grpc_port), flush=True)

deadline = time.time() + 86400
while os.path.isdir(base) and time.time() < deadline:
    for ready in select.select(listeners, [], [], 1)[0]:
        client, _ = ready.accept()
        client.settimeout(2)
        try:
            client.recv(65536)
            if ready is http:
                client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n{\"retcode\": 0, \"retmsg\": \"success\"}")
        except OSError:
            pass
        client.close()
