#include "ws_exec.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "util/macro.h"
#include "util/timeutil.h"

#define DONE_KEEP_MS (10u * 60u * 1000u)
#define READ_MAX (1u << 20)
#define INPUT_CALL_MAX (256u * 1024u)
#define INPUT_PENDING_MAX (1u << 20)

struct xstream {
        uint64_t base; /* absolute offset of data[0] */
        char *data;
        size_t len, cap;
};

struct xjob {
        struct ws_exec_registry *reg;
        char id[OPS_ID_LEN + 1];
        struct ws_vm vm;
        char *cmd;
        uint8_t *in; /* stdin: in[in_off..in_len) not yet sent; under reg->mu */
        size_t in_len, in_off, in_cap;
        bool stream_in, in_eof; /* ExecInput feeds in; in_eof: no more */
        bool tty;
        unsigned rows, cols;      /* tty size at start */
        unsigned new_rows, new_cols; /* a window change to apply (0 = none) */
        int sigs[8];                 /* signals to forward, in order; under reg->mu */
        unsigned n_sigs;
        enum ws_transport transport; /* under reg->mu */
        uint32_t timeout_ms;
        struct xstream s[2]; /* stdout, stderr; under reg->mu */
        bool done;
        int exit_code;
        uint64_t done_ms;
        int refs; /* the registry's list and the operation */
        struct xjob *next;
};

struct ws_exec_registry {
        const struct ws_runner *rn;
        pthread_mutex_t mu;
        pthread_cond_t cv;    /* output or an end, any job */
        pthread_cond_t in_cv; /* input or a window change, any job */
        struct xjob *jobs;
};

int ws_exec_registry_new(struct ws_exec_registry **ret, const struct ws_runner *rn,
                         struct bg_error *err)
{
        struct ws_exec_registry *x = calloc(1, sizeof(*x));
        if (!x)
                return bg_error_set(err, ENOMEM, "out of memory");
        x->rn = rn;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&x->cv, &ca);
        pthread_cond_init(&x->in_cv, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&x->mu, NULL);
        *ret = x;
        return 0;
}

static void job_free(struct xjob *j)
{
        free(j->cmd);
        free(j->in);
        free(j->s[0].data);
        free(j->s[1].data);
        free(j);
}

/* Drops one reference; with reg->mu held. */
static void job_unref_locked(struct xjob *j)
{
        if (--j->refs == 0)
                job_free(j);
}

void ws_exec_registry_free(struct ws_exec_registry *x)
{
        if (!x)
                return;
        /* The operations are gone (ops_registry_free ran first). */
        while (x->jobs) {
                struct xjob *j = x->jobs;
                x->jobs = j->next;
                job_unref_locked(j);
        }
        pthread_cond_destroy(&x->cv);
        pthread_cond_destroy(&x->in_cv);
        pthread_mutex_destroy(&x->mu);
        free(x);
}

static void purge_locked(struct ws_exec_registry *x)
{
        uint64_t now = now_mono_msec();
        for (struct xjob **p = &x->jobs; *p;) {
                struct xjob *j = *p;
                if (j->done && now - j->done_ms > DONE_KEEP_MS) {
                        *p = j->next;
                        job_unref_locked(j);
                } else {
                        p = &j->next;
                }
        }
}

static int append(void *ud, int stream, const void *data, size_t len)
{
        struct xjob *j = ud;
        struct ws_exec_registry *x = j->reg;
        struct xstream *s = &j->s[stream == 2];
        const char *d = data;
        pthread_mutex_lock(&x->mu);
        if (len >= WS_EXEC_KEEP) { /* keep the newest part only */
                s->base += s->len + (len - WS_EXEC_KEEP);
                s->len = 0;
                d += len - WS_EXEC_KEEP;
                len = WS_EXEC_KEEP;
        } else if (s->len + len > WS_EXEC_KEEP) {
                size_t drop = s->len + len - WS_EXEC_KEEP;
                memmove(s->data, s->data + drop, s->len - drop);
                s->len -= drop;
                s->base += drop;
        }
        if (s->len + len > s->cap) {
                size_t cap = s->cap ? s->cap : 65536;
                while (cap < s->len + len)
                        cap *= 2;
                if (cap > WS_EXEC_KEEP)
                        cap = WS_EXEC_KEEP;
                char *n = realloc(s->data, cap);
                if (!n) {
                        pthread_mutex_unlock(&x->mu);
                        return -ENOMEM;
                }
                s->data = n;
                s->cap = cap;
        }
        memcpy(s->data + s->len, d, len);
        s->len += len;
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
        return 0;
}

