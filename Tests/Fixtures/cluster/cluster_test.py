#!/usr/bin/env python3
"""Whole-cluster upgrade through Ansible, against sandbox hosts on this machine.

    python3 Tests/Fixtures/cluster/cluster_test.py SCENARIO [--keep-going] [--verbose]

Scenarios: full, preflight-stop, fateflow-fails-then-rollback, rollback-full (`list` prints them).
Exit 0 when the scenario passes; 1 with the failed checks on stderr; 2 for a usage or setup error.

Needs root (network and mount namespaces), iproute2, util-linux (unshare, nsenter), openssh-server,
MariaDB (server, client, mariadb-install-db) and python3-venv; ansible-core comes from
scripts/ansible-env (run here when ansible-playbook is missing).

Every sandbox host is a network namespace `fu<pid>-<name>` reached over a veth pair from an unused
10.x.y.0/24, with its own PID and mount namespaces, the pid 1 of which (init.py) bind-mounts the
host's folder onto /data/projects and runs sshd; mariadbd and fate_flow run inside them as on a real
host. Everything is torn down at the end, on failure, on Ctrl-C and on SIGTERM; if this process is
killed outright (SIGKILL), a reaper started first (in a process group of its own) tears down from the state file.
Nothing here closes inherited descriptors (subprocess does by default: every call passes close_fds=False) or
makes a session, as neither FATE's service.sh nor an operator's shell does; process groups only bound time.

Environment: FATE_UPGRADE_BIN (the tool; default the static release in dist/),
FATE_UPGRADE_ANSIBLE_VENV (default /opt/fate-upgrade-ansible), FATE_UPGRADE_VERIFY=0|1 (force the
verify plays off/on; default on when the binary knows `verify`), CLUSTER_TEST_KEEP=1 (leave the
sandbox up for inspection: prints how to tear it down).
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent
REPO = FIXTURES.parent.parent
ANSIBLE_DIR = REPO / "ansible"
def _release_binary():
    """The static release scripts/release built last (dist/LATEST names it)."""
    try:
        name = (REPO / "dist/LATEST").read_text().strip()
    except OSError:
        name = "fate-upgrade-unknown-linux-x86_64"
    return REPO / "dist" / name / "bin/fate-upgrade"


DEFAULT_BIN = _release_binary()

SCENARIOS = ["full", "preflight-stop", "fateflow-fails-then-rollback", "rollback-full"]
HOSTS = [("mysql", "mysql"), ("fateflow", "fateflow"), ("nm1", "nodemanager"), ("nm2", "nodemanager")]
# Inventory names: ansible warns when a host and a group share a name.
INV = {"mysql": "db", "fateflow": "flow", "nm1": "nm1", "nm2": "nm2"}

DB_ROOT_PASS = "r00t p@ss'\"$;#`\\!密"
DB_USER = "fate_dev"
DB_PASS = "Fate_dev'\"$;#`\\!密"

FATE_ROOT = "/data/projects/fate"
SUPERVISOR_ROOT = "/data/projects/common/supervisord"
MYSQL_ROOT = FATE_ROOT + "/common/mysql/mysql-8.0.13"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MARIADB_TUNING = [
    "--skip-networking", "--skip-name-resolve", "--skip-log-bin",
    "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
    "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--innodb-use-native-aio=0",
    "--innodb-flush-log-at-trx-commit=2", "--key-buffer-size=1M", "--aria-pagecache-buffer-size=8M",
    "--max-connections=50",
]

START = time.monotonic()


class Failure(Exception):
    """A failed check or a broken setup step: the message says which."""


class Interrupted(BaseException):
    pass


def log(message):
    print("[%6.1fs] %s" % (time.monotonic() - START, message), flush=True)


def redact(text):
    for secret in (DB_PASS, DB_ROOT_PASS):
        text = text.replace(secret, "<SECRET>")
    return text


def run(argv, timeout=60, check=True, input=None, env=None, cwd=None, stdin=None):
    """Runs a program to completion within `timeout` seconds (its process group is killed on
    timeout); returns the CompletedProcess with text stdout/stderr."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else (stdin or subprocess.DEVNULL),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                               process_group=0, close_fds=False)
    try:
        out, err = process.communicate(input.encode() if isinstance(input, str) else input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process.pid)
        process.communicate()
        raise Failure("timed out after %ss: %s" % (timeout, " ".join(map(str, argv))))
    result = subprocess.CompletedProcess(argv, process.returncode, out.decode(errors="replace"),
                                         err.decode(errors="replace"))
    if check and result.returncode != 0:
        raise Failure("%s exited %d:\n%s%s" % (" ".join(map(str, argv)), result.returncode,
                                                redact(result.stdout), redact(result.stderr)))
    return result


