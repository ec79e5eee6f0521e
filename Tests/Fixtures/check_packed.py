#!/usr/bin/env python3
"""The oracle for `fate-upgrade pack` outputs made from package_shapes.py's cases.

    python3 Tests/Fixtures/check_packed.py OUTDIR [--suffix .out.tar.gz] [--readers]
        [--only case-007 ...] [--jobs J]
    python3 Tests/Fixtures/check_packed.py OUTDIR --make-reference [--suffix .ref.tar.gz] [--only ...]
    python3 Tests/Fixtures/check_packed.py OUTDIR --make-bad KIND[,KIND...] [--only ...]

For every case of OUTDIR/manifest.json (or only those named by --only), the output
OUTDIR/<id><suffix> must exist and:

 1. `gzip -t` accepts it (exit 0);
 2. it is exactly one gzip member, which Python inflates with its CRC-32 and length
    checked, and nothing follows it (no trailing bytes, zero or not);
 3. its tar, split by walking the 512-byte headers (not with tarfile) into members --
    a member is its extended header blocks ('x'/'X' pax, 'L'/'K' GNU long name/link),
    its header (and old-GNU sparse extension blocks), its data and padding; a 'g' pax
    global header is a member of its own; the end-of-archive zero blocks and whatever
    follows them are the trailer -- has the input's member list (same names, same
    types, same order); every member but the script is byte for byte the input's,
    headers included; the trailer is the input's; the script member's data (its size
    from a pax size= record when there is one) is the case's newScript exactly, with zero
    padding, and its name, mode, uid, gid, uname, gname, mtime, typeflag and link name
    (ustar/GNU fields, base-256 numbers, GNU long names, ustar prefix and pax records,
    global ones included) are the input script's; a pax size= record and the header's
    size field agree; every header checksum is right;
 4. with --readers: `tar -tzf`, `bsdtar -tzf`, `busybox tar -tzf` and `pigz -t` succeed
    on it, each tar lists as many lines as it does for the input, and none warns about
    the output unless it warns the same about the input.

Prints one line per failing case, `FAIL case-007 (<describe>): <what differs>`, then
`checked N packages: M failed`; exits 0 only when none failed.

--make-reference builds a known-good output for each case in Python (the input's tar
with the script member rebuilt: the original header blocks with the new size in the
header's size field and in a pax size= record if there is one, lengths and checksums
recomputed, the new data and zero padding; gzip level 6) as <id>.ref.tar.gz (or
<id><suffix>). --make-bad writes <id>.bad-<KIND>.tar.gz from that reference, broken in
one way, to show the oracle rejects it; KIND is one of: """

import argparse
import decimal
import gzip
import json
import os
import subprocess
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BAD_KINDS = {
    "data-byte": "flip one byte inside a non-script member's data",
    "header-mtime": "add 1 to a non-script header's mtime (checksum fixed)",
    "trailing-zero": "append one zero byte after the gzip trailer",
    "truncate": "drop the last byte of the file",
    "drop-deflate-byte": "drop the last byte of the deflate stream (before the 8-byte trailer)",
    "script-byte": "flip one byte of the script's data",
    "script-mode": "change the script's mode (checksum fixed)",
    "trailer": "drop the last 512-byte block of the tar trailer, or add one",
    "second-member": "append a second (empty) gzip member",
    "swap-members": "swap the two members after the script (or before it)",
}
__doc__ += ", ".join(BAD_KINDS) + "."

ENV = {k: v for k, v in os.environ.items() if k not in ("GZIP", "PIGZ", "TAR_OPTIONS", "TAPE")}
ENV.update(LC_ALL="C.UTF-8", LANG="C.UTF-8", TZ="UTC")

ZERO = bytes(512)
HEADER_FIELDS = [("name", 0, 100), ("mode", 100, 8), ("uid", 108, 8), ("gid", 116, 8),
                 ("size", 124, 12), ("mtime", 136, 12), ("chksum", 148, 8), ("typeflag", 156, 1),
                 ("linkname", 157, 100), ("magic", 257, 6), ("version", 263, 2),
                 ("uname", 265, 32), ("gname", 297, 32), ("devmajor", 329, 8),
                 ("devminor", 337, 8), ("prefix", 345, 155), ("pad", 500, 12)]
