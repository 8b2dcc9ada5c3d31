#include "ws_disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ext4/ext4.h"
#include "log/log.h"
#include "util/macro.h"
#include "util/run.h"

#define SYNC_FILE_MAX (256ull << 20) /* one file_sync file */
/* Most banger reads of a file the guest wrote on its work disk (.gitconfig):
 * the guest chooses its size, and a truncate -s 4G would be read into memory. */
#define WS_GUEST_FILE_MAX (64u << 10)
#define GITCONFIG_BEGIN "# >>> banger: the host's git identity (rewritten at every VM start)\n"
#define GITCONFIG_END "# <<< banger\n"

void ws_warnings_free(struct ws_warnings *w)
{
        for (size_t i = 0; i < w->n; i++)
                free(w->items[i]);
        free(w->items);
        w->items = NULL;
        w->n = 0;
}

static void warnf(struct ws_warnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(struct ws_warnings *w, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        log_warn("%s", s);
        char **ni = realloc(w->items, (w->n + 1) * sizeof(char *));
        if (!ni) {
                free(s);
                return;
        }
        w->items = ni;
        w->items[w->n++] = s;
}

/* The errors after which lib/ext4 promises the image is untouched. */
static bool harmless(int r)
{
        return r == -ENOENT || r == -EEXIST || r == -ELOOP || r == -ENOTDIR || r == -EISDIR ||
               r == -EINVAL || r == -ENAMETOOLONG;
}

static struct ext4_meta meta_of(uint32_t mode, const struct stat *st)
{
        struct ext4_meta m = {.mode = mode};
        if (st) {
                m.atime = st->st_atim;
                m.mtime = st->st_mtim;
                m.ctime = st->st_ctim;
        } else {
                clock_gettime(CLOCK_REALTIME, &m.mtime);
                m.atime = m.ctime = m.mtime;
        }
        return m;
}

/* Parent directories of the disk path p (root-owned, dmode), not p itself. */
static int mkparents(struct ext4_fs *fs, const char *p, uint32_t dmode, struct bg_error *err)
{
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", p);
        char *slash = strrchr(parent, '/');
        if (!slash || slash == parent)
                return 0;
        *slash = '\0';
        struct ext4_meta m = meta_of(S_IFDIR | dmode, NULL);
        return ext4_mkdir_p(fs, parent, &m, err);
}

/* A host regular file into the image: small ones in one piece, big ones
 * streamed. */
static int put_file(struct ext4_fs *fs, const char *host, const char *dpath, uint32_t mode,
                    const struct stat *st, struct bg_error *err)
{
        _cleanup_close_ int fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open %s", host);
        struct ext4_meta m = meta_of(S_IFREG | (mode & 07777), st);
        static _Thread_local char *buf;
        if (!buf && !(buf = malloc(1 << 20)))
                return bg_error_set(err, ENOMEM, "out of memory");
        if (st->st_size <= (1 << 20)) {
                size_t got = 0;
                while (got < (size_t)st->st_size) {
                        ssize_t n = read(fd, buf + got, (size_t)st->st_size - got);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return bg_error_errno(err, -errno, "read %s", host);
                        if (n == 0)
                                break;
                        got += (size_t)n;
                }
                return ext4_write_file(fs, dpath, &m, buf, got, err);
        }
        struct ext4_file *f = NULL;
        int r = ext4_file_create(fs, dpath, &m, &f, err);
        while (r >= 0) {
                ssize_t n = read(fd, buf, 1 << 20);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = bg_error_errno(err, -errno, "read %s", host);
                        break;
                }
                if (n == 0)
                        break;
                r = ext4_file_write(f, buf, (size_t)n, err);
        }
        if (f) {
                int c = ext4_file_close(f, r < 0 ? NULL : err);
                if (r >= 0)
                        r = c;
        }
        return r;
}

/* ---- the workspace ---- */

struct ws_sink {
        struct ext4_fs *fs;
        char base[PATH_MAX]; /* disk path of the workspace */
};

