#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc.h"
#include "rpc/rpc_internal.h"

int rpc_nng_errno(int rv)
{
        switch (rv) {
        case 0:
                return 0;
        case NNG_ETIMEDOUT:
                return ETIMEDOUT;
        case NNG_ECONNREFUSED:
                return ECONNREFUSED;
        case NNG_ECONNRESET:
        case NNG_ECONNABORTED:
        case NNG_ECONNSHUT:
                return ECONNRESET;
        case NNG_ECLOSED:
                return ESHUTDOWN;
        case NNG_ENOMEM:
                return ENOMEM;
        case NNG_EMSGSIZE:
                return EMSGSIZE;
        case NNG_ENOENT:
                return ENOENT;
        case NNG_EPERM:
                return EPERM;
        case NNG_EADDRINUSE:
                return EADDRINUSE;
        case NNG_EINVAL:
        case NNG_EADDRINVAL:
                return EINVAL;
        case NNG_ECANCELED:
                return ECANCELED;
        case NNG_EAGAIN:
                return EAGAIN;
        case NNG_ENOTSUP:
                return ENOTSUP;
        default:
                return EIO;
        }
}

int rpc_pack_msg(const ProtobufCMessage *m, nng_msg **ret)
{
        size_t len = protobuf_c_message_get_packed_size(m);
        nng_msg *msg;
        int rv = nng_msg_alloc(&msg, len);
        if (rv != 0)
                return -rpc_nng_errno(rv);
        if (len > 0)
                protobuf_c_message_pack(m, nng_msg_body(msg));
        *ret = msg;
        return 0;
}

void rpc_new_op_id(char *buf, size_t len)
{
        uint8_t raw[8];
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
                /* getrandom on Linux ≥ 3.17 does not fail for 8 bytes once the
                 * pool is initialised; fall back to something unique anyway. */
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                uint64_t v =
                    (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid();
                memcpy(raw, &v, sizeof(raw));
        }
        snprintf(buf, len, "%02x%02x%02x%02x%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3],
                 raw[4], raw[5], raw[6], raw[7]);
}

int rpc_reply_status(enum rpc_code code, const char *message, const char *op_id, nng_msg **ret)
{
        Banger__V1__Status status = BANGER__V1__STATUS__INIT;
        Banger__V1__Response resp = BANGER__V1__RESPONSE__INIT;
        status.code = (Banger__V1__StatusCode)code;
        status.message = (char *)(message ? message : "");
        status.op_id = (char *)(op_id ? op_id : "");
        resp.status = &status;
        return rpc_pack_msg(&resp.base, ret);
}

int rpc_split_method(const char *full, char *svc, size_t svc_len, char *method, size_t method_len)
{
        if (!full || full[0] != '/')
                return -EINVAL;
        const char *slash = strchr(full + 1, '/');
        if (!slash || slash == full + 1 || slash[1] == '\0' || strchr(slash + 1, '/'))
                return -EINVAL;
        size_t sl = (size_t)(slash - (full + 1));
        size_t ml = strlen(slash + 1);
        if (sl >= svc_len || ml >= method_len)
                return -ENAMETOOLONG;
        memcpy(svc, full + 1, sl);
        svc[sl] = '\0';
        memcpy(method, slash + 1, ml + 1);
        return 0;
}

int rpc_check_method_table(const ProtobufCServiceDescriptor *desc,
                           const struct rpc_method_impl *impls, size_t n_impls,
                           struct bg_error *err)
{
        if (!desc || !impls)
                return bg_error_set(err, EINVAL, "missing service descriptor or method table");
        if (desc->n_methods != n_impls)
                return bg_error_set(err, EINVAL,
                                    "service %s declares %u methods but the table has %zu",
                                    desc->name, desc->n_methods, n_impls);
        for (size_t i = 0; i < n_impls; i++) {
                if (!impls[i].name || strcmp(impls[i].name, desc->methods[i].name) != 0)
                        return bg_error_set(err, EINVAL,
                                            "service %s method %zu is %s but the table has %s",
                                            desc->name, i, desc->methods[i].name,
                                            impls[i].name ? impls[i].name : "(null)");
                if (!impls[i].fn)
                        return bg_error_set(err, EINVAL, "service %s method %s has no handler",
                                            desc->name, impls[i].name);
        }
        return 0;
}
