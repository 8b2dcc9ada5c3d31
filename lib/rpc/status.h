/* RPC status codes (gRPC numbering, proto/banger/v1/rpc.proto StatusCode) and
 * the one place where they are mapped to and from errno values and CLI exit
 * codes. */
#pragma once

#include "banger/v1/rpc.pb-c.h"

enum rpc_code {
        RPC_OK = 0,
        RPC_CANCELLED = 1,
        RPC_UNKNOWN = 2,
        RPC_INVALID_ARGUMENT = 3,
        RPC_DEADLINE_EXCEEDED = 4,
        RPC_NOT_FOUND = 5,
        RPC_ALREADY_EXISTS = 6,
        RPC_PERMISSION_DENIED = 7,
        RPC_RESOURCE_EXHAUSTED = 8,
        RPC_FAILED_PRECONDITION = 9,
        RPC_ABORTED = 10,
        RPC_OUT_OF_RANGE = 11,
        RPC_UNIMPLEMENTED = 12,
        RPC_INTERNAL = 13,
        RPC_UNAVAILABLE = 14,
        RPC_DATA_LOSS = 15,
        RPC_UNAUTHENTICATED = 16,
        _RPC_CODE_MAX,
};

/* "NOT_FOUND" etc.; NULL for out-of-range values. */
const char *rpc_code_to_string(int code);
/* -EINVAL for unknown names. */
int rpc_code_from_string(const char *s);

/* errno (positive or negative) -> status. Unlisted errno values -> INTERNAL. */
enum rpc_code rpc_code_from_errno(int err);
/* status -> positive errno; rpc_code_from_errno(rpc_code_to_errno(c)) == c for
 * every code. RPC_OK -> 0. */
int rpc_code_to_errno(enum rpc_code code);

/* Exit code of the `banger` CLI for a failed call with this status (see
 * docs/exit-codes.md). */
int rpc_code_to_exit(enum rpc_code code);

/* The status a client gets back: code, message and the op_id to grep logs for. */
struct rpc_status {
        enum rpc_code code;
        char message[512];
        char op_id[48];
};

/* Format "MESSAGE (CODE, op_id X)" for people. */
void rpc_status_format(const struct rpc_status *st, char *buf, size_t len);