NO_DATA_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6")
META_KEYS = ("name", "typeflag", "mode", "uid", "gid", "uname", "gname", "mtime", "linkname")


class TarError(Exception):
    pass


def pad512(n):
    return (n + 511) // 512 * 512


def cstr(b):
    return b.split(b"\0", 1)[0]


def show(b):
    if isinstance(b, bytes):
        return b.decode("utf-8", "backslashreplace")
    return str(b)


def number(field, what, off):
    """A ustar/GNU numeric field: octal (space/NUL terminated) or base-256."""
    if field[:1] and field[0] & 0x80:
        if field[0] == 0xFF:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    s = cstr(field).strip(b" ")
    if not s:
        return 0
    try:
        return int(s, 8)
    except ValueError:
        raise TarError(f"bad {what} field {field!r} in the header at tar offset {off}") from None


def checksum_ok(blk):
    try:
        stored = int(cstr(blk[148:156]).strip(b" ") or b"x", 8)
    except ValueError:
        return False
    unsigned = sum(blk[:148]) + 8 * 32 + sum(blk[156:])
    signed = sum(b - 256 if b > 127 else b for b in blk[:148] + blk[156:]) + 8 * 32
    return stored in (unsigned, signed)


def parse_pax(body, off):
    """[(key, value bytes)] of a pax extended header body; strict about record lengths."""
    recs = []
    pos = 0
    while pos < len(body):
        if not body[pos:].strip(b"\0"):
            break
        sp = body.find(b" ", pos)
        try:
            n = int(body[pos:sp])
        except ValueError:
            raise TarError(f"bad pax record length at tar offset {off + 512 + pos}") from None
        rec = body[pos:pos + n]
        if sp < 0 or n <= sp - pos + 1 or len(rec) != n or not rec.endswith(b"\n") or b"=" not in rec:
            raise TarError(f"malformed pax record {body[pos:pos + 60]!r} at tar offset {off + 512 + pos}")
        key, _, value = rec[sp - pos + 1:-1].partition(b"=")
        recs.append((key.decode("utf-8", "surrogateescape"), value))
        pos += n
    return recs


class Member:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def label(self):
        return show(self.name)


