#include "workspacesvc.h"
#include "fault/fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/workspace.pb-c.h"
#include "log/log.h"
#include "ssh/ssh_key.h"
#include "util/macro.h"
#include "util/timeutil.h"
#include "ws_disk.h"
#include "ws_exec.h"
#include "ws_guest.h"
#include "ws_repo.h"

#define EXPORT_CHUNK (2u << 20)
#define EXEC_OUT_MAX (1u << 20)
#define EXEC_IN_MAX (1u << 20)
#define DEFAULT_GUEST_PATH "/root/repo"

/* Schema v1: the VM registry. Later versions append migrations; never edit one
 * that has shipped. */
const struct store_migration workspacesvc_migrations[] = {
        {1, "CREATE TABLE workspaces ("
            "  vm_id TEXT NOT NULL,"
            "  guest_path TEXT NOT NULL,"
            "  host_path TEXT NOT NULL,"
            "  head TEXT NOT NULL,"
            "  prepared_unix_ms INTEGER NOT NULL,"
            "  PRIMARY KEY (vm_id, guest_path)"
            ");"},
        {2, "ALTER TABLE workspaces ADD COLUMN vm_name TEXT NOT NULL DEFAULT '';"
            "ALTER TABLE workspaces ADD COLUMN ref TEXT NOT NULL DEFAULT '';"
            "ALTER TABLE workspaces ADD COLUMN dirty INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE workspaces ADD COLUMN files INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE workspaces ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE workspaces ADD COLUMN offline INTEGER NOT NULL DEFAULT 0;"},
        {3, "ALTER TABLE workspaces ADD COLUMN copy_ms INTEGER NOT NULL DEFAULT 0;"},
};
const size_t workspacesvc_n_migrations = ELEMENTSOF(workspacesvc_migrations);

/* ---- workspaces.db ---- */

static int db_put(struct workspacesvc *v, const Banger__V1__Workspace *w, struct bg_error *err)
{
        static const char sql[] =
            "INSERT OR REPLACE INTO workspaces (vm_id, guest_path, host_path, head, "
            "prepared_unix_ms, vm_name, ref, dirty, files, bytes, offline, copy_ms) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)";
        sqlite3_stmt *st = NULL;
        pthread_mutex_lock(&v->mu);
        int rc = sqlite3_prepare_v2(v->d->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_text(st, 1, w->vm_id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, w->guest_path, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, w->host_path, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, w->head, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 5, w->prepared_unix_ms);
                sqlite3_bind_text(st, 6, w->vm_name, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 7, w->ref, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 8, w->dirty);
                sqlite3_bind_int64(st, 9, (int64_t)w->files);
                sqlite3_bind_int64(st, 10, (int64_t)w->bytes);
                sqlite3_bind_int(st, 11, w->offline);
                sqlite3_bind_int64(st, 12, (int64_t)w->copy_ms);
                rc = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        pthread_mutex_unlock(&v->mu);
        if (rc != SQLITE_DONE)
                return bg_error_set(err, EIO, "workspaces.db: %s", sqlite3_errstr(rc));
        return 0;
}

static char *dup_col(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);
        return strdup(t ? (const char *)t : "");
}

/* Rows of vm_id (NULL = all), newest first, appended to out. */
static int db_list(struct workspacesvc *v, const char *vm_id, Banger__V1__ListWorkspacesResponse *out,
                   struct bg_error *err)
{
        char sql[400];
        snprintf(sql, sizeof(sql),
                 "SELECT vm_id, vm_name, host_path, guest_path, head, ref, dirty, files, bytes, "
                 "prepared_unix_ms, offline, copy_ms FROM workspaces %s ORDER BY prepared_unix_ms DESC",
                 vm_id ? "WHERE vm_id = ?" : "");
        sqlite3_stmt *st = NULL;
        pthread_mutex_lock(&v->mu);
        int rc = sqlite3_prepare_v2(v->d->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK && vm_id)
                sqlite3_bind_text(st, 1, vm_id, -1, SQLITE_STATIC);
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                Banger__V1__Workspace *w = malloc(sizeof(*w));
                void *grow = realloc(out->workspaces, (out->n_workspaces + 1) * sizeof(w));
                if (!w || !grow) {
                        free(w);
                        if (grow)
                                out->workspaces = grow;
                        rc = SQLITE_NOMEM;
                        break;
                }
                out->workspaces = grow;
                banger__v1__workspace__init(w);
                w->vm_id = dup_col(st, 0);
                w->vm_name = dup_col(st, 1);
                w->host_path = dup_col(st, 2);
                w->guest_path = dup_col(st, 3);
                w->head = dup_col(st, 4);
                w->ref = dup_col(st, 5);
                w->dirty = sqlite3_column_int(st, 6) != 0;
                w->files = (uint64_t)sqlite3_column_int64(st, 7);
                w->bytes = (uint64_t)sqlite3_column_int64(st, 8);
                w->prepared_unix_ms = sqlite3_column_int64(st, 9);
                w->offline = sqlite3_column_int(st, 10) != 0;
                w->copy_ms = (uint64_t)sqlite3_column_int64(st, 11);
                out->workspaces[out->n_workspaces++] = w;
                rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        pthread_mutex_unlock(&v->mu);
        if (rc != SQLITE_DONE)
                return bg_error_set(err, EIO, "workspaces.db: %s", sqlite3_errstr(rc));
        return 0;
}

