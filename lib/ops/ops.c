#include "ops.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "fault/fault.h"
#include "rpc/status.h"
#include "util/macro.h"
#include "util/timeutil.h"

/* One operation. Owned by the registry's list; the worker thread uses it
 * (as its ops_ctx) until it marks it done, and the registry drops only done
 * operations, so the worker never sees it freed. */
struct ops_ctx {
        struct ops_registry *reg;
        struct ops_ctx *next;
        char id[OPS_ID_LEN + 1];
        char kind[OPS_KIND_MAX];
        char target[OPS_TARGET_MAX];
        char *stages[OPS_MAX_STAGES];
        size_t n_stages;
        bool dedup;

        /* Guarded by reg->lock. */
        char stage[OPS_STAGE_MAX];
        uint64_t done_bytes, total_bytes;
        struct ops_part {
                char name[OPS_PART_NAME_MAX];
                uint64_t done, total;
        } * parts;
        size_t n_parts;
        bool done;
        int code; /* enum rpc_code, when done */
        char message[BG_ERROR_MSG_MAX];
        uint8_t *result;
        size_t result_len;
        int64_t started_unix_ms, updated_unix_ms;
        uint64_t done_mono_ms;

        atomic_bool cancel;
        ops_work_fn fn;
        void *userdata;
        ops_free_fn free_userdata;
};

struct ops_registry {
        pthread_mutex_t lock;
        pthread_cond_t changed;      /* an operation finished */
        struct ops_ctx *head, *tail; /* oldest first */
        size_t running;
        bool closing;
        uint64_t keep_done_ms;
};

static void op_free(struct ops_ctx *op)
{
        if (!op)
                return;
        for (size_t i = 0; i < op->n_stages; i++)
                free(op->stages[i]);
        free(op->result);
        free(op->parts);
        if (op->free_userdata && op->userdata)
                op->free_userdata(op->userdata);
        free(op);
}

int ops_registry_new(uint64_t keep_done_ms, struct ops_registry **ret, struct bg_error *err)
{
        struct ops_registry *r = calloc(1, sizeof(*r));
        if (!r)
                return bg_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_init(&r->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&r->changed, &ca);
        pthread_condattr_destroy(&ca);
        r->keep_done_ms = keep_done_ms ? keep_done_ms : OPS_DEFAULT_KEEP_DONE_MS;
        *ret = r;
        return 0;
}

struct ops_registry *ops_registry_free(struct ops_registry *r)
{
        if (!r)
                return NULL;
        pthread_mutex_lock(&r->lock);
        r->closing = true;
        for (struct ops_ctx *op = r->head; op; op = op->next)
                atomic_store(&op->cancel, true);
        while (r->running > 0)
                pthread_cond_wait(&r->changed, &r->lock);
        struct ops_ctx *op = r->head;
        r->head = r->tail = NULL;
        pthread_mutex_unlock(&r->lock);
        while (op) {
                struct ops_ctx *next = op->next;
                op_free(op);
                op = next;
        }
        pthread_cond_destroy(&r->changed);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

/* Drop finished operations older than keep_done_ms. Caller holds the lock. */
static void prune_locked(struct ops_registry *r)
{
        uint64_t now = now_mono_msec();
        struct ops_ctx **pp = &r->head, *prev = NULL;
        while (*pp) {
                struct ops_ctx *op = *pp;
                if (op->done && now - op->done_mono_ms >= r->keep_done_ms) {
                        *pp = op->next;
                        if (r->tail == op)
                                r->tail = prev;
                        op_free(op);
                        continue;
                }
                prev = op;
                pp = &op->next;
        }
}

static struct ops_ctx *find_locked(struct ops_registry *r, const char *id)
{
        for (struct ops_ctx *op = r->head; op; op = op->next)
                if (streq(op->id, id))
                        return op;
        return NULL;
}

static void new_id(char buf[OPS_ID_LEN + 1])
{
        uint8_t b[OPS_ID_LEN / 2];
        size_t got = 0;
        while (got < sizeof(b)) {
                ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        /* getrandom cannot fail otherwise on Linux >= 3.17;
                         * fall back to the clock rather than leave zeros. */
                        uint64_t t = now_mono_usec() ^ (uint64_t)now_real_msec() << 20;
                        memcpy(b, &t, sizeof(b) < sizeof(t) ? sizeof(b) : sizeof(t));
                        break;
                }
                got += (size_t)n;
        }
        for (size_t i = 0; i < sizeof(b); i++)
                snprintf(buf + 2 * i, 3, "%02x", b[i]);
}