def kill_group(pid, sig=signal.SIGKILL):
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def start_time(pid):
    """When the process started (clock ticks since boot, field 22 of /proc/PID/stat), or None when it is
    gone. A pid alone does not name a process for long: pids wrap (pid_max is 32768 on many machines)
    and a dead launcher's number soon belongs to a process of another test."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def signal_process(process, sig):
    """Sends `sig` to a process recorded as [pid, start time], only if that pid is still that process."""
    pid, started = process
    if started is not None and start_time(pid) == started:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def cmdline(pid):
    """The arguments of a process ([] when gone). A process in the middle of execve shows none for a
    moment, as fate_flow right after service.sh's `nohup python …`: read again, briefly (kernel
    threads and zombies have none)."""
    for _ in range(40):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                data = f.read()
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return []
        if data or fields[0] == "Z" or int(fields[6]) & 0x00200000:  # PF_KTHREAD
            return data.split(b"\0") if data else []
        time.sleep(0.005)
    return []


# ---------------------------------------------------------------------------------------------
# Teardown, shared by the driver and its reaper: everything is recorded in a state file first.
# ---------------------------------------------------------------------------------------------

def netns_pids(ns):
    try:
        out = subprocess.run(["ip", "netns", "pids", ns], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=10, close_fds=False).stdout.decode()
        return [int(x) for x in out.split()]
    except (subprocess.TimeoutExpired, ValueError):
        return []


def teardown(state):
    """Kills every process of the sandbox (by pid: the hosts' inits, whatever is in their network
    namespaces, ssh masters using this run's control folder), deletes namespaces and veths, and
    removes the temporary folder. Safe to run twice."""
    inits = [h["init"] for h in state.get("hosts", {}).values() if h.get("init")]
    for init in inits:
        signal_process(init, signal.SIGTERM)
    deadline = time.time() + 5
    while time.time() < deadline and any(start_time(pid) == started for pid, started in inits):
        time.sleep(0.1)
    for init in inits:
        signal_process(init, signal.SIGKILL)
    for name, host in state.get("hosts", {}).items():
        ns = host.get("ns")
        for pid in netns_pids(ns) if ns else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    marker = state.get("tmp", "").encode()
    if marker:
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                line = b" ".join(cmdline(entry))
                if marker in line and (b"ssh" in line or b"ansible" in line or b"mariadbd" in line):
                    try:
                        os.kill(int(entry), signal.SIGKILL)
                    except OSError:
                        pass
    for name, host in state.get("hosts", {}).items():
        for launcher in host.get("launchers", []):
            signal_process(launcher, signal.SIGKILL)
    time.sleep(0.2)
    for name, host in state.get("hosts", {}).items():
        if host.get("ns"):
            subprocess.run(["ip", "netns", "del", host["ns"]], stderr=subprocess.DEVNULL, timeout=20, close_fds=False)
        if host.get("veth"):
            subprocess.run(["ip", "link", "del", host["veth"]], stderr=subprocess.DEVNULL, timeout=20, close_fds=False)
    tmp = state.get("tmp")
    if tmp and os.path.isdir(tmp) and os.path.basename(tmp).startswith("fu"):
        shutil.rmtree(tmp, ignore_errors=True)


def reaper(state_file, driver):
    """Detached: waits until the driver is gone; if it left its state file behind (it was killed
    before it could tear down), tears down from it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while alive(driver):
        time.sleep(0.5)
    try:
        with open(state_file) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return
    if state.get("keep") and driver != 0:
        return
    teardown(state)
    try:
        os.unlink(state_file)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# The sandbox cluster
# ---------------------------------------------------------------------------------------------

INIT_PY = r'''
import os, signal, subprocess, sys, time
# pid 1 of a sandbox host's PID namespace: mounts the host's folder on /data/projects in this
# (private) mount namespace, runs sshd, reaps every orphan, and ends (taking the whole namespace
# with it) on SIGTERM or when sshd ends.
# It also gives the host its own (empty) /root: the machine's root dotfiles (a pyenv init in
# .bashrc, say) are not the sandbox host's.
hostdir, home, sshd = sys.argv[1], sys.argv[2], sys.argv[3:]
subprocess.run(["mount", "--make-rprivate", "/"], check=True, close_fds=False)
subprocess.run(["mount", "--bind", hostdir, "/data/projects"], check=True, close_fds=False)
subprocess.run(["mount", "--bind", home, "/root"], check=True, close_fds=False)
child = subprocess.Popen(sshd, close_fds=False)
def stop(*_):
    try:
        child.terminate()
    except OSError:
        pass
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
while True:
    try:
        pid, _ = os.wait()
    except ChildProcessError:
        time.sleep(0.5)
        continue
    if pid == child.pid:
        os._exit(1)
'''

LICENSE = """#
#  Copyright 2019 The FATE Authors. All Rights Reserved.
#
#  Licensed under the Apache License, Version 2.0 (the "License");
#  you may not use this file except in compliance with the License.
#
"""

# The stand-in server every tree runs where FATE's is (as Harness.swift's sandbox).
FATE_FLOW_SERVER = (FIXTURES / "fate_flow_server.py").read_text()


def option_value(text):
    out = '"'
    for c in text:
        out += {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}.get(c, c)
    return out + '"'


def sql_string(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Cluster:
    def __init__(self, verbose=False):
        self.pid = os.getpid()
        self.verbose = verbose
        self.tmp = Path(tempfile.mkdtemp(prefix="fu%d-" % self.pid, dir="/tmp"))
        os.chmod(self.tmp, 0o755)
        self.state = {"tmp": str(self.tmp), "hosts": {}}
        self.state_file = Path("/tmp/fu%d.state.json" % self.pid)
        self.save_state()
        self.hosts = {}       # name -> dict(ns, veth, addr, dir, init, group)
        self.samples = []     # (what, line) secrets seen by the process sampler
        self.mysql_client_samples = 0
        self.sampling = False
        self.bin = Path(os.environ.get("FATE_UPGRADE_BIN") or DEFAULT_BIN)
        self.ansible_bin = None
        self.verify = None

    # -- state and teardown ---------------------------------------------------------------

    def save_state(self):
        temp = self.state_file.with_suffix(".tmp")
        temp.write_text(json.dumps(self.state))
        os.replace(temp, self.state_file)

    def start_reaper(self):
        subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--reap", str(self.state_file), str(self.pid)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         process_group=0, close_fds=False)

    def teardown(self):
        self.sampling = False
        log("teardown")
        teardown(self.state)
        try:
            self.state_file.unlink()
        except OSError:
            pass

    # -- setup ----------------------------------------------------------------------------

    def preflight(self):
        if os.geteuid() != 0:
            raise Failure("needs root (network and mount namespaces)")
        missing = [p for p in ["ip", "unshare", "nsenter", "ssh-keygen", "mariadbd", "mariadb", "mariadb-install-db",
                               "mariadb-dump", "sha256sum"] if not shutil.which(p, path=SAFE_PATH)]
        if not os.path.exists("/usr/sbin/sshd"):
            missing.append("/usr/sbin/sshd (openssh-server)")
        if missing:
            raise Failure("missing programs: %s (scripts/deps.sh installs them)" % ", ".join(missing))
        if not self.bin.is_file():
            raise Failure("%s does not exist: build the release with scripts/release or set FATE_UPGRADE_BIN" % self.bin)
        series = os.environ.get("FATE_UPGRADE_ANSIBLE_SERIES", "2.19")
        venv = os.environ.get("FATE_UPGRADE_ANSIBLE_VENV", "/opt/fate-upgrade-ansible-%s" % series)
        playbook = Path(venv) / "bin/ansible-playbook"
        if not playbook.exists():
            log("ansible-playbook missing: running scripts/ansible-env %s" % series)
            run(["bash", str(REPO / "scripts/ansible-env"), series], timeout=600)
        if not playbook.exists():
            raise Failure("%s missing after scripts/ansible-env" % playbook)
        self.ansible_bin = playbook.parent
        forced = os.environ.get("FATE_UPGRADE_VERIFY")
        if forced is not None:
            self.verify = forced not in ("0", "false", "no", "")
        else:
            probe = run([str(self.bin), "verify", "--help"], timeout=20, check=False)
            text = probe.stdout + probe.stderr
            self.verify = probe.returncode == 0 or "FateUpgrade.Verify" in text
        log("tool: %s; verify plays: %s" % (self.bin, "on" if self.verify else "off (the binary has no verify)"))

    def pick_subnet(self):
        used = run(["ip", "-o", "-4", "addr", "show"], timeout=10).stdout + run(["ip", "-4", "route", "show", "table", "all"], timeout=10).stdout
        base = self.pid
        for attempt in range(2000):
            n = (base + attempt * 7919) % (100 * 256)
            a, b = 100 + n // 256, n % 256
            if ("10.%d.%d." % (a, b)) not in used:
                return a, b
        raise Failure("no free 10.x.y.0/24 found")

    def build(self):
        a, b = self.pick_subnet()
        log("subnet 10.%d.%d.0/24, folder %s" % (a, b, self.tmp))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        Path("/data/projects").mkdir(parents=True, exist_ok=True)
        (self.tmp / "init.py").write_text(INIT_PY)
        ssh = self.tmp / "ssh"
        ssh.mkdir(mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cluster-test", "-f", str(ssh / "id_ed25519")], timeout=20)
        (ssh / "authorized_keys").write_text((ssh / "id_ed25519.pub").read_text())
        self.key = ssh / "id_ed25519"
        raw = self.tmp / "control/upgrade_1_4_0-1_4_4.tar.gz"
        raw.parent.mkdir(mode=0o700)
        run([sys.executable, str(FIXTURES / "make_upgrade_package.py"), str(raw)], timeout=60)
        self.raw = raw
        for index, (name, group) in enumerate(HOSTS):
            ns = "fu%d-%s" % (self.pid, name)
            veth, peer = "fu%dh%d" % (self.pid, index), "fu%dn%d" % (self.pid, index)
            root_addr, addr = "10.%d.%d.%d" % (a, b, 4 * index + 1), "10.%d.%d.%d" % (a, b, 4 * index + 2)
            host = {"ns": ns, "veth": veth, "addr": addr, "group": group, "dir": self.tmp / "hosts" / name}
            self.hosts[name] = host
            self.state["hosts"][name] = {"ns": ns, "veth": veth, "launchers": []}
            self.save_state()
            run(["ip", "netns", "add", ns], timeout=20)
            run(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer], timeout=20)
            run(["ip", "link", "set", peer, "netns", ns], timeout=20)
            run(["ip", "addr", "add", root_addr + "/30", "dev", veth], timeout=20)
            run(["ip", "link", "set", veth, "up"], timeout=20)
            run(["ip", "netns", "exec", ns, "ip", "addr", "add", addr + "/30", "dev", peer], timeout=20)
            run(["ip", "netns", "exec", ns, "ip", "link", "set", peer, "up"], timeout=20)
            run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], timeout=20)
            self.build_fate(name, host)
        self.start_mariadb()
        for name, host in self.hosts.items():
            self.start_sshd(name, host)
        self.start_mariadbd_inside()
        for name, host in self.hosts.items():
            if host["group"] != "mysql":
                self.fate_flow(name, "start")
                if not self.fate_flow_running(name):
                    raise Failure("fate_flow did not start on %s" % name)
        self.write_inventory()

    def build_fate(self, name, host):
        """/data/projects of a FATE 1.4.0 host deployed with ansible, as Harness.swift FateSandbox.build makes it."""
        d = host["dir"]
        python = d / "fate/python"

        def write(rel, text, mode=0o644):
            p = python / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            os.chmod(p, mode)

        write("fate_flow/__init__.py", LICENSE)
        write("fate_flow/settings.py", (FIXTURES / "fate-release/v1.4.0/fate_flow/settings.py").read_text())
        write("fate_flow/utils/__init__.py", "")
        write("fate_flow/utils/setting_utils.py", (FIXTURES / "fate-release/v1.4.0/fate_flow/utils/setting_utils.py").read_text())
        write("fate_flow/service.sh", (FIXTURES / "fate_flow_service.sh").read_text(), 0o755)
        write("fate_flow/fate_flow_server.py", FATE_FLOW_SERVER)
        write("arch/__init__.py", "")
        write("arch/conf/base_conf.yaml", (FIXTURES / "conf/base_conf-1.4.0.yaml").read_text())
        write("arch/conf/server_conf.json", (FIXTURES / "fate-release/v1.4.0/arch/conf/server_conf.json").read_text(), 0o600)
        write("federatedml/__init__.py", LICENSE)
        write("federatedml/util/consts.py", LICENSE + "GUEST = 'guest'\nHOST = 'host'\nARBITER = 'arbiter'\n")
        write("examples/说明 示例.md", "# 示例\n\n在 `python/examples` 下运行 toy example。\n")
        # FATE_ROOT/common/python/venv: service.sh sources its bin/activate, supervisord runs its python.
        venv = d / "fate/common/python/venv"
        (venv / "bin").mkdir(parents=True)
        os.symlink(shutil.which("python3", path=SAFE_PATH), venv / "bin/python")
        (venv / "bin/activate").write_text('VIRTUAL_ENV="%s/common/python/venv"\nexport VIRTUAL_ENV\n'
                                           'PATH="$VIRTUAL_ENV/bin:$PATH"\nexport PATH\n' % FATE_ROOT)
        mysql = d / "fate/common/mysql/mysql-8.0.13"
        (mysql / "bin").mkdir(parents=True)
        (mysql / "run").mkdir(parents=True)
        os.symlink(shutil.which("mariadb", path=SAFE_PATH), mysql / "bin/mysql")
        # FATE's MySQL tarball ships mysqldump beside mysql.
        os.symlink(shutil.which("mariadb-dump", path=SAFE_PATH) or shutil.which("mysqldump", path=SAFE_PATH),
                   mysql / "bin/mysqldump")
        sup = d / "common/supervisord"
        (sup / "supervisord.d").mkdir(parents=True)
        shutil.copyfile(FIXTURES / "supervisor_service.sh", sup / "service.sh")
        os.chmod(sup / "service.sh", 0o755)
        (sup / "supervisord.d/fate-fateflow.conf").write_text(
            "[program:fate-fateflow]\ndirectory=%s/python/fate_flow\ncommand=%s/common/python/venv/bin/python fate_flow_server.py\n"
            "autostart=true\nautorestart=true\n" % (FATE_ROOT, FATE_ROOT))
        os.chmod(d, 0o755)

    def start_mariadb(self):
        """Bootstraps the data directory of the mysql host (from the root namespace; the files are the host's)."""
        d = self.hosts["mysql"]["dir"]
        data = d / "fate/common/mysql/mysql-8.0.13/data"
        setup = self.tmp / "control/setup.sql"
        setup.write_text("FLUSH PRIVILEGES;\nDELETE FROM mysql.global_priv WHERE host <> 'localhost';\nFLUSH PRIVILEGES;\n"
                         "ALTER USER root@localhost IDENTIFIED BY %s;\nCREATE USER %s@localhost IDENTIFIED BY %s;\n"
                         "GRANT ALL ON fate_flow.* TO %s@localhost;\n"
                         % (sql_string(DB_ROOT_PASS), DB_USER, sql_string(DB_PASS), DB_USER))
        log("mysql: mariadb-install-db")
        # Its own tmpdir: bootstraps running side by side in /tmp trip over each other's temporary tables.
        (d / "fate/common/mysql/mysql-8.0.13/tmp").mkdir()
        run(["mariadb-install-db", "--no-defaults", "--datadir=%s" % data, "--user=root",
             "--tmpdir=%s" % (d / "fate/common/mysql/mysql-8.0.13/tmp"),
             "--auth-root-authentication-method=normal", "--skip-test-db", "--extra-file=%s" % setup] + MARIADB_TUNING,
            timeout=120)
        setup.unlink()
        self.socket = d / "fate/common/mysql/mysql-8.0.13/run/mysql.sock"   # the same inode seen from here
        client = self.tmp / "control/client.cnf"
        client.write_text("[client]\nuser=root\npassword=%s\nsocket=%s\ndefault-character-set=utf8mb4\n"
                          % (option_value(DB_ROOT_PASS), option_value(str(self.socket))))
        os.chmod(client, 0o600)
        self.client_cnf = client

    def start_mariadbd_inside(self):
        inside = MYSQL_ROOT
        log("mysql: starting mariadbd inside the mysql host")
        launcher = self.inside("mysql", ["/usr/sbin/mariadbd", "--no-defaults", "--user=root", "--datadir=%s/data" % inside,
                                         "--socket=%s/run/mysql.sock" % inside, "--pid-file=%s/run/mariadbd.pid" % inside,
                                         "--log-error=%s/mariadbd.err" % inside, "--tmpdir=%s/tmp" % inside] + MARIADB_TUNING,
                               background=True, log_name="mariadbd")
        deadline = time.time() + 90
        while True:
            if launcher.poll() is not None:
                raise Failure("mariadbd exited %s:\n%s" % (launcher.returncode, self.read_if(
                    self.hosts["mysql"]["dir"] / "fate/common/mysql/mysql-8.0.13/mariadbd.err")))
            if self.socket.exists():
                r = self.sql("SELECT 1", check=False)
                if r.returncode == 0:
                    break
            if time.time() > deadline:
                raise Failure("mariadbd did not answer within 90 s")
            time.sleep(0.1)
        self.sql_file(FIXTURES / "fate_flow-1.4.0.sql")
        self.sql_file(HERE / "fate_flow_1_4_0.sql")

    @staticmethod
    def read_if(path):
        try:
            return Path(path).read_text(errors="replace")
        except OSError:
            return ""

    def start_sshd(self, name, host):
        sshd_dir = self.tmp / "ssh" / name
        sshd_dir.mkdir(mode=0o700)
        home = self.tmp / "homes" / name
        home.mkdir(parents=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(sshd_dir / "host_key")], timeout=20)
        config = sshd_dir / "sshd_config"
        config.write_text("\n".join([
            "ListenAddress %s" % host["addr"], "Port 22", "HostKey %s" % (sshd_dir / "host_key"),
            "PidFile %s" % (sshd_dir / "sshd.pid"), "AuthorizedKeysFile %s" % (self.tmp / "ssh/authorized_keys"),
            "PermitRootLogin prohibit-password", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "Subsystem sftp internal-sftp",
            "MaxStartups 100", "MaxSessions 100", "LogLevel ERROR", "UseDNS no", "PrintMotd no", ""]))
        out = open(self.tmp / ("%s-sshd.log" % name), "ab")
        launcher = subprocess.Popen(
            ["ip", "netns", "exec", host["ns"], "unshare", "--mount", "--pid", "--fork", "--mount-proc",
             "--propagation", "private", "/usr/bin/python3", str(self.tmp / "init.py"), str(host["dir"]), str(home),
             "/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, process_group=0, close_fds=False,
            env={"PATH": SAFE_PATH, "HOME": "/root", "LANG": "C.UTF-8"})
        out.close()
        self.state["hosts"][name]["launchers"].append([launcher.pid, start_time(launcher.pid)])
        self.save_state()
        # init is the child of unshare (which waits for it); find it.
        deadline = time.time() + 20
        init = None
        while time.time() < deadline and init is None:
            try:
                children = Path("/proc/%d/task/%d/children" % (launcher.pid, launcher.pid)).read_text().split()
                if children:
                    init = int(children[0])
            except OSError:
                pass
            if launcher.poll() is not None:
                raise Failure("sshd of %s exited at once:\n%s" % (name, self.read_if(self.tmp / ("%s-sshd.log" % name))))
            time.sleep(0.05)
        if init is None:
            raise Failure("no init for %s" % name)
        host["init"] = init
        self.state["hosts"][name]["init"] = [init, start_time(init)]
        self.save_state()
        # Wait until sshd listens: a TCP connect from here.
        import socket
        deadline = time.time() + 20
        while True:
            try:
                with socket.create_connection((host["addr"], 22), timeout=1):
                    break
            except OSError:
                if time.time() > deadline or launcher.poll() is not None:
                    raise Failure("sshd of %s does not answer:\n%s" % (name, self.read_if(self.tmp / ("%s-sshd.log" % name))))
                time.sleep(0.1)

    def inside(self, name, argv, background=False, timeout=60, log_name=None):
        """Runs argv inside a host (its network, mount and PID namespaces), with a clean environment.
        As an operator's shell would: no new session and no descriptors closed on the way, so a
        fate_flow that service.sh starts with `nohup … &` keeps whatever it is handed, as on a real
        host; only a process group of its own, so that a timeout can stop it and what it started."""
        full = ["nsenter", "-t", str(self.hosts[name]["init"]), "-m", "-n", "-p", "--wd=/", "--"] + argv
        env = {"PATH": SAFE_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        if background:
            out = open(self.tmp / ("%s-%s.log" % (name, log_name or "bg")), "ab")
            p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, process_group=0,
                                 close_fds=False)
            out.close()
            self.state["hosts"][name]["launchers"].append([p.pid, start_time(p.pid)])
            self.save_state()
            return p
        # Output to a file, never a pipe: a service script's nohup'd server keeps the descriptors.
        out_path = self.tmp / ("%s-cmd-%d.log" % (name, time.monotonic_ns()))
        with open(out_path, "wb") as out:
            p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                 process_group=0, close_fds=False)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(p.pid)
                p.wait()
                raise Failure("timed out inside %s: %s" % (name, " ".join(argv)))
        text = out_path.read_text(errors="replace")
        out_path.unlink()
        return p.returncode, text

    def fate_flow(self, name, action):
        rc, text = self.inside(name, ["bash", SUPERVISOR_ROOT + "/service.sh", action, "fate-fateflow"], timeout=30)
        return rc, text

    def fate_flow_running(self, name):
        for pid in netns_pids(self.hosts[name]["ns"]):
            # By name: supervisord runs `python fate_flow_server.py` in its directory (a relative path).
            if b"fate_flow_server.py" in cmdline(pid) and alive(pid):
                return True
        return False

    def write_inventory(self):
        lines = []
        for group in ["mysql", "fateflow", "nodemanager"]:
            lines.append("[%s]" % group)
            for name, host in self.hosts.items():
                if host["group"] == group:
                    lines.append("%s ansible_host=%s" % (INV[name], host["addr"]))
            lines.append("")
        lines += ["[all:vars]", "ansible_user=root", "ansible_ssh_private_key_file=%s" % self.key,
                  "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'",
                  "ansible_python_interpreter=/usr/bin/python3", ""]
        self.inventory = self.tmp / "inventory.ini"
        self.inventory.write_text("\n".join(lines))
        extra = {
            "fate_upgrade_raw_package": str(self.raw),
            "fate_upgrade_local_binary": str(self.bin),
            "fate_upgrade_db_user": DB_USER,
            "fate_upgrade_verify": bool(self.verify),
            # A 1.4.0 cluster kept its models in redis: the operator chooses where FATE 1.4.4's go.
            "fate_upgrade_model_store": "database",
        }
        self.extra_vars = self.tmp / "control/extra-vars.json"
        self.extra_vars.write_text(json.dumps(extra))

    # -- SQL ------------------------------------------------------------------------------

    def sql(self, statements, database=None, check=True):
        path = self.tmp / ("control/stmt-%d.sql" % time.monotonic_ns())
        path.write_text(statements)
        try:
            with open(path, "rb") as f:
                argv = ["mariadb", "--defaults-extra-file=%s" % self.client_cnf, "--batch", "--skip-column-names"]
                if database:
                    argv.append("--database=%s" % database)
                return run(argv, timeout=60, check=check, stdin=f, env={"PATH": SAFE_PATH})
        finally:
            path.unlink()

    def sql_file(self, path):
        with open(path, "rb") as f:
            run(["mariadb", "--defaults-extra-file=%s" % self.client_cnf], timeout=60, stdin=f, env={"PATH": SAFE_PATH})

    def db_tables(self):
        out = self.sql("SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA='fate_flow'").stdout
        return sorted(bytes.fromhex(x).decode() for x in out.split())

    def db_snapshot(self, only=None):
        """Every table of fate_flow (or those in `only`): SHOW CREATE TABLE and all rows (QUOTE()d,
        sorted byte-wise)."""
        rows = self.sql("SELECT HEX(TABLE_NAME), HEX(COLUMN_NAME) FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA='fate_flow' ORDER BY TABLE_NAME, ORDINAL_POSITION").stdout
        tables = {}
        for line in rows.splitlines():
            t, c = line.split("\t")
            tables.setdefault(bytes.fromhex(t).decode(), []).append(bytes.fromhex(c).decode())
        text = self.sql("SHOW CREATE DATABASE fate_flow").stdout
        for table in sorted(tables):
            if only is not None and table not in only:
                continue
            ident = "`%s`" % table.replace("`", "``")
            text += "\n" + self.sql("SHOW CREATE TABLE %s" % ident, database="fate_flow").stdout
            out = self.sql("SELECT %s FROM %s" % (", ".join("QUOTE(`%s`)" % c for c in tables[table]), ident),
                           database="fate_flow").stdout
            lines = sorted(out.splitlines(), key=lambda s: s.encode())
            text += "-- %s: %d rows\n%s\n" % (table, len(lines), "\n".join(lines))
        return text

    # -- files ----------------------------------------------------------------------------

    def tree(self, name, rel="fate/python"):
        root = self.hosts[name]["dir"] / rel
        entries = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for entry in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
                key = os.path.relpath(entry, root)
                # fate_flow writes under logs/ whenever it runs, a rollback's start too (as Harness.swift's
                # treeSnapshot): the folder is compared, not what fate_flow appended to it.
                if key.startswith("logs" + os.sep):
                    continue
                st = os.lstat(entry)
                mode, owner = oct(stat.S_IMODE(st.st_mode)), "%d:%d" % (st.st_uid, st.st_gid)
                if stat.S_ISLNK(st.st_mode):
                    entries[key] = "link %s -> %s" % (owner, os.readlink(entry))
                elif stat.S_ISDIR(st.st_mode):
                    entries[key] = "dir %s %s" % (mode, owner)
                elif stat.S_ISREG(st.st_mode):
                    with open(entry, "rb") as f:
                        entries[key] = "file %s %s %d %s" % (mode, owner, st.st_size, hashlib.sha256(f.read()).hexdigest())
                else:
                    entries[key] = "other %o %s" % (st.st_mode, owner)
        return entries

    def journals(self, name):
        folder = self.hosts[name]["dir"] / "fate/.fate-upgrade/journal"
        if not folder.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    def fate_entries(self, name):
        return sorted(os.listdir(self.hosts[name]["dir"] / "fate"))

    # -- secrets in ps ------------------------------------------------------------------------

    def start_sampler(self):
        self.sampling = True
        needles = [DB_PASS.encode(), DB_ROOT_PASS.encode()]

        def loop():
            while self.sampling:
                ns_pids = set()
                for host in self.hosts.values():
                    ns_pids.update(netns_pids(host["ns"]))
                for entry in os.listdir("/proc"):
                    if not entry.isdigit() or int(entry) == os.getpid():
                        continue
                    line = b" ".join(cmdline(entry))
                    if any(n in line for n in needles):
                        if b"/bin/mysql " in line or line.startswith(b"/data/projects/fate/common/mysql/mysql-8.0.13/bin/mysql"):
                            # The package's own script passes -p$DB_PASS to mysql, as FATE's do.
                            self.mysql_client_samples += 1
                        else:
                            self.samples.append(("cmdline", line.decode(errors="replace")))
                    if int(entry) in ns_pids:
                        try:
                            with open("/proc/%s/environ" % entry, "rb") as f:
                                env = f.read()
                        except OSError:
                            continue
                        if any(n in env for n in needles):
                            self.samples.append(("environ", line.decode(errors="replace")))
                time.sleep(0.15)

        self.sampler = threading.Thread(target=loop, daemon=True)
        self.sampler.start()

    def stop_sampler(self):
        self.sampling = False
        if getattr(self, "sampler", None):
            self.sampler.join(timeout=5)

    # -- ansible --------------------------------------------------------------------------

    def playbook(self, name, timeout=240, extra=()):
        env = {
            "PATH": "%s:%s" % (self.ansible_bin, SAFE_PATH), "HOME": str(self.tmp / "ansible-home"), "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "ANSIBLE_HOME": str(self.tmp / "ansible-home/.ansible"), "ANSIBLE_LOCAL_TEMP": str(self.tmp / "ansible-home/tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.tmp / "cp"), "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_PIPELINING": "True", "ANSIBLE_TIMEOUT": "30", "ANSIBLE_FORKS": "10",
            "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_CONFIG": str(self.tmp / "ansible-home/none.cfg"), "ANSIBLE_ROLES_PATH": str(ANSIBLE_DIR / "roles"),
            "FATE_DB_PASS": DB_PASS,
        }
        (self.tmp / "ansible-home").mkdir(exist_ok=True)
        (self.tmp / "ansible-home/none.cfg").write_text("[defaults]\n")
        argv = [str(self.ansible_bin / "ansible-playbook"), "-v", "-i", str(self.inventory), "-e", "@%s" % self.extra_vars,
                str(ANSIBLE_DIR / name)] + list(extra)
        log("ansible-playbook %s" % " ".join([name] + list(extra)))
        transcript = []
        started = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                             cwd=str(self.tmp), process_group=0, close_fds=False)
        self.state.setdefault("ansible", []).append(p.pid)
        self.save_state()
        deadline = time.monotonic() + timeout
        killer = threading.Timer(timeout, lambda: kill_group(p.pid))
        killer.start()
        try:
            for raw in p.stdout:
                line = raw.decode(errors="replace")
                transcript.append(line)
                if self.verbose or re.match(r'(PLAY|TASK|fatal|failed|changed|\S+\s+: ok=|ERROR|\[ERROR|\[WARNING|\s+"msg": )', line):
                    shown = redact(line).rstrip("\n")
                    sys.stdout.write("    | " + (shown if self.verbose else shown[:400]) + "\n")
                    sys.stdout.flush()
            p.wait()
        finally:
            killer.cancel()
            if p.poll() is None:
                kill_group(p.pid)
                p.wait()
        wall = time.monotonic() - started
        if time.monotonic() > deadline:
            log("ansible-playbook %s timed out; processes on the hosts:" % name)
            for host_name, host in self.hosts.items():
                for pid in netns_pids(host["ns"]):
                    log("    %s %d %s" % (host_name, pid, redact(b" ".join(cmdline(pid)).decode(errors="replace"))[:200]))
            raise Failure("ansible-playbook %s timed out after %ss" % (name, timeout))
        text = "".join(transcript)
        (self.tmp / ("ansible-%s-%d.log" % (name, time.monotonic_ns()))).write_text(text)
        return p.returncode, text, wall