/* The workspace of vm_id at guest_path ("" = its newest); 0 found, -ENOENT. */
static int db_find(struct workspacesvc *v, const char *vm_id, const char *guest_path,
                   Banger__V1__Workspace **ret, struct bg_error *err)
{
        Banger__V1__ListWorkspacesResponse l = BANGER__V1__LIST_WORKSPACES_RESPONSE__INIT;
        int r = db_list(v, vm_id, &l, err);
        *ret = NULL;
        for (size_t i = 0; r >= 0 && i < l.n_workspaces && !*ret; i++)
                if (!guest_path[0] || strcmp(l.workspaces[i]->guest_path, guest_path) == 0)
                        *ret = TAKE_PTR(l.workspaces[i]);
        for (size_t i = 0; i < l.n_workspaces; i++)
                if (l.workspaces[i])
                        banger__v1__workspace__free_unpacked(l.workspaces[i], NULL);
        free(l.workspaces);
        return r < 0 ? r : *ret ? 0 : -ENOENT;
}

static int db_forget(struct workspacesvc *v, const char *vm_id, uint32_t *n, struct bg_error *err)
{
        sqlite3_stmt *st = NULL;
        pthread_mutex_lock(&v->mu);
        int rc = sqlite3_prepare_v2(v->d->db, "DELETE FROM workspaces WHERE vm_id = ?", -1, &st,
                                    NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_text(st, 1, vm_id, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
        }
        *n = (uint32_t)sqlite3_changes(v->d->db);
        sqlite3_finalize(st);
        pthread_mutex_unlock(&v->mu);
        return rc == SQLITE_DONE ? 0 : bg_error_set(err, EIO, "workspaces.db: %s", sqlite3_errstr(rc));
}

static Banger__V1__Workspace *ws_new(const struct ws_vm *vm, const struct ws_repo *repo,
                                     const char *guest_path, const char *ref, const char *head,
                                     const struct ws_walk_stats *stats, bool offline)
{
        Banger__V1__Workspace *w = malloc(sizeof(*w));
        if (!w)
                return NULL;
        banger__v1__workspace__init(w);
        w->vm_id = strdup(vm->id);
        w->vm_name = strdup(vm->name);
        w->host_path = strdup(repo->top);
        w->guest_path = strdup(guest_path);
        w->head = strdup(head);
        w->ref = strdup(ref ? ref : "");
        w->dirty = repo->dirty;
        w->files = stats->files;
        w->bytes = stats->bytes;
        w->offline = offline;
        w->copy_ms = stats->ms;
        w->prepared_unix_ms = (int64_t)now_real_msec();
        if (!w->vm_id || !w->vm_name || !w->host_path || !w->guest_path || !w->head || !w->ref) {
                banger__v1__workspace__free_unpacked(w, NULL);
                return NULL;
        }
        return w;
}

/* "/root/x" from "~/x", "x" or "/root/x"; "" → the default. */
static int guest_abs(const char *in, char *out, size_t len, struct bg_error *err)
{
        char rel[PATH_MAX];
        if (!in || !in[0])
                in = DEFAULT_GUEST_PATH;
        int r = ws_guest_rel(in, rel, sizeof(rel), err);
        if (r < 0)
                return r;
        if ((size_t)snprintf(out, len, "/root/%s", rel) >= len)
                return bg_error_set(err, ENAMETOOLONG, "guest path too long");
        return 0;
}

static int host_path_check(const char *p, struct bg_error *err)
{
        if (!p || p[0] != '/')
                return bg_error_set(err, EINVAL, "host_path must be an absolute path (got \"%s\")",
                                    p ? p : "");
        return 0;
}

/* ---- Prepare ---- */

struct prepare_job {
        struct workspacesvc *v;
        struct ws_vm vm;
        struct ws_repo repo;
        char guest[PATH_MAX];
        char branch[256];
        char from[256];
        struct ops_ctx *ctx;
};

static void prepare_free(void *p)
{
        struct prepare_job *j = p;
        ws_repo_free(&j->repo);
        free(j);
}

static void prepare_progress(void *ud, uint64_t bytes)
{
        struct prepare_job *j = ud;
        ops_ctx_progress(j->ctx, bytes, 0);
}

static int prepare_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct prepare_job *j = ud;
        struct workspacesvc *v = j->v;
        j->ctx = ctx;
        ops_ctx_stage(ctx, "connect");
        struct bg_ssh *s = NULL;
        int r = ws_vm_connect(&j->vm, v->key_path, &s, err);
        if (r < 0)
                return r;
        ops_ctx_stage(ctx, "copy");
        /* Thousands of loose objects travel as one pack: the guest then makes
         * two files instead of one per object. */
        struct bg_error pe = {0};
        uint64_t tp = now_mono_msec();
        if (ws_repo_pack_loose(&j->repo, 512, &pe) < 0)
                log_warn("%s: copying loose objects as they are (%s)", j->repo.top, pe.msg);
        else if (j->repo.pack_dir[0])
                log_info("%s: loose objects packed for the copy in %llu ms", j->repo.top,
                         (unsigned long long)(now_mono_msec() - tp));
        struct ws_walk_stats stats = {0};
        char head[64] = "";
        uint64_t t0 = now_mono_msec();
        r = ws_copy_over_ssh(s, &j->vm, v->key_path, j->vm.vcpu, &j->repo, j->guest, j->branch,
                             j->from, ops_ctx_cancel_flag(ctx),
                             prepare_progress, j, &stats, head, err);
        bg_ssh_close(s);
        if (r < 0)
                return r;
        stats.ms = now_mono_msec() - t0;
        log_info("workspace %s → %s:%s: %llu entries, %llu bytes in %llu ms", j->repo.top,
                 j->vm.name, j->guest, (unsigned long long)stats.files,
                 (unsigned long long)stats.bytes, (unsigned long long)(now_mono_msec() - t0));
        ops_ctx_stage(ctx, "record");
        const char *ref = j->branch[0] ? j->branch : j->from;
        Banger__V1__Workspace *w = ws_new(&j->vm, &j->repo, j->guest, ref, head, &stats, false);
        if (!w)
                return bg_error_set(err, ENOMEM, "out of memory");
        r = db_put(v, w, err);
        if (r >= 0)
                r = ops_ctx_set_result(ctx, &w->base);
        banger__v1__workspace__free_unpacked(w, NULL);
        return r;
}

