#include "rootfs_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "paths/paths.h"
#include "util/fileio.h"

#define FP_CACHE_FILE "fingerprints"
#define FP_CACHE_ROOT_DIR "/var/cache/containerd-shim-banger"

static const char fp_magic[8] = "BGFPC1\n";

/* One file's digest and its key, as written on disk (this machine's byte
 * order: the cache never leaves it). */
struct fp_rec {
        uint64_t dev, ino, size;
        int64_t mtime_s, ctime_s;
        uint32_t mtime_ns, ctime_ns;
        uint8_t h[32];
};
_Static_assert(sizeof(struct fp_rec) == 80, "fp_rec has no padding");

struct fp_header {
        char magic[8];
        uint32_t rec_size;
        uint32_t n;
};

struct fp_cache {
        int dfd; /* the cache's directory; owned */
        uint32_t max;
        struct fp_rec *old; /* loaded; owned */
        uint32_t n_old;
        bool *superseded;   /* per old record: this walk met its file */
        uint32_t *index;    /* open addressing over old by (dev, ino): i + 1, 0 empty */
        uint32_t mask;
        struct fp_rec *cur; /* noted by this walk; owned */
        uint32_t n_cur, cap_cur;
        int64_t racy_before; /* ctime seconds: only older ones are noted */
};

static uint32_t key_hash(uint64_t dev, uint64_t ino)
{
        uint64_t x = dev * 0x9e3779b97f4a7c15ull ^ ino;
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        return (uint32_t)x;
}

static void rec_from_stat(struct fp_rec *r, const struct stat *st)
{
        memset(r, 0, sizeof(*r));
        r->dev = st->st_dev;
        r->ino = st->st_ino;
        r->size = (uint64_t)st->st_size;
        r->mtime_s = st->st_mtim.tv_sec;
        r->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
        r->ctime_s = st->st_ctim.tv_sec;
        r->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
}

static uint32_t max_from_env(void)
{
        const char *env = getenv("BANGER_SHIM_FINGERPRINT_CACHE");
        if (!env || !env[0])
                return FP_CACHE_MAX_DEFAULT;
        char *end;
        errno = 0;
        unsigned long v = strtoul(env, &end, 10);
        if (errno || *end || env[0] == '-' || v > FP_CACHE_MAX_LIMIT) {
                fprintf(stderr,
                        "containerd-shim-banger-v2: BANGER_SHIM_FINGERPRINT_CACHE=%.40s is not "
                        "0-%u; using %u\n",
                        env, FP_CACHE_MAX_LIMIT, FP_CACHE_MAX_DEFAULT);
                return FP_CACHE_MAX_DEFAULT;
        }
        return (uint32_t)v;
}

/* The cache's directory, made when missing; -EPERM unless it is ours and
 * nobody else can write it. */
