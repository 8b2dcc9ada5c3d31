/* A pod container's image in its sandbox's VM: see pod.h. */
#include "pod.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/rpc.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "rootfs.h"
#include "util/macro.h"
#include "util/timeutil.h"

#define GW_DEADLINE_MS 30000
#define CHUNK (256u * 1024) /* ExecInput takes at most 256 KiB a call */
#define CONNECT_WAIT_MS (180u * 1000)
#define STDERR_KEEP 1024
#define TAIL_KEEP 160 /* of the guest's stderr, in an error message */

/* The tree's own checks come first: the scripts touch nothing but a
 * directory under POD_GUEST_BASE named as shim_pod_root names it. */
#define HEX "[0-9a-f]"
#define CHECK_DIR                                                                                  \
        "d=$1; case $d in " POD_GUEST_BASE                                                         \
        "/ctr-" HEX HEX HEX HEX HEX HEX HEX HEX HEX HEX HEX HEX HEX HEX HEX HEX                    \
        ") ;; *) echo \"not a pod tree: $d\" >&2; exit 2;; esac; "                                 \
        "c=" POD_GUEST_CGROUP "/${d##*/}; "
/* The container's cgroup is frozen (nothing in it forks any more), then
 * everything in it and in any cgroup made under it is killed (cgroup.kill
 * where the kernel has it, each listed process too; again while any is
 * left, a bounded number of times) and the cgroups go (a process the kill
 * ended may hold one a moment longer). Then processes still running in the
 * tree are killed (those in no cgroup: a guest without cgroup v2); the
 * tree's mounts (it is a mount itself, so a mount a container made in it
 * goes too) are made slaves first, so unmounting them never reaches the
 * VM's own /dev and /sys; then the files go, never crossing into another
 * file system. Each step goes on when the one before failed. */
#define REMOVE_TREE                                                                                \
        "if [ -d \"$c\" ]; then { echo 1 > \"$c/cgroup.freeze\"; } 2>/dev/null || true; "          \
        "i=0; while [ $i -lt 50 ]; do { echo 1 > \"$c/cgroup.kill\"; } 2>/dev/null || true; "      \
        "ps=$(find \"$c\" -name cgroup.procs -exec cat {} + 2>/dev/null) || ps=; "                 \
        "[ -z \"$ps\" ] && break; "                                                                \
        "for p in $ps; do kill -9 \"$p\" 2>/dev/null || true; done; i=$((i+1)); sleep 0.1; done; " \
        "i=0; while [ -d \"$c\" ] && [ $i -lt 20 ]; do "                                           \
        "find \"$c\" -depth -type d -exec rmdir {} + 2>/dev/null || true; "                        \
        "[ -d \"$c\" ] && sleep 0.1; i=$((i+1)); done; fi; "                                       \
        "if [ -e \"$d\" ] || [ -L \"$d\" ]; then i=0; while [ $i -lt 20 ]; do n=0; "               \
        "for p in /proc/[0-9]*; do if [ \"$(readlink \"$p/root\" 2>/dev/null)\" = \"$d\" ]; then " \
        "kill -9 \"${p#/proc/}\" 2>/dev/null || true; n=$((n+1)); fi; done; "                      \
        "[ $n = 0 ] && break; i=$((i+1)); sleep 0.1; done; "                                       \
        "if mountpoint -q \"$d\"; then mount --make-rslave \"$d\" 2>/dev/null || true; "           \
        "umount -R -l \"$d\" 2>/dev/null || true; fi; "                                            \
        "rm -rf --one-file-system \"$d\"; fi; "
/* The tree is a bind mount of itself, private and nodev (a device node of
 * the image opens nothing); /sys and /dev are the VM's, as slaves. */
static const char prepare_script[] =
    "set -e; " CHECK_DIR REMOVE_TREE "mkdir -p \"$d\"; "
    "mount --bind \"$d\" \"$d\"; mount --make-private \"$d\"; "
    "mount -o remount,bind,nodev \"$d\"; "
    "tar -x -p --numeric-owner -C \"$d\" -f -; "
    "for m in proc sys dev; do if [ -L \"$d/$m\" ] || [ ! -d \"$d/$m\" ]; then "
    "rm -f \"$d/$m\"; mkdir -m 755 \"$d/$m\"; fi; done; "
    "mount -t proc proc \"$d/proc\"; "
    "mount --rbind /sys \"$d/sys\"; mount --make-rslave \"$d/sys\"; "
    "mount --rbind /dev \"$d/dev\"; mount --make-rslave \"$d/dev\"; "
    "if [ -f /sys/fs/cgroup/cgroup.controllers ]; then mkdir -p \"$c\"; fi; "
    "if [ ! -L \"$d/etc\" ] && mkdir -p \"$d/etc\" 2>/dev/null; then "
    "for f in resolv.conf hosts hostname; do if [ -e /etc/$f ]; then "
    "{ rm -f \"$d/etc/$f\" && cp -L /etc/$f \"$d/etc/$f\"; } 2>/dev/null || true; fi; done; fi";
