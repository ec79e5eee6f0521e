#!/usr/bin/env python3
"""Build a realistic FATE 1.4.4 upgrade package for tests and benchmarks.

    python3 Tests/Fixtures/make_upgrade_package.py OUT [--format tar.gz|tar|dir]
        [--script PATH] [--crlf] [--bulk-mb N] [--seed N] [--verbose]

The package has a single top-level entry, ``upgrade_package/``, shaped like the
published ``upgrade_1_4_0-1_4_4.tar.gz``: the upgrade script, the nested
``upgrade_python_package.tar.gz`` (a ``python/`` tree), the SQL files, plus a
symlink, a hard link, non-ASCII file names, an empty file and mixed owners,
modes and mtimes so that a rewriting tool has to preserve all of them.

Formats:
  tar.gz  (default) gzip level 6 around a GNU-format tar, fixed gzip mtime, no
          file name in the gzip header
  tar     the same tar, uncompressed
  dir     the same tree extracted into OUT/upgrade_package/ (OUT is a folder;
          an existing OUT/upgrade_package is replaced); owners are applied
          only when running as root

``--bulk-mb N`` adds about N MiB of bulk: ~85% incompressible pseudo-random
"wheels" (upgrade_package/wheels/*.whl, 8-32 MiB each where N allows) and ~15%
generated Python-like text (upgrade_package/python_src/). Bulk is streamed in
1 MiB chunks, so memory stays small whatever N is.

Output is deterministic: the same arguments give the same bytes on every run.
Standard library only.
"""

import argparse
import gzip
import io
import os
import random
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SCRIPT = HERE / "upgrade_script.sh"
SQL_DIR = HERE / "sql"
HTTP_PORT_OVERRIDE = 9380
GRPC_PORT_OVERRIDE = 9360

TOP = "upgrade_package"
MIB = 1 << 20
CHUNK = 1 * MIB

# 2020-09-01 00:00:00 UTC .. 2020-09-10 00:00:00 UTC
T0 = 1598918400
T_END = 1599696000
GZIP_MTIME = 1599652800  # 2020-09-09 12:00:00 UTC


def ts(day, hour=0, minute=0, second=0):
    """UTC timestamp for 2020-09-<day> hh:mm:ss (integer seconds)."""
    t = T0 + (day - 1) * 86400 + hour * 3600 + minute * 60 + second
    assert T0 <= t <= T_END, t
    return t


APP = dict(uid=1000, gid=1000, uname="app", gname="apps")
ROOT = dict(uid=0, gid=0, uname="root", gname="root")
FATE = dict(uid=1234, gid=5678, uname="fate", gname="fateusers")


# ---------------------------------------------------------------------------
# File contents
# ---------------------------------------------------------------------------

# Verbatim v1.4.4 python/arch/conf/base_conf.yaml (482 bytes, LF endings).
BASE_CONF_1_4_4 = """\
work_mode: 0
use_registry: false
fate_flow:
  host: 0.0.0.0
  http_port: 9380
  grpc_port: 9360
database:
  name: fate_flow
  user: fate_dev
  passwd: fate_dev
  host: 127.0.0.1
  port: 3306
  max_connections: 100
  stale_timeout: 30
zookeeper:
  hosts:
    - 127.0.0.1:2281
  use_acl: true
  user: fate
  password: fate
model_store_address:
  storage: mysql
  name: model
  host: 127.0.0.1
  port: 3306
  user: fate_dev
  passwd: fate_dev
  max_connections: 10
  stale_timeout: 10
"""

LICENSE_HEADER = """\
#
#  Copyright 2019 The FATE Authors. All Rights Reserved.
#
#  Licensed under the Apache License, Version 2.0 (the "License");
#  you may not use this file except in compliance with the License.
#  You may obtain a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
#  Unless required by applicable law or agreed to in writing, software
#  distributed under the License is distributed on an "AS IS" BASIS,
#  WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
#  See the License for the specific language governing permissions and
#  limitations under the License.
#
"""

# FATE v1.4.4's own fate_flow/settings.py and arch/conf/server_conf.json, verbatim (the merge of a
# site's settings into the new tree is tested against what the release really ships).
RELEASE_1_4_4 = HERE / "fate-release" / "v1.4.4"
SETTINGS_PY = (RELEASE_1_4_4 / "fate_flow" / "settings.py").read_text(encoding="utf-8")