static int ws_to_disk(void *ud, const struct ws_entry *e, struct bg_error *err)
{
        struct ws_sink *s = ud;
        char p[PATH_MAX * 2];
        snprintf(p, sizeof(p), "%s/%s", s->base, e->rel);
        uint32_t perm = e->st->st_mode & 07777;
        if (S_ISDIR(e->st->st_mode)) {
                struct ext4_meta m = meta_of(S_IFDIR | perm, e->st);
                return ext4_mkdir(s->fs, p, &m, err);
        }
        if (S_ISLNK(e->st->st_mode)) {
                struct ext4_meta m = meta_of(S_IFLNK | 0777, e->st);
                return ext4_symlink(s->fs, p, e->link, &m, err);
        }
        return put_file(s->fs, e->abs, p, perm, e->st, err);
}

/* ---- file_sync ---- */

struct sync_ctx {
        struct ext4_fs *fs;
        struct ws_warnings *warn;
        const struct bg_file_sync *entry;
        const atomic_bool *cancel;
};

/* Copies the host directory `host` into disk path `dp`, keeping modes;
 * nested symlinks and special files are skipped with a warning. */
static int sync_dir(struct sync_ctx *c, const char *host, const char *dp, const struct stat *st,
                    int depth, struct bg_error *err)
{
        struct ext4_meta m = meta_of(S_IFDIR | (st->st_mode & 07777), st);
        int r = ext4_mkdir(c->fs, dp, &m, err);
        if (r < 0)
                return r;
        if (depth > 64) {
                warnf(c->warn, "file_sync %s: deeper than 64 levels below; the rest skipped", host);
                return 0;
        }
        DIR *d = opendir(host);
        if (!d) {
                warnf(c->warn, "file_sync: cannot read %s (%s); skipped", host, strerror(errno));
                return 0;
        }
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (c->cancel && atomic_load(c->cancel)) {
                        r = bg_error_set(err, ECANCELED, "cancelled");
                        break;
                }
                char hp[PATH_MAX], cp[PATH_MAX];
                if ((size_t)snprintf(hp, sizeof(hp), "%s/%s", host, de->d_name) >= sizeof(hp) ||
                    (size_t)snprintf(cp, sizeof(cp), "%s/%s", dp, de->d_name) >= sizeof(cp)) {
                        warnf(c->warn, "file_sync: %s/%s: path too long; skipped", host, de->d_name);
                        continue;
                }
                struct stat cst;
                if (lstat(hp, &cst) < 0)
                        continue;
                if (S_ISLNK(cst.st_mode)) {
                        warnf(c->warn, "file_sync: %s is a symlink inside a synced directory; "
                                       "skipped",
                              hp);
                } else if (S_ISDIR(cst.st_mode)) {
                        r = sync_dir(c, hp, cp, &cst, depth + 1, err);
                } else if (S_ISREG(cst.st_mode)) {
                        if ((uint64_t)cst.st_size > SYNC_FILE_MAX) {
                                warnf(c->warn, "file_sync: %s is larger than 256 MiB; skipped", hp);
                                continue;
                        }
                        struct bg_error e = {0};
                        r = put_file(c->fs, hp, cp, cst.st_mode & 07777, &cst, &e);
                        if (r < 0 && (r == -EACCES || r == -EPERM || harmless(r))) {
                                warnf(c->warn, "file_sync: %s: %s; skipped", hp, e.msg);
                                r = 0;
                        } else if (r < 0) {
                                *err = e;
                        }
                } else {
                        warnf(c->warn, "file_sync: %s is not a file or directory; skipped", hp);
                }
        }
        closedir(d);
        return r;
}

