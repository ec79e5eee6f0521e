#!/usr/bin/env python3
"""Print the members of a tar or tar.gz as JSON, as Python's tarfile reads them.

Used by the tests as a reader independent of libarchive: one object per member with its
type, mode, owner and group (ids and names), mtime, size, link target and content hash.
"""
import hashlib
import json
import sys
import tarfile

TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
         tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink"}

members = []
with tarfile.open(sys.argv[1]) as archive:
    for member in archive:
        digest = ""
        if member.isfile():
            digest = hashlib.sha256(archive.extractfile(member).read()).hexdigest()
        members.append({
            "name": member.name, "type": TYPES.get(member.type, repr(member.type)),
            "mode": oct(member.mode), "uid": member.uid, "gid": member.gid,
            "uname": member.uname, "gname": member.gname, "mtime": int(member.mtime),
            "size": member.size, "linkname": member.linkname, "sha256": digest,
        })
json.dump(members, sys.stdout, ensure_ascii=False)