def recap(text):
    """{host: {ok: n, changed: n, ...}} from ansible's PLAY RECAP."""
    result = {}
    part = text.split("PLAY RECAP", 1)[-1]
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", part, re.M):
        result[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return result


def parse_time(value):
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(text).timestamp()


# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------

class Checks:
    def __init__(self):
        self.failed = []

    def check(self, condition, message):
        if condition:
            log("  ok: %s" % message)
        else:
            log("  FAILED: %s" % message)
            self.failed.append(message)
        return condition

    def require(self, condition, message):
        if not self.check(condition, message):
            raise Failure("required check failed: %s" % message)


def same_text(c, before, after, message):
    """Checks two snapshots are equal; prints the first lines of a unified diff when not."""
    if before == after:
        return c.check(True, message)
    import difflib
    if isinstance(before, dict):
        before = "".join("%s %s\n" % kv for kv in sorted(before.items()))
        after = "".join("%s %s\n" % kv for kv in sorted(after.items()))
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=1))
    for line in diff[:40]:
        log("      " + redact(line)[:300])
    return c.check(False, message)


def restored_db_checks(c, cl, db_before, tables_before):
    """After a rollback: every table of before is back exactly (schema and rows), and no upgrade
    backup table (t_*_backup, which would block the next upgrade) is left. The rollback keeps the
    upgraded tables aside as <table>_backup_<YYYYMMDD>: allowed, and listed."""
    same_text(c, db_before, cl.db_snapshot(only=tables_before), "the tables of before are back, schema and rows equal")
    now = cl.db_tables()
    extra = [t for t in now if t not in tables_before]
    kept = [t for t in extra if re.match(r"t_\w+_backup_\d{8}$", t)]
    c.check(extra == kept, "no other table left behind (%s)" % [t for t in extra if t not in kept])
    c.check(not [t for t in now if t.endswith("_backup")], "no t_*_backup table left")
    if kept:
        log("  note: the rollback kept the upgraded tables aside: %s" % ", ".join(kept))


