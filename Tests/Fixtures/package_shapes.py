#!/usr/bin/env python3
"""Generate FATE upgrade packages of many shapes for the `pack` property tests.

    python3 Tests/Fixtures/package_shapes.py OUTDIR --cases N --seed S [--max-mb M]
        [--jobs J] [--stats]

Writes into OUTDIR (created if missing), for every case NNN (000 .. N-1):

  case-NNN.tar.gz   the input package: one gzip member around a tar whose top folder is
                    `upgrade_package/` (sometimes stored as `./upgrade_package/`), holding
                    exactly one upgrade script (`upgrade_script.sh` from FATE 1.4.4 or
                    `upgrade.sh` from 1.5.x) and other members
  case-NNN.script   the NEW script to put in place of the package's script: the old one
                    with comment lines added or removed (never the `VAR=value` lines
                    between the banner lines), so that it grows or shrinks by a few bytes
                    or across one or more 512-byte tar blocks
  manifest.json     one object per case: id, input, newScript, scriptPath (the script's
                    name exactly as stored), producer, level, format, describe, and extra
                    keys describing the shape (shape, tarProducer, gzipProducer, position,
                    membersBefore, membersAfter, oldScriptSize, newScriptSize, delta,
                    dataKinds, sizes, features, gzipHeader, trailingZeros, inputBytes)

What varies (each dimension is drawn from a seeded stratified list, so every value of
every dimension appears several times in a few hundred cases):

  shape        generic; fate144 (upgrade_script.sh + nested upgrade_python_package.tar.gz
               + sql/*.sql); fate15 (upgrade.sh + python.tar.gz); hotfix (script near the
               start, a handful of patched .py files and one medium binary)
  position     script first / near-start (hotfix) / middle / near-end (followed only by
               small entries) / last; 0..6 members before it, 0..8 after
  data         random, zeros, repetitive, text (Python-like source), mix
  sizes        0, 1, 511, 512, 513, 16 KiB +-1, 32 KiB - 1, 32 KiB, 32 KiB + 1,
               64 KiB +-1, 128 KiB +-1, small, medium, and in a few cases 1 .. --max-mb MiB
  tar          GNU tar --format=gnu|pax|ustar over a tree in a temp folder; Python tarfile
               GNU/PAX/USTAR; bsdtar --format ustar|gnutar|paxr over a tree and
               --format pax over a Python-made archive (`@archive`, see below); busybox tar
  names        long names (GNU ././@LongLink 'L'/'K', pax path/linkpath, ustar prefix),
               UTF-8 names, directories, symlinks (short and long targets), hard links,
               a pax global header ('g': native for GNU tar pax and tarfile pax, else a
               git-archive-like `pax_global_header` put in front of the tar)
  script       extended headers on the script in some cases (pax mtime with a fraction,
               size/path/uid/uname records, GNU base-256 uid or mtime)
  gzip         gzip -1/-6/-9 (named file: FNAME + file mtime; or stdin), gzip --rsyncable,
               pigz -0/-1/-6/-9 (named or stdin; -i, -R, -b, -H, -U, -C), Python gzip
               levels 0/1/6/9, Python zlib with strategies, memLevel 1..9, window bits
               9..15, sync/full/block/partial flushes and a hand-written gzip header,
               busybox gzip, and the tar tool's own compressor (tar -z, bsdtar -z,
               busybox tar -z, tarfile w:gz)
  container    FNAME, FCOMMENT, FEXTRA, FHCRC in some headers; trailing zero bytes after
               the gzip member in some files (padding to 512 or 10240 bytes, or a few);
               always exactly one gzip member

Determinism: the same seed and arguments give the same bytes. All randomness comes from
random.Random seeded with strings; file modes, owners and times are fixed (tar --owner/
--group, bsdtar --uid/--gid/--uname/--gname, os.utime with exact nanoseconds); GNU tar's
pax header names and global-header mtime are pinned with --pax-option; gzip -n or a
named file with a fixed mtime; pigz -n/-m or a named file; bsdtar -z with
gzip:!timestamp; Python gzip with a fixed mtime. bsdtar --format pax over a real tree
always writes ctime and atime records (not reproducible), so that producer reads a
Python-made archive instead (`bsdtar --format pax -cf - @src.tar`), whose entries carry
fixed atime/ctime records just like a real tree would. One dependency on the machine
remains: busybox tar cannot override owners, so its members belong to the user running
this script (root:root, uid 0, when run as root) -- deterministic for a given user.
Environment variables that change the tools (GZIP, PIGZ, TAR_OPTIONS, ...) are removed
and the locale is C.UTF-8.

Standard library only, plus the command-line tools tar (GNU), gzip, pigz, bsdtar, busybox.
"""

import argparse
import collections
import gzip
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT_144 = HERE / "upgrade_script.sh"
SCRIPT_15 = HERE / "upgrade-1.5.sh"
SQL_DIR = HERE / "sql"

TOP = "upgrade_package"
KIB = 1024
MIB = 1 << 20
T0 = 1598918400           # 2020-09-01 00:00:00 UTC
GZIP_MTIME = 1599652800   # 2020-09-09 12:00:00 UTC
BANNER_END = "以上请根据实际情况修改参数".encode("utf-8")

ENV = {k: v for k, v in os.environ.items()
       if k not in ("GZIP", "PIGZ", "TAR_OPTIONS", "BZIP", "XZ_OPT", "TAPE", "POSIXLY_CORRECT",
                    "TAR_READER", "BLOCKSIZE")}
ENV.update(LC_ALL="C.UTF-8", LANG="C.UTF-8", TZ="UTC")

# uid, gid, uname, gname
OWNERS = {
    "app": (1000, 1000, "app", "apps"),
    "root": (0, 0, "root", "root"),
    "fate": (1234, 5678, "fate", "fateusers"),
    "big": (3000000, 3000001, "bigapp", "bigapps"),  # > 8^7 - 1: base-256 (GNU) or pax uid/gid
}

# ---------------------------------------------------------------------------------------
# dimensions
# ---------------------------------------------------------------------------------------

TAR_PRODUCERS = {
    # name: (format family, how)
    "gnutar-gnu": ("gnu", "disk"), "gnutar-pax": ("pax", "disk"), "gnutar-ustar": ("ustar", "disk"),
    "python-gnu": ("gnu", "python"), "python-pax": ("pax", "python"), "python-ustar": ("ustar", "python"),
    "bsdtar-ustar": ("ustar", "disk"), "bsdtar-gnutar": ("gnu", "disk"), "bsdtar-paxr": ("pax", "disk"),
    "bsdtar-pax": ("pax", "archive"), "busybox": ("gnu", "disk"),
}