static int workspace_prepare(struct workspacesvc *v, const Banger__V1__PrepareWorkspaceRequest *in,
                             Banger__V1__Operation *out, const struct rpc_call *call,
                             struct bg_error *err)
{
        (void)call;
        if (!in->vm[0])
                return bg_error_set(err, EINVAL, "which VM? (vm is empty)");
        if (in->branch[0] && in->from[0])
                return bg_error_set(err, EINVAL, "give --branch or --from, not both");
        if (strlen(in->branch) >= 256 || strlen(in->from) >= 256 || in->branch[0] == '-' ||
            in->from[0] == '-')
                return bg_error_set(err, EINVAL, "bad branch or revision");
        int r = host_path_check(in->host_path, err);
        if (r < 0)
                return r;
        struct prepare_job *j = calloc(1, sizeof(*j));
        if (!j)
                return bg_error_set(err, ENOMEM, "out of memory");
        j->v = v;
        snprintf(j->branch, sizeof(j->branch), "%s", in->branch);
        if ((r = guest_abs(in->guest_path, j->guest, sizeof(j->guest), err)) < 0 ||
            (r = ws_vm_lookup(v->vmsvc, in->vm, &j->vm, err)) < 0 ||
            (r = ws_repo_open(in->host_path, &j->repo, err)) < 0) {
                prepare_free(j);
                return r;
        }
        if (strcmp(j->vm.state, "running") != 0) {
                r = bg_error_set(err, EBUSY, "VM %s is %s; start it first (banger vm start %s)",
                                 j->vm.name, j->vm.state, j->vm.name);
                prepare_free(j);
                return r;
        }
        if (in->from[0]) {
                char id[64];
                if ((r = ws_repo_resolve(&j->repo, in->from, id, err)) < 0) {
                        prepare_free(j);
                        return r;
                }
                snprintf(j->from, sizeof(j->from), "%s", id);
        }
        char target[OPS_TARGET_MAX];
        snprintf(target, sizeof(target), "%s:%s", j->vm.name, j->guest);
        static const char *const stages[] = {"connect", "copy", "record"};
        struct ops_start os = {
            .kind = "workspace.prepare",
            .target = target,
            .stages = stages,
            .n_stages = ELEMENTSOF(stages),
            .dedup = true,
            .fn = prepare_work,
            .userdata = j,
            .free_userdata = prepare_free,
        };
        return ops_start_fill(v->ops, &os, out, err);
}

