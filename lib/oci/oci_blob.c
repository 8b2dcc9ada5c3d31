/* The blob cache of the registry client: cache_dir/blobs/sha256/<hex>,
 * blobs downloaded to a temp file, hashed as they stream, checked against
 * their size and digest, synced and renamed into place; and the parallel
 * download of an image's layers. */
#include "oci_registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci_internal.h"
#include "util/fileio.h"

int oci_blob_path(const char *cache_dir, const char *digest, char **ret, struct bg_error *err)
{
        int r = oci_digest_check(digest, "blob digest", err);
        if (r < 0)
                return r;
        if (asprintf(ret, "%s/blobs/sha256/%s", cache_dir, digest + 7) < 0)
                return -ENOMEM;
        return 0;
}

int oci_mkdir_p(const char *path, struct bg_error *err)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return bg_error_errno(err, -errno, "create directory '%s'", p);
                *s = '/';
        }
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return bg_error_errno(err, -errno, "create directory '%s'", p);
        return 0;
}

/* Make sure blob `d` is in the cache; *ret_path is malloc'ed, and
 * *ret_downloaded (may be NULL) says whether it was fetched now. */
int oci_blob_fetch(struct oci_client *c, CURL *h, const struct oci_descriptor *d, size_t layer,
                   char **ret_path, bool *ret_downloaded, struct bg_error *err)
{
        _cleanup_free_ char *path = NULL;
        int r = oci_blob_path(c->opts->cache_dir, d->digest, &path, err);
        if (r < 0)
                return r;
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == d->size) {
                oci_stats_add(c, 0, 0, 1, 0);
                oci_report(c, layer, d->digest, d->size, d->size);
                *ret_path = TAKE_PTR(path);
                if (ret_downloaded)
                        *ret_downloaded = false;
                return 0;
        }
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s/blobs/sha256/.tmp-%s.%d.%lx", c->opts->cache_dir, d->digest + 7,
                     (int)getpid(), (unsigned long)pthread_self()) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd =
            open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create '%s'", tmp);
        _cleanup_(oci_hasher_freep) struct oci_hasher *hs = oci_hasher_new();
        if (!hs) {
                unlink(tmp);
                return -ENOMEM;
        }
        struct oci_sink s = {.fd = fd,
                             .hasher = hs,
                             .expected = d->size,
                             .layer = layer,
                             .digest = d->digest,
                             .c = c};
        struct oci_response resp = {.sink = &s, .c = c};
        r = oci_registry_get(c, h, "blobs", d->digest, NULL, &resp, err);
        oci_response_reset(&resp);
        if (r == -EFBIG)
                r = bg_error_set(err, EBADMSG, "blob %s is larger than its %llu bytes", d->digest,
                                 (unsigned long long)d->size);
        if (r >= 0 && s.written != d->size)
                r = bg_error_set(err, EBADMSG, "blob %s: got %llu bytes, expected %llu", d->digest,
                                 (unsigned long long)s.written, (unsigned long long)d->size);
        if (r >= 0) {
                char got[OCI_DIGEST_LEN + 1];
                oci_hasher_final(hs, got);
                if (strcmp(got, d->digest) != 0)
                        r = bg_error_set(err, EBADMSG, "blob %s does not match its digest (got %s)",
                                         d->digest, got);
        }
        if (r >= 0 && fdatasync(fd) < 0)
                r = bg_error_errno(err, -errno, "sync '%s'", tmp);
        if (r >= 0 && rename(tmp, path) < 0)
                r = bg_error_errno(err, -errno, "rename '%s'", tmp);
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        oci_stats_add(c, 0, 1, 0, 0);
        oci_report(c, layer, d->digest, d->size, d->size);
        *ret_path = TAKE_PTR(path);
        if (ret_downloaded)
                *ret_downloaded = true;
        return 0;
}

int oci_read_small_file(const char *path, size_t max, char **ret, size_t *ret_len,
                        struct bg_error *err)
{
        return read_file_capped(path, max, READ_FILE_NOFOLLOW, ret, ret_len, err);
}

struct workers {
        struct oci_client *c;
        const struct oci_manifest *m;
        struct oci_image *img;
        pthread_mutex_t lock;
        size_t next;
        int rc;
        struct bg_error err;
};

static void *worker_main(void *arg)
{
        struct workers *w = arg;
        _cleanup_(curl_easy_cleanupp) CURL *h = oci_easy_new(w->c);
        for (;;) {
                pthread_mutex_lock(&w->lock);
                size_t i = w->next++;
                bool stop = w->rc < 0;
                pthread_mutex_unlock(&w->lock);
                if (stop || i >= w->m->n_layers)
                        break;
                struct bg_error e = {0};
                int r = h ? oci_blob_fetch(w->c, h, &w->m->layers[i], i, &w->img->layers[i].path,
                                           &w->img->layers[i].downloaded, &e)
                          : bg_error_set(&e, ENOMEM, "out of memory");
                if (r < 0) {
                        pthread_mutex_lock(&w->lock);
                        /* the first real failure wins over "stopped after another failure" */
                        if (w->rc >= 0) {
                                w->rc = r;
                                w->err = e;
                        }
                        pthread_mutex_unlock(&w->lock);
                        atomic_store(&w->c->abort, true);
                        break;
                }
        }
        return NULL;
}

int oci_download_layers(struct oci_client *c, const struct oci_manifest *m, struct oci_image *img,
                        struct bg_error *err)
{
        unsigned n = c->opts->parallel ? c->opts->parallel : OCI_DEFAULT_PARALLEL;
        if (n > 32)
                n = 32;
        if (n > m->n_layers)
                n = (unsigned)m->n_layers;
        struct workers w = {.c = c, .m = m, .img = img};
        pthread_mutex_init(&w.lock, NULL);
        pthread_t tids[32];
        unsigned started = 0;
        for (; started < n; started++)
                if (pthread_create(&tids[started], NULL, worker_main, &w) != 0)
                        break;
        if (started == 0 && n > 0)
                worker_main(&w);
        for (unsigned i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        pthread_mutex_destroy(&w.lock);
        if (w.rc < 0) {
                if (err)
                        *err = w.err;
                return w.rc;
        }
        return 0;
}