static int sync_entry(struct sync_ctx *c, const char *home, struct bg_error *err)
{
        const struct bg_file_sync *fsy = c->entry;
        char host[PATH_MAX], rel[PATH_MAX], dp[PATH_MAX + 2];
        if (strncmp(fsy->host, "~/", 2) == 0)
                snprintf(host, sizeof(host), "%s/%s", home, fsy->host + 2);
        else
                snprintf(host, sizeof(host), "%s", fsy->host);
        struct bg_error e = {0};
        if (ws_guest_rel(fsy->guest, rel, sizeof(rel), &e) < 0) {
                warnf(c->warn, "file_sync (line %u): %s; skipped", fsy->line, e.msg);
                return 0;
        }
        snprintf(dp, sizeof(dp), "/%s", rel);
        struct stat st;
        /* The entry itself may be a symlink (dotfiles often are): followed
         * here, once; below it, nothing is. */
        char real[PATH_MAX];
        if (!realpath(host, real) || stat(real, &st) < 0) {
                warnf(c->warn, "file_sync: %s %s; skipped",
                      host, errno == ENOENT ? "does not exist on the host" : strerror(errno));
                return 0;
        }
        int r = mkparents(c->fs, dp, 0700, &e);
        if (r < 0) {
                if (!harmless(r)) {
                        *err = e;
                        return r;
                }
                warnf(c->warn, "file_sync %s → %s: %s; skipped", host, fsy->guest, e.msg);
                return 0;
        }
        if (S_ISDIR(st.st_mode))
                r = sync_dir(c, real, dp, &st, 0, &e);
        else if (!S_ISREG(st.st_mode)) {
                warnf(c->warn, "file_sync: %s is not a file or directory; skipped", host);
                return 0;
        } else if ((uint64_t)st.st_size > SYNC_FILE_MAX) {
                warnf(c->warn, "file_sync: %s is larger than 256 MiB; skipped", host);
                return 0;
        } else
                r = put_file(c->fs, real, dp, fsy->has_mode ? fsy->mode : 0600, &st, &e);
        if (r < 0 && (r == -EACCES || r == -EPERM || harmless(r))) {
                warnf(c->warn, "file_sync %s → %s: %s; skipped", host, fsy->guest, e.msg);
                return 0;
        }
        if (r < 0)
                *err = e;
        return r;
}

/* ---- git identity ---- */

static char *git_get(const char *home, const char *key)
{
        char henv[PATH_MAX + 8];
        snprintf(henv, sizeof(henv), "HOME=%s", home);
        const char *const env[] = {henv, "GIT_CONFIG_NOSYSTEM=1", NULL};
        const char *const argv[] = {"git", "config", "--global", "--get", key, NULL};
        char *out = NULL;
        size_t len = 0;
        int st = bg_run_capture(argv, env, &out, &len, 4096, NULL);
        if (st != 0 || !out) {
                free(out);
                return NULL;
        }
        while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
                out[--len] = '\0';
        /* one line of printable text, or nothing */
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)out[i] < 0x20 || out[i] == '"' || out[i] == '\\') {
                        free(out);
                        return NULL;
                }
        if (!len) {
                free(out);
                return NULL;
        }
        return out;
}