static int workspace_get_op(struct workspacesvc *v, const Banger__V1__GetOperationRequest *in,
                            Banger__V1__Operation *out, const struct rpc_call *call,
                            struct bg_error *err)
{
        (void)call;
        return ops_rpc_get(v->ops, in, out, err);
}

static int workspace_cancel_op(struct workspacesvc *v, const Banger__V1__CancelOperationRequest *in,
                               Banger__V1__Operation *out, const struct rpc_call *call,
                               struct bg_error *err)
{
        (void)call;
        return ops_rpc_cancel(v->ops, in, out, err);
}

/* ---- List / Forget ---- */

static int workspace_list(struct workspacesvc *v, const Banger__V1__ListWorkspacesRequest *in,
                          Banger__V1__ListWorkspacesResponse *out, const struct rpc_call *call,
                          struct bg_error *err)
{
        (void)call;
        if (!in->vm[0])
                return db_list(v, NULL, out, err);
        struct ws_vm vm;
        int r = ws_vm_lookup(v->vmsvc, in->vm, &vm, err);
        return r < 0 ? r : db_list(v, vm.id, out, err);
}

static int workspace_forget(struct workspacesvc *v, const Banger__V1__ForgetWorkspacesRequest *in,
                            Banger__V1__ForgetWorkspacesResponse *out, const struct rpc_call *call,
                            struct bg_error *err)
{
        (void)call;
        if (!in->vm_id[0])
                return bg_error_set(err, EINVAL, "vm_id is empty");
        return db_forget(v, in->vm_id, &out->forgotten, err);
}

/* ---- Export ---- */

static bool export_id_ok(const char *id)
{
        size_t n = strlen(id);
        if (n != 32)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
                        return false;
        return true;
}

/* Patches nobody read for EXPORT_IDLE_S go: their reader is gone (each
 * chunk read touches the file). */
#define EXPORT_IDLE_S 600
static void exports_sweep(struct workspacesvc *v)
{
        DIR *d = opendir(v->exports_dir);
        if (!d)
                return;
        struct dirent *de;
        time_t now = time(NULL);
        while ((de = readdir(d))) {
                char p[PATH_MAX];
                struct stat st;
                snprintf(p, sizeof(p), "%s/%s", v->exports_dir, de->d_name);
                if (de->d_name[0] != '.' && lstat(p, &st) == 0 && S_ISREG(st.st_mode) &&
                    now - st.st_mtime > EXPORT_IDLE_S)
                        unlink(p);
        }
        closedir(d);
}

static int export_chunk(struct workspacesvc *v, const char *id, uint64_t offset,
                        Banger__V1__ExportWorkspaceResponse *out, struct bg_error *err)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s.patch", v->exports_dir, id);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? bg_error_set(err, ENOENT,
                                                      "no export %s (finished, or not read for "
                                                      "10 minutes)",
                                                      id)
                                       : bg_error_errno(err, -errno, "open %s", p);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "stat %s", p);
        uint64_t size = (uint64_t)st.st_size;
        if (offset > size)
                return bg_error_set(err, EINVAL, "offset %llu is past the patch's end (%llu)",
                                    (unsigned long long)offset, (unsigned long long)size);
        size_t n = size - offset > EXPORT_CHUNK ? EXPORT_CHUNK : (size_t)(size - offset);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        ssize_t got = pread(fd, buf, n, (off_t)offset);
        if (got != (ssize_t)n) {
                free(buf);
                return bg_error_set(err, EIO, "read %s", p);
        }
        (void)futimens(fd, NULL); /* still being read: not swept */
        out->export_id = strdup(id);
        out->size = size;
        out->offset = offset;
        out->data.data = buf;
        out->data.len = n;
        if (offset + n >= size)
                unlink(p); /* read to the end: done */
        return out->export_id ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