# The same working stand-in the test sandbox uses: after an upgrade, this copy is the one that
# starts fate_flow again, so it must find and manage the sandbox's process.
SERVICE_SH = (HERE / "fate_flow_service.sh").read_bytes()

# The same stand-in server the test sandbox runs (Tests cannot run FATE's), where FATE's is.
FATE_FLOW_SERVER_PY = (HERE / "fate_flow_server.py").read_text(encoding="utf-8")

CONF_UTILS_PY = LICENSE_HEADER + '''\
import os

from ruamel import yaml

from arch.api.utils import file_utils

SERVICE_CONF = "base_conf.yaml"


def get_base_config(key, default=None):
    base_conf = file_utils.load_yaml_conf(os.path.join(file_utils.get_project_base_directory(),
                                                       "arch", "conf", SERVICE_CONF))
    return base_conf.get(key, default)
'''

SERVER_CONF_JSON = (RELEASE_1_4_4 / "arch" / "conf" / "server_conf.json").read_text(encoding="utf-8")

CONSTS_PY = LICENSE_HEADER + '''\
ARBITER = 'arbiter'
HOST = 'host'
GUEST = 'guest'

BINARY = 'binary'
MULTY = 'multi'
CLASSIFICATION = "classification"
REGRESSION = 'regression'
CLUSTERING = 'clustering'
'''

CHECK_ENV_SH = '''\
#!/bin/bash
# Pre-flight checks before running upgrade_script.sh
set -e
for cmd in tar mysql python; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "WARN: $cmd not found in PATH"
    fi
done
python -c 'import sys; print("python", sys.version.split()[0])'
df -h /data/projects 2>/dev/null || true
echo "INFO: environment check done."
'''

UPGRADE_NOTES_MD = '''\
# FATE v1.4.4 升级说明

本升级包适用于 FATE v1.4.0 - v1.4.4 的更新。如有多台机器需要升级，请逐台机器执行升级脚本。

## 修改参数

请修改 `upgrade_script.sh` 第 5-15 行的参数，然后重新打包：

```bash
tar czf upgrade_package_new.tar.gz upgrade_package
```

## 执行

```bash
sh upgrade_script.sh all
```

如果提示 `Upgrading process finished`，则更新成功。
'''

CONFIG_EXAMPLE_TXT = '''\
# 配置示例 (configuration example)
FATE_ROOT=/data/projects/fate
DB_USER=root
DEPLOY_METHOD=allinone    # 或 ansible
SUPERVISOR_ROOT=/data/projects/common/supervisord
'''


def read_sql(name):
    return (SQL_DIR / name).read_bytes()


# ---------------------------------------------------------------------------
# tar helpers
# ---------------------------------------------------------------------------

def _info(name, type_, mode, mtime, owner, size=0, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.mtime = int(mtime)
    ti.size = size
    ti.linkname = linkname
    ti.uid = owner["uid"]
    ti.gid = owner["gid"]
    ti.uname = owner["uname"]
    ti.gname = owner["gname"]
    return ti


def add_dir(tar, name, mode, mtime, owner=APP):
    tar.addfile(_info(name.rstrip("/"), tarfile.DIRTYPE, mode, mtime, owner))


def add_bytes(tar, name, data, mode, mtime, owner=APP):
    if isinstance(data, str):
        data = data.encode("utf-8")
    tar.addfile(_info(name, tarfile.REGTYPE, mode, mtime, owner, size=len(data)),
                io.BytesIO(data))


def add_stream(tar, name, size, reader, mode, mtime, owner=APP):
    tar.addfile(_info(name, tarfile.REGTYPE, mode, mtime, owner, size=size), reader)


def add_symlink(tar, name, target, mtime, owner=APP):
    tar.addfile(_info(name, tarfile.SYMTYPE, 0o777, mtime, owner, linkname=target))


def add_hardlink(tar, name, target, mode, mtime, owner=APP):
    tar.addfile(_info(name, tarfile.LNKTYPE, mode, mtime, owner, linkname=target))


def open_tar_writer(fileobj):
    # mode "w", not "w|": tarfile's stream writer re-slices its buffer per
    # 10 KiB record, which is quadratic for the 1 MiB chunks written here
    return tarfile.open(fileobj=fileobj, mode="w", format=tarfile.GNU_FORMAT,
                        encoding="utf-8", copybufsize=CHUNK)


def gzip_writer(fileobj):
    # level 6 like `tar czf` / gzip's default; no file name, fixed mtime
    return gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, compresslevel=6,
                         mtime=GZIP_MTIME)


