#include "ws_repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/macro.h"
#include "util/run.h"

#define LIST_MAX (256u << 20)

static int git(const char *dir, const char *const args[], char **out, size_t *out_len,
               struct bg_error *err)
{
        const char *argv[16] = {"git", "-C", dir};
        size_t n = 3;
        for (size_t i = 0; args[i] && n < ELEMENTSOF(argv) - 1; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        /* Never prompt, never page, no locale surprises. */
        static const char *const env[] = {"GIT_TERMINAL_PROMPT=0", "GIT_PAGER=cat", "LC_ALL=C",
                                          "GIT_OPTIONAL_LOCKS=0", NULL};
        int st = bg_run_capture(argv, env, out, out_len, LIST_MAX, err);
        if (st < 0)
                return st == -ENOENT ? bg_error_set(err, ENOENT, "git is not installed on the host")
                                     : st;
        if (st != 0) {
                if (out) {
                        free(*out);
                        *out = NULL;
                }
                return -EIO;
        }
        return 0;
}

static void chomp(char *s)
{
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = '\0';
}

int ws_repo_open(const char *path, struct ws_repo *r, struct bg_error *err)
{
        memset(r, 0, sizeof(*r));
        char *out = NULL;
        struct stat st;
        if (stat(path, &st) < 0)
                return bg_error_errno(err, -errno, "workspace %s", path);
        if (!S_ISDIR(st.st_mode))
                return bg_error_set(err, ENOTDIR, "workspace %s is not a directory", path);
        int rc = git(path, (const char *const[]){"rev-parse", "--show-toplevel", NULL}, &out, NULL, err);
        if (rc < 0)
                return rc == -EIO ? bg_error_set(err, EINVAL, "%s is not inside a git work tree", path)
                                  : rc;
        chomp(out);
        snprintf(r->top, sizeof(r->top), "%s", out);
        free(out);
        char dotgit[sizeof(r->top) + 8];
        snprintf(dotgit, sizeof(dotgit), "%s/.git", r->top);
        if (lstat(dotgit, &st) < 0 || !S_ISDIR(st.st_mode))
                return bg_error_set(err, EINVAL,
                                    "%s is a linked worktree or submodule checkout (.git is not a "
                                    "directory); use the main checkout",
                                    r->top);
        out = NULL;
        if (git(r->top, (const char *const[]){"rev-parse", "--verify", "-q", "HEAD", NULL}, &out,
                NULL, NULL) == 0) {
                chomp(out);
                snprintf(r->head, sizeof(r->head), "%s", out);
        }
        free(out);
        out = NULL;
        if (git(r->top, (const char *const[]){"symbolic-ref", "-q", "--short", "HEAD", NULL},
                &out, NULL, NULL) == 0) {
                chomp(out);
                snprintf(r->branch, sizeof(r->branch), "%s", out);
        }
        free(out);
        out = NULL;
        rc = git(r->top, (const char *const[]){"status", "--porcelain", "-z", NULL}, &out, NULL, err);
        if (rc < 0)
                return bg_error_prefix(err, "git status in %s", r->top);
        r->dirty = out[0] != '\0';
        free(out);
        rc = git(r->top,
                 (const char *const[]){"ls-files", "-z", "--cached", "--others",
                                       "--exclude-standard", NULL},
                 &r->list, &r->list_len, err);
        if (rc < 0)
                return bg_error_prefix(err, "git ls-files in %s", r->top);
        return 0;
}

static bool is_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[n] == '\0';
}

/* .git/objects/XX: a loose object directory. */
static bool loose_dir(const char *rel)
{
        return strncmp(rel, ".git/objects/", 13) == 0 && is_hex(rel + 13, 2);
}

static void pack_dir_remove(struct ws_repo *r);
static int pack_into(struct ws_repo *r, const char *objs, const char *ids, size_t len,
                     struct bg_error *err);

