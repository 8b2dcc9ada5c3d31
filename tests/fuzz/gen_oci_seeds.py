#!/usr/bin/env python3
"""Write the seed corpora of the OCI / tar / ext4 fuzz targets
(tests/fuzz/targets_oci.cmake) into tests/fuzz/corpus/NAME/.

    tests/fuzz/gen_oci_seeds.py [TARGET...]

Tar and JSON seeds are deterministic (fixed times, owners and contents); the
ext4 images keep the host's change times, so their bytes differ run to run.
ext4_read seeds need mkfs.ext4 and debugfs (e2fsprogs). Every seed is
small (a few KB): tar layers hold a handful of entries, ext4 images are stored
as their non-zero runs (the harness's input format, see fuzz_ext4_read.c)."""
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
T0 = 1700000000
tarfile.RECORDSIZE = 512  # no padding to 10 KiB: seeds stay small


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- tar layers -------------------------------------------------------------

def ti(name, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, size=0, **kw):
    t = tarfile.TarInfo(name)
    t.type = kind
    t.mode = mode
    t.uid, t.gid = uid, gid
    t.uname = t.gname = ""
    t.mtime = kw.pop("mtime", T0)
    t.size = size
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (TarInfo, bytes or None)"""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return b.getvalue()


def d(name, mode=0o755, **kw):
    return (ti(name, tarfile.DIRTYPE, mode, **kw), None)


def f(name, data, mode=0o644, **kw):
    return (ti(name, tarfile.REGTYPE, mode, **kw), data)


def sym(name, target):
    return (ti(name, tarfile.SYMTYPE, 0o777, linkname=target), None)


def hard(name, target):
    return (ti(name, tarfile.LNKTYPE, 0o644, linkname=target), None)


def dev(name, kind, major, minor):
    return (ti(name, kind, 0o600, devmajor=major, devminor=minor), None)


def sparse(name, realsize, chunks):
    """PAX GNU sparse 1.0: a map block, then the data of the chunks."""
    m = "%d\n" % len(chunks) + "".join("%d\n%d\n" % (o, len(c)) for o, c in chunks)
    mb = m.encode().ljust((len(m) + 511) // 512 * 512, b"\0")
    payload = mb + b"".join(c for _, c in chunks)
    info = ti("./GNUSparseFile.0/" + name, pax_headers={
        "GNU.sparse.major": "1", "GNU.sparse.minor": "0",
        "GNU.sparse.name": name, "GNU.sparse.realsize": str(realsize)})
    return (info, payload)


def layers(flags, *ls):
    return bytes([flags]) + b"=BGLAYER=".join(ls)


def gen_flatten():
    t = "oci_flatten"
    base = tar([
        d("./", 0o755),
        d("etc"), f("etc/hostname", b"banger\n"), f("etc/shadow", b"root:*:1::::::\n", 0o640, gid=42),
        d("usr"), d("usr/bin"), f("usr/bin/tool", b"#!/bin/sh\necho hi\n", 0o4755),
        sym("bin", "usr/bin"), hard("etc/hostname2", "etc/hostname"),
        dev("dev/null", tarfile.CHRTYPE, 1, 3), dev("dev/sda", tarfile.BLKTYPE, 8, 0),
        (ti("run/fifo", tarfile.FIFOTYPE, 0o644), None),
        d("sbin"), f("sbin/init", b"\x7fELF", 0o755), d("usr/sbin"), f("usr/sbin/sshd", b"\x7fELF", 0o755),
    ])
    out(t, "basic", layers(0, base))
    out(t, "basic-digest", layers(2, base))
    out(t, "basic-stream", layers(1, base))
    out(t, "basic-gzip", layers(4, gzip.compress(base, mtime=0)))
    lower = tar([d("a"), f("a/x", b"x"), d("a/sub"), f("a/sub/y", b"y"), d("b"), f("b/f", b"f"),
                 f("b/g", b"g"), sym("c", "a/x")])
    upper = tar([(ti("a/.wh..wh..opq"), b""), f("a/z", b"z"), (ti("b/.wh.f"), b""),
                 (ti(".wh.c"), b""), (ti(".wh.missing"), b""), hard("b/h", "b/g"),
                 (ti("b/.wh..wh.plnk.1"), b"")])
    out(t, "whiteouts", layers(0, lower, upper))
    out(t, "whiteouts-stream", layers(1, lower + upper))
    third = tar([d("a"), (ti("a/.wh.z"), b""), f("a/z", b"again"), d("b/g"), f("b/g/inner", b"i")])
    out(t, "three-layers", layers(0, lower, upper, third))
    longname = "deep/" + "d" * 120 + "/" + "n" * 150
    gnu = tar([d("deep"), d("deep/" + "d" * 120), f(longname, b"long"),
               sym("deep/ln", "x" * 200), hard("deep/hl", longname)], fmt=tarfile.GNU_FORMAT)
    out(t, "gnu-longnames", layers(0, gnu))
    pax = tar([
        (ti("xa", pax_headers={"SCHILY.xattr.user.comment": "hello",
                               "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00",
                               "SCHILY.xattr.trusted.x": "t", "LIBARCHIVE.xattr.user.b64": "aGk",
                               "mtime": "1700000000.123456789", "atime": "4102444800.5",
                               "uid": "4294967295", "gid": "100000", "path": "pax-named"}), b"data"),
        (ti("acl", tarfile.DIRTYPE, 0o755, pax_headers={
            "SCHILY.acl.access": "user::rwx,group::r-x,other::r-x,user:1000:rwx,mask::rwx"}), None),
        (ti("old", pax_headers={"mtime": "-2147483648"}), b"o"),
    ])
    out(t, "pax", layers(0, pax))
    out(t, "time-beyond-ext4", layers(0, tar([(ti("future", pax_headers={"mtime": "17179869184"}), b"f")])))
    out(t, "sparse", layers(0, tar([sparse("holes", 1 << 20, [(4096, b"A" * 512), ((1 << 20) - 512, b"B" * 512)])])))
    out(t, "sparse-huge", layers(0, tar([sparse("huge", 1 << 40, [(0, b"C" * 512)])])))
    out(t, "sparse-huge-stream", layers(1, tar([sparse("huge", 1 << 40, [(0, b"C" * 512)])])))
    bad = tar([f("../escape", b"x"), f("/abs", b"y")])
    out(t, "escape", layers(0, bad))
    out(t, "through-symlink", layers(0, tar([sym("l", "/etc"), f("l/passwd", b"x")])))
    out(t, "hardlink-missing", layers(0, tar([hard("h", "nowhere")])))
    out(t, "replace-dir-with-file", layers(0, tar([d("a"), f("a/b", b"1")]), tar([f("a", b"file now")])))


# ---- JSON and strings ---------------------------------------------------------

DG = "sha256:" + hashlib.sha256(b"banger").hexdigest()
DG2 = "sha256:" + hashlib.sha256(b"layer").hexdigest()


def gen_manifest():
    t = "oci_manifest"
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [
                 {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DG, "size": 500,
                  "platform": {"os": "linux", "architecture": "amd64"}},
                 {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DG2, "size": 500,
                  "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                 {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DG, "size": 1,
                  "platform": {"os": "unknown", "architecture": "unknown"}}]}
    out(t, "oci-index", b"\x01" + json.dumps(index).encode())
    dl = dict(index, mediaType="application/vnd.docker.distribution.manifest.list.v2+json")
    out(t, "docker-list", b"\x03" + json.dumps(dl).encode())
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DG, "size": 100},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": DG2, "size": 1000},
                      {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": DG, "size": 10},
                      {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": DG, "size": 10}]}
    out(t, "oci-manifest", b"\x00" + json.dumps(man).encode())
    dm = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
          "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": DG, "size": 7},
          "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": DG2, "size": 9},
                     {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": DG2, "size": 9}]}
    out(t, "docker-manifest", b"\x04" + json.dumps(dm).encode())
    out(t, "schema1", b"\x00" + json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}).encode())
    cfg = {"architecture": "amd64", "os": "linux", "variant": "",
           "config": {"Env": ["PATH=/usr/bin", "X=1"], "Cmd": ["/bin/sh", "-c", "echo"],
                      "Entrypoint": ["/init"], "WorkingDir": "/srv", "User": "1000:1000",
                      "Labels": {"a": "b", "org.opencontainers.image.title": "t"}},
           "rootfs": {"type": "layers", "diff_ids": [DG, DG2]}}
    out(t, "config", b"\x00" + json.dumps(cfg).encode())


def gen_ref():
    t = "oci_ref"
    for i, s in enumerate([
        "debian:bookworm", "ghcr.io/owner/repo@" + DG, "localhost:5000/x/y:1.0",
        "[::1]:5000/a/b__c--d.e:v1_2-3", "docker.io/library/alpine:latest@" + DG,
        "127.0.0.1:5000/repo", "linux/arm64/v8", "https://index.docker.io/v1/",
        "Registry.Example.COM:443/path"]):
        out(t, "ref%d" % i, s.encode())


def gen_auth():
    t = "oci_auth"
    out(t, "bearer", b'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"')
    out(t, "basic", b'Basic realm="Registry Realm"')
    out(t, "escapes", b'bearer realm="a\\"b", service=token,scope="x\\\\y"')
    cfg = {"auths": {"https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
                     "ghcr.io": {"username": "u", "password": "p"},
                     "localhost:5000": {"auth": "YTpiOmM="}}}
    out(t, "config-hub", b"docker.io\n" + json.dumps(cfg).encode())
    out(t, "config-ghcr", b"ghcr.io\n" + json.dumps(cfg).encode())
    out(t, "config-local", b"localhost:5000\n" + json.dumps(cfg).encode())


# ---- ext4 images ---------------------------------------------------------------

CHUNK = 64


def sparse_records(img, flags):
    """The harness's input: flags byte, then [u32 offset][u16 length][bytes]
    for every run of non-zero 64-byte chunks."""
    recs = [bytes([flags])]
    i, n = 0, len(img)
    while i < n:
        if not any(img[i:i + CHUNK]):
            i += CHUNK
            continue
        j = i
        while j < n and any(img[j:j + CHUNK]) and j - i < 0xffc0:
            j += CHUNK
        recs.append(struct.pack("<IH", i, j - i) + img[i:j])
        i = j
    return b"".join(recs)


def mkfs(path, size_k, extra, tree=None):
    # As lib/disk makes work disks, with fixed UUID, hash seed and times.
    args = ["mkfs.ext4", "-F", "-q", "-E",
            "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1,"
            "hash_seed=11111111-2222-3333-4444-555555555555",
            "-L", "banger-work", "-U", "11111111-2222-3333-4444-555555555555"] + extra
    if tree:
        args += ["-d", tree]
    args += [path, "%dk" % size_k]
    env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(T0), MKE2FS_DEVICE_SECTSIZE="512")
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)


def debugfs(path, cmds):
    subprocess.run(["debugfs", "-w", "-f", "-", path], input="\n".join(cmds).encode(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, E2FSPROGS_FAKE_TIME=str(T0)))


def gen_ext4():
    t = "ext4_read"
    if not shutil.which("mkfs.ext4") or not shutil.which("debugfs"):
        sys.exit("gen_oci_seeds: mkfs.ext4 and debugfs (e2fsprogs) are needed for ext4_read")
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "tree")
        os.makedirs(os.path.join(tree, ".ssh"))
        os.makedirs(os.path.join(tree, "repo/sub"))
        with open(os.path.join(tree, ".gitconfig"), "w") as fh:
            fh.write("[core]\n\teditor = vi\n# >>> banger\n[user]\n\tname = x\n# <<< banger\n")
        with open(os.path.join(tree, "repo/sub/file"), "w") as fh:
            fh.write("content\n" * 20)
        os.symlink("sub/file", os.path.join(tree, "repo/link"))
        os.symlink("/" + "t" * 80, os.path.join(tree, "repo/slowlink"))
        for p in [tree] + [os.path.join(r, x) for r, ds, fs in os.walk(tree) for x in ds + fs]:
            os.utime(p, (T0, T0), follow_symlinks=False)
        img = os.path.join(tmp, "img")
        variants = [
            ("work-4k", ["-b", "4096", "-N", "64", "-O", "^has_journal"], 4096, 3),
            ("work-1k", ["-b", "1024", "-N", "32", "-O", "^has_journal,^resize_inode"], 1024, 3),
            ("work-journal", ["-b", "1024", "-N", "32", "-J", "size=1", "-O", "^resize_inode"], 4096, 3),
            ("work-nocsum", ["-b", "1024", "-N", "32", "-O", "^has_journal,^metadata_csum,^resize_inode"], 1024, 3),
            ("work-inline", ["-b", "1024", "-N", "32", "-O", "^has_journal,inline_data,^resize_inode"], 1024, 3),
            ("work-readonly", ["-b", "1024", "-N", "32", "-O", "^has_journal,^resize_inode"], 1024, 2),
            ("work-write", ["-b", "1024", "-N", "32", "-O", "^has_journal,^resize_inode"], 1024, 1),
        ]
        for name, extra, size_k, flags in variants:
            mkfs(img, size_k, extra, tree)
            with open(img, "rb") as fh:
                out(t, name, sparse_records(fh.read(), flags))
        # An htree directory, a device, xattrs, a big sparse file: what a guest leaves.
        mkfs(img, 2048, ["-b", "1024", "-N", "128", "-O", "^has_journal,^resize_inode"], tree)
        cmds = ["mkdir many"] + ["write /dev/null many/entry-%03d" % i for i in range(60)]
        cmds += ["mknod dev c 1 3", "ea_set /.gitconfig user.x hello",
                 "write /dev/null big", "sif big size 1099511627776",
                 "write /dev/null .ssh/authorized_keys", "sif .ssh/authorized_keys size 4096"]
        debugfs(img, cmds)
        # e2fsck -D indexes the big directory (an htree, as the kernel makes).
        subprocess.run(["e2fsck", "-fyD", img], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, E2FSPROGS_FAKE_TIME=str(T0)))
        with open(img, "rb") as fh:
            out(t, "work-htree", sparse_records(fh.read(), 3))


GENS = {"oci_flatten": gen_flatten, "oci_manifest": gen_manifest, "oci_ref": gen_ref,
        "oci_auth": gen_auth, "ext4_read": gen_ext4}

if __name__ == "__main__":
    for name in sys.argv[1:] or GENS:
        shutil.rmtree(os.path.join(CORPUS, name), ignore_errors=True)
        GENS[name]()