static const char remove_script[] = CHECK_DIR REMOVE_TREE
    "if [ -d \"$c\" ]; then echo \"cgroup $c is still there\" >&2; exit 1; fi";

int shim_pod_root(const char *ns, const char *id, char *buf, size_t len)
{
        char vm[64];
        int r = shim_vm_name(ns, id, vm, sizeof(vm));
        if (r < 0)
                return r;
        return snprintf(buf, len, "%s/%s", POD_GUEST_BASE, vm) < (int)len ? 0 : -ENAMETOOLONG;
}

/* Appends the guest's bytes to tail (len bytes, NUL-terminated), keeping
 * its newest part, printable ASCII only. */
static void tail_add(char *tail, size_t len, const uint8_t *data, size_t n)
{
        size_t tn = strlen(tail);
        for (size_t i = 0; i < n; i++) {
                if (tn + 1 >= len) {
                        memmove(tail, tail + len / 2, tn - len / 2);
                        tn -= len / 2;
                }
                tail[tn++] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : ' ';
        }
        tail[tn] = '\0';
}

int shim_pod_remove(struct shim_ctx *c, const char *vm, const char *guest_root,
                    struct bg_error *err)
{
        char *argv[] = {"/bin/sh", "-c", (char *)remove_script, "sh", (char *)guest_root};
        Banger__V1__ExecRequest eq = BANGER__V1__EXEC_REQUEST__INIT;
        eq.vm = (char *)vm;
        eq.argv = argv;
        eq.n_argv = 5;
        eq.cwd = "/";
        eq.timeout_ms = 120000;
        eq.max_output_bytes = STDERR_KEEP;
        Banger__V1__ExecResponse *er = NULL;
        int r = shim_gw_call(c, "/banger.v1.WorkspaceService/Exec", &eq.base,
                             &banger__v1__exec_response__descriptor, (ProtobufCMessage **)&er,
                             150000, err);
        if (r < 0)
                return r;
        int code = er->exit_code;
        char tail[TAIL_KEEP] = "";
        tail_add(tail, sizeof(tail), er->stderr.data, er->stderr.len);
        if (code != 0)
                r = bg_error_set(err, EIO, "removing %s in VM %s: exit %d: %s", guest_root, vm,
                                 code, tail);
        banger__v1__exec_response__free_unpacked(er, NULL);
        return r;
}

/* ---- the copy ---- */

struct copy {
        struct shim_ctx *c;
        char op[64];    /* the guest side's StartExec operation; "" none */
        uint64_t until; /* the whole copy's deadline (now_mono_msec) */
        uint8_t *buf;   /* CHUNK bytes, filled to n */
        size_t n;
        bool stop; /* failed: write_cb sends nothing more */
        struct bg_error *err;
        int failed; /* < 0: sending failed, the error in err */
};

static const char *aerr(struct archive *a)
{
        const char *s = archive_error_string(a);
        return s ? s : "unknown error";
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free);

static int cancel_op(struct shim_ctx *c, const char *op)
{
        Banger__V1__CancelOperationRequest q = BANGER__V1__CANCEL_OPERATION_REQUEST__INIT;
        q.id = (char *)op;
        Banger__V1__Operation *o = NULL;
        struct bg_error e = {0};
        int r = shim_gw_call(c, "/banger.v1.WorkspaceService/CancelOperation", &q.base,
                             &banger__v1__operation__descriptor, (ProtobufCMessage **)&o,
                             GW_DEADLINE_MS, &e);
        if (r >= 0)
                banger__v1__operation__free_unpacked(o, NULL);
        return r;
}

/* Sends data (or the end) to the guest's tar, waiting while the service
 * holds as much unsent input as it takes, up to the copy's deadline. */
