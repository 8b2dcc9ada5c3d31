/* Upload and Download: files carried between the CLI and imagesvc in
 * chunks. An upload is a file imagesvc creates (STATE/images/.tmp-up-ID,
 * 0600) and the caller fills; an export is a bundle imagesvc wrote
 * (STATE/images/.tmp-ex-ID.tar.zst) that the caller reads. Both live in one
 * table, capped at IMAGE_TRANSFERS_MAX, and go when taken, finished,
 * unused for IMAGE_TRANSFER_IDLE_MS, or at the next start of the service
 * (their .tmp- names). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "image_bundle.h"
#include "image_internal.h"
#include "log/log.h"
#include "util/fileio.h"
#include "util/macro.h"
#include "util/timeutil.h"

enum xfer_kind { XFER_FREE, XFER_UP_ROOTFS, XFER_UP_BUNDLE, XFER_EXPORT };

struct xfer {
        enum xfer_kind kind;
        char id[33];
        char path[PATH_MAX];
        int fd;
        uint64_t size, received;
        uint64_t last_used_ms;
};

struct image_transfers {
        pthread_mutex_t mu;
        struct xfer t[IMAGE_TRANSFERS_MAX];
};

int image_transfers_new(struct image_transfers **ret)
{
        struct image_transfers *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->mu, NULL);
        for (size_t i = 0; i < IMAGE_TRANSFERS_MAX; i++)
                t->t[i].fd = -1;
        *ret = t;
        return 0;
}

static void xfer_drop(struct xfer *x)
{
        if (x->kind == XFER_FREE)
                return;
        if (x->fd >= 0)
                close(x->fd);
        if (x->path[0])
                unlink(x->path);
        memset(x, 0, sizeof(*x));
        x->fd = -1;
}

struct image_transfers *image_transfers_free(struct image_transfers *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < IMAGE_TRANSFERS_MAX; i++)
                xfer_drop(&t->t[i]);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return NULL;
}

/* Under t->mu. */
static void sweep(struct image_transfers *t)
{
        uint64_t now = now_mono_msec();
        for (size_t i = 0; i < IMAGE_TRANSFERS_MAX; i++) {
                struct xfer *x = &t->t[i];
                if (x->kind != XFER_FREE && now - x->last_used_ms > IMAGE_TRANSFER_IDLE_MS) {
                        log_info("removed an unused %s %s (idle for 10 minutes)",
                                 x->kind == XFER_EXPORT ? "export" : "upload", x->id);
                        xfer_drop(x);
                }
        }
}

static struct xfer *find(struct image_transfers *t, const char *id)
{
        for (size_t i = 0; i < IMAGE_TRANSFERS_MAX; i++)
                if (t->t[i].kind != XFER_FREE && streq(t->t[i].id, id))
                        return &t->t[i];
        return NULL;
}

static struct xfer *free_slot(struct image_transfers *t, struct bg_error *err)
{
        for (size_t i = 0; i < IMAGE_TRANSFERS_MAX; i++)
                if (t->t[i].kind == XFER_FREE)
                        return &t->t[i];
        bg_error_set(err, EBUSY,
                     "%d uploads and exports are in progress already; try again when one has "
                     "finished",
                     IMAGE_TRANSFERS_MAX);
        return NULL;
}

static bool id_valid(const char *id)
{
        if (strlen(id) != 32)
                return false;
        for (size_t i = 0; i < 32; i++)
                if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
                        return false;
        return true;
}

