#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/strtable.h"

static const char *const code_names[_RPC_CODE_MAX] = {
    [RPC_OK] = "OK",
    [RPC_CANCELLED] = "CANCELLED",
    [RPC_UNKNOWN] = "UNKNOWN",
    [RPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [RPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [RPC_NOT_FOUND] = "NOT_FOUND",
    [RPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [RPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [RPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
    [RPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
    [RPC_ABORTED] = "ABORTED",
    [RPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
    [RPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
    [RPC_INTERNAL] = "INTERNAL",
    [RPC_UNAVAILABLE] = "UNAVAILABLE",
    [RPC_DATA_LOSS] = "DATA_LOSS",
    [RPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

/* The canonical errno of each status; the reverse mapping below also accepts
 * the aliases listed there. */
static const int code_errno[_RPC_CODE_MAX] = {
    [RPC_OK] = 0,
    [RPC_CANCELLED] = ECANCELED,
    [RPC_UNKNOWN] = EPROTO,
    [RPC_INVALID_ARGUMENT] = EINVAL,
    [RPC_DEADLINE_EXCEEDED] = ETIMEDOUT,
    [RPC_NOT_FOUND] = ENOENT,
    [RPC_ALREADY_EXISTS] = EEXIST,
    [RPC_PERMISSION_DENIED] = EPERM,
    [RPC_RESOURCE_EXHAUSTED] = ENOSPC,
    [RPC_FAILED_PRECONDITION] = EBUSY,
    [RPC_ABORTED] = ECONNABORTED,
    [RPC_OUT_OF_RANGE] = ERANGE,
    [RPC_UNIMPLEMENTED] = ENOSYS,
    [RPC_INTERNAL] = EIO,
    [RPC_UNAVAILABLE] = ECONNREFUSED,
    [RPC_DATA_LOSS] = EUCLEAN,
    [RPC_UNAUTHENTICATED] = ENOKEY,
};

/* CLI exit codes: 0 ok, 1 internal, 2 usage/invalid, 3.. one per family.
 * 130 mirrors a shell's Ctrl-C. Documented in docs/exit-codes.md. */
static const int code_exit[_RPC_CODE_MAX] = {
    [RPC_OK] = 0,
    [RPC_CANCELLED] = 130,
    [RPC_UNKNOWN] = 1,
    [RPC_INVALID_ARGUMENT] = 2,
    [RPC_DEADLINE_EXCEEDED] = 8,
    [RPC_NOT_FOUND] = 3,
    [RPC_ALREADY_EXISTS] = 4,
    [RPC_PERMISSION_DENIED] = 6,
    [RPC_RESOURCE_EXHAUSTED] = 9,
    [RPC_FAILED_PRECONDITION] = 5,
    [RPC_ABORTED] = 11,
    [RPC_OUT_OF_RANGE] = 2,
    [RPC_UNIMPLEMENTED] = 10,
    [RPC_INTERNAL] = 1,
    [RPC_UNAVAILABLE] = 7,
    [RPC_DATA_LOSS] = 1,
    [RPC_UNAUTHENTICATED] = 6,
};

DEFINE_STRING_TABLE_LOOKUP(rpc_code, int, code_names)

enum rpc_code rpc_code_from_errno(int err)
{
        if (err < 0)
                err = -err;
        if (err == 0)
                return RPC_OK;
        for (int i = 1; i < _RPC_CODE_MAX; i++)
                if (code_errno[i] == err)
                        return (enum rpc_code)i;
        switch (err) {
        case EACCES:
                return RPC_PERMISSION_DENIED;
        case ENOTDIR:
        case ESRCH:
                return RPC_NOT_FOUND;
        case E2BIG:
        case EMSGSIZE:
        case ENOMEM:
        case EMFILE:
        case ENFILE:
        case EDQUOT:
        case EFBIG: /* over a configured limit (image.max_unpacked_size, …) */
                return RPC_RESOURCE_EXHAUSTED;
        case ENOTEMPTY:
        case EROFS:
        case EAGAIN:
        case ENOEXEC:
        case ENOPKG: /* a tool the host lacks */
                return RPC_FAILED_PRECONDITION;
        case ENOTSUP:
                return RPC_UNIMPLEMENTED;
        case EBADMSG:
        case EILSEQ:
        case ENAMETOOLONG:
        case EDOM:
        case ELOOP: /* a path through a symlink, a link loop: bad input */
                return RPC_INVALID_ARGUMENT;
        case ECONNRESET:
        case ENOTCONN:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EPIPE:
        case ESHUTDOWN:
                return RPC_UNAVAILABLE;
        case EINTR:
                return RPC_CANCELLED;
        default:
                return RPC_INTERNAL;
        }
}

int rpc_code_to_errno(enum rpc_code code)
{
        if ((int)code < 0 || code >= _RPC_CODE_MAX)
                return EIO;
        return code_errno[code];
}

int rpc_code_to_exit(enum rpc_code code)
{
        if ((int)code < 0 || code >= _RPC_CODE_MAX)
                return 1;
        return code_exit[code];
}

void rpc_status_format(const struct rpc_status *st, char *buf, size_t len)
{
        const char *name = rpc_code_to_string(st->code);
        if (st->op_id[0])
                snprintf(buf, len, "%s (%s, op_id %s)", st->message, name ? name : "?", st->op_id);
        else
                snprintf(buf, len, "%s (%s)", st->message, name ? name : "?");
}