static int send_chunk(struct copy *x, const uint8_t *data, size_t len, bool eof)
{
        for (;;) {
                bg_error_clear(x->err);
                int r = shim_exec_input(x->c, x->op, data, len, eof, 0, 0, x->err);
                if (r >= 0)
                        return 0;
                if (r != -ENOSPC)
                        return r;
                if (now_mono_msec() > x->until)
                        return bg_error_set(x->err, ETIMEDOUT, "the copy took more than %u s",
                                            POD_COPY_TIMEOUT_MS / 1000);
                usleep(20 * 1000); /* 1 MiB waits in the service already */
        }
}

static la_ssize_t write_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
        struct copy *x = ud;
        if (x->stop)
                return -1; /* a failed stream's close pads nothing out to the guest */
        const uint8_t *p = buf;
        size_t left = len;
        while (left > 0) {
                size_t take = CHUNK - x->n < left ? CHUNK - x->n : left;
                memcpy(x->buf + x->n, p, take);
                x->n += take;
                p += take;
                left -= take;
                if (x->n == CHUNK) {
                        int r = send_chunk(x, x->buf, x->n, false);
                        if (r < 0) {
                                x->failed = r;
                                x->stop = true;
                                archive_set_error(a, -r, "%s", x->err->msg);
                                return -1;
                        }
                        x->n = 0;
                }
        }
        return (la_ssize_t)len;
}

/* The path of e relative to dir (dlen bytes, no trailing '/'): "." for dir
 * itself. */
static int relative(struct archive_entry *e, const char *dir, size_t dlen)
{
        const char *p = archive_entry_pathname(e);
        if (!p || strncmp(p, dir, dlen) != 0 || (p[dlen] != '\0' && p[dlen] != '/'))
                return -EINVAL;
        const char *rel = p + dlen;
        while (*rel == '/')
                rel++;
        char *copy = strdup(*rel ? rel : ".");
        if (!copy)
                return -ENOMEM;
        archive_entry_set_pathname(e, copy);
        free(copy);
        return 0;
}

static int write_zeros(struct archive *w, la_int64_t n)
{
        static const char zeros[64 * 1024];
        while (n > 0) {
                size_t k = n < (la_int64_t)sizeof(zeros) ? (size_t)n : sizeof(zeros);
                if (archive_write_data(w, zeros, k) < 0)
                        return -1;
                n -= (la_int64_t)k;
        }
        return 0;
}

/* The data of regular file e: holes go to the writer as zeros, which it
 * leaves out (the entry carries the file's sparse map), as bsdtar does. */
static int write_data(struct archive *d, struct archive *w, struct archive_entry *e,
                      const char *dir, struct bg_error *err)
{
        const void *buf;
        size_t len;
        la_int64_t off, at = 0;
        int r;
        while ((r = archive_read_data_block(d, &buf, &len, &off)) == ARCHIVE_OK) {
                if (off < at)
                        return bg_error_set(err, EIO, "read %s under %s: data out of order",
                                            archive_entry_pathname(e), dir);
                if (write_zeros(w, off - at) < 0 || (len && archive_write_data(w, buf, len) < 0))
                        return bg_error_set(err, EIO, "tar stream: %s", aerr(w));
                at = off + (la_int64_t)len;
        }
        if (r != ARCHIVE_EOF)
                return bg_error_set(err, EIO, "read %s under %s: %s", archive_entry_pathname(e),
                                    dir, aerr(d));
        if (archive_entry_size(e) > at && write_zeros(w, archive_entry_size(e) - at) < 0)
                return bg_error_set(err, EIO, "tar stream: %s", aerr(w));
        return 0;
}