static void *worker(void *arg)
{
        struct ops_ctx *op = arg;
        struct ops_registry *r = op->reg;
        struct bg_error err = {0};

        int rc = atomic_load(&op->cancel) ? -ECANCELED : op->fn(op, op->userdata, &err);
        if (op->free_userdata && op->userdata)
                op->free_userdata(op->userdata);
        op->userdata = NULL;

        pthread_mutex_lock(&r->lock);
        if (rc >= 0) {
                op->code = RPC_OK;
                op->message[0] = '\0';
        } else {
                int e = err.code ? err.code : -rc;
                op->code = (int)rpc_code_from_errno(e);
                if (err.msg[0])
                        snprintf(op->message, sizeof(op->message), "%s", err.msg);
                else if (e == ECANCELED)
                        snprintf(op->message, sizeof(op->message), "cancelled");
                else
                        snprintf(op->message, sizeof(op->message), "%s", strerror(e));
                free(op->result);
                op->result = NULL;
                op->result_len = 0;
        }
        op->done = true;
        op->done_mono_ms = now_mono_msec();
        op->updated_unix_ms = (int64_t)now_real_msec();
        r->running--;
        pthread_cond_broadcast(&r->changed);
        pthread_mutex_unlock(&r->lock);
        return NULL;
}

int ops_start(struct ops_registry *r, const struct ops_start *s, char ret_id[OPS_ID_LEN + 1],
              bool *ret_reused, struct bg_error *err)
{
        int rc;
        const char *target = s->target ? s->target : "";
        struct ops_ctx *op = NULL;

        if (!s->kind || !s->kind[0] || strlen(s->kind) >= OPS_KIND_MAX) {
                rc = bg_error_set(err, EINVAL, "operation kind must be 1..%d bytes",
                                  OPS_KIND_MAX - 1);
                goto fail;
        }
        if (strlen(target) >= OPS_TARGET_MAX) {
                rc = bg_error_set(err, EINVAL, "operation target is longer than %d bytes",
                                  OPS_TARGET_MAX - 1);
                goto fail;
        }
        if (!s->fn || s->n_stages > OPS_MAX_STAGES || (s->n_stages && !s->stages)) {
                rc = bg_error_set(err, EINVAL, "operation '%s': bad work or stage list", s->kind);
                goto fail;
        }
        op = calloc(1, sizeof(*op));
        if (!op) {
                rc = bg_error_set(err, ENOMEM, "out of memory");
                goto fail;
        }
        op->reg = r;
        snprintf(op->kind, sizeof(op->kind), "%s", s->kind);
        snprintf(op->target, sizeof(op->target), "%s", target);
        for (size_t i = 0; i < s->n_stages; i++) {
                if (!s->stages[i] || strlen(s->stages[i]) >= OPS_STAGE_MAX) {
                        rc = bg_error_set(err, EINVAL, "operation '%s': bad stage name", s->kind);
                        goto fail_op;
                }
                op->stages[i] = strdup(s->stages[i]);
                if (!op->stages[i]) {
                        rc = bg_error_set(err, ENOMEM, "out of memory");
                        goto fail_op;
                }
                op->n_stages = i + 1;
        }
        if (op->n_stages)
                snprintf(op->stage, sizeof(op->stage), "%s", op->stages[0]);
        op->dedup = s->dedup;
        op->fn = s->fn;
        op->started_unix_ms = op->updated_unix_ms = (int64_t)now_real_msec();
        atomic_init(&op->cancel, false);

        pthread_mutex_lock(&r->lock);
        if (r->closing) {
                pthread_mutex_unlock(&r->lock);
                rc = bg_error_set(err, ESHUTDOWN, "the service is shutting down");
                goto fail_op;
        }
        prune_locked(r);
        if (s->dedup)
                for (struct ops_ctx *o = r->head; o; o = o->next)
                        if (o->dedup && !o->done && streq(o->kind, op->kind) &&
                            streq(o->target, op->target)) {
                                memcpy(ret_id, o->id, OPS_ID_LEN + 1);
                                pthread_mutex_unlock(&r->lock);
                                if (ret_reused)
                                        *ret_reused = true;
                                op_free(op);
                                if (s->free_userdata && s->userdata)
                                        s->free_userdata(s->userdata);
                                return 0;
                        }
        do
                new_id(op->id);
        while (find_locked(r, op->id));
        op->userdata = s->userdata;
        op->free_userdata = s->free_userdata;

        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        r->running++;
        rc = pthread_create(&t, &attr, worker, op);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
                r->running--;
                pthread_mutex_unlock(&r->lock);
                /* userdata is owned by op now; op_free releases it. */
                op_free(op);
                return bg_error_set(err, rc, "cannot start a thread for '%s': %s", s->kind,
                                    strerror(rc));
        }
        if (r->tail)
                r->tail->next = op;
        else
                r->head = op;
        r->tail = op;
        memcpy(ret_id, op->id, OPS_ID_LEN + 1);
        pthread_mutex_unlock(&r->lock);
        if (ret_reused)
                *ret_reused = false;
        return 0;

