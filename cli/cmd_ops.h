/* Following a long operation (rpc.proto Operation) from the CLI: poll the
 * service's GetOperation through the gateway, draw progress (a bar when stdout
 * is a terminal, plain lines otherwise, both on stderr), and turn Ctrl-C into
 * CancelOperation. */
#pragma once

#include <stdbool.h>

#include "banger/v1/rpc.pb-c.h"
#include "rpc/rpc.h"

/* Follow op (as returned by the method that started it) until it is done.
 * service is the protobuf service, "banger.v1.KernelService". On success
 * *ret_final is the finished Operation (caller frees with
 * banger__v1__operation__free_unpacked) — check its status. Returns 0, or
 * -errno with st filled when polling failed. After Ctrl-C the cancellation
 * is sent and the final (cancelled) operation is still returned; a second
 * Ctrl-C stops waiting at once (-EINTR, st CANCELLED). */
int cli_op_follow(struct rpc_client *c, const char *service, const Banger__V1__Operation *op,
                  bool quiet, Banger__V1__Operation **ret_final, struct rpc_status *st);

/* The status of a finished operation as an rpc_status (for cli_fail_status). */
void cli_op_status(const Banger__V1__Operation *op, struct rpc_status *st);

/* Human size: "1.5 MiB". */
void cli_format_bytes(char *buf, size_t len, uint64_t bytes);

/* Calls /service/method (which answers with an Operation) on c, follows it to
 * the end and unpacks its result with result_desc (NULL: ignore the result).
 * Returns 0 with *ret_result (caller frees), or -errno with st filled by the
 * call, the polling or the operation's own failure. */
int cli_op_run(struct rpc_client *c, const char *service, const char *method,
               const ProtobufCMessage *in, bool quiet,
               const ProtobufCMessageDescriptor *result_desc, ProtobufCMessage **ret_result,
               struct rpc_status *st);

struct cli;
/* cli_op_run on a fresh gateway connection. */
int cli_op_call(struct cli *cli, const char *service, const char *method,
                const ProtobufCMessage *in, bool quiet,
                const ProtobufCMessageDescriptor *result_desc, ProtobufCMessage **ret_result,
                struct rpc_status *st);