/* dir's entries into w, held to the rootfs limits. */
static int walk_tree(struct archive *d, struct archive *w, const char *dir, struct bg_error *err)
{
        if (archive_read_disk_open(d, dir) != ARCHIVE_OK)
                return bg_error_set(err, EIO, "read %s: %s", dir, aerr(d));
        _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
        if (!e)
                return bg_error_set(err, ENOMEM, "out of memory");
        size_t dlen = strlen(dir);
        uint64_t max_bytes = rootfs_max_bytes(), bytes = 0, entries = 0;
        for (;;) {
                archive_entry_clear(e);
                int r = archive_read_next_header2(d, e);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
                        return bg_error_set(err, EIO, "read %s: %s", dir, aerr(d));
                archive_read_disk_descend(d);
                if (++entries > ROOTFS_MAX_ENTRIES)
                        return bg_error_set(err, EFBIG,
                                            "the container's rootfs has more than %u entries",
                                            ROOTFS_MAX_ENTRIES);
                bool reg = archive_entry_filetype(e) == AE_IFREG;
                int64_t sz = reg ? archive_entry_size(e) : 0;
                if (sz > 0 && (uint64_t)sz > max_bytes - bytes)
                        return bg_error_set(err, EFBIG,
                                            "the container's rootfs holds more than %llu bytes "
                                            "of file data (the limit is BANGER_SHIM_MAX_ROOTFS "
                                            "in containerd's environment)",
                                            (unsigned long long)max_bytes);
                bytes += sz > 0 ? (uint64_t)sz : 0;
                r = relative(e, dir, dlen);
                if (r < 0)
                        return bg_error_errno(err, r, "path %s under %s", archive_entry_pathname(e),
                                              dir);
                r = archive_write_header(w, e);
                if (r == ARCHIVE_FAILED) { /* a socket: tar holds none */
                        fprintf(stderr, "containerd-shim-banger-v2: %s: %s (left out)\n",
                                archive_entry_pathname(e), aerr(w));
                        continue;
                }
                if (r < ARCHIVE_WARN)
                        return bg_error_set(err, EIO, "tar stream: %s", aerr(w));
                if (sz > 0 && (r = write_data(d, w, e, dir, err)) < 0)
                        return r;
        }
}