def walk(raw):
    """Split an uncompressed tar into members and the trailer offset."""
    members = []
    pending = []          # (type, offset, size, body)
    globs = {}
    off, n = 0, len(raw)
    while True:
        if off == n:
            if pending:
                raise TarError(f"extended header at tar offset {pending[0][1]} is not followed by a member")
            break         # no end-of-archive blocks: the trailer is empty
        if off + 512 > n:
            raise TarError(f"truncated header at tar offset {off} ({n - off} bytes left)")
        blk = raw[off:off + 512]
        if blk == ZERO:
            if pending:
                raise TarError(f"extended header at tar offset {pending[0][1]} is followed by a zero block")
            break
        if not checksum_ok(blk):
            raise TarError(f"bad header checksum at tar offset {off} (name {show(cstr(blk[:100]))!r})")
        t = blk[156:157]
        size = number(blk[124:136], "size", off)
        if t in (b"x", b"X", b"L", b"K", b"g"):
            if off + 512 + size > n:
                raise TarError(f"extended header at tar offset {off} claims {size} bytes, the tar ends first")
            body = raw[off + 512:off + 512 + size]
            nxt = off + 512 + pad512(size)
            if t == b"g":
                recs = parse_pax(body, off)
                for k, v in recs:
                    if v:
                        globs[k] = v
                    else:
                        globs.pop(k, None)
                start = pending[0][1] if pending else off
                members.append(Member(kind="global", start=start, hdr=off, data_off=off + 512, size=size,
                                      end=nxt, name=b"<pax global header " + cstr(blk[:100]) + b">",
                                      typeflag=t, ext=list(pending), meta={}, pax=dict(recs)))
                pending = []
            else:
                pending.append((t, off, size, body))
            off = nxt
            continue
        pax, longname, longlink = {}, None, None
        for et, eoff, esize, body in pending:
            if et in (b"x", b"X"):
                pax.update(parse_pax(body, eoff))
            elif et == b"L":
                longname = cstr(body)
            elif et == b"K":
                longlink = cstr(body)
        eff = dict(globs)
        for k, v in pax.items():
            if v:
                eff[k] = v
            else:
                eff.pop(k, None)
        hdr_end = off + 512
        if t == b"S" and blk[482]:        # old GNU sparse: extension blocks follow
            while True:
                if hdr_end + 512 > n:
                    raise TarError(f"truncated sparse extension block at tar offset {hdr_end}")
                ext = raw[hdr_end:hdr_end + 512]
                hdr_end += 512
                if not ext[504]:
                    break
        dsize = size
        if "size" in pax:
            try:
                dsize = int(pax["size"])
            except ValueError:
                raise TarError(f"bad pax size {pax['size']!r} for the header at tar offset {off}") from None
        if t in NO_DATA_TYPES:
            dsize = 0
        end = hdr_end + pad512(dsize)
        if end > n:
            raise TarError(f"member at tar offset {off} needs {dsize} data bytes, the tar ends first")
        name = cstr(blk[0:100])
        if blk[257:263] == b"ustar\0":
            prefix = cstr(blk[345:500])
            if prefix:
                name = prefix + b"/" + name
        if longname is not None:
            name = longname
        if "path" in eff:
            name = eff["path"]
        link = cstr(blk[157:257])
        if longlink is not None:
            link = longlink
        if "linkpath" in eff:
            link = eff["linkpath"]

        def num_or_pax(key, lo, width):
            if key in eff:
                try:
                    return decimal.Decimal(eff[key].decode()) if key == "mtime" else int(eff[key])
                except (ValueError, decimal.InvalidOperation):
                    raise TarError(f"bad pax {key} {eff[key]!r} for the header at tar offset {off}") from None
            return number(blk[lo:lo + width], key, off)

        meta = dict(name=name, typeflag=t, mode=number(blk[100:108], "mode", off),
                    uid=num_or_pax("uid", 108, 8), gid=num_or_pax("gid", 116, 8),
                    uname=eff.get("uname", cstr(blk[265:297])), gname=eff.get("gname", cstr(blk[297:329])),
                    mtime=num_or_pax("mtime", 136, 12), linkname=link)
        members.append(Member(kind="entry", start=pending[0][1] if pending else off, hdr=off,
                              data_off=hdr_end, size=dsize, end=end, name=name, typeflag=t,
                              ext=list(pending), meta=meta, pax=pax, size_field=size))
        pending = []
        off = end
    return members, off


def region(m, k, raw):
    """Where byte k of member m lies, in words."""
    a = m.start + k
    for et, eoff, esize, _ in m.ext:
        if eoff <= a < eoff + 512:
            return f"{et.decode()!r} extended header block, field {field_name(a - eoff)}"
        if eoff + 512 <= a < eoff + 512 + pad512(esize):
            what = {b"L": "GNU long name", b"K": "GNU long link"}.get(et, "pax records")
            return f"{what} byte {a - eoff - 512}"
    if m.hdr <= a < m.hdr + 512:
        return f"header field {field_name(a - m.hdr)}"
    if m.hdr + 512 <= a < m.data_off:
        return f"sparse extension block byte {a - m.hdr - 512}"
    if m.data_off <= a < m.data_off + m.size:
        return f"data byte {a - m.data_off} of {m.size}"
    return f"padding byte {a - m.data_off - m.size}"


def field_name(k):
    for name, lo, width in HEADER_FIELDS:
        if lo <= k < lo + width:
            return f"{name} (header byte {k})"
    return f"byte {k}"


def header_field_values(raw_a, a, raw_b, b, k):
    """For a difference inside the main header: the two values of that field."""
    ka = a.start + k
    if not (a.hdr <= ka < a.hdr + 512):
        return ""
    rel = ka - a.hdr
    for name, lo, width in HEADER_FIELDS:
        if lo <= rel < lo + width:
            fa = raw_a[a.hdr + lo:a.hdr + lo + width]
            fb = raw_b[b.hdr + lo:b.hdr + lo + width] if b.hdr - b.start == a.hdr - a.start else b""
            if name in ("mode", "uid", "gid", "size", "mtime", "chksum", "devmajor", "devminor"):
                try:
                    return f" ({name}: input {number(fa, name, 0)}, output {number(fb, name, 0)})"
                except TarError:
                    pass
            return f" ({name}: input {show(cstr(fa))!r}, output {show(cstr(fb))!r})"
    return ""