def common_upgrade_checks(c, cl, text):
    c.check(DB_PASS not in text, "DB_PASS never appears in ansible's output (-v)")
    c.check(DB_ROOT_PASS not in text, "the root password never appears in ansible's output")


def secret_checks(c, cl):
    c.check(not cl.samples, "no process showed DB_PASS in its command line or (on the hosts) environment%s"
            % ("" if not cl.samples else ": " + redact(repr(cl.samples[:3]))))
    if cl.mysql_client_samples:
        log("  note: DB_PASS seen %d time(s) in the mysql client's own argv (the package script's -p$DB_PASS, "
            "before the client hides it)" % cl.mysql_client_samples)


def one_journal(cl, c, name, component):
    js = cl.journals(name)
    c.check(len(js) == 1, "%s has exactly one journal (has %d)" % (name, len(js)))
    j = js[0] if js else {}
    c.check(j.get("component") == component, "%s journal component is %s (is %r)" % (name, component, j.get("component")))
    return j


def check_mode_run(cl, c, names, db_before, trees_before):
    """upgrade.yml --check --diff on the untouched cluster: every host's apply --plan runs and its
    steps are shown; nothing on any host changes and nothing staged is left behind."""
    import glob
    tmp_before = set(glob.glob("/tmp/fate-upgrade-check.*")) | set(glob.glob("/tmp/fate-upgrade-pack.*"))
    rc, text, wall = cl.playbook("upgrade.yml", extra=["--check", "--diff"])
    c.require(rc == 0, "upgrade.yml --check --diff succeeded (exit %d)" % rc)
    plans = {"mysql": "mysql", "fateflow": "fatepython --role fateflow", "nm1": "fatepython --role nodemanager",
             "nm2": "fatepython --role nodemanager"}
    for n in names:
        shown = "apply --component %s on %s: planned" % (plans[n], INV[n])
        c.check(shown in text, "--check shows %s" % shown)
    c.check(text.count("would: ") >= len(names), "--check lists the steps each host would run")
    common_upgrade_checks(c, cl, text)
    same_text(c, db_before, cl.db_snapshot(), "--check: database unchanged")
    for n in names:
        c.check(cl.tree(n) == trees_before[n], "--check: %s python/ unchanged" % n)
        c.check(not (cl.hosts[n]["dir"] / "fate/.fate-upgrade").exists(), "--check: %s has no .fate-upgrade" % n)
        c.check(not (cl.hosts[n]["dir"] / "fate-upgrade").exists(), "--check: nothing copied to %s's fate-upgrade/" % n)
    left = (set(glob.glob("/tmp/fate-upgrade-check.*")) | set(glob.glob("/tmp/fate-upgrade-pack.*"))) - tmp_before
    c.check(not left, "--check left no staged tool or package (%s)" % sorted(left))
    return wall


