#!/usr/bin/env python3
"""Compare two root filesystem trees entry by entry (the image content check
of tests/integration/test_image_pull.sh).

    compare_rootfs.py REFERENCE CANDIDATE [--guest-files DIR] [--agent PATH]

REFERENCE is the tree an independent tool unpacked (umoci unpack), CANDIDATE
the banger image mounted read-only. For every path: type, permission bits
(setuid/setgid/sticky included; not for symlinks), uid, gid, symlink target,
device numbers, sha256 of regular files, security.capability and user.*
xattrs; and hard link groups (the sets of paths sharing an inode) must be the
same. mtimes are not compared.

Ignored, and only these:
  - banger's guest files (every file and symlink under --guest-files except
    its README.md, plus --agent, default usr/sbin/banger-agent) when the
    candidate has them; directories banger created for them (absent from the
    reference);
  - etc/ssh/ssh_host_* present in the reference but absent from the candidate
    (banger removes them; still present in the candidate is a difference);
  - lost+found at the top of the candidate when the reference has none (every
    ext4 has one).
Exit status 0 when the trees match, 1 with one line per difference."""
import argparse
import hashlib
import os
import stat
import sys

XATTR_KEEP = ("security.capability",)


def walk(root):
    """relative path -> lstat result, for root and everything below it, not
    crossing into other filesystems."""
    out = {}
    top = os.lstat(root)
    out["."] = top
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        with os.scandir(full) as it:
            for de in it:
                r = os.path.join(rel, de.name) if rel else de.name
                st = os.lstat(de.path)
                out[r] = st
                if stat.S_ISDIR(st.st_mode) and st.st_dev == top.st_dev:
                    stack.append(r)
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def xattrs(path):
    res = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return res
    for n in names:
        if n in XATTR_KEEP or n.startswith("user."):
            try:
                res[n] = os.getxattr(path, n, follow_symlinks=False)
            except OSError as e:
                res[n] = "<error %s>" % e.strerror
    return res


def kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISCHR, "chr"), (stat.S_ISBLK, "blk"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "unknown"


def describe(root, rel, st, counters):
    """What we compare for one entry (hard links handled separately)."""
    path = os.path.join(root, rel)
    k = kind(st.st_mode)
    d = {"type": k, "uid": st.st_uid, "gid": st.st_gid}
    if k != "symlink":
        d["mode"] = "%04o" % stat.S_IMODE(st.st_mode)
    if k == "symlink":
        d["target"] = os.readlink(path)
    elif k == "file":
        d["size"] = st.st_size
        d["sha256"] = sha256(path)
        counters["bytes"] += st.st_size
    elif k in ("chr", "blk"):
        d["rdev"] = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    x = xattrs(path)
    if x:
        d["xattrs"] = x
        counters["xattrs"] += len(x)
    return d


def link_groups(tree, skip):
    by_ino = {}
    for rel, st in tree.items():
        if rel in skip or not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
            continue
        by_ino.setdefault((st.st_dev, st.st_ino), set()).add(rel)
    return {frozenset(g) for g in by_ino.values() if len(g) > 1}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--guest-files")
    ap.add_argument("--agent", default="usr/sbin/banger-agent")
    a = ap.parse_args()

    ref = walk(a.reference)
    cand = walk(a.candidate)

    guest = set()
    guest_dirs = set()
    if a.guest_files:
        g = walk(a.guest_files)
        for rel, st in g.items():
            if rel in (".", "README.md"):
                continue
            (guest_dirs if stat.S_ISDIR(st.st_mode) else guest).add(rel)
    guest.add(a.agent)
    d = os.path.dirname(a.agent)
    while d:
        guest_dirs.add(d)
        d = os.path.dirname(d)

    ignored = []
    skip = set()
    for rel in cand:
        if rel in guest or (rel in guest_dirs and rel not in ref):
            skip.add(rel)
            ignored.append(rel)
    if "lost+found" in cand and "lost+found" not in ref:
        skip.add("lost+found")
        ignored.append("lost+found")
    for rel in ref:
        if (os.path.dirname(rel) == "etc/ssh" and os.path.basename(rel).startswith("ssh_host_")
                and rel not in cand):
            skip.add(rel)
            ignored.append(rel + " (removed ssh host key)")
    # Reference entries that banger's guest files replace are compared as
    # guest files: none of them may exist in the reference at all.
    diffs = []
    for rel in sorted(guest):
        if rel in ref:
            diffs.append("%s: in the image AND a banger guest file (banger replaced it)" % rel)

    counters = {"bytes": 0, "xattrs": 0}
    compared = 0
    for rel in sorted(set(ref) | set(cand)):
        if rel in skip:
            continue
        if rel not in cand:
            diffs.append("%s: missing from the banger image (%s)" % (rel, kind(ref[rel].st_mode)))
            continue
        if rel not in ref:
            diffs.append("%s: only in the banger image (%s)" % (rel, kind(cand[rel].st_mode)))
            continue
        dr = describe(a.reference, rel, ref[rel], counters)
        dc = describe(a.candidate, rel, cand[rel], {"bytes": 0, "xattrs": 0})
        compared += 1
        for key in sorted(set(dr) | set(dc)):
            if dr.get(key) != dc.get(key):
                diffs.append("%s: %s %r (reference) != %r (banger)" % (rel, key, dr.get(key),
                                                                      dc.get(key)))

    gr = link_groups(ref, skip)
    gc = link_groups(cand, skip)
    for g in sorted(gr - gc, key=sorted):
        diffs.append("hard link group only in the reference: %s" % " ".join(sorted(g)))
    for g in sorted(gc - gr, key=sorted):
        diffs.append("hard link group only in the banger image: %s" % " ".join(sorted(g)))

    print("compared %d entries (%d MiB of file data on each side, %d xattrs, %d hard link "
          "groups); ignored %d: %s" % (compared, counters["bytes"] >> 20, counters["xattrs"],
                                       len(gr), len(ignored), ", ".join(sorted(ignored))))
    for d in diffs:
        print("DIFF " + d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