struct io_ud {
        struct xjob *j;
        struct ops_ctx *ctx;
};

/* stdin for bg_ssh_exec: what is waiting; with ExecInput, -EAGAIN after
 * waiting up to 20 ms for more (the SSH loop does not wait while input is
 * open), 0 once the end was sent and everything is out. */
static ssize_t io_in(void *ud, void *buf, size_t len)
{
        struct io_ud *u = ud;
        struct xjob *j = u->j;
        struct ws_exec_registry *x = j->reg;
        pthread_mutex_lock(&x->mu);
        if (j->stream_in && j->in_off == j->in_len && !j->in_eof) {
                struct timespec until = timespec_after_ms(CLOCK_MONOTONIC, 20);
                pthread_cond_timedwait(&x->in_cv, &x->mu, &until);
        }
        size_t n = j->in_len - j->in_off;
        if (n > len)
                n = len;
        memcpy(buf, j->in + j->in_off, n);
        j->in_off += n;
        ssize_t r = (ssize_t)n;
        if (n == 0 && j->stream_in && !j->in_eof)
                r = -EAGAIN;
        pthread_mutex_unlock(&x->mu);
        return r;
}

static void io_control(void *ud, unsigned *ret_rows, unsigned *ret_cols)
{
        struct io_ud *u = ud;
        struct xjob *j = u->j;
        pthread_mutex_lock(&j->reg->mu);
        if (j->new_rows && j->new_cols) {
                *ret_rows = j->new_rows;
                *ret_cols = j->new_cols;
                j->new_rows = j->new_cols = 0;
        }
        pthread_mutex_unlock(&j->reg->mu);
}

static int io_out(void *ud, int stream, const void *data, size_t len)
{
        struct io_ud *u = ud;
        return append(u->j, stream, data, len);
}

static int io_signal(void *ud)
{
        struct io_ud *u = ud;
        struct xjob *j = u->j;
        int sig = 0;
        pthread_mutex_lock(&j->reg->mu);
        if (j->n_sigs) {
                sig = j->sigs[0];
                memmove(j->sigs, j->sigs + 1, (j->n_sigs - 1) * sizeof(j->sigs[0]));
                j->n_sigs--;
        }
        pthread_mutex_unlock(&j->reg->mu);
        return sig;
}

static void io_transport(void *ud, enum ws_transport t)
{
        struct io_ud *u = ud;
        ops_ctx_stage(u->ctx, "run");
        pthread_mutex_lock(&u->j->reg->mu);
        u->j->transport = t;
        pthread_mutex_unlock(&u->j->reg->mu);
}

static int exec_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct xjob *j = ud;
        struct ws_exec_registry *x = j->reg;
        int code = 255;
        uint64_t t0 = now_mono_msec();
        ops_ctx_stage(ctx, "connect");
        struct io_ud u = {.j = j, .ctx = ctx}; /* "run" starts once a transport is chosen */
        struct bg_ssh_io io = {
            .in = j->in_len || j->stream_in ? io_in : NULL,
            .out = io_out,
            .ud = &u,
            .cancel = ops_ctx_cancel_flag(ctx),
            .timeout_ms = j->timeout_ms,
            .tty = j->tty,
            .rows = j->rows,
            .cols = j->cols,
            .control = io_control,
        };
        int r = ws_run_command(x->rn, &j->vm, j->cmd, &io, io_signal, io_transport, &code, err);
        pthread_mutex_lock(&x->mu);
        j->done = true;
        j->exit_code = r < 0 ? (r == -ECANCELED ? 143 : 255) : code;
        j->done_ms = now_mono_msec();
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
        if (r < 0)
                return r;
        Banger__V1__ExecResponse res = BANGER__V1__EXEC_RESPONSE__INIT;
        res.exit_code = code;
        res.duration_ms = now_mono_msec() - t0;
        return ops_ctx_set_result(ctx, &res.base);
}