static int workspace_export(struct workspacesvc *v, const Banger__V1__ExportWorkspaceRequest *in,
                            Banger__V1__ExportWorkspaceResponse *out, const struct rpc_call *call,
                            struct bg_error *err)
{
        if (in->export_id[0]) {
                if (!export_id_ok(in->export_id))
                        return bg_error_set(err, EINVAL, "bad export id");
                exports_sweep(v);
                return export_chunk(v, in->export_id, in->offset, out, err);
        }
        if (!in->vm[0])
                return bg_error_set(err, EINVAL, "which VM? (vm is empty)");
        struct ws_vm vm;
        int r = ws_vm_lookup(v->vmsvc, in->vm, &vm, err);
        if (r < 0)
                return r;
        char guest[PATH_MAX] = "";
        if (in->guest_path[0] && (r = guest_abs(in->guest_path, guest, sizeof(guest), err)) < 0)
                return r;
        Banger__V1__Workspace *w = NULL;
        char base[64] = "";
        if (db_find(v, vm.id, guest, &w, NULL) == 0) {
                snprintf(guest, sizeof(guest), "%s", w->guest_path);
                snprintf(base, sizeof(base), "%s", w->head);
                banger__v1__workspace__free_unpacked(w, NULL);
        } else if (!guest[0]) {
                snprintf(guest, sizeof(guest), "%s", DEFAULT_GUEST_PATH);
        }
        struct bg_ssh *s = NULL;
        if ((r = ws_vm_connect(&vm, v->key_path, &s, err)) < 0)
                return r;
        exports_sweep(v);
        uint8_t rnd[16];
        char id[33], p[PATH_MAX];
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
                bg_ssh_close(s);
                return bg_error_set(err, EIO, "no randomness");
        }
        for (int i = 0; i < 16; i++)
                snprintf(id + 2 * i, 3, "%02x", rnd[i]);
        snprintf(p, sizeof(p), "%s/%s.patch", v->exports_dir, id);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                bg_ssh_close(s);
                return bg_error_errno(err, -errno, "create %s", p);
        }
        char used[64];
        uint32_t files = 0;
        /* The guest decides how much its git diff writes: the spool stops at
         * workspace.export_max, at the call's deadline, and when the caller's
         * process is gone (a killed or interrupted CLI). */
        _cleanup_close_ int client = call->caller_pid > 0
                                         ? (int)syscall(SYS_pidfd_open, (pid_t)call->caller_pid, 0)
                                         : -1;
        struct ws_export_limits lim = {
            .max_bytes = v->d->cfg.workspace.export_max,
            .timeout_ms = rpc_call_remaining_ms(call),
            .client_pidfd = client,
        };
        r = ws_export_patch(s, guest, base, fd, &lim, used, &files, err);
        bg_ssh_close(s);
        if (close(fd) < 0 && r >= 0)
                r = bg_error_errno(err, -errno, "write %s", p);
        if (r < 0) {
                unlink(p);
                return bg_error_prefix(err, "export %s from VM %s", guest, vm.name);
        }
        r = export_chunk(v, id, 0, out, err);
        if (r >= 0) {
                out->head = strdup(used);
                out->files_changed = files;
        }
        return r;
}

/* ---- Exec ---- */

/* Checks an ExecRequest and builds the remote command line (*cmd, malloc'ed)
 * and the timeout. */