static int open_dir(const char *dir)
{
        int r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        struct stat st;
        if (fstat(dfd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
                close(dfd);
                return -EPERM;
        }
        return dfd;
}

static void load(struct fp_cache *c)
{
        char *buf = NULL;
        size_t len = 0;
        struct bg_error err = {0};
        size_t cap = sizeof(struct fp_header) + (size_t)c->max * sizeof(struct fp_rec);
        if (read_file_capped_at(c->dfd, FP_CACHE_FILE, cap, READ_FILE_NOFOLLOW, &buf, &len,
                                &err) < 0)
                return; /* none yet, or not usable: start empty */
        struct fp_header h;
        if (len < sizeof(h)) {
                free(buf);
                return;
        }
        memcpy(&h, buf, sizeof(h));
        if (memcmp(h.magic, fp_magic, sizeof(fp_magic)) != 0 ||
            h.rec_size != sizeof(struct fp_rec) || h.n > c->max ||
            len != sizeof(h) + (size_t)h.n * sizeof(struct fp_rec) || h.n == 0) {
                free(buf);
                return;
        }
        uint32_t slots = 1;
        while (slots < 2 * h.n)
                slots <<= 1;
        c->old = malloc((size_t)h.n * sizeof(*c->old));
        c->superseded = calloc(h.n, sizeof(*c->superseded));
        c->index = calloc(slots, sizeof(*c->index));
        if (!c->old || !c->superseded || !c->index) {
                free(c->old);
                free(c->superseded);
                free(c->index);
                c->old = NULL;
                c->superseded = NULL;
                c->index = NULL;
                free(buf);
                return;
        }
        memcpy(c->old, buf + sizeof(h), (size_t)h.n * sizeof(*c->old));
        free(buf);
        c->n_old = h.n;
        c->mask = slots - 1;
        for (uint32_t i = 0; i < h.n; i++) {
                uint32_t s = key_hash(c->old[i].dev, c->old[i].ino) & c->mask;
                while (c->index[s])
                        s = (s + 1) & c->mask;
                c->index[s] = i + 1;
        }
}

struct fp_cache *fp_cache_open_dir(const char *dir, uint32_t max)
{
        if (max == 0)
                return NULL;
        int dfd = open_dir(dir);
        if (dfd < 0) {
                fprintf(stderr,
                        "containerd-shim-banger-v2: fingerprint cache off: %s is not usable "
                        "(%s)\n",
                        dir, strerror(-dfd));
                return NULL;
        }
        struct fp_cache *c = calloc(1, sizeof(*c));
        if (!c) {
                close(dfd);
                return NULL;
        }
        c->dfd = dfd;
        c->max = max;
        c->racy_before = (int64_t)time(NULL) - FP_CACHE_RACY_S;
        load(c);
        return c;
}

struct fp_cache *fp_cache_open(void)
{
        uint32_t max = max_from_env();
        if (max == 0)
                return NULL;
        const char *env = getenv("BANGER_SHIM_CACHE_DIR");
        if (env && env[0])
                return fp_cache_open_dir(env, max);
        struct bg_paths p;
        struct bg_error err = {0};
        char dir[PATH_MAX];
        if (bg_paths_init(&p, BG_PATHS_AUTO, &err) >= 0 &&
            snprintf(dir, sizeof(dir), "%s/shim", p.cache_dir) < (int)sizeof(dir)) {
                /* As root, never in a directory someone else can write
                 * (system mode's cache dir is the owner's). */
                if (geteuid() != 0 || (mkdir_p(p.cache_dir, 0700) >= 0 &&
                                       bg_paths_check_root_only(p.cache_dir, &err) >= 0))
                        return fp_cache_open_dir(dir, max);
        }
        if (geteuid() == 0 && bg_paths_check_root_only("/var/cache", &err) >= 0)
                return fp_cache_open_dir(FP_CACHE_ROOT_DIR, max);
        return NULL;
}

bool fp_cache_lookup(struct fp_cache *c, const struct stat *st, uint8_t out[32])
{
        if (!c || !c->index)
                return false;
        struct fp_rec k;
        rec_from_stat(&k, st);
        for (uint32_t s = key_hash(k.dev, k.ino) & c->mask; c->index[s]; s = (s + 1) & c->mask) {
                uint32_t i = c->index[s] - 1;
                struct fp_rec *r = &c->old[i];
                if (r->dev != k.dev || r->ino != k.ino)
                        continue;
                c->superseded[i] = true; /* this walk notes the file anew, or not at all */
                if (r->size == k.size && r->mtime_s == k.mtime_s && r->mtime_ns == k.mtime_ns &&
                    r->ctime_s == k.ctime_s && r->ctime_ns == k.ctime_ns &&
                    r->ctime_s < c->racy_before) {
                        memcpy(out, r->h, 32);
                        return true;
                }
        }
        return false;
}

void fp_cache_note(struct fp_cache *c, const struct stat *st, const uint8_t h[32])
{
        if (!c || c->n_cur >= c->max || st->st_ctim.tv_sec >= c->racy_before)
                return;
        if (c->n_cur == c->cap_cur) {
                uint32_t cap = c->cap_cur ? c->cap_cur * 2 : 4096;
                if (cap > c->max)
                        cap = c->max;
                struct fp_rec *v = realloc(c->cur, (size_t)cap * sizeof(*v));
                if (!v)
                        return;
                c->cur = v;
                c->cap_cur = cap;
        }
        struct fp_rec *r = &c->cur[c->n_cur++];
        rec_from_stat(r, st);
        memcpy(r->h, h, 32);
}

void fp_cache_free(struct fp_cache *c)
{
        if (!c)
                return;
        close(c->dfd);
        free(c->old);
        free(c->superseded);
        free(c->index);
        free(c->cur);
        free(c);
}

void fp_cache_save(struct fp_cache *c)
{
        if (!c)
                return;
        uint32_t n = c->n_cur;
        for (uint32_t i = 0; i < c->n_old && n < c->max; i++)
                if (!c->superseded[i])
                        n++;
        char tmp[64];
        snprintf(tmp, sizeof(tmp), FP_CACHE_FILE ".%d.tmp", (int)getpid());
        int fd = openat(c->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                fp_cache_free(c);
                return;
        }
        /* The older entries this walk did not meet, packed behind. */
        uint32_t k = 0;
        for (uint32_t i = 0; i < c->n_old && k < n - c->n_cur; i++)
                if (!c->superseded[i])
                        c->old[k++] = c->old[i];
        struct fp_header h = {.rec_size = sizeof(struct fp_rec), .n = n};
        memcpy(h.magic, fp_magic, sizeof(fp_magic));
        int r = loop_write(fd, &h, sizeof(h));
        if (r >= 0 && c->n_cur)
                r = loop_write(fd, c->cur, (size_t)c->n_cur * sizeof(*c->cur));
        if (r >= 0 && k)
                r = loop_write(fd, c->old, (size_t)k * sizeof(*c->old));
        if (close(fd) < 0)
                r = -errno;
        if (r < 0 || renameat(c->dfd, tmp, c->dfd, FP_CACHE_FILE) < 0)
                (void)unlinkat(c->dfd, tmp, 0);
        fp_cache_free(c);
}