def scenario_full(cl, c, then_rollback=False):
    names = list(cl.hosts)
    db_before = cl.db_snapshot()
    tables_before = cl.db_tables()
    trees_before = {n: cl.tree(n) for n in names}
    wall_check = check_mode_run(cl, c, names, db_before, trees_before) if not then_rollback else 0.0
    cl.start_sampler()
    rc, text, wall_up = cl.playbook("upgrade.yml")
    cl.stop_sampler()
    c.require(rc == 0, "the upgrade playbook succeeded (exit %d)" % rc)
    common_upgrade_checks(c, cl, text)
    secret_checks(c, cl)
    r = recap(text)
    c.check(all(r.get(INV[n], {}).get("failed", 1) == 0 for n in names), "recap: no host failed")
    c.check(all(r.get(INV[n], {}).get("changed", 0) > 0 for n in names), "recap: every host changed")
    j = {n: one_journal(cl, c, n, "mysql" if n == "mysql" else "fatepython") for n in names}
    for n in names:
        c.check(j[n].get("outcome") == "succeeded", "%s journal outcome succeeded (is %r)" % (n, j[n].get("outcome")))
        c.check(j[n].get("rolledBack") is None, "%s journal not rolled back" % n)
    try:
        order = [(n, parse_time(j[n]["startedAt"]), parse_time(j[n]["finishedAt"])) for n in names]
        for (a, _, a_end), (b, b_start, _) in zip(order, order[1:]):
            c.check(a_end < b_start, "%s finished (%s) before %s started (%s)" % (a, j[a]["finishedAt"], b, j[b]["startedAt"]))
    except (KeyError, ValueError, TypeError) as e:
        c.check(False, "journals have startedAt/finishedAt (%s)" % e)
    c.check(bool(cl.sql("SHOW COLUMNS FROM t_queue LIKE 'f_frequency'", database="fate_flow").stdout.strip()),
            "t_queue has f_frequency")
    c.check(cl.sql("SELECT data_type, character_maximum_length FROM information_schema.columns WHERE "
                   "table_schema='fate_flow' AND table_name='t_job' AND column_name='f_role'").stdout == "varchar\t50\n",
            "t_job.f_role is varchar(50)")
    for n in names[1:]:
        backups = [e for e in cl.fate_entries(n) if re.match(r"python_\d{14}$", e)]
        c.check(len(backups) == 1, "%s: python/ replaced, one python_<ts> backup (%s)" % (n, backups))
        c.check(cl.tree(n) != trees_before[n], "%s: python/ differs from 1.4.0" % n)
    c.check(cl.tree("mysql") == trees_before["mysql"], "mysql host: python/ untouched")
    c.check(cl.fate_flow_running("fateflow"), "fate_flow runs on fateflow")
    for n in names[2:]:
        c.check(not cl.fate_flow_running(n), "fate_flow stopped on %s" % n)

    if then_rollback:
        return rollback_all(cl, c, names, db_before, tables_before, trees_before, wall_up)
    log("second run of the upgrade playbook")
    journals_before = {n: cl.journals(n) for n in names}
    rc2, text2, wall2 = cl.playbook("upgrade.yml")
    c.check(rc2 == 0, "second run succeeded (exit %d)" % rc2)
    r2 = recap(text2)
    c.check({INV[n] for n in names} <= set(r2), "second run: recap lists every host")
    c.check(all(v.get("changed") == 0 for v in r2.values()),
            "second run: changed=0 for every host (%s)" % {k: v.get("changed") for k, v in r2.items()})
    c.check({n: cl.journals(n) for n in names} == journals_before, "second run: no new journal anywhere")
    common_upgrade_checks(c, cl, text2)
    return "wall: --check %.1f s, upgrade %.1f s, second run %.1f s" % (wall_check, wall_up, wall2)