int ws_repo_pack_loose(struct ws_repo *r, unsigned min, struct bg_error *err)
{
        char objs[sizeof(r->top) + 16];
        snprintf(objs, sizeof(objs), "%s/.git/objects", r->top);
        DIR *d = opendir(objs);
        if (!d)
                return 0;
        /* the ids, one per line, for pack-objects' stdin */
        size_t cap = 1 << 16, len = 0;
        char *ids = malloc(cap);
        struct dirent *de;
        while (ids && (de = readdir(d))) {
                if (!is_hex(de->d_name, 2))
                        continue;
                char sub[sizeof(objs) + 8];
                snprintf(sub, sizeof(sub), "%s/%s", objs, de->d_name);
                DIR *s = opendir(sub);
                struct dirent *fe;
                while (s && ids && (fe = readdir(s))) {
                        if (!is_hex(fe->d_name, 38))
                                continue;
                        if (len + 42 > cap) {
                                char *n = realloc(ids, cap *= 2);
                                if (!n) {
                                        free(ids);
                                        ids = NULL;
                                        break;
                                }
                                ids = n;
                        }
                        len += (size_t)snprintf(ids + len, cap - len, "%s%s\n", de->d_name,
                                                fe->d_name);
                }
                if (s)
                        closedir(s);
        }
        closedir(d);
        if (!ids)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (len / 41 < min) {
                free(ids);
                return 0;
        }
        snprintf(r->pack_dir, sizeof(r->pack_dir), "/tmp/banger-pack-XXXXXX");
        if (!mkdtemp(r->pack_dir)) {
                r->pack_dir[0] = '\0';
                free(ids);
                return bg_error_errno(err, -errno, "mkdtemp");
        }
        int rc = pack_into(r, objs, ids, len, err);
        free(ids);
        if (rc < 0)
                pack_dir_remove(r);
        return rc < 0 ? rc : 1;
}

/* Everything under pack_dir, then pack_dir itself; pack_dir = "". */
static void pack_dir_remove(struct ws_repo *r)
{
        if (!r->pack_dir[0])
                return;
        struct bg_error ign = {0};
        rm_rf(r->pack_dir, &ign);
        r->pack_dir[0] = '\0';
        r->pack_name[0] = '\0';
}

/* git pack-objects of the ids into pack_dir/pack-HASH.{pack,idx}. git makes
 * its temp file in the object directory, and the repository may be
 * read-only (system mode: ProtectHome=read-only), so the object directory is
 * an empty one in pack_dir, with the repository's own as an alternate. */
static int pack_into(struct ws_repo *r, const char *objs, const char *ids, size_t len,
                     struct bg_error *err)
{
        char list[sizeof(r->pack_dir) + 8], base[sizeof(r->pack_dir) + 8],
            odb[sizeof(r->pack_dir) + 8], odb_pack[sizeof(r->pack_dir) + 16];
        snprintf(list, sizeof(list), "%s/ids", r->pack_dir);
        snprintf(base, sizeof(base), "%s/pack", r->pack_dir);
        snprintf(odb, sizeof(odb), "%s/odb", r->pack_dir);
        snprintf(odb_pack, sizeof(odb_pack), "%s/odb/pack", r->pack_dir);
        if (mkdir(odb, 0700) < 0 || mkdir(odb_pack, 0700) < 0)
                return bg_error_errno(err, -errno, "mkdir %s", odb_pack);
        FILE *f = fopen(list, "we");
        bool ok = f && fwrite(ids, 1, len, f) == len;
        if (f && fclose(f) != 0)
                ok = false;
        if (!ok)
                return bg_error_set(err, EIO, "write %s", list);
        /* No deltas and no recompression: this is a transfer format, made in
         * well under a second for hundreds of MB. */
        const char *cmd = "GIT_OBJECT_DIRECTORY=\"$3\" GIT_ALTERNATE_OBJECT_DIRECTORIES=\"$4\" "
                          "exec git -C \"$0\" -c pack.compression=0 pack-objects -q --window=0 "
                          "--depth=0 \"$1\" < \"$2\"";
        const char *const argv[] = {"sh", "-c", cmd, r->top, base, list, odb, objs, NULL};
        char *out = NULL;
        int st = bg_run_capture(argv, NULL, &out, NULL, 4096, err);
        unlink(list);
        if (st != 0 || !out) {
                free(out);
                return st < 0 ? st : bg_error_prefix(err, "git pack-objects");
        }
        chomp(out);
        if (!is_hex(out, strlen(out)) || strlen(out) < 40 || strlen(out) > 64) {
                free(out);
                return bg_error_set(err, EIO, "git pack-objects printed no pack name");
        }
        snprintf(r->pack_name, sizeof(r->pack_name), "pack-%.58s", out);
        free(out);
        return 0;
}

void ws_repo_free(struct ws_repo *r)
{
        pack_dir_remove(r);
        free(r->list);
        r->list = NULL;
        r->list_len = 0;
}