def first_diff(x, y):
    n = min(len(x), len(y))
    lo, hi = 0, n
    if x[:n] == y[:n]:
        return n
    while hi - lo > 64:       # binary search on slices, then linear
        mid = (lo + hi) // 2
        if x[lo:mid] == y[lo:mid]:
            lo = mid
        else:
            hi = mid
    for i in range(lo, hi):
        if x[i] != y[i]:
            return i
    return n


def gzip_header_length(data):
    """Length of a gzip member's header, or None when it is cut short."""
    try:
        flg, pos = data[3], 10
        if flg & 4:
            pos += 2 + int.from_bytes(data[pos:pos + 2], "little")
        for bit in (8, 16):
            if flg & bit:
                pos = data.index(b"\0", pos) + 1
        if flg & 2:
            pos += 2
        return pos if pos <= len(data) else None
    except (IndexError, ValueError):
        return None


def inflate_checked(data):
    """(tar bytes or None, problem or None) for a gzip file that must be one clean member."""
    if len(data) < 2 or data[:2] != b"\x1f\x8b":
        return None, f"not a gzip file (starts {data[:4].hex() or 'empty'})"
    d = zlib.decompressobj(31)
    try:
        out = d.decompress(data)
        out += d.flush()
    except zlib.error as e:
        return None, f"inflate failed: {e}"
    if not d.eof:
        h = gzip_header_length(data)
        raw = zlib.decompressobj(-15)
        try:
            raw.decompress(data[h:]) if h else b""
        except zlib.error as e:
            return None, f"truncated gzip member: inflate failed at the end: {e}"
        if h and raw.eof:
            return None, (f"truncated gzip member: the deflate stream ends, but only {len(raw.unused_data)} "
                          f"of the 8 trailer bytes (CRC-32, length) follow it")
        return None, (f"truncated gzip member: the deflate stream has no end (no final block reached; "
                      f"{len(data)} bytes read, {len(out)} inflated)")
    if d.unused_data:
        u = d.unused_data
        kind = ("a second gzip member" if u[:2] == b"\x1f\x8b" else
                "zero bytes" if not u.strip(b"\0") else f"garbage {u[:8].hex()}")
        return out, f"{len(u)} trailing bytes after the gzip member at file offset {len(data) - len(u)} ({kind})"
    return out, None


def compare(case, in_raw, out_raw, new_script):
    """Problems (strings) of the output's tar against the input's."""
    try:
        ins, in_tr = walk(in_raw)
    except TarError as e:
        return [f"the INPUT's tar is unreadable ({e}): bad case"]
    try:
        outs, out_tr = walk(out_raw)
    except TarError as e:
        return [f"output tar unreadable: {e}"]
    sp = case["scriptPath"].encode("utf-8", "surrogateescape")
    hits = [i for i, m in enumerate(ins) if m.kind == "entry" and m.name == sp]
    if len(hits) != 1:
        return [f"the input holds {len(hits)} members named {case['scriptPath']!r}: bad case"]
    si = hits[0]
    for i in range(max(len(ins), len(outs))):
        if i >= len(outs):
            return [f"output has {len(outs)} members, input {len(ins)}: member #{i} {ins[i].label()!r} is missing"]
        if i >= len(ins):
            return [f"output has {len(outs)} members, input {len(ins)}: extra member #{i} {outs[i].label()!r}"]
        a, b = ins[i], outs[i]
        if a.kind != b.kind or a.name != b.name or a.typeflag != b.typeflag:
            return [f"member list differs at #{i}: input {a.label()!r} (type {a.typeflag.decode()!r}), "
                    f"output {b.label()!r} (type {b.typeflag.decode()!r})"]
    problems = []
    differing = []
    for i, (a, b) in enumerate(zip(ins, outs)):
        if i == si:
            continue
        x, y = in_raw[a.start:a.end], out_raw[b.start:b.end]
        if x != y:
            differing.append((i, a, b, x, y))
    if differing:
        i, a, b, x, y = differing[0]
        k = first_diff(x, y)
        if k < min(len(x), len(y)):
            msg = (f"member #{i} {a.label()!r} differs from the input's at output tar offset {b.start + k} "
                   f"(member byte {k}: {region(a, k, in_raw)}; input 0x{x[k]:02x}, output 0x{y[k]:02x})"
                   + header_field_values(in_raw, a, out_raw, b, k))
        else:
            msg = (f"member #{i} {a.label()!r} is {len(y)} bytes in the output, {len(x)} in the input "
                   f"(same first {k} bytes)")
        if len(differing) > 1:
            msg += f"; {len(differing) - 1} more members differ"
        problems.append(msg)
    a, b = ins[si], outs[si]
    data = out_raw[b.data_off:b.data_off + b.size]
    if data != new_script:
        k = first_diff(data, new_script)
        problems.append(f"script {b.label()!r} data is not newScript: {len(data)} bytes, newScript has "
                        f"{len(new_script)}; first difference at data byte {k}"
                        + (f" (output tar offset {b.data_off + k})" if k < len(data) else ""))
    if out_raw[b.data_off + b.size:b.end].strip(b"\0"):
        problems.append(f"script {b.label()!r} padding after its data is not zero (output tar offset "
                        f"{b.data_off + b.size})")
    if "size" in b.pax and b.size_field != b.size:
        problems.append(f"script header's size field says {b.size_field} but its pax size= record says {b.size}")
    for key in META_KEYS:
        if a.meta[key] != b.meta[key]:
            x, y = a.meta[key], b.meta[key]
            if key == "mode":
                x, y = oct(x), oct(y)
            problems.append(f"script metadata {key} differs: input {show(x)!r}, output {show(y)!r}")
    tx, ty = in_raw[in_tr:], out_raw[out_tr:]
    if tx != ty:
        k = first_diff(tx, ty)
        problems.append(f"trailer differs: input {len(tx)} bytes at tar offset {in_tr}, output {len(ty)} bytes "
                        f"at tar offset {out_tr}"
                        + (f"; first difference at trailer byte {k}" if k < min(len(tx), len(ty)) else ""))
    return problems