static int exec_setup(struct workspacesvc *v, const Banger__V1__ExecRequest *in,
                      const struct rpc_call *call, bool bounded_by_call, struct ws_vm *vm,
                      char **cmd, uint32_t *timeout, struct bg_error *err)
{
        *cmd = NULL;
        if (!in->vm[0])
                return bg_error_set(err, EINVAL, "which VM? (vm is empty)");
        if (in->n_argv == 0 || !in->argv[0][0])
                return bg_error_set(err, EINVAL, "no command (argv is empty)");
        if (in->stdin.len > EXEC_IN_MAX)
                return bg_error_set(err, EINVAL, "stdin is larger than 1 MiB");
        if (in->cwd[0] && in->cwd[0] != '/')
                return bg_error_set(err, EINVAL, "cwd must be an absolute path");
        int r = ws_vm_lookup(v->vmsvc, in->vm, vm, err);
        if (r < 0)
                return r;
        if (strcmp(vm->state, "running") != 0)
                return bg_error_set(err, EBUSY, "VM %s is %s; start it first", vm->name, vm->state);
        char cwd[PATH_MAX] = "/root";
        if (in->cwd[0]) {
                snprintf(cwd, sizeof(cwd), "%s", in->cwd);
        } else {
                Banger__V1__Workspace *w = NULL;
                if (db_find(v, vm->id, "", &w, NULL) == 0) {
                        snprintf(cwd, sizeof(cwd), "%s", w->guest_path);
                        banger__v1__workspace__free_unpacked(w, NULL);
                }
        }
        size_t cmdlen = 128 * 1024;
        if (!(*cmd = malloc(cmdlen)))
                return bg_error_set(err, ENOMEM, "out of memory");
        if (bg_ssh_workspace_command(cwd, in->n_argv, in->argv, *cmd, cmdlen) < 0) {
                free(*cmd);
                *cmd = NULL;
                return bg_error_set(err, E2BIG, "the command is too long");
        }
        *timeout = in->timeout_ms ? in->timeout_ms : 10 * 60 * 1000;
        uint64_t now = now_mono_msec();
        /* A plain Exec answers before the caller's deadline. */
        if (bounded_by_call && call->deadline_mono_ms > now &&
            call->deadline_mono_ms - now < *timeout + 500)
                *timeout = call->deadline_mono_ms - now > 1000
                               ? (uint32_t)(call->deadline_mono_ms - now - 500)
                               : 500;
        return 0;
}

static int workspace_exec(struct workspacesvc *v, const Banger__V1__ExecRequest *in,
                          Banger__V1__ExecResponse *out, const struct rpc_call *call,
                          struct bg_error *err)
{
        struct ws_vm vm;
        _cleanup_free_ char *cmd = NULL;
        uint32_t timeout;
        if (in->stream_stdin || in->tty)
                return bg_error_set(err, EINVAL, "stream_stdin and tty are for StartExec");
        int r = exec_setup(v, in, call, true, &vm, &cmd, &timeout, err);
        if (r < 0)
                return r;
        size_t max = in->max_output_bytes && in->max_output_bytes < EXEC_OUT_MAX
                         ? in->max_output_bytes
                         : EXEC_OUT_MAX;
        struct bg_ssh_buf o = {.max = max}, e = {.max = max};
        int code = 255;
        uint64_t t0 = now_mono_msec();
        r = ws_run_collect(&v->run, &vm, cmd, in->stdin.len ? in->stdin.data : NULL, in->stdin.len,
                           &o, &e, timeout, &code, err);
        if (r < 0) {
                bg_ssh_buf_free(&o);
                bg_ssh_buf_free(&e);
                return r;
        }
        out->exit_code = code;
        out->stdout.data = (uint8_t *)o.data;
        out->stdout.len = o.len;
        out->stderr.data = (uint8_t *)e.data;
        out->stderr.len = e.len;
        out->stdout_dropped = o.dropped;
        out->stderr_dropped = e.dropped;
        out->duration_ms = now_mono_msec() - t0;
        return 0;
}

static int workspace_start_exec(struct workspacesvc *v, const Banger__V1__ExecRequest *in,
                                Banger__V1__Operation *out, const struct rpc_call *call,
                                struct bg_error *err)
{
        struct ws_vm vm;
        _cleanup_free_ char *cmd = NULL;
        uint32_t timeout;
        if (in->stream_stdin && in->stdin.len)
                return bg_error_set(err, EINVAL,
                                    "stdin bytes and stream_stdin: send the bytes with ExecInput");
        if ((in->rows == 0) != (in->cols == 0) || in->rows > 10000 || in->cols > 10000)
                return bg_error_set(err, EINVAL, "rows and cols: both 1..10000, or both 0");
        if (!in->tty && (in->rows || in->cols))
                return bg_error_set(err, EINVAL, "rows and cols are for a tty");
        int r = exec_setup(v, in, call, false, &vm, &cmd, &timeout, err);
        if (r < 0)
                return r;
        struct ws_exec_mode mode = {
            .stream_in = in->stream_stdin, .tty = in->tty, .rows = in->rows, .cols = in->cols};
        return ws_exec_start(v->execs, v->ops, &vm, cmd, &in->stdin, &mode, timeout, out, err);
}