class GeneratedReader:
    """File-like read() over a generator of byte chunks (for tarfile.addfile)."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buf = b""

    def read(self, n=-1):
        if n is None or n < 0:
            out = self._buf + b"".join(self._chunks)
            self._buf = b""
            return out
        while len(self._buf) < n:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf = self._buf + nxt if self._buf else nxt
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


# ---------------------------------------------------------------------------
# nested upgrade_python_package.tar.gz
# ---------------------------------------------------------------------------

def build_python_package(service_sh=None):
    raw = io.BytesIO()
    with gzip_writer(raw) as gz:
        with open_tar_writer(gz) as tar:
            d = ts(2, 10, 0, 0)
            add_dir(tar, "python", 0o755, d)
            add_bytes(tar, "python/__init__.py", "", 0o644, ts(2, 9, 12, 5))
            add_dir(tar, "python/arch", 0o755, d)
            add_bytes(tar, "python/arch/__init__.py", LICENSE_HEADER, 0o644, ts(2, 9, 12, 5))
            add_dir(tar, "python/arch/api", 0o755, d)
            add_bytes(tar, "python/arch/api/__init__.py", LICENSE_HEADER, 0o644, ts(2, 9, 12, 6))
            add_dir(tar, "python/arch/api/utils", 0o755, d)
            add_bytes(tar, "python/arch/api/utils/__init__.py", "", 0o644, ts(2, 9, 12, 6))
            add_bytes(tar, "python/arch/api/utils/conf_utils.py", CONF_UTILS_PY, 0o644,
                      ts(2, 9, 12, 7))
            add_dir(tar, "python/arch/conf", 0o755, d)
            add_bytes(tar, "python/arch/conf/base_conf.yaml",
                      BASE_CONF_1_4_4.replace("http_port: 9380", "http_port: %d" % HTTP_PORT_OVERRIDE)
                      .replace("grpc_port: 9360", "grpc_port: %d" % GRPC_PORT_OVERRIDE), 0o644,
                      ts(2, 9, 30, 0))
            add_bytes(tar, "python/arch/conf/server_conf.json",
                      SERVER_CONF_JSON.replace('"http.port": 9380', '"http.port": %d' % HTTP_PORT_OVERRIDE), 0o644,
                      ts(2, 9, 30, 1))
            add_dir(tar, "python/fate_flow", 0o755, d)
            add_bytes(tar, "python/fate_flow/__init__.py", LICENSE_HEADER, 0o644,
                      ts(2, 9, 40, 0))
            add_bytes(tar, "python/fate_flow/settings.py", SETTINGS_PY, 0o644, ts(2, 9, 41, 13))
            add_dir(tar, "python/fate_flow/utils", 0o755, d)
            add_bytes(tar, "python/fate_flow/utils/__init__.py", "", 0o644, ts(2, 9, 41, 9))
            add_bytes(tar, "python/fate_flow/utils/service_utils.py", (HERE / "fate_flow_register.py").read_bytes(), 0o644,
                      ts(2, 9, 41, 10))
            add_bytes(tar, "python/fate_flow/fate_flow_server.py", FATE_FLOW_SERVER_PY, 0o644,
                      ts(2, 9, 41, 20))
            # FATE's service.sh looks for fate_flow on hard-coded ports; the tests' own are written there.
            service = (service_sh or SERVICE_SH).replace(b"-i:9380", b"-i:%d" % HTTP_PORT_OVERRIDE) \
                .replace(b"-i:9360", b"-i:%d" % GRPC_PORT_OVERRIDE)
            add_bytes(tar, "python/fate_flow/service.sh", service, 0o755, ts(2, 9, 41, 30))
            add_dir(tar, "python/federatedml", 0o755, d)
            add_bytes(tar, "python/federatedml/__init__.py", LICENSE_HEADER, 0o644,
                      ts(2, 9, 50, 0))
            add_dir(tar, "python/federatedml/util", 0o755, d)
            add_bytes(tar, "python/federatedml/util/__init__.py", "", 0o644, ts(2, 9, 50, 1))
            add_bytes(tar, "python/federatedml/util/consts.py", CONSTS_PY, 0o644,
                      ts(2, 9, 50, 2))
    return raw.getvalue()


# ---------------------------------------------------------------------------
# bulk content
# ---------------------------------------------------------------------------

WHEEL_NAMES = [
    "tensorflow-1.15.2-cp36-cp36m-manylinux2010_x86_64.whl",
    "torch-1.4.0-cp36-cp36m-manylinux1_x86_64.whl",
    "scipy-1.4.1-cp36-cp36m-manylinux1_x86_64.whl",
    "numpy-1.18.4-cp36-cp36m-manylinux1_x86_64.whl",
    "pandas-0.25.3-cp36-cp36m-manylinux1_x86_64.whl",
    "pyarrow-0.17.1-cp36-cp36m-manylinux2014_x86_64.whl",
    "lightgbm-2.3.1-py2.py3-none-manylinux1_x86_64.whl",
    "grpcio-1.29.0-cp36-cp36m-manylinux2010_x86_64.whl",
    "scikit_learn-0.21.3-cp36-cp36m-manylinux1_x86_64.whl",
    "gmpy2-2.0.8-cp36-cp36m-manylinux1_x86_64.whl",
]


def split_sizes(total, lo, hi, rng):
    """Split total bytes into parts in [lo, hi] (only one part if total < lo)."""
    if total <= 0:
        return []
    if total <= hi:
        return [total]
    k = max(-(-total // hi), 1)
    if total // k < lo:
        k = max(total // lo, 1)
    base = total // k
    sizes = [base] * k
    sizes[-1] += total - base * k
    # jitter pairs so sizes vary but stay within bounds and keep the sum
    room = min(base - lo, hi - base - (total - base * k))
    for i in range(0, k - 1, 2):
        if room > 0:
            d = rng.randrange(0, room + 1) & ~0xFFF
            sizes[i] += d
            sizes[i + 1] -= d
    return sizes


def random_chunks(size, seed):
    rng = random.Random(seed)
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


WORDS = ("data table model party guest host arbiter role job task component param "
         "feature label weight bias gradient loss metric batch epoch tree node split "
         "instance schema header encrypt cipher key value partition namespace session").split()
CLASSES = ("HeteroLR HomoNN HeteroSecureBoost FeatureBinning Intersection DataIO "
           "Evaluation OneHotEncoder Scale Sampler StepwiseLR PoissonRegression").split()
TEMPLATES = [
    "import {w1}_{w2}",
    "from federatedml.{w1}.{w2} import {C}",
    "",
    "",
    "class {C}{C2}(ModelBase):",
    "    def __init__(self):",
    "        super({C}{C2}, self).__init__()",
    "        self.{w1}_{w2} = None",
    "    def {w1}_{w2}(self, {w3}, {w4}=None):",
    "        \"\"\"Compute {w1} {w2} for each {w3}.\"\"\"",
    "        {w1} = self.{w2}.get({w3}, {n})",
    "        if {w1} is None:",
    "            raise ValueError(\"{w2} %s not found for {w3} %d\" % ({w4}, {n}))",
    "        for {w2} in {w3}.mapValues(lambda v: v * {n}):",
    "            LOGGER.debug(\"{w1}: {{}}\".format({w2}))",
    "        return {w1}",
    "    # {w1} {w2} {w3}: {w4}",
    "        {w3}_{w4} = [{n}, {n2}, {n3}]",
    "        self.{w4} = {{'{w1}': {n}, '{w2}': {w3}}}",
]


def text_chunks(size, seed):
    """Python-like source text, exactly `size` bytes, ending in a newline."""
    rng = random.Random(seed)
    left = size
    while left > 0:
        lines = []
        n = 0
        while n < 256 * 1024:
            t = rng.choice(TEMPLATES)
            line = t.format(w1=rng.choice(WORDS), w2=rng.choice(WORDS), w3=rng.choice(WORDS),
                            w4=rng.choice(WORDS), C=rng.choice(CLASSES),
                            C2=rng.choice(("", "Guest", "Host", "Arbiter")),
                            n=rng.randrange(1000), n2=rng.randrange(100), n3=rng.randrange(10))
            lines.append(line)
            n += len(line) + 1
        chunk = ("\n".join(lines) + "\n").encode("ascii")
        if len(chunk) >= left:
            chunk = chunk[:left - 1] + b"\n"
        left -= len(chunk)
        yield chunk


def add_bulk(tar, bulk_mb, seed):
    total = int(bulk_mb * MIB)
    if total <= 0:
        return
    rng = random.Random(seed)
    text_total = int(total * 0.15)
    wheel_total = total - text_total

    add_dir(tar, f"{TOP}/wheels", 0o755, ts(5, 8, 0, 0))
    sizes = split_sizes(wheel_total, 8 * MIB, 32 * MIB, rng)
    for i, size in enumerate(sizes):
        name = WHEEL_NAMES[i % len(WHEEL_NAMES)]
        if i >= len(WHEEL_NAMES):
            # A later round of names gets a post-release tag, so that no path appears twice
            # (a package with a path twice is refused, as extraction would keep only the last).
            post = f".post{i // len(WHEEL_NAMES)}"
            name = name.replace("-cp36", post + "-cp36", 1) if "-cp36" in name else name[:-len(".whl")] + post + ".whl"
        add_stream(tar, f"{TOP}/wheels/{name}", size,
                   GeneratedReader(random_chunks(size, f"{seed}:wheel:{i}")),
                   0o644, ts(5, 8, 1 + i % 50, i % 60))

    add_dir(tar, f"{TOP}/python_src", 0o755, ts(6, 14, 0, 0))
    add_dir(tar, f"{TOP}/python_src/federatedml", 0o755, ts(6, 14, 0, 1))
    sizes = split_sizes(text_total, 512 * 1024, 2 * MIB, rng)
    pkgs = ["linear_model", "tree", "nn", "feature", "evaluation", "statistic"]
    made = set()
    for i, size in enumerate(sizes):
        pkg = pkgs[i % len(pkgs)]
        d = f"{TOP}/python_src/federatedml/{pkg}"
        if pkg not in made:
            add_dir(tar, d, 0o755, ts(6, 14, 1, len(made)))
            made.add(pkg)
        add_stream(tar, f"{d}/{pkg}_{i:03d}.py", size,
                   GeneratedReader(text_chunks(size, f"{seed}:text:{i}")),
                   0o644, ts(6, 15, i % 60, (i * 7) % 60))


# ---------------------------------------------------------------------------
# the package
# ---------------------------------------------------------------------------

def write_package(fileobj, script_bytes, bulk_mb, seed, script_name="upgrade_script.sh", service_sh=None):
    pypkg = build_python_package(service_sh)
    with open_tar_writer(fileobj) as tar:
        add_dir(tar, TOP, 0o755, ts(9, 11, 30, 0))
        if script_name:
            add_bytes(tar, f"{TOP}/{script_name}", script_bytes, 0o755, ts(9, 11, 20, 42))
        add_bytes(tar, f"{TOP}/upgrade_python_package.tar.gz", pypkg, 0o644, ts(9, 10, 5, 17))

        add_dir(tar, f"{TOP}/sql", 0o750, ts(3, 16, 0, 0))
        add_bytes(tar, f"{TOP}/sql/upgrade_1_4_0-1_4_1.sql", read_sql("upgrade_1_4_0-1_4_1.sql"),
                  0o640, ts(1, 9, 15, 0))
        add_bytes(tar, f"{TOP}/sql/upgrade_1_4_1-1_4_2.sql", read_sql("upgrade_1_4_1-1_4_2.sql"),
                  0o640, ts(3, 15, 45, 30))
        add_symlink(tar, f"{TOP}/sql/latest.sql", "upgrade_1_4_1-1_4_2.sql", ts(3, 16, 0, 0))

        add_dir(tar, f"{TOP}/docs", 0o755, ts(8, 18, 0, 0))
        notes = f"{TOP}/docs/升级说明.md"
        add_bytes(tar, notes, UPGRADE_NOTES_MD, 0o644, ts(8, 17, 30, 0))
        add_hardlink(tar, f"{TOP}/docs/README.md", notes, 0o644, ts(8, 17, 30, 0))
        add_bytes(tar, f"{TOP}/docs/配置 示例.txt", CONFIG_EXAMPLE_TXT, 0o600, ts(7, 12, 0, 0),
                  owner=FATE)
        add_bytes(tar, f"{TOP}/docs/empty.txt", b"", 0o644, ts(1, 0, 0, 1))

        add_dir(tar, f"{TOP}/bin", 0o755, ts(4, 9, 0, 0), owner=ROOT)
        add_bytes(tar, f"{TOP}/bin/check_env.sh", CHECK_ENV_SH, 0o750, ts(4, 8, 59, 59),
                  owner=ROOT)

        add_bulk(tar, bulk_mb, seed)


def extract_to_dir(tar_path, out_dir):
    """Extract our own tar so modes, mtimes, symlink and hard link are real."""
    dest = out_dir / TOP
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, mode="r:", encoding="utf-8") as tar:
        members = tar.getmembers()
        # numeric owners: chown happens only as root, and should not depend on
        # whether users named app/fate exist on this machine
        tar.extractall(out_dir, members=members, numeric_owner=True,
                       filter="fully_trusted")
        symlinks = [m for m in members if m.issym()]
    for m in symlinks:
        p = out_dir / m.name
        try:
            os.utime(p, (m.mtime, m.mtime), follow_symlinks=False)
        except (NotImplementedError, OSError):
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", metavar="OUT", help="output file (tar.gz, tar) or folder (dir)")
    ap.add_argument("--format", choices=["tar.gz", "tar", "dir"], default="tar.gz")
    ap.add_argument("--script", type=Path, default=DEFAULT_SCRIPT,
                    help="upgrade script to embed (default: upgrade_script.sh beside this file)")
    ap.add_argument("--script-name", default="upgrade_script.sh",
                    help="member name of the script (upgrade.sh for 1.5.x-style packages; '' for none)")
    ap.add_argument("--crlf", action="store_true",
                    help="store the script with CRLF line endings")
    ap.add_argument("--bulk-mb", type=float, default=0, metavar="N",
                    help="add about N MiB of bulk (wheels + python source)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the bulk content")
    ap.add_argument("--service-script", type=Path, default=None,
                    help="the python tree's fate_flow/service.sh (default: fate_flow_service.sh beside this file)")
    ap.add_argument("--http-port", type=int, default=9380,
                    help="fate_flow's HTTP port in the new python tree's base_conf.yaml and server_conf.json "
                         "(tests side by side need their own; FATE's is 9380)")
    ap.add_argument("--grpc-port", type=int, default=9360,
                    help="fate_flow's gRPC port in the new python tree's base_conf.yaml (FATE's is 9360)")
    ap.add_argument("--sql-dir", type=Path, default=None,
                    help="take the two upgrade SQL files from this folder instead of sql/ beside this file")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args(argv)
    global SQL_DIR, HTTP_PORT_OVERRIDE, GRPC_PORT_OVERRIDE
    if args.sql_dir:
        SQL_DIR = args.sql_dir
    HTTP_PORT_OVERRIDE = args.http_port
    GRPC_PORT_OVERRIDE = args.grpc_port

    script = args.script.read_bytes()
    service = args.service_script.read_bytes() if args.service_script else None
    if args.crlf:
        script = script.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    out = Path(args.out)
    if args.format == "tar.gz":
        with open(out, "wb") as f, gzip_writer(f) as gz:
            write_package(gz, script, args.bulk_mb, args.seed, args.script_name, service)
    elif args.format == "tar":
        with open(out, "wb") as f:
            write_package(f, script, args.bulk_mb, args.seed, args.script_name, service)
    else:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fixture-", suffix=".tar") as tmp:
            write_package(tmp, script, args.bulk_mb, args.seed, args.script_name, service)
            tmp.flush()
            extract_to_dir(tmp.name, out)

    if args.verbose:
        target = out / TOP if args.format == "dir" else out
        size = out.stat().st_size if args.format != "dir" else None
        extra = f", {size / MIB:.2f} MiB" if size is not None else ""
        print(f"wrote {target} ({args.format}{extra}, bulk {args.bulk_mb} MiB, "
              f"seed {args.seed}, crlf {args.crlf})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
