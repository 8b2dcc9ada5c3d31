#include "agent_exec_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent_frame.h"
#include "util/macro.h"

static int pack_request(Banger__V1__AgentRequest *req, uint8_t **ret, size_t *ret_len)
{
        size_t len = banger__v1__agent_request__get_packed_size(req);
        if (len > AGENT_FRAME_MAX)
                return -E2BIG;
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
                return -ENOMEM;
        banger__v1__agent_request__pack(req, buf);
        *ret = buf;
        *ret_len = len;
        return 0;
}

int agent_exec_pack_start(uint64_t id, const struct agent_exec_spec *spec, uint8_t **ret,
                          size_t *ret_len)
{
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentExecStart st = BANGER__V1__AGENT_EXEC_START__INIT;
        st.argv = (char **)spec->argv;
        st.n_argv = spec->argc;
        st.env = (char **)spec->env;
        st.n_env = spec->n_env;
        st.cwd = (char *)(spec->cwd ? spec->cwd : "");
        st.tty = spec->tty;
        st.rows = spec->rows;
        st.cols = spec->cols;
        st.stdin = spec->want_stdin;
        req.id = id;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_EXEC;
        req.exec = &st;
        return pack_request(&req, ret, ret_len);
}

int agent_exec_pack_input(uint64_t id, const void *data, size_t len, bool eof, unsigned rows,
                          unsigned cols, int sig, uint8_t **ret, size_t *ret_len)
{
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentExecInput in = BANGER__V1__AGENT_EXEC_INPUT__INIT;
        in.data.data = (uint8_t *)data;
        in.data.len = len;
        in.eof = eof;
        in.rows = rows;
        in.cols = cols;
        in.signal = sig;
        req.id = id;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_EXEC_INPUT;
        req.exec_input = &in;
        return pack_request(&req, ret, ret_len);
}

void agent_exec_event_clear(struct agent_exec_event *ev)
{
        if (ev->resp)
                banger__v1__agent_response__free_unpacked(ev->resp, NULL);
        memset(ev, 0, sizeof(*ev));
}

int agent_exec_decode(uint64_t id, const uint8_t *buf, size_t len, struct agent_exec_event *ev,
                      struct bg_error *err)
{
        Banger__V1__AgentResponse *resp = banger__v1__agent_response__unpack(NULL, len, buf);
        if (!resp)
                return bg_error_set(err, EPROTO, "agent exec: malformed frame");
        if (resp->id == AGENT_ANNOUNCE_ID && id != AGENT_ANNOUNCE_ID) {
                /* An agent (re)started on this port: ours is gone, and its
                 * command with it (killed with its service, or orphaned). */
                banger__v1__agent_response__free_unpacked(resp, NULL);
                return bg_error_set(err, ECONNRESET,
                                    "the guest agent restarted while the command ran (out of "
                                    "memory, or killed); the command's end is unknown");
        }
        if (resp->id != id) {
                banger__v1__agent_response__free_unpacked(resp, NULL);
                return 0;
        }
        memset(ev, 0, sizeof(*ev));
        switch (resp->kind_case) {
        case BANGER__V1__AGENT_RESPONSE__KIND_EXEC_OUTPUT:
                if (resp->exec_output->stream != 1 && resp->exec_output->stream != 2)
                        break;
                ev->kind = AGENT_EXEC_EVENT_OUTPUT;
                ev->stream = (int)resp->exec_output->stream;
                ev->data = resp->exec_output->data.data;
                ev->len = resp->exec_output->data.len;
                ev->resp = resp;
                return 1;
        case BANGER__V1__AGENT_RESPONSE__KIND_EXEC_EXIT:
                if (resp->exec_exit->signal < 0 || resp->exec_exit->signal > 64 ||
                    resp->exec_exit->code < 0 || resp->exec_exit->code > 255)
                        break;
                ev->kind = AGENT_EXEC_EVENT_EXIT;
                ev->code = resp->exec_exit->code;
                ev->signal = resp->exec_exit->signal;
                ev->resp = resp;
                return 1;
        case BANGER__V1__AGENT_RESPONSE__KIND_ERROR: {
                int code =
                    resp->error->code > 0 && resp->error->code < 4096 ? resp->error->code : EIO;
                bg_error_set(err, code, "%s", resp->error->message);
                banger__v1__agent_response__free_unpacked(resp, NULL);
                return -code;
        }
        default:
                break;
        }
        banger__v1__agent_response__free_unpacked(resp, NULL);
        return bg_error_set(err, EPROTO, "agent exec: unexpected frame");
}