static int upload_begin(struct imagestore *s, const Banger__V1__UploadRequest *in,
                        Banger__V1__UploadResponse *out, struct bg_error *err)
{
        enum xfer_kind kind = streq(in->kind, "rootfs")   ? XFER_UP_ROOTFS
                              : streq(in->kind, "bundle") ? XFER_UP_BUNDLE
                                                          : XFER_FREE;
        if (kind == XFER_FREE)
                return bg_error_set(err, EINVAL, "upload kind must be \"rootfs\" or \"bundle\"");
        uint64_t max = s->d->cfg.image.max_unpacked_size;
        if (in->size == 0)
                return bg_error_set(err, EINVAL, "the file to upload is empty");
        if (in->size > max)
                return bg_error_set(err, EFBIG,
                                    "the file is %llu bytes, more than image.max_unpacked_size "
                                    "(%llu)",
                                    (unsigned long long)in->size, (unsigned long long)max);
        struct image_transfers *t = s->xfer;
        pthread_mutex_lock(&t->mu);
        sweep(t);
        struct xfer *x = free_slot(t, err);
        char id[33];
        int r = x ? image_random_id(id, err) : -EBUSY;
        if (r >= 0) {
                memcpy(x->id, id, sizeof(id));
                snprintf(x->path, sizeof(x->path), "%s/.tmp-up-%s", s->dir, id);
                x->fd = open(x->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (x->fd < 0)
                        r = bg_error_errno(err, -errno, "create %s", x->path);
                else if (ftruncate(x->fd, (off_t)in->size) < 0)
                        r = bg_error_errno(err, -errno, "size %s", x->path);
                if (r < 0) {
                        if (x->fd >= 0)
                                unlink(x->path);
                        x->path[0] = '\0';
                } else {
                        x->kind = kind;
                        x->size = in->size;
                        x->last_used_ms = now_mono_msec();
                        out->upload_id = strdup(x->id);
                        if (!out->upload_id)
                                r = bg_error_set(err, ENOMEM, "out of memory");
                }
                if (r < 0 && x->kind == XFER_FREE) {
                        if (x->fd >= 0)
                                close(x->fd);
                        memset(x, 0, sizeof(*x));
                        x->fd = -1;
                }
        }
        pthread_mutex_unlock(&t->mu);
        return r;
}

int image_upload(struct imagestore *s, const Banger__V1__UploadRequest *in,
                 Banger__V1__UploadResponse *out, struct bg_error *err)
{
        if (!in->upload_id[0])
                return upload_begin(s, in, out, err);
        if (!id_valid(in->upload_id))
                return bg_error_set(err, EINVAL, "bad upload id");
        if (in->data.len > IMAGE_CHUNK_MAX)
                return bg_error_set(err, EINVAL, "a chunk is at most %u bytes", IMAGE_CHUNK_MAX);
        struct image_transfers *t = s->xfer;
        int r = 0;
        pthread_mutex_lock(&t->mu);
        struct xfer *x = find(t, in->upload_id);
        if (!x || x->kind == XFER_EXPORT) {
                r = bg_error_set(err, ENOENT, "no upload %s (it finished, was dropped or sat "
                                              "unused for 10 minutes)",
                                 in->upload_id);
        } else if (in->abort) {
                xfer_drop(x);
        } else if (in->offset < x->received || in->offset > x->size ||
                   in->data.len > x->size - in->offset) {
                r = bg_error_set(err, EINVAL,
                                 "upload %s: a chunk at %llu+%zu is outside the file (%llu "
                                 "bytes, %llu received)",
                                 x->id, (unsigned long long)in->offset, in->data.len,
                                 (unsigned long long)x->size, (unsigned long long)x->received);
        } else {
                size_t done = 0;
                while (r >= 0 && done < in->data.len) {
                        ssize_t w = pwrite(x->fd, in->data.data + done, in->data.len - done,
                                           (off_t)(in->offset + done));
                        if (w < 0 && errno != EINTR)
                                r = bg_error_errno(err, -errno, "write upload %s", x->id);
                        else if (w > 0)
                                done += (size_t)w;
                }
                if (r >= 0) {
                        x->received = in->offset + in->data.len;
                        x->last_used_ms = now_mono_msec();
                }
        }
        if (r >= 0 && x && !in->abort) {
                out->upload_id = strdup(x->id);
                out->received = x->received;
                if (!out->upload_id)
                        r = bg_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_unlock(&t->mu);
        return r;
}

int image_upload_take(struct imagestore *s, const char *id, const char *kind, const char *dest,
                      struct bg_error *err)
{
        enum xfer_kind want = streq(kind, "rootfs") ? XFER_UP_ROOTFS : XFER_UP_BUNDLE;
        if (!id_valid(id))
                return bg_error_set(err, EINVAL, "bad upload id '%.40s'", id);
        struct image_transfers *t = s->xfer;
        int r = 0;
        pthread_mutex_lock(&t->mu);
        sweep(t);
        struct xfer *x = find(t, id);
        if (!x || x->kind != want)
                r = bg_error_set(err, ENOENT, "no %s upload %s", kind, id);
        else if (fsync(x->fd) < 0)
                r = bg_error_errno(err, -errno, "sync upload %s", id);
        else if (rename(x->path, dest) < 0)
                r = bg_error_errno(err, -errno, "take upload %s", id);
        else
                x->path[0] = '\0';
        if (x && r >= 0)
                xfer_drop(x);
        pthread_mutex_unlock(&t->mu);
        return r;
}

int image_export_add(struct imagestore *s, const char *id, const char *path, struct bg_error *err)
{
        struct image_transfers *t = s->xfer;
        int r = 0;
        pthread_mutex_lock(&t->mu);
        sweep(t);
        struct xfer *x = free_slot(t, err);
        if (!x) {
                r = -EBUSY;
        } else {
                x->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                struct stat st;
                if (x->fd < 0 || fstat(x->fd, &st) < 0) {
                        r = bg_error_errno(err, -errno, "open %s", path);
                        if (x->fd >= 0)
                                close(x->fd);
                        x->fd = -1;
                } else {
                        x->kind = XFER_EXPORT;
                        snprintf(x->id, sizeof(x->id), "%s", id);
                        snprintf(x->path, sizeof(x->path), "%s", path);
                        x->size = (uint64_t)st.st_size;
                        x->last_used_ms = now_mono_msec();
                }
        }
        pthread_mutex_unlock(&t->mu);
        return r;
}

int image_download(struct imagestore *s, const Banger__V1__DownloadRequest *in,
                   Banger__V1__DownloadResponse *out, struct bg_error *err)
{
        struct image_transfers *t = s->xfer;
        if (!id_valid(in->export_id))
                return bg_error_set(err, EINVAL, "bad export id");
        int r = 0;
        pthread_mutex_lock(&t->mu);
        sweep(t);
        struct xfer *x = find(t, in->export_id);
        if (!x || x->kind != XFER_EXPORT) {
                r = bg_error_set(err, ENOENT,
                                 "no export %s (it was fetched, or sat unused for 10 minutes)",
                                 in->export_id);
        } else if (in->done) {
                xfer_drop(x);
        } else if (in->offset > x->size) {
                r = bg_error_set(err, EINVAL, "offset %llu is past the end (%llu)",
                                 (unsigned long long)in->offset, (unsigned long long)x->size);
        } else {
                size_t n = x->size - in->offset < IMAGE_CHUNK_MAX ? (size_t)(x->size - in->offset)
                                                                  : IMAGE_CHUNK_MAX;
                out->data.data = malloc(n ? n : 1);
                if (!out->data.data) {
                        r = bg_error_set(err, ENOMEM, "out of memory");
                } else {
                        ssize_t got = pread_full(x->fd, out->data.data, n, in->offset);
                        if (got < 0 || (size_t)got != n)
                                r = bg_error_errno(err, got < 0 ? (int)got : -EIO,
                                                   "read export %s", x->id);
                        else
                                out->data.len = n;
                        out->size = x->size;
                        x->last_used_ms = now_mono_msec();
                }
        }
        pthread_mutex_unlock(&t->mu);
        return r;
}

void image_upload_drop(struct imagestore *s, const char *id)
{
        if (!id_valid(id))
                return;
        struct image_transfers *t = s->xfer;
        pthread_mutex_lock(&t->mu);
        struct xfer *x = find(t, id);
        if (x && x->kind != XFER_EXPORT)
                xfer_drop(x);
        pthread_mutex_unlock(&t->mu);
}