fail_op:
        op_free(op);
fail:
        if (s->free_userdata && s->userdata)
                s->free_userdata(s->userdata);
        return rc;
}

void ops_operation_clear(Banger__V1__Operation *op)
{
        if (!op)
                return;
        free(op->id);
        free(op->kind);
        free(op->stage);
        free(op->target);
        for (size_t i = 0; i < op->n_stages; i++)
                free(op->stages[i]);
        free(op->stages);
        for (size_t i = 0; i < op->n_parts; i++) {
                free(op->parts[i]->name);
                free(op->parts[i]);
        }
        free(op->parts);
        free(op->result.data);
        if (op->status) {
                free(op->status->message);
                free(op->status->op_id);
                free(op->status);
        }
        banger__v1__operation__init(op);
}

/* Copies op's state into out (initialised). Caller holds the lock. */
static int fill_locked(const struct ops_ctx *op, Banger__V1__Operation *out)
{
        out->id = strdup(op->id);
        out->kind = strdup(op->kind);
        out->stage = strdup(op->stage);
        out->target = strdup(op->target);
        if (!out->id || !out->kind || !out->stage || !out->target)
                return -ENOMEM;
        out->done_bytes = op->done_bytes;
        out->total_bytes = op->total_bytes;
        out->done = op->done;
        out->started_unix_ms = op->started_unix_ms;
        out->updated_unix_ms = op->updated_unix_ms;
        if (op->n_stages) {
                out->stages = calloc(op->n_stages, sizeof(char *));
                if (!out->stages)
                        return -ENOMEM;
                for (size_t i = 0; i < op->n_stages; i++) {
                        out->stages[i] = strdup(op->stages[i]);
                        if (!out->stages[i])
                                return -ENOMEM;
                        out->n_stages = i + 1;
                }
        }
        if (op->n_parts) {
                out->parts = calloc(op->n_parts, sizeof(*out->parts));
                if (!out->parts)
                        return -ENOMEM;
                for (size_t i = 0; i < op->n_parts; i++) {
                        Banger__V1__OperationPart *p = malloc(sizeof(*p));
                        if (!p)
                                return -ENOMEM;
                        banger__v1__operation_part__init(p);
                        out->parts[i] = p;
                        out->n_parts = i + 1;
                        p->name = strdup(op->parts[i].name);
                        if (!p->name)
                                return -ENOMEM;
                        p->done_bytes = op->parts[i].done;
                        p->total_bytes = op->parts[i].total;
                }
        }
        if (op->done) {
                Banger__V1__Status *st = malloc(sizeof(*st));
                if (!st)
                        return -ENOMEM;
                banger__v1__status__init(st);
                out->status = st;
                st->code = (Banger__V1__StatusCode)op->code;
                st->message = strdup(op->message);
                st->op_id = strdup(op->id);
                if (!st->message || !st->op_id)
                        return -ENOMEM;
                if (op->result_len) {
                        out->result.data = malloc(op->result_len);
                        if (!out->result.data)
                                return -ENOMEM;
                        memcpy(out->result.data, op->result, op->result_len);
                        out->result.len = op->result_len;
                }
        }
        return 0;
}