DIMENSIONS = {
    "shape": [("generic", 60), ("fate144", 14), ("fate15", 13), ("hotfix", 13)],
    "tar": [(k, 1.0 if k != "bsdtar-paxr" else 0.6) for k in TAR_PRODUCERS],
    "gzip": [("gzip-file", 1), ("gzip-stdin", 1), ("pigz-file", 1), ("pigz-stdin", 1),
             ("python-gzip", 1), ("python-zlib", 1.6), ("busybox-gzip", 0.7), ("direct", 1.3)],
    "level": [(1, 1), (6, 1), (9, 1), (0, 0.12)],
    "position": [("first", 1), ("middle", 1), ("near-end", 1), ("last", 1)],
    "delta": [(d, 1) for d in (1, -1, 2, -2, 7, -7, 100, -100, -300, 511, -511, 512, -512,
                               513, -513, 1000, 1024, -1024, 4000, -4000, 0)]
             + [(33000, 0.35), (-33000, 0.25)],
    "oldsize": [("orig", 2), ("blk+0", 1), ("blk+1", 1), ("blk-1", 1), ("random", 1)],
    "where": [("after-banner", 3), ("end", 1)],
    "prefix": [("", 3), ("./", 1)],
    "oddity": [("none", 10), ("fname", 1), ("fcomment", 1), ("fextra", 1), ("fhcrc", 0.6),
               ("trail-512", 1), ("trail-10240", 1), ("trail-few", 0.8)],
    "global": [(False, 8), (True, 1)],
    "large": [(False, 97), (True, 3)],
    "names": [("plain", 2), ("long", 1), ("utf8", 1), ("long+utf8", 1)],
    "links": [("none", 2), ("symlink", 1), ("hardlink", 1), ("both", 1)],
    "dirs": [(False, 1), (True, 1)],
    "scriptx": [("none", 4), ("mtime", 1), ("size", 1), ("path", 1), ("uid", 1), ("uname", 0.6),
                ("multi", 0.6), ("b256-mtime", 0.4)],
    "fracmtime": [(False, 3), (True, 1)],
    "base": [("1.4.4", 1), ("1.5", 1)],
    "blocking": [("default", 3), (1, 1), (64, 0.6)],
    "owner": [("app", 2), ("root", 1), ("fate", 1), ("big", 0.6)],
}


def strata(rng, n, spec, min_each=3):
    """n values: every value at least min_each times (when n allows), the rest by weight."""
    values = [v for v, _ in spec]
    weights = [w for _, w in spec]
    seq = []
    if n >= min_each * len(values):
        for v in values:
            seq += [v] * min_each
    room = n - len(seq)
    total = sum(weights)
    for v, w in spec:
        seq += [v] * int(room * w / total)
    while len(seq) < n:
        seq.append(rng.choices(values, weights)[0])
    rng.shuffle(seq)
    return seq[:n]


def plan_cases(n, seed, max_mb):
    columns = {}
    for name, spec in DIMENSIONS.items():
        columns[name] = strata(random.Random(f"{seed}:dim:{name}"), n, spec)
    plans = []
    for i in range(n):
        p = {name: columns[name][i] for name in DIMENSIONS}
        p["index"] = i
        p["seed"] = f"{seed}:case:{i}"
        p["max_mb"] = max_mb
        fix_plan(p)
        plans.append(p)
    return plans


def fix_plan(p):
    """Make the drawn values fit together."""
    fmt, how = TAR_PRODUCERS[p["tar"]]
    p["format"] = fmt
    rng = random.Random(p["seed"] + ":plan")
    if p["shape"] in ("fate144", "hotfix"):
        p["base"] = "1.4.4"
    elif p["shape"] == "fate15":
        p["base"] = "1.5"
    if p["gzip"] in ("busybox-gzip",) or (p["gzip"] == "direct" and p["tar"] == "busybox"):
        p["level"] = 6          # neither has a level option
    if p["level"] == 0 and p["gzip"] not in ("pigz-file", "pigz-stdin", "python-gzip", "python-zlib"):
        p["level"] = 1
    # a global header: natively from GNU tar pax and tarfile pax; otherwise put in front of
    # the tar by hand, which needs the tar before compression
    if p["global"]:
        p["global"] = "native" if p["tar"] in ("gnutar-pax", "python-pax") else (
            "injected" if p["gzip"] != "direct" else False)
    # extended headers on the script: what each producer can express
    sx = p["scriptx"]
    possible = {
        "python-pax": {"none", "mtime", "size", "path", "uid", "uname", "multi"},
        "gnutar-pax": {"none", "mtime", "uid"},
        "bsdtar-pax": {"none", "mtime", "uid", "uname"},   # it writes only the records it needs
        "bsdtar-paxr": {"none", "mtime", "uid"},
        "python-gnu": {"none", "uid", "b256-mtime"},
        "gnutar-gnu": {"none", "uid"},
        "bsdtar-gnutar": {"none", "uid"},
    }.get(p["tar"], {"none"})
    if p["tar"] == "python-pax" and sx == "none" and rng.random() < 0.6:
        sx = rng.choice(["size", "size", "multi", "path", "mtime"])   # pax size= records are rare
    if sx not in possible:
        sx = rng.choice(sorted(possible - {"none"})) if len(possible) > 1 and rng.random() < 0.5 else "none"
    p["scriptx"] = sx
    if fmt == "ustar" and p["owner"] == "big":
        p["owner"] = "app"
    if p["tar"] == "busybox":
        p["owner"] = "(caller)"
    if sx == "uid" and p["tar"] not in ("python-pax", "python-gnu", "bsdtar-pax"):
        p["owner"] = "big"      # disk tools: one owner for every member
    if fmt != "pax":
        p["fracmtime"] = False
    if how != "disk" or p["tar"] == "busybox":
        p["blocking"] = "default"
    # position: real shapes have their own layouts
    if p["shape"] == "fate15":
        p["position"] = "first" if p["position"] in ("first", "middle") else "last"
    elif p["shape"] == "hotfix":
        p["position"] = rng.choice(["first", "near-start"])
    # grow/shrink target sizes
    base_size = len((SCRIPT_144 if p["base"] == "1.4.4" else SCRIPT_15).read_bytes())
    d = p["delta"]
    need = max(0, -d)            # the new script removes that many filler bytes
    mode = p["oldsize"]
    if mode == "orig" and (need or d == 0):   # a same-size change needs filler to change
        mode = "random"
    if mode == "orig":
        filler = 0
    elif mode == "random":
        filler = need + rng.randrange(8, 3000)
    else:
        target = {"blk+0": 0, "blk+1": 1, "blk-1": 511}[mode]
        size = base_size + need + 1
        size += (target - size) % 512
        size += 512 * rng.randrange(0, 3)
        if size - base_size < 8:
            size += 512
        filler = size - base_size
    p["oldsize"] = mode
    p["filler_old"] = filler
    p["filler_new"] = filler + d
    return p


# ---------------------------------------------------------------------------------------
# content
# ---------------------------------------------------------------------------------------

WORDS = ("data table model party guest host arbiter role job task component param feature "
         "label weight bias gradient loss metric batch epoch tree node split instance schema "
         "header encrypt cipher key value partition namespace session upgrade flow board "
         "serving proxy eggroll roll site").split()
UTF8_WORDS = ["升级", "说明", "配置", "示例", "模型", "数据", "données", "paramètre", "Ünïcödé",
              "модель", "参数", "文件", "日志"]
# The Python-like text of the fixture builder's python_src/, so that both make the same kind of text.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_upgrade_package import CLASSES, TEMPLATES  # noqa: E402

_CORPUS = None