static void exec_release(void *ud)
{
        struct xjob *j = ud;
        struct ws_exec_registry *x = j->reg;
        pthread_mutex_lock(&x->mu);
        if (!j->done) { /* never ran: readers must not wait for it */
                j->done = true;
                j->exit_code = 255;
                j->done_ms = now_mono_msec();
                pthread_cond_broadcast(&x->cv);
        }
        job_unref_locked(j);
        pthread_mutex_unlock(&x->mu);
}

int ws_exec_start(struct ws_exec_registry *x, struct ops_registry *ops, const struct ws_vm *vm,
                  const char *cmd, const ProtobufCBinaryData *in, const struct ws_exec_mode *mode,
                  uint32_t timeout_ms, Banger__V1__Operation *out, struct bg_error *err)
{
        struct xjob *j = calloc(1, sizeof(*j));
        if (!j || !(j->cmd = strdup(cmd)) || (in->len && !(j->in = malloc(in->len)))) {
                if (j)
                        free(j->cmd);
                free(j);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        j->reg = x;
        j->vm = *vm;
        if (in->len)
                memcpy(j->in, in->data, in->len);
        j->in_len = j->in_cap = in->len;
        j->stream_in = mode->stream_in;
        j->tty = mode->tty;
        j->rows = mode->rows;
        j->cols = mode->cols;
        j->timeout_ms = timeout_ms;
        j->refs = 2;
        pthread_mutex_lock(&x->mu);
        purge_locked(x);
        j->next = x->jobs;
        x->jobs = j;
        pthread_mutex_unlock(&x->mu);
        static const char *const stages[] = {"connect", "run"};
        struct ops_start os = {
            .kind = "workspace.exec",
            .target = vm->name,
            .stages = stages,
            .n_stages = ELEMENTSOF(stages),
            .fn = exec_work,
            .userdata = j,
            .free_userdata = exec_release,
        };
        int r = ops_start_fill(ops, &os, out, err);
        pthread_mutex_lock(&x->mu);
        if (r >= 0 && out->id)
                snprintf(j->id, sizeof(j->id), "%s", out->id);
        if (r < 0) { /* off the list; the operation's reference is gone already */
                for (struct xjob **p = &x->jobs; *p; p = &(*p)->next)
                        if (*p == j) {
                                *p = j->next;
                                job_unref_locked(j);
                                break;
                        }
        }
        pthread_mutex_unlock(&x->mu);
        return r;
}

static int copy_out(const struct xstream *s, uint64_t want, size_t max, ProtobufCBinaryData *d,
                    uint64_t *at)
{
        uint64_t from = want < s->base ? s->base : want;
        uint64_t end = s->base + s->len;
        *at = from;
        if (from >= end)
                return 0;
        size_t n = (size_t)(end - from);
        if (n > max)
                n = max;
        if (!(d->data = malloc(n)))
                return -ENOMEM;
        memcpy(d->data, s->data + (from - s->base), n);
        d->len = n;
        return 0;
}

int ws_exec_output(struct ws_exec_registry *x, const Banger__V1__ExecOutputRequest *in,
                   Banger__V1__ExecOutputResponse *out, struct bg_error *err)
{
        size_t max = in->max_bytes && in->max_bytes < READ_MAX ? in->max_bytes : READ_MAX;
        uint32_t wait = in->wait_ms > 30000 ? 30000 : in->wait_ms;
        struct timespec until = timespec_after_ms(CLOCK_MONOTONIC, wait);
        pthread_mutex_lock(&x->mu);
        purge_locked(x);
        struct xjob *j = x->jobs;
        while (j && strcmp(j->id, in->operation_id) != 0)
                j = j->next;
        if (!j || !in->operation_id[0]) {
                pthread_mutex_unlock(&x->mu);
                return bg_error_set(err, ENOENT,
                                    "no exec operation '%.40s' (finished over 10 "
                                    "minutes ago, or never started)",
                                    in->operation_id);
        }
        /* Wait for something new, the end, or the deadline. */
        while (!j->done && in->stdout_offset >= j->s[0].base + j->s[0].len &&
               in->stderr_offset >= j->s[1].base + j->s[1].len &&
               pthread_cond_timedwait(&x->cv, &x->mu, &until) == 0)
                ;
        int r = copy_out(&j->s[0], in->stdout_offset, max, &out->stdout, &out->stdout_offset);
        if (r >= 0)
                r = copy_out(&j->s[1], in->stderr_offset, max, &out->stderr, &out->stderr_offset);
        out->done = j->done && out->stdout_offset + out->stdout.len >= j->s[0].base + j->s[0].len &&
                    out->stderr_offset + out->stderr.len >= j->s[1].base + j->s[1].len;
        out->exit_code = j->done ? j->exit_code : 0;
        pthread_mutex_unlock(&x->mu);
        return r < 0 ? bg_error_set(err, ENOMEM, "out of memory") : 0;
}

int ws_exec_input(struct ws_exec_registry *x, const Banger__V1__ExecInputRequest *in,
                  struct bg_error *err)
{
        if (in->data.len > INPUT_CALL_MAX)
                return bg_error_set(err, EINVAL, "at most %u bytes of input a call", INPUT_CALL_MAX);
        if ((in->rows == 0) != (in->cols == 0) || in->rows > 10000 || in->cols > 10000)
                return bg_error_set(err, EINVAL, "rows and cols: both 1..10000, or both 0");
        if (in->signal < 0 || in->signal > 31)
                return bg_error_set(err, EINVAL, "signal: 1..31, or 0 for none");
        pthread_mutex_lock(&x->mu);
        struct xjob *j = x->jobs;
        while (j && strcmp(j->id, in->operation_id) != 0)
                j = j->next;
        int r = 0;
        if (!j || !in->operation_id[0])
                r = bg_error_set(err, ENOENT, "no exec operation '%.40s'", in->operation_id);
        else if (j->done)
                r = bg_error_set(err, ESRCH, "the command of operation %s has ended", j->id);
        else if ((in->data.len || in->eof) && !j->stream_in)
                r = bg_error_set(err, EINVAL,
                                 "operation %s takes no input (start it with stream_stdin)", j->id);
        else if (in->data.len && j->in_eof)
                r = bg_error_set(err, EINVAL, "the input of operation %s has ended", j->id);
        else if (in->signal && j->transport != WS_TRANSPORT_AGENT)
                r = bg_error_set(err, EAGAIN,
                                 "operation %s %s; signals need the guest agent (send it with "
                                 "kill(1) through Exec instead)",
                                 j->id,
                                 j->transport == WS_TRANSPORT_SSH ? "runs over SSH"
                                                                  : "has not started yet");
        else if (in->signal && j->n_sigs == ELEMENTSOF(j->sigs))
                r = bg_error_set(err, EMSGSIZE, "%zu signals are waiting already; send it later",
                                 ELEMENTSOF(j->sigs));
        else if (in->data.len && j->in_len - j->in_off + in->data.len > INPUT_PENDING_MAX)
                r = bg_error_set(err, EMSGSIZE,
                                 "over 1 MiB of input waiting for the command; send it later");
        if (r >= 0 && in->data.len) {
                if (j->in_off > 0) { /* drop what was sent */
                        memmove(j->in, j->in + j->in_off, j->in_len - j->in_off);
                        j->in_len -= j->in_off;
                        j->in_off = 0;
                }
                if (j->in_len + in->data.len > j->in_cap) {
                        size_t cap = j->in_len + in->data.len;
                        uint8_t *p = realloc(j->in, cap);
                        if (!p)
                                r = bg_error_set(err, ENOMEM, "out of memory");
                        else {
                                j->in = p;
                                j->in_cap = cap;
                        }
                }
                if (r >= 0) {
                        memcpy(j->in + j->in_len, in->data.data, in->data.len);
                        j->in_len += in->data.len;
                }
        }
        if (r >= 0) {
                j->in_eof |= in->eof;
                if (in->signal)
                        j->sigs[j->n_sigs++] = in->signal;
                if (in->rows && j->tty) {
                        j->new_rows = in->rows;
                        j->new_cols = in->cols;
                }
                pthread_cond_broadcast(&x->in_cv);
        }
        pthread_mutex_unlock(&x->mu);
        return r;
}