int ws_repo_resolve(const struct ws_repo *r, const char *rev, char out[64], struct bg_error *err)
{
        if (!rev[0] || rev[0] == '-')
                return bg_error_set(err, EINVAL, "\"%s\" is not a revision", rev);
        char spec[512];
        snprintf(spec, sizeof(spec), "%s^{commit}", rev);
        char *o = NULL;
        int rc = git(r->top, (const char *const[]){"rev-parse", "--verify", "-q", spec, NULL}, &o,
                     NULL, err);
        if (rc < 0)
                return rc == -EIO ? bg_error_set(err, ENOENT, "%s has no commit \"%s\"", r->top, rev)
                                  : rc;
        chomp(o);
        snprintf(out, 64, "%s", o);
        free(o);
        return 0;
}

/* A set of directory paths already passed to fn. */
struct dirset {
        char **slot;
        size_t cap, n;
};

static uint64_t hash(const char *s)
{
        uint64_t h = 1469598103934665603ull;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ull;
        return h;
}

/* 1 added, 0 already there, -ENOMEM. */
static int dirset_add(struct dirset *d, const char *s)
{
        if ((d->n + 1) * 2 > d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 256;
                char **ns = calloc(cap, sizeof(char *));
                if (!ns)
                        return -ENOMEM;
                for (size_t i = 0; i < d->cap; i++)
                        if (d->slot[i]) {
                                size_t j = hash(d->slot[i]) & (cap - 1);
                                while (ns[j])
                                        j = (j + 1) & (cap - 1);
                                ns[j] = d->slot[i];
                        }
                free(d->slot);
                d->slot = ns;
                d->cap = cap;
        }
        size_t j = hash(s) & (d->cap - 1);
        while (d->slot[j]) {
                if (strcmp(d->slot[j], s) == 0)
                        return 0;
                j = (j + 1) & (d->cap - 1);
        }
        if (!(d->slot[j] = strdup(s)))
                return -ENOMEM;
        d->n++;
        return 1;
}

static void dirset_free(struct dirset *d)
{
        for (size_t i = 0; i < d->cap; i++)
                free(d->slot[i]);
        free(d->slot);
}

struct walk {
        const struct ws_repo *r;
        ws_entry_fn fn;
        void *ud;
        const atomic_bool *cancel;
        struct ws_walk_stats *stats;
        struct dirset dirs;
};

static int emit(struct walk *w, const char *rel, const char *abs, const struct stat *st,
                struct bg_error *err)
{
        char link[PATH_MAX];
        struct ws_entry e = {.rel = rel, .abs = abs, .st = st};
        if (w->cancel && atomic_load(w->cancel))
                return bg_error_set(err, ECANCELED, "cancelled");
        if (S_ISLNK(st->st_mode)) {
                ssize_t n = readlink(abs, link, sizeof(link) - 1);
                if (n < 0)
                        return bg_error_errno(err, -errno, "readlink %s", abs);
                link[n] = '\0';
                e.link = link;
        } else if (S_ISREG(st->st_mode)) {
                w->stats->bytes += (uint64_t)st->st_size;
        } else if (!S_ISDIR(st->st_mode)) {
                w->stats->skipped++;
                return 0;
        }
        w->stats->files++;
        return w->fn(w->ud, &e, err);
}

/* Passes every parent directory of rel not passed yet, outermost first. */
static int emit_parents(struct walk *w, const char *rel, struct bg_error *err)
{
        char p[PATH_MAX], abs[PATH_MAX + 4096];
        snprintf(p, sizeof(p), "%s", rel);
        for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                int a = dirset_add(&w->dirs, p);
                if (a < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                if (a == 1) {
                        struct stat st;
                        snprintf(abs, sizeof(abs), "%s/%s", w->r->top, p);
                        if (lstat(abs, &st) < 0 || !S_ISDIR(st.st_mode)) {
                                *s = '/';
                                return bg_error_set(err, ENOTDIR, "%s changed during the copy",
                                                    abs);
                        }
                        int r = emit(w, p, abs, &st, err);
                        if (r < 0)
                                return r;
                }
                *s = '/';
        }
        return 0;
}