static int read_frame(struct agent_conn *c, uint64_t deadline_usec, uint8_t **buf, size_t *len,
                      struct bg_error *err)
{
        int r = agent_frame_read(agent_conn_fd(c), AGENT_FRAME_MAX, deadline_usec, 5000, buf, len);
        if (r == 0)
                return bg_error_set(err, ECONNRESET, "the guest agent closed the connection");
        if (r == -ETIMEDOUT)
                return bg_error_set(err, ETIMEDOUT, "the guest agent did not answer in time");
        if (r < 0)
                return bg_error_errno(err, r, "read from the guest agent");
        return 0;
}

int agent_exec_start(struct agent_conn *c, const struct agent_exec_spec *spec, uint64_t timeout_ms,
                     uint64_t *ret_id, struct bg_error *err)
{
        uint64_t id = agent_conn_next_id(c);
        _cleanup_free_ uint8_t *out = NULL;
        size_t len = 0;
        int r = agent_exec_pack_start(id, spec, &out, &len);
        if (r == -E2BIG)
                return bg_error_set(err, E2BIG, "the command and its environment exceed %u bytes",
                                    AGENT_FRAME_MAX);
        if (r < 0)
                return bg_error_set(err, -r, "out of memory");
        uint64_t deadline = agent_deadline_after_ms(timeout_ms);
        r = agent_frame_write(agent_conn_fd(c), out, len, deadline);
        if (r < 0)
                return bg_error_errno(err, r, "send to the guest agent");
        for (;;) {
                _cleanup_free_ uint8_t *in = NULL;
                size_t inlen = 0;
                r = read_frame(c, deadline, &in, &inlen, err);
                if (r < 0)
                        return r;
                Banger__V1__AgentResponse *resp =
                    banger__v1__agent_response__unpack(NULL, inlen, in);
                if (!resp)
                        return bg_error_set(err, EPROTO, "agent exec: malformed frame");
                if (resp->id != id) {
                        banger__v1__agent_response__free_unpacked(resp, NULL);
                        continue;
                }
                Banger__V1__AgentResponse__KindCase k = resp->kind_case;
                int code = k == BANGER__V1__AGENT_RESPONSE__KIND_ERROR && resp->error->code > 0 &&
                                   resp->error->code < 4096
                               ? resp->error->code
                               : EIO;
                if (k == BANGER__V1__AGENT_RESPONSE__KIND_ERROR) {
                        /* An agent from before exec does not know the request. */
                        if (code == EINVAL &&
                            streq(resp->error->message, "request names no known operation"))
                                bg_error_set(err, ENOTSUP, "the guest agent is too old for exec");
                        else
                                bg_error_set(err, code, "%s", resp->error->message);
                        if (code == EINVAL && err->code == ENOTSUP)
                                code = ENOTSUP;
                }
                banger__v1__agent_response__free_unpacked(resp, NULL);
                if (k == BANGER__V1__AGENT_RESPONSE__KIND_EXEC_STARTED) {
                        *ret_id = id;
                        return 0;
                }
                if (k == BANGER__V1__AGENT_RESPONSE__KIND_ERROR)
                        return -code;
                return bg_error_set(err, EPROTO, "agent exec: unexpected answer to the start");
        }
}

int agent_exec_send(struct agent_conn *c, uint64_t id, const void *data, size_t len, bool eof,
                    unsigned rows, unsigned cols, int sig)
{
        if (len > AGENT_EXEC_INPUT_MAX)
                return -EMSGSIZE;
        _cleanup_free_ uint8_t *out = NULL;
        size_t n = 0;
        int r = agent_exec_pack_input(id, data, len, eof, rows, cols, sig, &out, &n);
        if (r < 0)
                return r;
        return agent_frame_write(agent_conn_fd(c), out, n, 0);
}

int agent_exec_next(struct agent_conn *c, uint64_t id, uint64_t deadline_usec,
                    struct agent_exec_event *ev, struct bg_error *err)
{
        for (;;) {
                _cleanup_free_ uint8_t *in = NULL;
                size_t inlen = 0;
                int r = read_frame(c, deadline_usec, &in, &inlen, err);
                if (r < 0)
                        return r;
                r = agent_exec_decode(id, in, inlen, ev, err);
                if (r != 0)
                        return r;
        }
}