def rollback_all(cl, c, names, db_before, tables_before, trees_before, wall_up):
    rc3, text3, wall_rb = cl.playbook("rollback.yml")
    c.check(rc3 == 0, "the rollback playbook succeeded (exit %d)" % rc3)
    c.check(DB_PASS not in text3, "DB_PASS never appears in the rollback's output")
    r3 = recap(text3)
    c.check(all(r3.get(INV[n], {}).get("changed", 0) > 0 for n in names), "rollback: every host changed")
    rolled = {}
    for n in names:
        js = cl.journals(n)
        rb = [x.get("rolledBack") for x in js]
        c.check(len(js) == 1 and rb[0] is not None, "%s journal marked rolledBack (%s)" % (n, rb))
        if rb and isinstance(rb[0], dict) and rb[0].get("at"):
            rolled[n] = parse_time(rb[0]["at"])
    expected = ["nm2", "nm1", "fateflow", "mysql"]
    # Journal times have milliseconds: one host after another (serial: 1) never shares a time.
    c.check(len(rolled) == 4 and len(set(rolled.values())) == 4,
            "four distinct rollback times (%s)" % {n: js_time for n, js_time in rolled.items()})
    if len(rolled) == 4:
        got = sorted(rolled, key=rolled.get)
        c.check(got == expected, "rolled back in reverse order %s (got %s)" % (expected, got))
    restored_db_checks(c, cl, db_before, tables_before)
    for n in names:
        same_text(c, trees_before[n], cl.tree(n), "%s: python/ equal to before" % n)
    c.check(cl.fate_flow_running("fateflow"), "fate_flow runs on fateflow after the rollback")
    for n in names[2:]:
        log("  info: fate_flow on %s after the rollback: %s" % (n, "running" if cl.fate_flow_running(n) else "stopped"))
    return "wall: upgrade %.1f s, rollback %.1f s" % (wall_up, wall_rb)