static int walk_dir(struct walk *w, const char *rel, struct bg_error *err)
{
        char abs[PATH_MAX + 4096];
        snprintf(abs, sizeof(abs), "%s/%s", w->r->top, rel);
        DIR *d = opendir(abs);
        if (!d)
                return bg_error_errno(err, -errno, "open %s", abs);
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                char crel[PATH_MAX], cabs[PATH_MAX + 4096];
                if ((size_t)snprintf(crel, sizeof(crel), "%s/%s", rel, de->d_name) >= sizeof(crel)) {
                        r = bg_error_set(err, ENAMETOOLONG, "%s/%s: path too long", abs, de->d_name);
                        break;
                }
                snprintf(cabs, sizeof(cabs), "%s/%s", w->r->top, crel);
                struct stat st;
                if (lstat(cabs, &st) < 0)
                        continue; /* gone meanwhile (git gc, a lock file) */
                if (w->r->pack_dir[0] && S_ISDIR(st.st_mode) && loose_dir(crel))
                        continue; /* in the pack */
                r = emit(w, crel, cabs, &st, err);
                if (r >= 0 && S_ISDIR(st.st_mode))
                        r = walk_dir(w, crel, err);
        }
        closedir(d);
        return r;
}

int ws_repo_walk(const struct ws_repo *r, ws_entry_fn fn, void *ud, const atomic_bool *cancel,
                 struct ws_walk_stats *stats, struct bg_error *err)
{
        struct ws_walk_stats local;
        struct walk w = {.r = r, .fn = fn, .ud = ud, .cancel = cancel,
                         .stats = stats ? stats : &local};
        memset(w.stats, 0, sizeof(*w.stats));
        int rc = 0;
        for (size_t off = 0; rc >= 0 && off < r->list_len;) {
                const char *rel = r->list + off;
                size_t l = strlen(rel);
                off += l + 1;
                if (!l || rel[l - 1] == '/') { /* a nested repository git lists as "dir/" */
                        w.stats->skipped++;
                        continue;
                }
                char abs[PATH_MAX + 4096];
                snprintf(abs, sizeof(abs), "%s/%s", r->top, rel);
                struct stat st;
                if (lstat(abs, &st) < 0 || S_ISDIR(st.st_mode)) { /* deleted, or a submodule */
                        w.stats->skipped++;
                        continue;
                }
                rc = emit_parents(&w, rel, err);
                if (rc >= 0)
                        rc = emit(&w, rel, abs, &st, err);
        }
        if (rc >= 0) {
                char abs[PATH_MAX + 4096];
                struct stat st;
                snprintf(abs, sizeof(abs), "%s/.git", r->top);
                if (lstat(abs, &st) < 0)
                        rc = bg_error_errno(err, -errno, "%s", abs);
                else if ((rc = emit(&w, ".git", abs, &st, err)) >= 0)
                        rc = walk_dir(&w, ".git", err);
        }
        for (int i = 0; rc >= 0 && r->pack_dir[0] && i < 2; i++) {
                char abs[PATH_MAX], rel[PATH_MAX];
                struct stat st;
                const char *ext = i == 0 ? "pack" : "idx";
                snprintf(abs, sizeof(abs), "%s/%s.%s", r->pack_dir, r->pack_name, ext);
                snprintf(rel, sizeof(rel), ".git/objects/pack/%s.%s", r->pack_name, ext);
                /* .git/objects/pack came with .git (tar makes it if not) */
                if (lstat(abs, &st) < 0)
                        rc = bg_error_errno(err, -errno, "%s", abs);
                else
                        rc = emit(&w, rel, abs, &st, err);
        }
        dirset_free(&w.dirs);
        return rc;
}

int ws_guest_rel(const char *guest_path, char *out, size_t len, struct bg_error *err)
{
        const char *p = guest_path;
        if (strncmp(p, "~/", 2) == 0)
                p += 2;
        else if (strncmp(p, "/root/", 6) == 0)
                p += 6;
        else
                return bg_error_set(err, EINVAL, "guest path \"%s\" must be below /root (or ~/)",
                                    guest_path);
        char buf[4096];
        size_t n = 0;
        char tmp[4096];
        if (strlen(p) >= sizeof(tmp))
                return bg_error_set(err, ENAMETOOLONG, "guest path \"%s\" is too long", guest_path);
        snprintf(tmp, sizeof(tmp), "%s", p);
        char *save = NULL;
        for (char *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0)
                        return bg_error_set(err, EINVAL, "guest path \"%s\" has \"..\"", guest_path);
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "/" : "", c);
        }
        if (n == 0)
                return bg_error_set(err, EINVAL, "guest path \"%s\" must name a path below /root",
                                    guest_path);
        if (n + 1 > len)
                return bg_error_set(err, ENAMETOOLONG, "guest path \"%s\" is too long", guest_path);
        memcpy(out, buf, n + 1);
        return 0;
}