def corpus():
    """~384 KiB of Python-like text, the same on every run."""
    global _CORPUS
    if _CORPUS is None:
        rng = random.Random("corpus")
        lines, n = [], 0
        while n < 384 * KIB:
            line = rng.choice(TEMPLATES).format(
                w1=rng.choice(WORDS), w2=rng.choice(WORDS), w3=rng.choice(WORDS),
                w4=rng.choice(WORDS), C=rng.choice(CLASSES),
                C2=rng.choice(("", "Guest", "Host", "Arbiter")), n=rng.randrange(1000),
                n2=rng.randrange(100), n3=rng.randrange(10))
            lines.append(line)
            n += len(line) + 1
        _CORPUS = ("\n".join(lines) + "\n").encode("ascii")
    return _CORPUS


def text_bytes(rng, n):
    c = corpus()
    out = bytearray()
    start = rng.randrange(len(c))
    while len(out) < n:
        out += c[start:start + (n - len(out))]
        start = 0
    return bytes(out)


REPEAT_PATTERNS = [b"\x00\xff", b"ab", b"INFO fate_flow started\n", b"0123456789abcdef",
                   b"\xde\xad\xbe\xef", b"-", b"NaN,", b"\x01\x02\x03\x04\x05\x06\x07"]


def data_bytes(rng, kind, n):
    if n == 0:
        return b""
    if kind == "random":
        return rng.randbytes(n)
    if kind == "zeros":
        return bytes(n)
    if kind == "repetitive":
        pat = rng.choice(REPEAT_PATTERNS + [rng.randbytes(rng.randint(1, 12))])
        return (pat * (n // len(pat) + 1))[:n]
    if kind == "text":
        return text_bytes(rng, n)
    # mix: chunks of the other kinds
    out = bytearray()
    while len(out) < n:
        k = rng.choice(["random", "zeros", "repetitive", "text"])
        m = min(n - len(out), rng.choice([1, 100, 511, 512, 4096, 9000, 33000]))
        out += data_bytes(rng, k, m)
    return bytes(out)


def filler(rng, n):
    """Exactly n bytes of shell comment lines (or a blank line when 1 byte is left)."""
    out = bytearray()
    while len(out) < n:
        left = n - len(out)
        if left == 1:
            out += b"\n"
            break
        k = min(left, rng.randint(20, 100))
        if left - k == 1:
            k -= 1 if k > 2 else -1
        k = min(k, left)
        words = []
        while sum(len(w) + 1 for w in words) < k:
            words.append(rng.choice(WORDS + ["INFO:", "TODO", "FATE", "#", "1.4.4", "--"]))
        body = ("# " + " ".join(words)).encode("ascii")[:k - 1]
        if len(body) < k - 1:
            body += b"-" * (k - 1 - len(body))
        out += body[:k - 1] + b"\n"
    assert len(out) == n, (len(out), n)
    return bytes(out)


def make_script(base, n, rng, where):
    if n == 0:
        return base
    fill = filler(rng, n)
    if where == "end":
        return base + fill
    i = base.index(BANNER_END)
    j = base.index(b"\n", i) + 1
    return base[:j] + fill + base[j:]


def sql_text(rng, n):
    out = bytearray(b"-- FATE upgrade SQL, generated\nUSE fate_flow;\n")
    while len(out) < n:
        t, c = rng.choice(WORDS), rng.choice(WORDS)
        out += (f"ALTER TABLE t_{t} ADD COLUMN f_{c}_{rng.randrange(100)} VARCHAR({rng.choice([64, 128, 255])})"
                f" DEFAULT NULL;\n").encode()
    return bytes(out[:n - 1]) + b"\n"


def nested_tgz(rng, kind, scale):
    """A nested gzip'd tar of a python/ tree: text files and random "wheel" files."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=GZIP_MTIME) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8") as tf:
            t = T0 + 86400

            def add(name, data=None, mode=0o644):
                ti = tarfile.TarInfo(name)
                ti.mtime = t + rng.randrange(86400)
                ti.uid, ti.gid, ti.uname, ti.gname = OWNERS["app"]
                if data is None:
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    tf.addfile(ti)
                else:
                    ti.mode, ti.size = mode, len(data)
                    tf.addfile(ti, io.BytesIO(data))

            dirs = ["python", "python/arch", "python/arch/api", "python/arch/api/utils",
                    "python/arch/conf", "python/fate_flow", "python/fate_flow/utils",
                    "python/federatedml", "python/federatedml/tree"]
            if kind == "1.5":
                dirs += ["python/fate_arch", "python/fate_arch/common"]
            for d in dirs:
                add(d)
            for k in range(rng.randint(8, 24)):
                d = rng.choice(dirs[1:])
                add(f"{d}/{rng.choice(WORDS)}_{k}.py", text_bytes(rng, rng.randint(200, 20000)))
            add("python/arch/conf/base_conf.yaml", b"work_mode: 0\nuse_registry: false\n")
            add("python/wheels")
            for k in range(rng.randint(1, 3)):
                size = int(rng.randint(16 * KIB, 200 * KIB) * scale)
                add(f"python/wheels/pkg{k}-1.0-py3-none-any.whl", rng.randbytes(size))
    return raw.getvalue()


# ---------------------------------------------------------------------------------------
# members
# ---------------------------------------------------------------------------------------

class Member:
    def __init__(self, kind, rel, data=b"", mode=0o644, linkrel="", symtarget=""):
        self.kind = kind          # file, dir, symlink, hardlink, script
        self.rel = rel            # path under the top folder; "" for the top folder itself
        self.data = data
        self.mode = mode
        self.linkrel = linkrel    # hardlink target's rel
        self.symtarget = symtarget
        self.mtime = 0            # int, or (int, ns) for a fraction
        self.owner = OWNERS["app"]
        self.pax = {}             # extra pax records (python producers)
        self.datakind = ""
        self.small = True

    def stored(self, prefix):
        return prefix + TOP + ("/" + self.rel if self.rel else "")


SIZE_CLASSES = [(0, 1), (1, 1), (511, 1), (512, 1), (513, 1), ("16K", 1), (32767, 1), (32768, 1),
                (32769, 1), ("64K", 0.7), ("128K", 0.5), ("small", 2.2), ("medium", 1)]
DATA_KINDS = ["random", "zeros", "repetitive", "text", "mix"]
EXTS = {"random": [".whl", ".so", ".bin", ".jar", ".pyc"], "zeros": [".img", ".dat", ".pad"],
        "repetitive": [".log", ".csv", ".txt"], "text": [".py", ".sql", ".md", ".yaml", ".sh"],
        "mix": [".dat", ".tar", ".pkl", ".db"]}
BASENAMES = ["settings", "job_utils", "fate_flow_server", "base_conf", "model_store", "notes",
             "task_executor", "data_io", "federation", "table", "model_0", "blob", "checkpoint",
             "consts", "README", "service", "core_utils", "log_utils", "api_utils"]
UTF8_BASENAMES = ["升级说明", "配置 示例", "données", "Ünïcödé", "модель", "参数-文件"]
SUBDIRS = ["", "python", "python/fate_flow", "python/fate_flow/utils", "conf", "bin", "sql",
           "lib", "wheels", "docs", "eggroll/lib", "fateboard"]
UTF8_SUBDIRS = ["文档", "données", "配置 示例"]


def pick_size(rng):
    v = rng.choices([v for v, _ in SIZE_CLASSES], [w for _, w in SIZE_CLASSES])[0]
    if v == "16K":
        return 16384 + rng.choice([-1, 0, 1])
    if v == "64K":
        return 65536 + rng.choice([-1, 0, 1])
    if v == "128K":
        return 131072 + rng.choice([-1, 0, 1])
    if v == "small":
        return rng.randint(2, 8192)
    if v == "medium":
        return rng.randint(8193, 100000)
    return v


def ustar_ok(stored):
    """Can a ustar header hold this name (name <= 100 bytes, or prefix <= 155 + name <= 100)?"""
    b = stored.encode("utf-8")
    if len(b) <= 100:
        return True
    parts = b.split(b"/")
    for i in range(1, len(parts)):
        if len(b"/".join(parts[:i])) <= 155 and 0 < len(b"/".join(parts[i:])) <= 100:
            return True
    return False


def long_rel(rng, ext, ustar, utf8, prefix, dirname=False):
    """A path under the top folder whose stored name is longer than 100 bytes."""
    pool = UTF8_WORDS + WORDS if utf8 else WORDS
    for _ in range(200):
        style = "split" if ustar else rng.choice(["leaf", "deep", "split"])

        def comp(lo, hi):
            s = ""
            while len(s.encode()) < lo:
                s += ("_" if s else "") + rng.choice(pool)
            while len(s.encode()) > hi:
                s = s[:-1]
            return s

        if style == "leaf":        # last component alone > 100 bytes
            rel = comp(10, 40) + "/" + comp(101, 200) + ext
        elif style == "deep":      # total > 255 bytes, components short
            rel = "/".join(comp(20, 60) for _ in range(rng.randint(5, 8))) + ext
        else:                      # 101 .. 250 bytes, splittable into prefix + name
            rel = comp(40, 100) + "/" + comp(20, 40) + "/" + comp(30, 80) + ext
        stored = prefix + TOP + "/" + rel + ("/" if dirname else "")
        if len(stored.encode()) <= 100:
            continue
        if any(len(c.encode()) > 250 for c in rel.split("/")):
            continue
        if ustar and not ustar_ok(stored):
            continue
        return rel
    raise RuntimeError("no long name found")


class Namer:
    def __init__(self, rng, plan):
        self.rng, self.plan, self.used = rng, plan, set()
        self.fmt = plan["format"]

    def unique(self, rel):
        base, k = rel, 1
        while rel in self.used:
            stem, dot, ext = base.rpartition(".")
            rel = f"{stem}_{k}.{ext}" if dot and "/" not in ext else f"{base}_{k}"
            k += 1
        self.used.add(rel)
        return rel

    def file(self, datakind):
        rng, names = self.rng, self.plan["names"]
        ext = rng.choice(EXTS[datakind])
        utf8 = "utf8" in names and rng.random() < 0.5
        if "long" in names and rng.random() < 0.45:
            return self.unique(long_rel(rng, ext, self.fmt == "ustar", utf8, self.plan["prefix"]))
        d = rng.choice(SUBDIRS + (UTF8_SUBDIRS if utf8 else []))
        b = rng.choice(UTF8_BASENAMES if utf8 else BASENAMES)
        return self.unique((d + "/" if d else "") + b + ext)

    def directory(self):
        rng, names = self.rng, self.plan["names"]
        utf8 = "utf8" in names and rng.random() < 0.5
        if "long" in names and rng.random() < 0.3:
            return self.unique(long_rel(rng, "", self.fmt == "ustar", utf8, self.plan["prefix"],
                                        dirname=True))
        d = rng.choice([s for s in SUBDIRS if s] + (UTF8_SUBDIRS if utf8 else []))
        return self.unique(d if d not in self.used else d + "_" + rng.choice(WORDS))


def owner_for(rng, plan):
    if plan["tar"].startswith("python") or plan["tar"] == "bsdtar-pax":
        choices = ["app", "app", "root", "fate"]
        if plan["format"] != "ustar" and plan["owner"] == "big":
            choices.append("big")
        return OWNERS[rng.choice(choices)]
    return None


def mtime_for(rng, plan):
    t = T0 + rng.randrange(9 * 86400)
    if plan["fracmtime"] and rng.random() < 0.6:
        return (t, rng.randrange(1, 10 ** 9))
    return t


def generic_members(rng, plan, namer):
    pos = plan["position"]
    if pos == "first":
        before, after = 0, rng.randint(1, 8)
    elif pos == "last":
        before, after = rng.randint(0, 6), 0
    elif pos == "middle":
        before, after = rng.randint(1, 6), rng.randint(1, 8)
    else:  # near-end: followed only by small entries
        before, after = rng.randint(0, 6), rng.randint(1, 3)
    total = before + after
    kinds = ["file"] * total
    free = list(range(total))
    want_hard = plan["links"] in ("hardlink", "both") and total >= 2
    want_sym = plan["links"] in ("symlink", "both") and total >= 1
    if want_hard:
        j = rng.randrange(1, total)
        kinds[j] = "hardlink"
        free.remove(j)
    if want_sym:
        cand = [k for k in free if k != 0 or not want_hard]
        if cand:
            k = rng.choice(cand)
            kinds[k] = "symlink"
            free.remove(k)
    if plan["dirs"]:
        for _ in range(rng.randint(1, 2)):
            cand = [k for k in free if kinds[k] == "file"]
            if len(cand) > 1:
                k = rng.choice(cand)
                kinds[k] = "dir"
                free.remove(k)
    large_slot = None
    if plan["large"]:
        cand = [k for k in range(total) if kinds[k] == "file" and not (pos == "near-end" and k >= before)]
        if cand:
            large_slot = rng.choice(cand)
    members = []
    for k, kind in enumerate(kinds):
        small_only = pos == "near-end" and k >= before
        if kind == "file":
            dk = rng.choice(DATA_KINDS)
            if k == large_slot:
                mb = plan["max_mb"]
                lo = min(1 * MIB, int(mb * MIB))
                size = int(mb * MIB) if plan["index"] % 2 == 0 else rng.randint(lo, int(mb * MIB))
                dk = rng.choice(["random", "mix", "text"])
            elif small_only:
                size = rng.choice([0, 1, 2, 100, 511, 512, 513])
            else:
                size = pick_size(rng)
            m = Member("file", namer.file(dk), data_bytes(rng, dk, size),
                       mode=rng.choice([0o644, 0o644, 0o600, 0o640, 0o755]))
            m.datakind = dk
        elif kind == "dir":
            m = Member("dir", namer.directory(), mode=rng.choice([0o755, 0o750, 0o700]))
        elif kind == "symlink":
            if plan["format"] != "ustar" and "long" in plan["names"] and rng.random() < 0.6:
                target = "../" + "/".join(rng.choice(WORDS) * 3 for _ in range(12)) + "/target.py"
            else:
                target = rng.choice(["settings.py", "../conf/base_conf.yaml", "python/fate_flow",
                                     "upgrade_script.sh", "lib/libfate.so.1"])
            m = Member("symlink", namer.unique(rng.choice(["latest", "current", "link", "conf.lnk"])),
                       mode=0o777, symtarget=target)
        else:  # hardlink to an earlier regular file, whose name a ustar header can hold
            targets = [x for x in members if x.kind == "file" and
                       (plan["format"] != "ustar" or len(x.stored(plan["prefix"]).encode()) <= 100)]
            if targets:
                t = rng.choice(targets)
                m = Member("hardlink", namer.unique(t.rel.rsplit("/", 1)[-1] + ".hardlink"),
                           mode=t.mode, linkrel=t.rel)
            else:
                m = Member("file", namer.file("text"), b"")
                m.datakind = "text"
        members.append(m)
    return members[:before], members[before:]


def real_members(rng, plan, namer):
    shape, pos = plan["shape"], plan["position"]
    scale = (plan["max_mb"] * MIB / 400 / KIB) if plan["large"] else 1.0
    if shape == "fate144":
        pkg = Member("file", "upgrade_python_package.tar.gz", nested_tgz(rng, "1.4", scale))
        pkg.datakind = "random"
        sqld = Member("dir", "sql", mode=0o755)
        sqls = []
        for name in sorted(os.listdir(SQL_DIR)):
            sqls.append(Member("file", "sql/" + name, (SQL_DIR / name).read_bytes()))
        if rng.random() < 0.5:
            sqls.append(Member("file", "sql/upgrade_1_4_2-1_4_3.sql", sql_text(rng, rng.randint(300, 4000))))
        for s in sqls:
            s.datakind = "text"
        group_sql = [sqld] + sqls
        if pos == "first":
            return [], rng.choice([[pkg] + group_sql, group_sql + [pkg]])
        if pos == "last":
            return rng.choice([[pkg] + group_sql, group_sql + [pkg]]), []
        if pos == "near-end":
            return [pkg], group_sql
        return rng.choice([(group_sql, [pkg]), ([pkg], group_sql)])
    if shape == "fate15":
        pkg = Member("file", "python.tar.gz", nested_tgz(rng, "1.5", scale))
        pkg.datakind = "random"
        return ([], [pkg]) if pos == "first" else ([pkg], [])
    # hotfix
    after = []
    dirs = ["python/fate_flow/utils", "python/fate_flow/apps", "python/federatedml/tree",
            "python/arch/api/utils", "python/fate_flow/scheduler"]
    for k in range(rng.randint(3, 7)):
        m = Member("file", namer.unique(f"{rng.choice(dirs)}/{rng.choice(BASENAMES)}.py"),
                   text_bytes(rng, rng.randint(300, 24000)))
        m.datakind = "text"
        after.append(m)
    size = int(48 * KIB * (1.6 ** rng.uniform(0, 6)))
    if plan["large"]:
        size = int(plan["max_mb"] * MIB)
    binm = Member("file", rng.choice(["fateboard/fateboard-1.4.4.jar",
                                      "python/federatedml/secureprotol/fate_paillier.so",
                                      "eggroll/lib/eggroll-core-2.0.1.jar"]), rng.randbytes(size))
    binm.datakind = "random"
    after.insert(rng.randint(len(after) // 2, len(after)), binm)
    before = []
    if pos == "near-start":
        before = [Member("dir", "python", mode=0o755)] if rng.random() < 0.6 else \
                 [Member("file", "README.md", text_bytes(rng, rng.randint(100, 1500)))]
        before[0].datakind = "text"
    return before, after


# ---------------------------------------------------------------------------------------
# tar producers
# ---------------------------------------------------------------------------------------

def run(cmd, *, input=None, cwd=None):
    r = subprocess.run(cmd, input=input, cwd=cwd, env=ENV, capture_output=True, timeout=300, close_fds=False)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {r.returncode}: {r.stderr.decode(errors='replace')[:500]}")
    return r.stdout


def mtime_float(m):
    return m.mtime[0] + m.mtime[1] / 1e9 if isinstance(m.mtime, tuple) else m.mtime


def mtime_pax(m):
    if isinstance(m.mtime, tuple):
        return f"{m.mtime[0]}.{m.mtime[1]:09d}".rstrip("0")
    return str(m.mtime)


def python_tar(members, plan, fileobj, fmt=None, times=False):
    fmt = fmt or plan["format"]
    f = {"gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT, "ustar": tarfile.USTAR_FORMAT}[fmt]
    glob = None
    if plan["global"] == "native" and fmt == "pax":
        glob = {"comment": "FATE upgrade package " + plan["seed"]}
    prefix = plan["prefix"]
    with tarfile.open(fileobj=fileobj, mode="w", format=f, encoding="utf-8", pax_headers=glob) as tf:
        for m in members:
            ti = tarfile.TarInfo(m.stored(prefix))
            ti.mode = m.mode
            ti.uid, ti.gid, ti.uname, ti.gname = m.owner
            pax = dict(m.pax)
            if isinstance(m.mtime, tuple) and fmt == "pax":
                ti.mtime = m.mtime[0]
                pax["mtime"] = mtime_pax(m)
            else:
                ti.mtime = m.mtime[0] if isinstance(m.mtime, tuple) else m.mtime
            if times:       # as bsdtar would read them from a real tree
                ns = zlib.crc32(m.rel.encode()) % 10 ** 9
                pax.setdefault("atime", f"{ti.mtime + 3600}.{ns:09d}")
                pax.setdefault("ctime", f"{GZIP_MTIME + len(m.rel)}.{(ns * 7) % 10 ** 9:09d}")
            if pax:
                ti.pax_headers = pax
            data = None
            if m.kind in ("file", "script"):
                ti.type, ti.size, data = tarfile.REGTYPE, len(m.data), io.BytesIO(m.data)
            elif m.kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif m.kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, m.symtarget
            elif m.kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = prefix + TOP + "/" + m.linkrel
            tf.addfile(ti, data)


def write_tree(members, plan, root):
    prefix = plan["prefix"]
    paths = {}
    for m in members:
        p = root / m.stored(prefix)
        paths[m.rel] = p
        if m.kind == "dir":
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            if m.kind in ("file", "script"):
                p.write_bytes(m.data)
            elif m.kind == "symlink":
                os.symlink(m.symtarget, p)
            elif m.kind == "hardlink":
                os.link(paths[m.linkrel], p)
    # modes and times: files first, then directories deepest first
    for m in members:
        p = paths[m.rel]
        if m.kind == "symlink":
            ns = mtime_ns(m)
            os.utime(p, ns=(ns, ns), follow_symlinks=False)
        elif m.kind != "dir" and m.kind != "hardlink":
            os.chmod(p, m.mode)
            ns = mtime_ns(m)
            os.utime(p, ns=(ns, ns))
    for m in sorted((m for m in members if m.kind == "dir"), key=lambda m: -m.stored("").count("/")):
        p = paths[m.rel]
        os.chmod(p, m.mode)
        ns = mtime_ns(m)
        os.utime(p, ns=(ns, ns))


def mtime_ns(m):
    if isinstance(m.mtime, tuple):
        return m.mtime[0] * 10 ** 9 + m.mtime[1]
    return m.mtime * 10 ** 9


def tar_disk(members, plan, tmp, direct_level=None):
    """Run GNU tar, bsdtar or busybox over a tree; with direct_level, let it gzip too."""
    root = tmp / "tree"
    root.mkdir()
    write_tree(members, plan, root)
    names = [m.stored(plan["prefix"]) for m in members]
    prod = plan["tar"]
    blocking = plan["blocking"]
    if prod.startswith("gnutar"):
        fmt = prod.split("-")[1]
        cmd = ["tar", f"--format={fmt}", "--no-recursion"]
        if plan["owner"] != "(caller)":
            uid, gid, un, gn = OWNERS[plan["owner"]]
            cmd += [f"--owner={un}:{uid}", f"--group={gn}:{gid}"]
            if plan["index"] % 7 == 3:
                cmd += ["--numeric-owner"]
        if fmt == "pax":
            opts = "exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime"
            if plan["global"] == "native":
                opts += (f",globexthdr.name=pax_global_header,globexthdr.mtime={GZIP_MTIME}"
                         f",comment=FATE upgrade package {plan['seed']}")
            cmd += ["--pax-option=" + opts]
        if blocking != "default":
            cmd += ["-b", str(blocking)]
        if direct_level is not None:
            cmd += ["-z"] if direct_level == 6 else ["-I", f"gzip -{direct_level}"]
        cmd += ["-cf", "-", "--"] + names
    elif prod.startswith("bsdtar"):
        fmt = prod.split("-")[1]
        cmd = ["bsdtar", "--format", fmt, "-n", "--no-xattrs", "--no-acls", "--no-fflags"]
        uid, gid, un, gn = OWNERS[plan["owner"]]
        cmd += ["--uid", str(uid), "--gid", str(gid), "--uname", un, "--gname", gn]
        if blocking != "default":
            cmd += ["-b", str(blocking)]
        if direct_level is not None:
            cmd += ["-z", "--options", f"gzip:!timestamp,gzip:compression-level={direct_level}"]
        cmd += ["-cf", "-"] + names
    else:
        cmd = ["busybox", "tar", "--no-recursion"] + (["-z"] if direct_level is not None else [])
        cmd += ["-cf", "-"] + names
    out = run(cmd, cwd=root)
    keep = [c for c in cmd[1:] if c.startswith("--format") or c in ("--numeric-owner",)]
    if prod.startswith("bsdtar"):
        keep = ["--format", fmt]
    if blocking != "default":
        keep += ["-b", str(blocking)]
    return out, " ".join(["busybox tar" if cmd[0] == "busybox" else cmd[0]] + keep + ["-c"])


def bsdtar_from_archive(members, plan, tmp, direct_level=None):
    src = tmp / "src.tar"
    with open(src, "wb") as f:
        python_tar(members, dict(plan, **{"global": False}), f, fmt="pax", times=True)
    cmd = ["bsdtar", "--format", "pax"]
    if direct_level is not None:
        cmd += ["-z", "--options", f"gzip:!timestamp,gzip:compression-level={direct_level}"]
    cmd += ["-cf", "-", "@src.tar"]
    return run(cmd, cwd=tmp), " ".join(cmd[:-2] + ["@archive"])


def global_header(plan):
    """A git-archive-like pax global header block (typeflag 'g'), put in front of the tar."""
    sha = random.Random(plan["seed"] + ":sha").randbytes(20).hex()
    rec = f"comment={sha}\n"
    n = len(rec) + 3
    body = f"{n} {rec}".encode()
    assert len(body) == n
    h = bytearray(512)
    h[0:17] = b"pax_global_header"
    h[100:108] = b"0000666\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % len(body)
    h[136:148] = b"%011o\0" % GZIP_MTIME
    h[156:157] = b"g"
    h[257:265] = b"ustar\x0000"
    h[265:269] = b"root"
    h[297:301] = b"root"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h) + body + bytes(-len(body) % 512)


# ---------------------------------------------------------------------------------------
# gzip producers
# ---------------------------------------------------------------------------------------

FEXTRA_DATA = b"FU" + struct.pack("<H", 8) + b"fate1.44"


def gzip_header(flags_wanted, level, name=None, comment=None, mtime=GZIP_MTIME, os_byte=3, extra=None,
                xfl=None):
    flg = 0
    tail = b""
    if extra is not None:
        flg |= 4
        tail += struct.pack("<H", len(extra)) + extra
    if name is not None:
        flg |= 8
        tail += name + b"\0"
    if comment is not None:
        flg |= 16
        tail += comment + b"\0"
    if "fhcrc" in flags_wanted:
        flg |= 2
    if xfl is None:
        xfl = 2 if level == 9 else 4 if level == 1 else 0
    h = b"\x1f\x8b\x08" + bytes([flg]) + struct.pack("<I", mtime) + bytes([xfl, os_byte]) + tail
    if flg & 2:
        h += struct.pack("<H", zlib.crc32(h) & 0xFFFF)
    return h


def split_gzip(gz):
    """(fields, deflate+trailer) of a gzip file's first header."""
    flg = gz[3]
    mtime, xfl, os_byte = struct.unpack("<I", gz[4:8])[0], gz[8], gz[9]
    pos = 10
    extra = name = comment = None
    if flg & 4:
        n = struct.unpack("<H", gz[pos:pos + 2])[0]
        extra = gz[pos + 2:pos + 2 + n]
        pos += 2 + n
    if flg & 8:
        e = gz.index(b"\0", pos)
        name = gz[pos:e]
        pos = e + 1
    if flg & 16:
        e = gz.index(b"\0", pos)
        comment = gz[pos:e]
        pos = e + 1
    if flg & 2:
        pos += 2
    return dict(flg=flg, mtime=mtime, xfl=xfl, os=os_byte, extra=extra, name=name, comment=comment), gz[pos:]


def describe_header(gz):
    f, _ = split_gzip(gz)
    bits = [n for b, n in ((4, "FEXTRA"), (8, "FNAME"), (16, "FCOMMENT"), (2, "FHCRC")) if f["flg"] & b]
    return dict(flags=bits, name=f["name"].decode("latin-1") if f["name"] is not None else None,
                comment=f["comment"].decode("latin-1") if f["comment"] is not None else None,
                mtime=f["mtime"], xfl=f["xfl"], os=f["os"])


def gzip_stage(raw, plan, tmp, rng):
    """Compress the tar; returns (gzip bytes, producer text)."""
    p, L, odd = plan["gzip"], plan["level"], plan["oddity"]
    fname = rng.choice(["upgrade_1_4_0-1_4_4.tar", "upgrade_package.tar", "upgrade_package_new.tar",
                        "fate_upgrade_1.5.1.tar"])
    if p in ("gzip-file", "pigz-file"):
        f = tmp / fname
        f.write_bytes(raw)
        os.utime(f, (GZIP_MTIME, GZIP_MTIME))
    if p in ("gzip-file", "gzip-stdin"):
        cmd = ["gzip", f"-{L}", "-c"]
        if rng.random() < 0.15:
            cmd.append("--rsyncable")
        if p == "gzip-file":
            return run(cmd + [fname], cwd=tmp), " ".join(cmd + ["FILE"])
        return run(cmd, input=raw), " ".join(cmd) + " <stdin"
    if p in ("pigz-file", "pigz-stdin"):
        cmd = ["pigz", f"-{L}", "-c"]
        r = rng.random()
        if r < 0.3:
            cmd.append("-i")
        elif r < 0.4:
            cmd.append("-R")
        if rng.random() < 0.4:
            cmd += ["-b", str(rng.choice([32, 64, 256]))]
        if L > 0 and rng.random() < 0.15:
            cmd.append(rng.choice(["-H", "-U"]))
        cmd += ["-p", str(rng.choice([1, 2, 4]))]
        if odd == "fcomment":
            cmd += ["-C", "FATE upgrade package"]
        if p == "pigz-file":
            return run(cmd + [fname], cwd=tmp), " ".join(cmd + ["FILE"])
        cmd.append(rng.choice(["-n", "-m"]))
        return run(cmd, input=raw), " ".join(cmd) + " <stdin"
    if p == "python-gzip":
        buf = io.BytesIO()
        named = rng.random() < 0.5
        with gzip.GzipFile(filename=fname if named else "", mode="wb", fileobj=buf, compresslevel=L,
                           mtime=GZIP_MTIME if rng.random() < 0.7 else 0) as g:
            g.write(raw)
        return buf.getvalue(), f"python gzip.GzipFile(compresslevel={L}{', filename' if named else ''})"
    if p == "python-zlib":
        wbits = rng.choice([9, 10, 11, 12, 13, 14, 15, 15, 15])
        mem = rng.randint(1, 9)
        strat_name = rng.choice(["Z_DEFAULT_STRATEGY", "Z_FILTERED", "Z_HUFFMAN_ONLY", "Z_RLE", "Z_FIXED"])
        flush_name = rng.choice(["none", "none", "Z_SYNC_FLUSH", "Z_FULL_FLUSH", "Z_BLOCK", "Z_PARTIAL_FLUSH"])
        c = zlib.compressobj(L, zlib.DEFLATED, -wbits, mem, getattr(zlib, strat_name))
        out = []
        if flush_name == "none":
            out.append(c.compress(raw))
        else:
            step = rng.choice([512, 4096, 10240, 32768, 65536, rng.randint(100, 70000)])
            for i in range(0, len(raw), step):
                out.append(c.compress(raw[i:i + step]))
                out.append(c.flush(getattr(zlib, flush_name)))
        out.append(c.flush())
        body = b"".join(out)
        trailer = struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)
        head = gzip_header(set(), L, name=fname.encode() if rng.random() < 0.4 else None,
                           os_byte=rng.choice([3, 255, 0]), mtime=rng.choice([0, GZIP_MTIME]))
        desc = f"python zlib level={L} wbits={wbits} memLevel={mem} {strat_name}"
        if flush_name != "none":
            desc += f" {flush_name}/{step}"
        return head + body + trailer, desc
    if p == "busybox-gzip":
        return run(["busybox", "gzip", "-c"], input=raw), "busybox gzip -c <stdin"
    raise AssertionError(p)


def apply_oddity(gz, plan, rng):
    odd = plan["oddity"]
    trailing = 0
    if odd in ("fname", "fcomment", "fextra", "fhcrc"):
        f, rest = split_gzip(gz)
        want = {odd}
        name, comment, extra = f["name"], f["comment"], f["extra"]
        if odd == "fname" and name is None:
            name = b"upgrade_1_4_0-1_4_4.tar"
        if odd == "fcomment" and comment is None:
            comment = "FATE 升级包 / upgrade package".encode("utf-8") if rng.random() < 0.3 else b"FATE upgrade package"
        if odd == "fextra":
            extra = FEXTRA_DATA
        if odd == "fhcrc" and rng.random() < 0.5 and name is None:
            name = b"upgrade_package.tar"
        gz = gzip_header(want, plan["level"], name=name, comment=comment, mtime=f["mtime"],
                         os_byte=f["os"], extra=extra, xfl=f["xfl"]) + rest
    elif odd == "trail-512":
        trailing = -len(gz) % 512 or 512
    elif odd == "trail-10240":
        trailing = -len(gz) % 10240 or 10240
    elif odd == "trail-few":
        trailing = rng.randint(1, 64)
    return gz + bytes(trailing), trailing


# ---------------------------------------------------------------------------------------
# one case
# ---------------------------------------------------------------------------------------

def build_case(plan, outdir):
    rng = random.Random(plan["seed"])
    i = plan["index"]
    cid = f"case-{i:03d}"
    base = (SCRIPT_144 if plan["base"] == "1.4.4" else SCRIPT_15).read_bytes()
    script_name = "upgrade_script.sh" if plan["base"] == "1.4.4" else "upgrade.sh"
    old = make_script(base, plan["filler_old"], random.Random(plan["seed"] + ":old"), plan["where"])
    new = make_script(base, plan["filler_new"], random.Random(plan["seed"] + ":new"), plan["where"])
    if old == new:            # same-size filler drawn identical: change a letter of it
        f = plan["filler_new"]
        k = len(old) - f if plan["where"] == "end" else old.index(b"\n", old.index(BANNER_END)) + 1
        region = bytearray(new[k:k + f])
        letters = [j for j, c in enumerate(region) if 97 <= c <= 122]
        if letters:
            region[letters[0]] -= 32
        else:
            region = bytearray(b"\n" * len(region))
        new = new[:k] + bytes(region) + new[k + f:]
    assert new != old and len(new) - len(old) == plan["delta"]
    namer = Namer(rng, plan)
    namer.used.add(script_name)
    if plan["shape"] == "generic":
        before, after = generic_members(rng, plan, namer)
    else:
        before, after = real_members(rng, plan, namer)
    top = Member("dir", "", mode=rng.choice([0o755, 0o755, 0o775, 0o700]))
    script = Member("script", script_name, old, mode=rng.choice([0o755, 0o755, 0o644, 0o750, 0o700]))
    members = [top] + before + [script] + after
    for m in members:
        m.mtime = mtime_for(rng, plan)
        o = owner_for(rng, plan)
        if o:
            m.owner = o
    by_rel = {m.rel: m for m in members}
    for m in members:        # a hard link shares its target's inode
        if m.kind == "hardlink":
            t = by_rel[m.linkrel]
            m.mtime, m.mode, m.owner = t.mtime, t.mode, t.owner
    # extended headers on the script
    sx = plan["scriptx"]
    if sx in ("mtime", "multi"):
        script.mtime = (script.mtime if isinstance(script.mtime, int) else script.mtime[0],
                        rng.randrange(1, 10 ** 9))
    if sx in ("size", "multi"):
        script.pax["size"] = str(len(old))
    if sx in ("path", "multi"):
        script.pax["path"] = script.stored(plan["prefix"])
    if sx == "uid":
        script.owner = OWNERS["big"]
    if sx == "uname":
        script.owner = (1000, 1000, "升级用户", "fate用户组")
    if sx == "b256-mtime":
        script.mtime = 8 ** 11 + rng.randrange(10 ** 6)

    fmt, how = TAR_PRODUCERS[plan["tar"]]
    direct = plan["gzip"] == "direct"
    L = plan["level"]
    with tempfile.TemporaryDirectory(prefix=f"shapes-{cid}-") as td:
        tmp = Path(td)
        if how == "python":
            buf = io.BytesIO()
            if direct:
                gz_obj = gzip.GzipFile(filename=cid + ".tar", mode="wb", fileobj=buf, compresslevel=L,
                                       mtime=GZIP_MTIME)
                python_tar(members, plan, gz_obj)
                gz_obj.close()
                gz, tar_desc = buf.getvalue(), f"python tarfile {fmt.upper()}_FORMAT"
                gz_desc = f"tarfile w:gz level {L}"
            else:
                python_tar(members, plan, buf)
                raw, tar_desc = buf.getvalue(), f"python tarfile {fmt.upper()}_FORMAT"
        elif how == "archive":
            out, tar_desc = bsdtar_from_archive(members, plan, tmp, L if direct else None)
            if direct:
                gz, gz_desc = out, "bsdtar -z"
            else:
                raw = out
        else:
            out, tar_desc = tar_disk(members, plan, tmp, L if direct else None)
            if direct:
                gz = out
                gz_desc = {"gnutar": "tar -z" if L == 6 else f"tar -I 'gzip -{L}'",
                           "bsdtar": "bsdtar -z", "busybox": "busybox tar -z"}[plan["tar"].split("-")[0]]
            else:
                raw = out
        if not direct:
            if plan["global"] == "injected":
                raw = global_header(plan) + raw
            gz, gz_desc = gzip_stage(raw, plan, tmp, rng)
    gz, trailing = apply_oddity(gz, plan, rng)

    # self-check: one script entry holding the old script
    d = zlib.decompressobj(31)
    raw = d.decompress(gz) + d.flush()
    assert d.eof and not d.unused_data.strip(b"\0"), cid
    script_path = script.stored(plan["prefix"])
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:", encoding="utf-8") as tf:
        found = [m for m in tf.getmembers() if m.name == script_path]
        assert len(found) == 1, (cid, script_path, [m.name for m in tf.getmembers()])
        assert tf.extractfile(found[0]).read() == old, cid
        n_entries = len(tf.getmembers())
        script_pax = sorted(k for k, v in found[0].pax_headers.items() if tf.pax_headers.get(k) != v)
    script_ext = []
    if script_pax:
        script_ext.append("pax:" + ",".join(script_pax))
    if fmt == "gnu" and script.owner[0] >= 8 ** 7:
        script_ext.append("base256:uid,gid")
    if fmt == "gnu" and mtime_float(script) >= 8 ** 11:
        script_ext.append("base256:mtime")
    script_ext = "; ".join(script_ext) or "none"

    (outdir / f"{cid}.tar.gz").write_bytes(gz)
    (outdir / f"{cid}.script").write_bytes(new)

    others = before + after
    kinds = sorted({m.datakind for m in others if m.kind == "file" and m.datakind})
    sizes = [len(m.data) for m in others if m.kind == "file"]
    feats = []
    names = [m.stored(plan["prefix"]) for m in members]
    if any(len(n.encode()) > 100 for n in names):
        feats.append("longnames")
    if any(not n.isascii() for n in names):
        feats.append("utf8")
    if any(m.kind == "symlink" for m in others):
        feats.append("symlink" + ("(long)" if any(len(m.symtarget) > 100 for m in others) else ""))
    if any(m.kind == "hardlink" for m in others):
        feats.append("hardlink")
    if any(m.kind == "dir" for m in others):
        feats.append("dirs")
    if plan["global"]:
        feats.append(f"pax-g({plan['global']})")
    if plan["fracmtime"]:
        feats.append("frac-mtime")
    if script_ext != "none":
        feats.append(f"script {script_ext}")
    if plan["owner"] == "big" and plan["tar"] not in ("busybox",):
        feats.append("big-uid")
    if plan["blocking"] != "default":
        feats.append(f"-b{plan['blocking']}")
    if plan["large"] and max(sizes or [0]) >= MIB:
        feats.append("large")
    hdr = describe_header(gz)
    if hdr["flags"]:
        feats.append("+".join(hdr["flags"]))
    if trailing:
        feats.append(f"trailing {trailing} zeros")
    pos = plan["position"]
    producer = f"{tar_desc} | {gz_desc}"
    describe = (f"{plan['shape']}; {producer}; {script_name} {len(old)}->{len(new)} ({plan['delta']:+d}, "
                f"old {plan['oldsize']}, {plan['where']}) {pos} ({len(before)} before, {len(after)} after); "
                f"data {'/'.join(kinds) or '-'}; sizes {min(sizes) if sizes else '-'}..{max(sizes) if sizes else '-'}"
                + (f"; {', '.join(feats)}" if feats else ""))
    return {
        "id": cid, "input": f"{cid}.tar.gz", "newScript": f"{cid}.script", "scriptPath": script_path,
        "producer": producer, "level": L, "format": fmt, "describe": describe,
        "shape": plan["shape"], "tarProducer": plan["tar"], "gzipProducer": plan["gzip"],
        "position": pos, "membersBefore": len(before), "membersAfter": len(after),
        "entries": n_entries, "oldScriptSize": len(old), "newScriptSize": len(new), "delta": plan["delta"],
        "oldScriptSizeClass": plan["oldsize"], "dataKinds": kinds, "sizes": sizes, "features": feats,
        "gzipHeader": hdr, "trailingZeros": trailing, "inputBytes": len(gz), "tarBytes": len(raw),
        "scriptExtended": script_ext, "prefix": plan["prefix"],
    }


def _build(args):
    plan, outdir = args
    return build_case(plan, Path(outdir))


def stats(manifest):
    rows = collections.OrderedDict()

    def add(dim, value):
        rows.setdefault(dim, collections.Counter())[value] += 1

    size_marks = {0: "0", 1: "1", 511: "511", 512: "512", 513: "513", 16383: "16K-1", 16384: "16K",
                  16385: "16K+1", 32767: "32K-1", 32768: "32K", 32769: "32K+1", 65535: "64K-1",
                  65536: "64K", 65537: "64K+1", 131071: "128K-1", 131072: "128K", 131073: "128K+1"}
    for e in manifest:
        add("shape", e["shape"])
        add("tar", e["tarProducer"])
        add("format", e["format"])
        add("gzip", e["gzipProducer"])
        add("level", e["level"])
        add("position", e["position"])
        add("before", e["membersBefore"])
        add("after", e["membersAfter"])
        add("delta", e["delta"])
        add("old size", e["oldScriptSizeClass"])
        add("new size mod 512", {0: "0", 1: "1", 511: "511"}.get(e["newScriptSize"] % 512, "other"))
        for part in e["scriptExtended"].split("; "):
            kind, _, keys = part.partition(":")
            for k in (keys.split(",") if keys else [""]):
                add("script headers", f"{kind} {k}".strip())
        add("prefix", e["prefix"] or "(none)")
        for k in e["dataKinds"]:
            add("data (cases)", k)
        for s in e["sizes"]:
            add("sizes (members)", size_marks.get(s, ">=1MiB" if s >= MIB else "other"))
        for f in e["features"]:
            add("features", f.split("(")[0] if not f.startswith(("trailing", "script ")) else
                f.split(" ")[0] + (" zeros" if f.startswith("trailing") else " ext-header"))
        add("gzip FNAME", "yes" if "FNAME" in e["gzipHeader"]["flags"] else "no")
    lines = []
    for dim, c in rows.items():
        items = sorted(c.items(), key=lambda kv: (str(type(kv[0])), kv[0]))
        lines.append(f"{dim:18} " + ", ".join(f"{k}: {v}" for k, v in items))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-mb", type=float, default=4)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--stats", action="store_true", help="print how often each dimension value occurs")
    a = ap.parse_args()
    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    plans = plan_cases(a.cases, a.seed, a.max_mb)
    work = [(p, str(out)) for p in plans]
    if a.jobs > 1:
        with ProcessPoolExecutor(max_workers=a.jobs) as ex:
            manifest = list(ex.map(_build, work, chunksize=4))
    else:
        manifest = [_build(w) for w in work]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    total = sum(e["inputBytes"] for e in manifest)
    print(f"wrote {len(manifest)} cases to {out} ({total / MIB:.1f} MiB of packages) "
          f"in {time.monotonic() - t0:.1f}s")
    if a.stats:
        print(stats(manifest))


if __name__ == "__main__":
    main()