READERS = [("tar -tzf", ["tar", "-tzf"]), ("bsdtar -tzf", ["bsdtar", "-tzf"]),
           ("busybox tar -tzf", ["busybox", "tar", "-tzf"]), ("pigz -t", ["pigz", "-t"])]


def run_reader(cmd, path):
    try:
        r = subprocess.run(cmd + [str(path)], capture_output=True, env=ENV, timeout=300, close_fds=False)
    except subprocess.TimeoutExpired:
        return -1, 0, b"timed out"
    return r.returncode, r.stdout.count(b"\n"), r.stderr.replace(str(path).encode(), b"FILE")


def readers(inp, out):
    problems = []
    for label, cmd in READERS:
        rc, lines, err = run_reader(cmd, out)
        irc, ilines, ierr = run_reader(cmd, inp)
        lines_err = [l for l in err.strip().splitlines() if l.strip()]
        last = " / ".join(show(l) for l in dict.fromkeys([lines_err[0], lines_err[-1]])) if lines_err else ""
        if rc != 0:
            problems.append(f"{label} exit {rc}: {last or '(no message)'}")
            continue
        if label != "pigz -t" and lines != ilines:
            problems.append(f"{label} lists {lines} lines, {ilines} for the input")
        if err.strip() and err != ierr:
            problems.append(f"{label} warns: {' / '.join(show(l) for l in lines_err)[:300]}")
    return problems


def check_case(job):
    case, outdir, suffix, with_readers = job
    out = outdir / f"{case['id']}{suffix}"
    inp = outdir / case["input"]
    if not out.exists():
        return case["id"], [f"output missing: {out}"]
    problems = []
    r = subprocess.run(["gzip", "-t", str(out)], capture_output=True, env=ENV, timeout=300, close_fds=False)
    if r.returncode != 0:
        msg = r.stderr.replace(str(out).encode(), b"FILE").strip().splitlines()
        problems.append(f"gzip -t exit {r.returncode}: {' / '.join(show(l) for l in msg)[:300] or '(no message)'}")
    data = out.read_bytes()
    out_raw, problem = inflate_checked(data)
    if problem:
        problems.append(problem)
    in_raw, _ = inflate_checked(inp.read_bytes())   # an input may have trailing zeros
    new_script = (outdir / case["newScript"]).read_bytes()
    if in_raw is None:
        problems.append("the INPUT does not inflate: bad case")
    elif out_raw is not None:
        problems += compare(case, in_raw, out_raw, new_script)
    if with_readers:
        problems += readers(inp, out)
    return case["id"], problems