static int write_identity(struct ext4_fs *fs, const char *home, struct ws_warnings *warn,
                          struct bg_error *err)
{
        _cleanup_free_ char *name = git_get(home, "user.name");
        _cleanup_free_ char *email = git_get(home, "user.email");
        void *old = NULL;
        size_t old_len = 0;
        struct bg_error e = {0};
        /* The guest wrote this file: read it only up to WS_GUEST_FILE_MAX. */
        int r = ext4_read_file_max(fs, "/.gitconfig", WS_GUEST_FILE_MAX, &old, &old_len, &e);
        if (r == -EFBIG) {
                warnf(warn,
                      "git identity: /root/.gitconfig on the work disk is over %u KiB (%s); "
                      "not read, left alone",
                      WS_GUEST_FILE_MAX / 1024, e.msg);
                return 0;
        }
        if (r < 0 && r != -ENOENT) {
                /* The guest wrote this file: one too big to read (-EFBIG) is
                 * left alone like any other it cannot have meant for us. */
                if (!harmless(r) && r != -EFBIG) {
                        *err = e;
                        return r;
                }
                warnf(warn, "git identity: /root/.gitconfig: %s; left alone", e.msg);
                return 0;
        }
        /* Keep what is not banger's block. */
        char *keep = old ? old : "";
        char *b = strstr(keep, GITCONFIG_BEGIN);
        char *eb = b ? strstr(b, GITCONFIG_END) : NULL;
        size_t pre = b ? (size_t)(b - keep) : strlen(keep);
        const char *post = eb ? eb + strlen(GITCONFIG_END) : "";
        if (!b && strstr(keep, "[user]")) {
                free(old);
                return 0; /* the guest's own identity wins */
        }
        if (!name && !email && !b) {
                free(old);
                return 0;
        }
        size_t cap = pre + strlen(post) + 1024 + (name ? strlen(name) : 0) +
                     (email ? strlen(email) : 0);
        char *out = malloc(cap);
        if (!out) {
                free(old);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        size_t n = 0;
        memcpy(out, keep, pre);
        n = pre;
        if (name || email) {
                n += (size_t)snprintf(out + n, cap - n, "%s[user]\n", GITCONFIG_BEGIN);
                if (name)
                        n += (size_t)snprintf(out + n, cap - n, "\tname = \"%s\"\n", name);
                if (email)
                        n += (size_t)snprintf(out + n, cap - n, "\temail = \"%s\"\n", email);
                n += (size_t)snprintf(out + n, cap - n, "%s", GITCONFIG_END);
        }
        n += (size_t)snprintf(out + n, cap - n, "%s", post);
        struct ext4_meta m = meta_of(S_IFREG | 0644, NULL);
        r = ext4_write_file(fs, "/.gitconfig", &m, out, n, err);
        free(out);
        free(old);
        return r;
}

int ws_write_work_disk(const struct ws_disk_job *job, struct ws_warnings *warn,
                       struct ws_walk_stats *ws_stats, struct bg_error *err)
{
        struct ext4_fs *fs = NULL;
        int r = ext4_open(job->work_disk, &fs, err);
        if (r == -EUCLEAN) {
                /* The guest went down without a clean unmount (killed, crashed):
                 * replay its journal first, nothing else. */
                const char *const argv[] = {"e2fsck", "-E", "journal_only", "-p", job->work_disk,
                                            NULL};
                struct bg_error e = {0};
                int st = bg_run_capture(argv, NULL, NULL, NULL, 0, &e);
                if (st < 0 || st > 1)
                        return bg_error_set(err, EUCLEAN,
                                            "the work disk's journal needs a replay and e2fsck "
                                            "failed: %s",
                                            e.msg);
                log_info("replayed the journal of %s", job->work_disk);
                r = ext4_open(job->work_disk, &fs, err);
        }
        if (r < 0)
                return bg_error_prefix(err, "open the work disk");
        for (size_t i = 0; r >= 0 && job->sync && i < job->sync->n; i++) {
                struct sync_ctx c = {.fs = fs, .warn = warn, .entry = &job->sync->items[i],
                                     .cancel = job->cancel};
                r = sync_entry(&c, job->home, err);
        }
        if (r >= 0)
                r = write_identity(fs, job->git_home ? job->git_home : job->home, warn, err);
        if (r >= 0 && job->repo) {
                struct ws_sink s = {.fs = fs};
                char rel[PATH_MAX];
                r = ws_guest_rel(job->guest_path, rel, sizeof(rel), err);
                if (r >= 0) {
                        snprintf(s.base, sizeof(s.base), "/%s", rel);
                        r = mkparents(fs, s.base, 0755, err);
                }
                struct stat top;
                if (r >= 0 && stat(job->repo->top, &top) < 0)
                        r = bg_error_errno(err, -errno, "%s", job->repo->top);
                if (r >= 0) {
                        struct ext4_meta m = meta_of(S_IFDIR | (top.st_mode & 07777), &top);
                        r = ext4_mkdir(fs, s.base, &m, err);
                }
                if (r >= 0)
                        r = ws_repo_walk(job->repo, ws_to_disk, &s, job->cancel, ws_stats, err);
                if (r < 0)
                        bg_error_prefix(err, "write the workspace %s into the work disk",
                                        job->repo->top);
        }
        /* Write consistent metadata whatever happened: the disk holds the
         * user's data. */
        struct bg_error ce = {0};
        int c = ext4_close(fs, &ce);
        if (r >= 0 && c < 0) {
                *err = ce;
                r = c;
        }
        return r;
}