static int workspace_exec_input(struct workspacesvc *v, const Banger__V1__ExecInputRequest *in,
                                Banger__V1__ExecInputResponse *out, const struct rpc_call *call,
                                struct bg_error *err)
{
        (void)out, (void)call;
        return ws_exec_input(v->execs, in, err);
}

static int workspace_exec_output(struct workspacesvc *v, const Banger__V1__ExecOutputRequest *in,
                                 Banger__V1__ExecOutputResponse *out, const struct rpc_call *call,
                                 struct bg_error *err)
{
        (void)call;
        return ws_exec_output(v->execs, in, out, err);
}

/* ---- WriteWorkDisk (from vmsvc, before boot) ---- */

static int workspace_write_disk(struct workspacesvc *v, const Banger__V1__WriteWorkDiskRequest *in,
                                Banger__V1__WriteWorkDiskResponse *out,
                                const struct rpc_call *call, struct bg_error *err)
{
        (void)call;
        /* Only a VM's work disk under STATE/vms/, never a path a caller makes up. */
        char vms[PATH_MAX], real[PATH_MAX];
        snprintf(vms, sizeof(vms), "%s/vms/", v->d->paths.state_dir);
        size_t wl = strlen(in->work_disk);
        if (!in->vm_id[0] || !in->vm_name[0])
                return bg_error_set(err, EINVAL, "vm_id and vm_name are required");
        if (!realpath(in->work_disk, real) || strncmp(real, vms, strlen(vms)) != 0 || wl < 10 ||
            strcmp(in->work_disk + wl - 10, "/work.ext4") != 0 ||
            strcmp(real + strlen(real) - 10, "/work.ext4") != 0)
                return bg_error_set(err, EINVAL, "%s is not a VM work disk under %s", in->work_disk,
                                    vms);
        struct ws_repo repo;
        bool have_repo = false;
        char guest[PATH_MAX] = "";
        int r = 0;
        if (in->workspace_host_path[0]) {
                if ((r = host_path_check(in->workspace_host_path, err)) < 0 ||
                    (r = guest_abs(in->workspace_guest_path, guest, sizeof(guest), err)) < 0 ||
                    (r = ws_repo_open(in->workspace_host_path, &repo, err)) < 0)
                        return r;
                have_repo = true;
        }
        struct ws_warnings warn = {0};
        struct ws_walk_stats stats = {0};
        struct ws_disk_job job = {
            .work_disk = real,
            .sync = &v->d->cfg.file_sync,
            .home = v->home,
            .repo = have_repo ? &repo : NULL,
            .guest_path = guest,
        };
        uint64_t t0 = now_mono_msec();
        r = ws_write_work_disk(&job, &warn, &stats, err);
        stats.ms = now_mono_msec() - t0;
        fault_point("workspace.workdisk.written"); /* written, not answered */
        if (r >= 0 && have_repo) {
                log_info("workspace %s written into the work disk of %s (%s): %llu entries, %llu "
                         "bytes in %llu ms",
                         repo.top, in->vm_name, guest, (unsigned long long)stats.files,
                         (unsigned long long)stats.bytes,
                         (unsigned long long)(now_mono_msec() - t0));
                struct ws_vm vm = {0};
                snprintf(vm.id, sizeof(vm.id), "%s", in->vm_id);
                snprintf(vm.name, sizeof(vm.name), "%s", in->vm_name);
                out->workspace = ws_new(&vm, &repo, guest, "", repo.head, &stats, true);
                if (!out->workspace)
                        r = bg_error_set(err, ENOMEM, "out of memory");
                else
                        r = db_put(v, out->workspace, err);
        }
        if (have_repo)
                ws_repo_free(&repo);
        if (r >= 0 && warn.n) {
                out->warnings = TAKE_PTR(warn.items);
                out->n_warnings = warn.n;
                warn.n = 0;
        }
        ws_warnings_free(&warn);
        return r;
}