# ---------------------------------------------------------------------------------------
# reference outputs and broken ones
# ---------------------------------------------------------------------------------------

def set_number(hdr, lo, width, value):
    """Write value into a numeric field in the style it has (octal keeping the terminator,
    or base-256)."""
    field = hdr[lo:lo + width]
    if field[0] & 0x80:
        hdr[lo:lo + width] = b"\x80" + value.to_bytes(width - 1, "big")
        return
    term = field[width - 1:width]
    if term not in (b"\0", b" "):
        term = b"\0"
    digits = width - 1
    s = b"%0*o" % (digits, value)
    if len(s) > digits:
        hdr[lo:lo + width] = b"\x80" + value.to_bytes(width - 1, "big")
    else:
        hdr[lo:lo + width] = s + term


def fix_checksum(hdr):
    hdr[148:156] = b" " * 8
    hdr[148:156] = b"%06o\0 " % sum(hdr)


def pax_record(key, value):
    rec = b" " + key.encode() + b"=" + value + b"\n"
    n = len(rec) + 1
    while len(str(n)) + len(rec) != n:
        n = len(str(n)) + len(rec)
    return str(n).encode() + rec


def rebuild_script_member(raw, m, new):
    parts = []
    for et, eoff, esize, body in m.ext:
        hdr = bytearray(raw[eoff:eoff + 512])
        if et in (b"x", b"X") and any(k == "size" for k, _ in parse_pax(body, eoff)):
            body = b"".join(pax_record(k, str(len(new)).encode() if k == "size" else v)
                            for k, v in parse_pax(body, eoff))
            set_number(hdr, 124, 12, len(body))
            fix_checksum(hdr)
        parts.append(bytes(hdr) + body + bytes(pad512(len(body)) - len(body)))
    hdr = bytearray(raw[m.hdr:m.data_off])
    set_number(hdr, 124, 12, len(new))
    head = hdr[:512]
    fix_checksum(head)
    hdr[:512] = head
    parts.append(bytes(hdr) + new + bytes(pad512(len(new)) - len(new)))
    return b"".join(parts)


def reference(case, outdir):
    in_raw, _ = inflate_checked((outdir / case["input"]).read_bytes())
    new = (outdir / case["newScript"]).read_bytes()
    members, trailer = walk(in_raw)
    sp = case["scriptPath"].encode("utf-8", "surrogateescape")
    (m,) = [x for x in members if x.kind == "entry" and x.name == sp]
    raw = in_raw[:m.start] + rebuild_script_member(in_raw, m, new) + in_raw[m.end:]
    return raw


def make_bad(kind, case, raw):
    """(gzip bytes, what was done) of the reference broken in one way."""
    members, trailer = walk(raw)
    sp = case["scriptPath"].encode("utf-8", "surrogateescape")
    si = [i for i, x in enumerate(members) if x.kind == "entry" and x.name == sp][0]
    others = [x for i, x in enumerate(members) if i != si]
    raw = bytearray(raw)
    note = ""
    if kind == "data-byte":
        cand = [x for x in others if x.kind == "entry" and x.size > 0]
        if cand:
            x = cand[0]
            k = x.data_off + x.size // 2
            raw[k] ^= 0x5A
            note = f"flipped tar byte {k} (data byte {x.size // 2} of {x.label()!r})"
        else:
            x = others[0]
            raw[x.hdr + 1] ^= 0x01
            fix = bytearray(raw[x.hdr:x.hdr + 512])
            fix_checksum(fix)
            raw[x.hdr:x.hdr + 512] = fix
            note = f"no member with data: changed the name of {x.label()!r}"
    elif kind in ("header-mtime", "script-mode"):
        x = members[si]
        if kind == "header-mtime":
            x = next((o for o in others if o.kind == "entry"), others[0])
        hdr = bytearray(raw[x.hdr:x.hdr + 512])
        if kind == "header-mtime":
            set_number(hdr, 136, 12, number(bytes(hdr[136:148]), "mtime", 0) + 1)
        else:
            set_number(hdr, 100, 8, number(bytes(hdr[100:108]), "mode", 0) ^ 0o022)
        fix_checksum(hdr)
        raw[x.hdr:x.hdr + 512] = hdr
        note = f"{kind} on {x.label()!r} at tar offset {x.hdr}"
    elif kind == "script-byte":
        x = members[si]
        raw[x.data_off] ^= 0x20
        note = f"flipped the script's first data byte at tar offset {x.data_off}"
    elif kind == "trailer":
        if len(raw) - trailer > 1024:
            del raw[-512:]
            note = "dropped the last trailer block"
        else:
            raw += ZERO
            note = "added a trailer block"
    elif kind == "swap-members":
        after = [x for x in members[si + 1:]]
        before = [x for x in members[:si]]
        pair = after[:2] if len(after) >= 2 else before[-2:] if len(before) >= 2 else None
        if pair:
            p, q = pair
            raw[p.start:q.end] = raw[q.start:q.end] + raw[p.start:p.end]
            note = f"swapped {p.label()!r} and {q.label()!r}"
        else:
            raw += ZERO
            note = "fewer than two members on either side: added a trailer block instead"
    gz = gzip.compress(bytes(raw), compresslevel=6, mtime=0)
    if kind == "trailing-zero":
        gz += b"\0"
        note = "one zero byte after the gzip trailer"
    elif kind == "truncate":
        gz = gz[:-1]
        note = "last byte of the file dropped"
    elif kind == "drop-deflate-byte":
        gz = gz[:-9] + gz[-8:]
        note = "last deflate byte dropped"
    elif kind == "second-member":
        gz += gzip.compress(b"", mtime=0)
        note = "a second, empty gzip member appended"
    return gz, note