def scenario_preflight_stop(cl, c):
    names = list(cl.hosts)
    service = cl.hosts["nm2"]["dir"] / "common/supervisord/service.sh"
    os.rename(service, service.with_name("service.sh.moved"))
    log("broke nm2: removed SUPERVISOR_ROOT/service.sh")
    db_before = cl.db_snapshot()
    trees_before = {n: cl.tree(n) for n in names}
    rc, text, wall = cl.playbook("upgrade.yml")
    c.check(rc != 0, "the upgrade playbook failed (exit %d)" % rc)
    fatal = [l for l in text.splitlines() if l.startswith(("fatal:", "failed:")) or "apply --plan on" in l]
    c.check(any(INV["nm2"] in l and "SUPERVISOR_ROOT" in l for l in fatal),
            "the failure names nm2 and the problem (SUPERVISOR_ROOT)")
    c.check(not any(("fatal: [%s]" % INV[n]) in text or ("failed: [%s]" % INV[n]) in text for n in names if n != "nm2"), "no other host failed")
    common_upgrade_checks(c, cl, text)
    for n in names:
        c.check(not (cl.hosts[n]["dir"] / "fate/.fate-upgrade").exists(), "%s: no .fate-upgrade (no journal)" % n)
        c.check(cl.tree(n) == trees_before[n], "%s: python/ unchanged" % n)
        c.check(not (cl.hosts[n]["dir"] / "fate-upgrade/upgrade_package").exists(), "%s: package not unpacked" % n)
    same_text(c, db_before, cl.db_snapshot(), "database unchanged")
    for n in names[1:]:
        c.check(cl.fate_flow_running(n), "fate_flow still runs on %s" % n)
    r = recap(text)
    c.check(all(r.get(INV[n], {}).get("changed", 1) <= 3 for n in names), "only the copy steps changed hosts (%s)"
            % {k: v.get("changed") for k, v in r.items()})
    return "wall: upgrade (stopped at plan) %.1f s" % wall