int ops_fill(struct ops_registry *r, const char *id, Banger__V1__Operation *out,
             struct bg_error *err)
{
        pthread_mutex_lock(&r->lock);
        prune_locked(r);
        struct ops_ctx *op = id ? find_locked(r, id) : NULL;
        if (!op) {
                pthread_mutex_unlock(&r->lock);
                return bg_error_set(err, ENOENT,
                                    "no operation '%s' (unknown, or finished more "
                                    "than %llu s ago)",
                                    id ? id : "", (unsigned long long)(r->keep_done_ms / 1000));
        }
        int rc = fill_locked(op, out);
        pthread_mutex_unlock(&r->lock);
        if (rc < 0) {
                ops_operation_clear(out);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

int ops_cancel(struct ops_registry *r, const char *id, struct bg_error *err)
{
        pthread_mutex_lock(&r->lock);
        struct ops_ctx *op = id ? find_locked(r, id) : NULL;
        if (op && !op->done) {
                atomic_store(&op->cancel, true);
                op->updated_unix_ms = (int64_t)now_real_msec();
        }
        pthread_mutex_unlock(&r->lock);
        if (!op)
                return bg_error_set(err, ENOENT, "no operation '%s'", id ? id : "");
        return 0;
}

int ops_list(struct ops_registry *r, bool include_done, Banger__V1__ListOperationsResponse *out,
             struct bg_error *err)
{
        pthread_mutex_lock(&r->lock);
        prune_locked(r);
        size_t n = 0;
        for (struct ops_ctx *op = r->head; op; op = op->next)
                if (include_done || !op->done)
                        n++;
        Banger__V1__Operation **v = n ? calloc(n, sizeof(*v)) : NULL;
        if (n && !v) {
                pthread_mutex_unlock(&r->lock);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        size_t k = 0;
        int rc = 0;
        for (struct ops_ctx *op = r->head; op && rc == 0; op = op->next) {
                if (!include_done && op->done)
                        continue;
                Banger__V1__Operation *m = malloc(sizeof(*m));
                if (!m) {
                        rc = -ENOMEM;
                        break;
                }
                banger__v1__operation__init(m);
                v[k++] = m;
                rc = fill_locked(op, m);
        }
        pthread_mutex_unlock(&r->lock);
        if (rc < 0) {
                for (size_t i = 0; i < k; i++) {
                        ops_operation_clear(v[i]);
                        free(v[i]);
                }
                free(v);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        out->operations = v;
        out->n_operations = k;
        return 0;
}

int ops_wait(struct ops_registry *r, const char *id, uint64_t timeout_ms)
{
        uint64_t until = now_mono_msec() + timeout_ms;
        pthread_mutex_lock(&r->lock);
        for (;;) {
                struct ops_ctx *op = find_locked(r, id);
                if (!op) {
                        pthread_mutex_unlock(&r->lock);
                        return -ENOENT;
                }
                if (op->done) {
                        pthread_mutex_unlock(&r->lock);
                        return 1;
                }
                uint64_t now = now_mono_msec();
                if (now >= until) {
                        pthread_mutex_unlock(&r->lock);
                        return 0;
                }
                struct timespec ts = timespec_after_ms(CLOCK_MONOTONIC, until - now);
                pthread_cond_timedwait(&r->changed, &r->lock, &ts);
        }
}

size_t ops_running(struct ops_registry *r)
{
        pthread_mutex_lock(&r->lock);
        size_t n = r->running;
        pthread_mutex_unlock(&r->lock);
        return n;
}

const char *ops_ctx_id(const struct ops_ctx *ctx)
{
        return ctx->id;
}

void ops_ctx_stage(struct ops_ctx *ctx, const char *stage)
{
        pthread_mutex_lock(&ctx->reg->lock);
        snprintf(ctx->stage, sizeof(ctx->stage), "%s", stage);
        ctx->done_bytes = ctx->total_bytes = 0;
        ctx->n_parts = 0;
        ctx->updated_unix_ms = (int64_t)now_real_msec();
        pthread_mutex_unlock(&ctx->reg->lock);
        /* Test-only (BANGER_FAULT): every stage of every long operation is
         * a point where the chaos test can kill the service. */
        fault_point2(ctx->kind, stage);
}

void ops_ctx_progress(struct ops_ctx *ctx, uint64_t done_bytes, uint64_t total_bytes)
{
        pthread_mutex_lock(&ctx->reg->lock);
        ctx->done_bytes = done_bytes;
        ctx->total_bytes = total_bytes;
        ctx->updated_unix_ms = (int64_t)now_real_msec();
        pthread_mutex_unlock(&ctx->reg->lock);
}

void ops_ctx_part(struct ops_ctx *ctx, size_t idx, const char *name, uint64_t done_bytes,
                  uint64_t total_bytes)
{
        if (idx >= OPS_MAX_PARTS)
                return;
        pthread_mutex_lock(&ctx->reg->lock);
        if (idx >= ctx->n_parts) {
                struct ops_part *np = realloc(ctx->parts, (idx + 1) * sizeof(*np));
                if (!np) {
                        pthread_mutex_unlock(&ctx->reg->lock);
                        return; /* progress detail only */
                }
                memset(np + ctx->n_parts, 0, (idx + 1 - ctx->n_parts) * sizeof(*np));
                ctx->parts = np;
                ctx->n_parts = idx + 1;
        }
        snprintf(ctx->parts[idx].name, sizeof(ctx->parts[idx].name), "%s", name ? name : "");
        ctx->parts[idx].done = done_bytes;
        ctx->parts[idx].total = total_bytes;
        ctx->updated_unix_ms = (int64_t)now_real_msec();
        pthread_mutex_unlock(&ctx->reg->lock);
}

const atomic_bool *ops_ctx_cancel_flag(const struct ops_ctx *ctx)
{
        return &ctx->cancel;
}

bool ops_ctx_cancelled(const struct ops_ctx *ctx)
{
        return atomic_load(&((struct ops_ctx *)ctx)->cancel);
}

int ops_ctx_set_result(struct ops_ctx *ctx, const ProtobufCMessage *msg)
{
        size_t len = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
                return -ENOMEM;
        protobuf_c_message_pack(msg, buf);
        pthread_mutex_lock(&ctx->reg->lock);
        free(ctx->result);
        ctx->result = buf;
        ctx->result_len = len;
        pthread_mutex_unlock(&ctx->reg->lock);
        return 0;
}

int ops_start_fill(struct ops_registry *r, const struct ops_start *s, Banger__V1__Operation *out,
                   struct bg_error *err)
{
        char id[OPS_ID_LEN + 1];
        int rc = ops_start(r, s, id, NULL, err);
        return rc < 0 ? rc : ops_fill(r, id, out, err);
}

static int check_op_id(const char *id, struct bg_error *err)
{
        if (!id || strlen(id) != OPS_ID_LEN || strspn(id, "0123456789abcdef") != OPS_ID_LEN)
                return bg_error_set(err, EINVAL, "operation id '%.40s' is not %d hex digits",
                                    id ? id : "", OPS_ID_LEN);
        return 0;
}

int ops_rpc_get(struct ops_registry *r, const Banger__V1__GetOperationRequest *in,
                Banger__V1__Operation *out, struct bg_error *err)
{
        int rc = check_op_id(in->id, err);
        return rc < 0 ? rc : ops_fill(r, in->id, out, err);
}

int ops_rpc_cancel(struct ops_registry *r, const Banger__V1__CancelOperationRequest *in,
                   Banger__V1__Operation *out, struct bg_error *err)
{
        int rc = check_op_id(in->id, err);
        if (rc >= 0)
                rc = ops_cancel(r, in->id, err);
        return rc < 0 ? rc : ops_fill(r, in->id, out, err);
}

int ops_rpc_list(struct ops_registry *r, const Banger__V1__ListOperationsRequest *in,
                 Banger__V1__ListOperationsResponse *out, struct bg_error *err)
{
        return ops_list(r, in->include_done, out, err);
}
