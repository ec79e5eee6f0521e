"""A kazoo session the tests keep open while they probe: ephemeral nodes live only as long as
the session that made them.

    python3 zookeeper_session.py SPEC_JSON

SPEC_JSON: {"hosts": [...], "digest": [user, password] or null, "timeout": seconds,
            "persistent": [path, ...],                       # made as FATE 1.4.0/1.4.1 made its node
            "register": {"base_conf": text, "ip": ..., "http_port": ...} or null}   # as fate_flow 1.4.4

Prints "created PATH" per persistent node, "log ..." per line fate_flow would log, "node PATH"
for the node register() names, then "ready"; then waits for standard input to close (the test
is done, or gone) or the timeout, and ends the session.
"""
import json
import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fate_flow_register  # noqa: E402


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    spec = json.loads(sys.argv[1])
    deadline = time.time() + spec.get("timeout", 120)
    clients = []

    if spec.get("persistent"):
        zk_config = {"hosts": spec["hosts"], "use_acl": spec.get("digest") is not None}
        if spec.get("digest"):
            zk_config["user"], zk_config["password"] = spec["digest"]
        zk = fate_flow_register.client(zk_config)
        zk.start(timeout=15)
        clients.append(zk)
        for path in spec["persistent"]:
            zk.create(path, makepath=True)
            say("created " + path)

    register = spec.get("register")
    if register:
        def log(message):
            for line in message.splitlines():
                say("log " + line)
        zk = fate_flow_register.register(register["base_conf"], register["ip"], register["http_port"], log)
        say("node " + fate_flow_register.node_path(register["ip"], register["http_port"]))
        if zk is not None:
            clients.append(zk)

    say("ready")
    while time.time() < deadline:
        readable, _, _ = select.select([sys.stdin], [], [], max(0.0, min(1.0, deadline - time.time())))
        if readable and not os.read(sys.stdin.fileno(), 4096):
            break
    for zk in clients:
        zk.stop()
        zk.close()


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:
        say("error %r" % (e,))
        sys.exit(1)