def _make(job):
    case, outdir, suffix, kinds = job
    raw = reference(case, outdir)
    notes = []
    if not kinds:
        (outdir / f"{case['id']}{suffix}").write_bytes(gzip.compress(raw, compresslevel=6, mtime=0))
    for kind in kinds:
        gz, note = make_bad(kind, case, raw)
        (outdir / f"{case['id']}.bad-{kind}.tar.gz").write_bytes(gz)
        notes.append(f"{case['id']}.bad-{kind}.tar.gz: {note}")
    return notes


def main():
    ap = argparse.ArgumentParser(description="Check fate-upgrade pack outputs (see the module docstring).")
    ap.add_argument("outdir")
    ap.add_argument("--suffix", default=None, help="output name suffix (default .out.tar.gz; "
                    ".ref.tar.gz with --make-reference)")
    ap.add_argument("--readers", action="store_true", help="also run tar/bsdtar/busybox tar/pigz on the outputs")
    ap.add_argument("--only", nargs="+", metavar="ID", help="check only these cases")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--make-reference", action="store_true", help="write a known-good output per case")
    ap.add_argument("--make-bad", metavar="KIND[,KIND]", help="write broken outputs: " + ", ".join(BAD_KINDS))
    a = ap.parse_args()
    outdir = Path(a.outdir)
    cases = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    if a.only:
        wanted = set(a.only)
        unknown = wanted - {c["id"] for c in cases}
        if unknown:
            ap.error(f"no such case: {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c["id"] in wanted]

    def pool_map(fn, jobs):
        if a.jobs > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=a.jobs) as ex:
                return list(ex.map(fn, jobs, chunksize=2))
        return [fn(j) for j in jobs]

    if a.make_reference or a.make_bad:
        kinds = [k for k in (a.make_bad or "").split(",") if k]
        for k in kinds:
            if k not in BAD_KINDS:
                ap.error(f"unknown --make-bad kind {k!r}; one of: {', '.join(BAD_KINDS)}")
        suffix = a.suffix or ".ref.tar.gz"
        results = pool_map(_make, [(c, outdir, suffix, kinds) for c in cases])
        for notes in results:
            for n in notes:
                print(n)
        what = f"{len(kinds)} broken output(s)" if kinds else "a reference output"
        print(f"wrote {what} for each of {len(cases)} packages")
        return 0

    suffix = a.suffix or ".out.tar.gz"
    results = pool_map(check_case, [(c, outdir, suffix, a.readers) for c in cases])
    by_id = {c["id"]: c for c in cases}
    failed = 0
    for cid, problems in results:
        if problems:
            failed += 1
            print(f"FAIL {cid} ({by_id[cid]['describe']}): {'; '.join(problems)}")
    print(f"checked {len(cases)} packages: {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