static int workspace_health(struct workspacesvc *v, const Banger__V1__HealthRequest *in,
                            Banger__V1__HealthResponse *out, const struct rpc_call *call,
                            struct bg_error *err)
{
        return daemon_health(v->d, in, out, call, err);
}

static int workspace_list_ops(struct workspacesvc *v, const Banger__V1__ListOperationsRequest *in,
                              Banger__V1__ListOperationsResponse *out,
                              const struct rpc_call *call, struct bg_error *err)
{
        (void)call;
        return ops_list(v->ops, in->include_done, out, err);
}

const struct rpc_method_impl workspacesvc_workspace_methods[] = {
        RPC_METHOD("Health", workspace_health),
        RPC_METHOD("Prepare", workspace_prepare),
        RPC_METHOD("List", workspace_list),
        /* These wait on a guest (its git diff, a command) or, ExecOutput,
         * up to 30 s for a command's output: workers and call slots of
         * their own (workspace.max_guest_calls), never the shared ones. */
        RPC_METHOD_GUEST("Export", workspace_export),
        RPC_METHOD_GUEST("Exec", workspace_exec),
        RPC_METHOD("StartExec", workspace_start_exec),
        RPC_METHOD_GUEST("ExecOutput", workspace_exec_output),
        RPC_METHOD("GetOperation", workspace_get_op),
        RPC_METHOD("CancelOperation", workspace_cancel_op),
        RPC_METHOD("WriteWorkDisk", workspace_write_disk),
        RPC_METHOD("Forget", workspace_forget),
        RPC_METHOD("ListOperations", workspace_list_ops),
        RPC_METHOD("ExecInput", workspace_exec_input),
};
const size_t workspacesvc_n_workspace_methods = ELEMENTSOF(workspacesvc_workspace_methods);

int workspacesvc_register(struct workspacesvc *v, struct bg_error *err)
{
        char url[200];
        int r;
        pthread_mutex_init(&v->mu, NULL);
        if ((r = ops_registry_new(0, &v->ops, err)) < 0 ||
            (r = ws_agent_pool_new(&v->run.pool, err)) < 0 ||
            (r = ws_exec_registry_new(&v->execs, &v->run, err)) < 0)
                return r;
        snprintf(v->run.vms_dir, sizeof(v->run.vms_dir), "%s/vms", v->d->paths.state_dir);
        bg_paths_socket_url(&v->d->paths, "vmsvc", url, sizeof(url));
        if ((r = rpc_client_open(url, NULL, &v->vmsvc, err)) < 0)
                return r;
        if ((r = bg_ssh_key_path(v->d->cfg.ssh.key_path, v->d->paths.config_dir, v->key_path,
                                 sizeof(v->key_path), err)) < 0)
                return r;
        snprintf(v->run.key_path, sizeof(v->run.key_path), "%s", v->key_path);
        snprintf(v->exports_dir, sizeof(v->exports_dir), "%s/exports", v->d->paths.state_dir);
        if (mkdir(v->exports_dir, 0700) < 0 && errno != EEXIST)
                return bg_error_errno(err, -errno, "create %s", v->exports_dir);
        exports_sweep(v);
        /* $HOME as the owner's session (dev mode) or systemd's User= set it;
         * the password database otherwise. */
        struct passwd *pw = getpwuid(v->d->owner_uid);
        const char *home = getenv("HOME");
        if (!home || home[0] != '/')
                home = pw && pw->pw_dir ? pw->pw_dir : "/";
        snprintf(v->home, sizeof(v->home), "%s", home);
        /* A worker for every call the limit lets in: a command that runs
         * long never queues another behind it. */
        unsigned gmax = v->d->cfg.workspace.max_guest_calls;
        if ((r = rpc_server_set_pool_limit(v->d->srv, true, gmax, gmax,
                                           "calls waiting on guests (exec, export)",
                                           "workspace.max_guest_calls", err)) < 0)
                return r;
        return rpc_server_add_service(v->d->srv, &banger__v1__workspace_service__descriptor,
                                      workspacesvc_workspace_methods,
                                      workspacesvc_n_workspace_methods, v, err);
}

void workspacesvc_done(struct workspacesvc *v)
{
        v->ops = ops_registry_free(v->ops);
        ws_exec_registry_free(v->execs);
        v->execs = NULL;
        ws_agent_pool_free(v->run.pool);
        v->run.pool = NULL;
        if (v->vmsvc)
                rpc_client_close(v->vmsvc);
        v->vmsvc = NULL;
}