/* dir's tree as a tar stream into x. On failure nothing more is sent. */
static int stream_tree(struct copy *x, const char *dir_in, struct bg_error *err)
{
        char dir[PATH_MAX];
        size_t n = strlen(dir_in);
        while (n > 1 && dir_in[n - 1] == '/')
                n--; /* "root/" lists "root/a" */
        if (n >= sizeof(dir))
                return bg_error_set(err, ENAMETOOLONG, "rootfs path too long");
        memcpy(dir, dir_in, n);
        dir[n] = '\0';
        _cleanup_(archive_read_freep) struct archive *d = archive_read_disk_new();
        struct archive *w = archive_write_new();
        if (!d || !w) {
                if (w)
                        archive_write_free(w);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        archive_read_disk_set_symlink_physical(d);
        archive_read_disk_set_behavior(d, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS |
                                              ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                                              ARCHIVE_READDISK_NO_FFLAGS);
        int r = 0;
        if (archive_write_set_format_pax_restricted(w) != ARCHIVE_OK ||
            archive_write_open(w, x, NULL, write_cb, NULL) != ARCHIVE_OK)
                r = bg_error_set(err, EIO, "tar stream: %s", aerr(w));
        if (r >= 0)
                r = walk_tree(d, w, dir, err);
        if (r >= 0 && archive_write_close(w) != ARCHIVE_OK)
                r = bg_error_set(err, EIO, "tar stream: %s", aerr(w));
        if (r < 0) {
                x->stop = true;
                archive_write_fail(w); /* free pads nothing out */
        }
        archive_write_free(w);
        if (r < 0)
                return x->failed < 0 ? x->failed : r; /* a send's error says more */
        r = x->n ? send_chunk(x, x->buf, x->n, false) : 0;
        x->n = 0;
        if (r >= 0)
                r = send_chunk(x, NULL, 0, true);
        return r < 0 ? r : 0;
}

/* Starts the guest's side; waits until it runs (an sshd still coming up is
 * asked again, as process.c does). x->op is set once an operation exists. */
static int start_guest(struct copy *x, const char *guest_root, struct bg_error *err)
{
        char *argv[] = {"/bin/sh", "-c", (char *)prepare_script, "sh", (char *)guest_root};
        uint64_t until = now_mono_msec() + CONNECT_WAIT_MS;
        for (;;) {
                Banger__V1__ExecRequest eq = BANGER__V1__EXEC_REQUEST__INIT;
                eq.vm = x->c->vm;
                eq.argv = argv;
                eq.n_argv = 5;
                eq.cwd = "/";
                eq.timeout_ms = POD_COPY_TIMEOUT_MS;
                eq.stream_stdin = true;
                Banger__V1__Operation *op = NULL;
                int r = shim_gw_call(x->c, "/banger.v1.WorkspaceService/StartExec", &eq.base,
                                     &banger__v1__operation__descriptor, (ProtobufCMessage **)&op,
                                     GW_DEADLINE_MS, err);
                if (r < 0)
                        return r;
                snprintf(x->op, sizeof(x->op), "%s", op->id);
                banger__v1__operation__free_unpacked(op, NULL);
                int st;
                while ((st = shim_exec_stage(x->c, x->op, false)) == 0 && now_mono_msec() < until)
                        usleep(100 * 1000);
                if (st == 1)
                        return 0;
                if (st == 0)
                        return bg_error_set(err, ETIMEDOUT,
                                            "VM %s did not take a command within %u s", x->c->vm,
                                            CONNECT_WAIT_MS / 1000);
                if (st == -2)
                        return bg_error_set(err, EIO, "exec in VM %s: its state is unknown",
                                            x->c->vm);
                (void)shim_exec_stage(x->c, x->op, true); /* -1: logs why */
                x->op[0] = '\0';                          /* it never ran */
                if (now_mono_msec() >= until)
                        return bg_error_set(err, ETIMEDOUT,
                                            "VM %s did not take a command within %u s", x->c->vm,
                                            CONNECT_WAIT_MS / 1000);
                sleep(3);
        }
}

/* Waits (up to the copy's deadline) for the guest's side to end; its exit
 * code, and the end of its stderr in tail. */
static int wait_guest(struct copy *x, int *code, char *tail, size_t tail_len, struct bg_error *err)
{
        uint64_t so = 0, se = 0;
        tail[0] = '\0';
        for (;;) {
                Banger__V1__ExecOutputRequest q = BANGER__V1__EXEC_OUTPUT_REQUEST__INIT;
                q.operation_id = x->op;
                q.stdout_offset = so;
                q.stderr_offset = se;
                q.max_bytes = 64 * 1024;
                q.wait_ms = 5000;
                Banger__V1__ExecOutputResponse *o = NULL;
                int r = shim_gw_call(x->c, "/banger.v1.WorkspaceService/ExecOutput", &q.base,
                                     &banger__v1__exec_output_response__descriptor,
                                     (ProtobufCMessage **)&o, GW_DEADLINE_MS, err);
                if (r < 0)
                        return r;
                so = o->stdout_offset + o->stdout.len;
                se = o->stderr_offset + o->stderr.len;
                tail_add(tail, tail_len, o->stderr.data, o->stderr.len);
                bool done = o->done;
                *code = o->exit_code;
                banger__v1__exec_output_response__free_unpacked(o, NULL);
                if (done)
                        return 0;
                if (now_mono_msec() > x->until)
                        return bg_error_set(err, ETIMEDOUT, "the copy took more than %u s",
                                            POD_COPY_TIMEOUT_MS / 1000);
        }
}

int shim_pod_copy(struct shim_ctx *c, const char *host_dir, const char *guest_root,
                  struct bg_error *err)
{
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);
        if (!buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        struct copy x = {.c = c,
                         .buf = buf,
                         .err = err,
                         .until = now_mono_msec() + CONNECT_WAIT_MS + POD_COPY_TIMEOUT_MS};
        int r = start_guest(&x, guest_root, err);
        if (r >= 0)
                r = stream_tree(&x, host_dir, err);
        int code = -1;
        char tail[TAIL_KEEP] = "";
        if (r < 0 && x.op[0]) {
                /* The guest's tar must not wait for more: the end of its
                 * input, and the command cancelled. */
                struct bg_error e = {0};
                struct copy y = x;
                y.err = &e;
                y.until = now_mono_msec(); /* no waiting for room */
                (void)send_chunk(&y, NULL, 0, true);
                (void)cancel_op(c, x.op);
        }
        if (x.op[0]) {
                struct bg_error werr = {0};
                if (r < 0)
                        x.until = now_mono_msec() + 30000; /* its end, after the cancel */
                int wr = wait_guest(&x, &code, tail, sizeof(tail), &werr);
                if (r >= 0 && wr < 0) {
                        *err = werr;
                        r = wr;
                }
        }
        if (r >= 0 && code != 0)
                r = bg_error_set(err, EIO,
                                 "copying the container's image into VM %s failed (exit %d): %s",
                                 c->vm, code, tail[0] ? tail : "(no message)");
        else if (r < 0 && tail[0] && x.failed < 0)
                bg_error_prefix(err, "%s: ", tail);
        if (r < 0 && x.op[0]) {
                struct bg_error rerr = {0};
                if (shim_pod_remove(c, c->vm, guest_root, &rerr) < 0)
                        fprintf(stderr,
                                "containerd-shim-banger-v2: remove the partial copy %s: %s\n",
                                guest_root, rerr.msg);
        }
        return r;
}
