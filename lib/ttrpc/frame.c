#include "frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static uint32_t get_be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
        p[0] = v >> 24;
        p[1] = v >> 16;
        p[2] = v >> 8;
        p[3] = v;
}

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_LEN])
{
        put_be32(out, h->length);
        put_be32(out + 4, h->stream_id);
        out[8] = h->type;
        out[9] = h->flags;
}

int ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], uint32_t max_len,
                        struct ttrpc_header *ret, struct bg_error *err)
{
        struct ttrpc_header h = {
            .length = get_be32(in),
            .stream_id = get_be32(in + 4),
            .type = in[8],
            .flags = in[9],
        };
        if (h.type != TTRPC_TYPE_REQUEST && h.type != TTRPC_TYPE_RESPONSE)
                return bg_error_set(err, EPROTO, "ttrpc: unknown message type %u on stream %u",
                                    h.type, h.stream_id);
        *ret = h;
        if (h.length > max_len)
                return bg_error_set(err, EMSGSIZE,
                                    "ttrpc: message length %u exceeds the maximum message size "
                                    "of %u",
                                    h.length, max_len);
        return 0;
}

int ttrpc_frame_split(const uint8_t *buf, size_t len, uint32_t max_len,
                      struct ttrpc_header *ret_hdr, const uint8_t **ret_payload,
                      size_t *ret_consumed, struct bg_error *err)
{
        if (len < TTRPC_HEADER_LEN)
                return 0;
        struct ttrpc_header h;
        int r = ttrpc_header_decode(buf, max_len, &h, err);
        if (r < 0) {
                *ret_hdr = h;
                return r;
        }
        if (len - TTRPC_HEADER_LEN < h.length)
                return 0;
        *ret_hdr = h;
        *ret_payload = buf + TTRPC_HEADER_LEN;
        *ret_consumed = TTRPC_HEADER_LEN + (size_t)h.length;
        return 1;
}

/* Reads exactly n bytes; returns n, or the count read before end of stream,
 * or -errno. */
static ssize_t read_full(int fd, uint8_t *buf, size_t n)
{
        size_t got = 0;
        while (got < n) {
                ssize_t k = read(fd, buf + got, n - got);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                got += (size_t)k;
        }
        return (ssize_t)got;
}

int ttrpc_read_frame(int fd, uint32_t max_len, struct ttrpc_header *ret_hdr, uint8_t **ret_payload,
                     struct bg_error *err)
{
        uint8_t hb[TTRPC_HEADER_LEN];
        ssize_t k = read_full(fd, hb, sizeof(hb));
        if (k < 0)
                return bg_error_errno(err, (int)k, "ttrpc: read header");
        if (k == 0)
                return 0;
        if ((size_t)k < sizeof(hb))
                return bg_error_set(err, EPIPE, "ttrpc: connection closed inside a header");
        struct ttrpc_header h;
        int r = ttrpc_header_decode(hb, max_len, &h, err);
        if (r == -EMSGSIZE) {
                /* As ttrpc: skip the payload so the stream stays in step and
                 * the caller can answer this stream and go on. */
                *ret_hdr = h;
                uint8_t sink[16384];
                for (uint32_t left = h.length; left > 0;) {
                        k = read_full(fd, sink, left < sizeof(sink) ? left : sizeof(sink));
                        if (k <= 0)
                                return bg_error_set(err, EPIPE,
                                                    "ttrpc: connection closed inside an "
                                                    "oversize message");
                        left -= (uint32_t)k;
                }
                return r;
        }
        if (r < 0) {
                *ret_hdr = h;
                return r;
        }
        uint8_t *p = NULL;
        if (h.length > 0) {
                p = malloc(h.length);
                if (!p)
                        return bg_error_set(err, ENOMEM, "ttrpc: out of memory");
                k = read_full(fd, p, h.length);
                if (k < 0 || (size_t)k < h.length) {
                        free(p);
                        if (k < 0)
                                return bg_error_errno(err, (int)k, "ttrpc: read payload");
                        return bg_error_set(err, EPIPE,
                                            "ttrpc: connection closed inside a message "
                                            "(%zd of %u bytes)",
                                            k, h.length);
                }
        }
        *ret_hdr = h;
        *ret_payload = p;
        return 1;
}

int ttrpc_write_frame(int fd, uint32_t stream_id, enum ttrpc_type type, const uint8_t *payload,
                      size_t len)
{
        if (len > UINT32_MAX)
                return -EMSGSIZE;
        uint8_t hb[TTRPC_HEADER_LEN];
        struct ttrpc_header h = {.length = (uint32_t)len, .stream_id = stream_id, .type = type};
        ttrpc_header_encode(&h, hb);
        struct iovec iov[2] = {
            {.iov_base = hb, .iov_len = sizeof(hb)},
            {.iov_base = (void *)payload, .iov_len = len},
        };
        int n = len > 0 ? 2 : 1;
        struct iovec *v = iov;
        while (n > 0) {
                struct msghdr mh = {.msg_iov = v, .msg_iovlen = n};
                ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);
                if (k < 0 && errno == ENOTSOCK)
                        k = writev(fd, v, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                size_t left = (size_t)k;
                while (n > 0 && left >= v->iov_len) {
                        left -= v->iov_len;
                        v++;
                        n--;
                }
                if (n > 0) {
                        v->iov_base = (uint8_t *)v->iov_base + left;
                        v->iov_len -= left;
                }
        }
        return 0;
}

static bool name_ok(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > TTRPC_MAX_NAME)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
                        return false;
        return true;
}

int ttrpc_request_parse(const uint8_t *buf, size_t len, Ttrpc__Request **ret, struct bg_error *err)
{
        Ttrpc__Request *q = ttrpc__request__unpack(NULL, len, buf);
        if (!q)
                return bg_error_set(err, EBADMSG, "ttrpc: cannot decode the request");
        if (!name_ok(q->service) || !name_ok(q->method)) {
                ttrpc__request__free_unpacked(q, NULL);
                return bg_error_set(err, EBADMSG,
                                    "ttrpc: service and method must be 1-%d printable bytes",
                                    TTRPC_MAX_NAME);
        }
        if (q->n_metadata > TTRPC_MAX_METADATA) {
                size_t n = q->n_metadata;
                ttrpc__request__free_unpacked(q, NULL);
                return bg_error_set(err, EBADMSG, "ttrpc: %zu metadata pairs (at most %d)", n,
                                    TTRPC_MAX_METADATA);
        }
        if (q->timeout_nano < 0) {
                ttrpc__request__free_unpacked(q, NULL);
                return bg_error_set(err, EBADMSG, "ttrpc: negative timeout");
        }
        *ret = q;
        return 0;
}

int ttrpc_pack(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_len)
{
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *b = malloc(n ? n : 1);
        if (!b)
                return -ENOMEM;
        protobuf_c_message_pack(m, b);
        *ret = b;
        *ret_len = n;
        return 0;
}

int ttrpc_response_pack(int code, const char *message, const uint8_t *payload, size_t len,
                        uint8_t **ret, size_t *ret_len)
{
        Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
        Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
        /* Always present, as ttrpc's own server sends it (code 0 = OK). */
        st.code = code;
        st.message = (char *)(message ? message : "");
        resp.status = &st;
        resp.payload.data = (uint8_t *)payload;
        resp.payload.len = len;
        return ttrpc_pack(&resp.base, ret, ret_len);
}
