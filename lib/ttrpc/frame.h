/* ttrpc wire framing (containerd's ttrpc 1.1, the protocol containerd speaks
 * to runtime shims): every message is a 10-byte header
 *
 *   uint32 length (big endian)  payload bytes that follow
 *   uint32 stream id (BE)       odd for client-initiated streams
 *   uint8  type                 1 request, 2 response
 *   uint8  flags                reserved (0)
 *
 * then `length` bytes of protobuf: a ttrpc.Request{service, method, payload,
 * timeout_nano, metadata} or ttrpc.Response{status, payload}
 * (proto/containerd/ttrpc/request.proto). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "containerd/ttrpc/request.pb-c.h"
#include "util/error.h"

#define TTRPC_HEADER_LEN 10
/* ttrpc's own default cap on a message (payload) size. */
#define TTRPC_MAX_MESSAGE (4u << 20)
/* Caps on the envelope's strings: service and method names, metadata. */
#define TTRPC_MAX_NAME 256
#define TTRPC_MAX_METADATA 64

enum ttrpc_type {
        TTRPC_TYPE_REQUEST = 1,
        TTRPC_TYPE_RESPONSE = 2,
};

struct ttrpc_header {
        uint32_t length;
        uint32_t stream_id;
        uint8_t type;
        uint8_t flags;
};

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_LEN]);

/* Decodes a header. -EPROTO for a type other than request/response,
 * -EMSGSIZE when length > max_len (*ret is still filled, so a server can
 * answer that stream before it closes the connection). */
int ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], uint32_t max_len,
                        struct ttrpc_header *ret, struct bg_error *err);

/* Splits the first frame off buf (len bytes). Returns 1 with *ret_hdr,
 * *ret_payload (points into buf) and *ret_consumed set; 0 when buf holds
 * less than one whole frame (read more); < 0 as ttrpc_header_decode. */
int ttrpc_frame_split(const uint8_t *buf, size_t len, uint32_t max_len,
                      struct ttrpc_header *ret_hdr, const uint8_t **ret_payload,
                      size_t *ret_consumed, struct bg_error *err);

/* Reads one frame from a blocking fd, across short reads and EINTR. Returns
 * 1 with *ret_payload (malloc'd, caller frees; NULL when length is 0), 0 on a
 * clean end of stream before a header, -EPIPE on an end of stream inside a
 * frame, else as ttrpc_header_decode or -errno. */
int ttrpc_read_frame(int fd, uint32_t max_len, struct ttrpc_header *ret_hdr, uint8_t **ret_payload,
                     struct bg_error *err);

/* Writes header + payload to a blocking fd (all of it, or -errno). */
int ttrpc_write_frame(int fd, uint32_t stream_id, enum ttrpc_type type, const uint8_t *payload,
                      size_t len);

/* Unpacks and validates a Request payload (non-empty service and method of at
 * most TTRPC_MAX_NAME printable bytes, at most TTRPC_MAX_METADATA metadata
 * pairs, timeout_nano >= 0). *ret is the caller's: free with
 * ttrpc__request__free_unpacked(*ret, NULL). -EBADMSG for a malformed one. */
int ttrpc_request_parse(const uint8_t *buf, size_t len, Ttrpc__Request **ret, struct bg_error *err);

/* Packs a Response{status{code, message}, payload} into a malloc'd buffer. */
int ttrpc_response_pack(int code, const char *message, const uint8_t *payload, size_t len,
                        uint8_t **ret, size_t *ret_len);

/* Packs any protobuf-c message into a malloc'd buffer (a 0-byte message gets
 * a 1-byte allocation so *ret is never NULL on success). */
int ttrpc_pack(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_len);