def scenario_fateflow_fails(cl, c):
    names = list(cl.hosts)
    db_before = cl.db_snapshot()
    tables_before = cl.db_tables()
    trees_before = {n: cl.tree(n) for n in names}
    # fate_flow's supervisor cannot start it again: its log folder is a file now (stop still
    # works). The script fails after it moved python/ aside and unpacked the new one.
    logs = cl.hosts["fateflow"]["dir"] / "common/supervisord/logs"
    os.rename(logs, logs.with_name("logs.saved"))
    logs.write_text("")
    log("broke fateflow: SUPERVISOR_ROOT/logs is a file, so service.sh start fails")
    rc, text, wall_up = cl.playbook("upgrade.yml")
    c.check(rc != 0, "the upgrade playbook failed (exit %d)" % rc)
    c.check(any(l.startswith("fatal: [%s]" % INV["fateflow"]) for l in text.splitlines()), "the failure names fateflow")
    common_upgrade_checks(c, cl, text)
    jm = one_journal(cl, c, "mysql", "mysql")
    c.check(jm.get("outcome") == "succeeded", "mysql upgraded (journal %r)" % jm.get("outcome"))
    c.check(bool(cl.sql("SHOW COLUMNS FROM t_queue LIKE 'f_frequency'", database="fate_flow").stdout.strip()),
            "t_queue has f_frequency")
    jf = one_journal(cl, c, "fateflow", "fatepython")
    # supervisorctl 3.x exits 0 on a spawn error, so the script's own run "succeeds"; apply judges
    # fate_flow by its process and fails the host with what went wrong.
    c.check(jf.get("outcome") == "succeeded", "the script ran through on fateflow (journal %r)" % jf.get("outcome"))
    c.check("starting fate_flow did not" in text and "ERROR (spawn error)" in text,
            "apply on fateflow says fate_flow did not start, with supervisorctl's words")
    for n in ["nm1", "nm2"]:
        c.check(not cl.journals(n), "%s: no journal" % n)
        c.check(cl.tree(n) == trees_before[n], "%s: python/ unchanged" % n)
        c.check(cl.fate_flow_running(n), "%s: fate_flow still runs" % n)
    # The operator repairs the cause, then rolls back.
    logs.unlink()
    os.rename(logs.with_name("logs.saved"), logs)
    log("repaired fateflow's logs folder; rolling back")
    rc2, text2, wall_rb = cl.playbook("rollback.yml")
    c.check(rc2 == 0, "the rollback playbook succeeded (exit %d)" % rc2)
    c.check(DB_PASS not in text2, "DB_PASS never appears in the rollback's output")
    r2 = recap(text2)
    c.check(r2.get(INV["nm1"], {}).get("changed") == 0 and r2.get(INV["nm2"], {}).get("changed") == 0,
            "rollback: nodemanagers report no change")
    c.check(r2.get(INV["mysql"], {}).get("changed", 0) > 0 and r2.get(INV["fateflow"], {}).get("changed", 0) > 0,
            "rollback: mysql and fateflow changed")
    restored_db_checks(c, cl, db_before, tables_before)
    for n in names:
        same_text(c, trees_before[n], cl.tree(n), "%s: python/ equal to before" % n)
    for n in ["mysql", "fateflow"]:
        js = cl.journals(n)
        c.check(len(js) == 1 and js[0].get("rolledBack") is not None, "%s journal marked rolledBack" % n)
    for n in ["nm1", "nm2"]:
        c.check(not cl.journals(n), "%s: still no journal" % n)
    c.check(cl.fate_flow_running("fateflow"), "fate_flow runs on fateflow after the rollback")
    rc3, text3, _ = cl.playbook("rollback.yml")
    c.check(rc3 == 0 and all(v.get("changed") == 0 for v in recap(text3).values()),
            "a second rollback run changes nothing (%s)" % {k: v.get("changed") for k, v in recap(text3).items()})
    return "wall: upgrade (failed at fateflow) %.1f s, rollback %.1f s" % (wall_up, wall_rb)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?")
    parser.add_argument("--verbose", "-v", action="store_true", help="echo every line of ansible's output")
    parser.add_argument("--reap", nargs=2, metavar=("STATE", "PID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reap:
        reaper(args.reap[0], int(args.reap[1]))
        return 0
    if args.scenario in (None, "list"):
        print("\n".join(SCENARIOS))
        return 0 if args.scenario == "list" else 2
    if args.scenario not in SCENARIOS:
        print("cluster_test.py: unknown scenario %r (one of: %s)" % (args.scenario, ", ".join(SCENARIOS)), file=sys.stderr)
        return 2

    def interrupt(signum, frame):
        raise Interrupted("signal %d" % signum)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupt)

    cluster = None
    c = Checks()
    status = 1
    try:
        cluster = Cluster(verbose=args.verbose)
        cluster.start_reaper()
        cluster.preflight()
        setup_started = time.monotonic()
        cluster.build()
        log("cluster up in %.1f s: %s" % (time.monotonic() - setup_started,
                                         ", ".join("%s=%s" % (n, h["addr"]) for n, h in cluster.hosts.items())))
        if args.scenario == "full":
            walls = scenario_full(cluster, c)
        elif args.scenario == "rollback-full":
            walls = scenario_full(cluster, c, then_rollback=True)
        elif args.scenario == "preflight-stop":
            walls = scenario_preflight_stop(cluster, c)
        else:
            walls = scenario_fateflow_fails(cluster, c)
        log(walls)
        status = 0 if not c.failed else 1
    except Failure as e:
        print("cluster_test.py: %s" % redact(str(e)), file=sys.stderr)
        c.failed.append(str(e))
        status = 1
    except Interrupted as e:
        print("cluster_test.py: interrupted (%s)" % e, file=sys.stderr)
        status = 130
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        if cluster is not None:
            if os.environ.get("CLUSTER_TEST_KEEP") == "1":
                cluster.state["keep"] = True
                cluster.save_state()
                log("CLUSTER_TEST_KEEP=1: sandbox left up; tear down with: python3 %s --reap %s 0"
                    % (Path(__file__).resolve(), cluster.state_file))
            else:
                try:
                    cluster.teardown()
                except Exception as e:  # teardown must not hide the result
                    print("cluster_test.py: teardown: %s" % e, file=sys.stderr)
    if status == 0:
        log("PASS %s" % args.scenario)
    elif c.failed:
        print("cluster_test.py: FAIL %s: %d check(s) failed:\n  - %s" % (args.scenario, len(c.failed),
              "\n  - ".join(redact(f) for f in c.failed)), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
