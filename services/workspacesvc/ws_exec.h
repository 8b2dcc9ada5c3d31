/* WorkspaceService/StartExec and ExecOutput: a command run as an operation
 * whose output API clients read incrementally while it runs. Each stream keeps
 * its newest WS_EXEC_KEEP bytes; jobs are dropped 10 minutes after they end. */
#pragma once

#include "banger/v1/workspace.pb-c.h"
#include "ops/ops.h"
#include "rpc/rpc.h"
#include "ws_agent.h"
#include "ws_guest.h"

#define WS_EXEC_KEEP (16u << 20)

struct ws_exec_registry;

/* rn (where commands run) must outlive the registry. */
int ws_exec_registry_new(struct ws_exec_registry **ret, const struct ws_runner *rn,
                         struct bg_error *err);
void ws_exec_registry_free(struct ws_exec_registry *x);

/* How a command's stdin and terminal work: stream_in = its stdin comes in
 * ws_exec_input calls (else it is the bytes given to ws_exec_start); tty =
 * on a pseudo-terminal of rows x cols (0 = 24x80). */
struct ws_exec_mode {
        bool stream_in;
        bool tty;
        unsigned rows, cols;
};

/* Starts cmd (a full remote command line) on vm as an operation in ops,
 * through the guest agent or over SSH (ws_run_command). */
int ws_exec_start(struct ws_exec_registry *x, struct ops_registry *ops, const struct ws_vm *vm,
                  const char *cmd, const ProtobufCBinaryData *in, const struct ws_exec_mode *mode,
                  uint32_t timeout_ms, Banger__V1__Operation *out, struct bg_error *err);
/* ExecInput: queues stdin bytes, the end of stdin, a window change and a
 * signal for a running command. Caps: 256 KiB a call, 1 MiB waiting
 * (EMSGSIZE beyond). ENOENT: no such operation; ESRCH: it has ended;
 * EAGAIN: a signal for a command that runs over SSH (or has not started
 * yet), which cannot deliver it. */
int ws_exec_input(struct ws_exec_registry *x, const Banger__V1__ExecInputRequest *in,
                  struct bg_error *err);

int ws_exec_output(struct ws_exec_registry *x, const Banger__V1__ExecOutputRequest *in,
                   Banger__V1__ExecOutputResponse *out, struct bg_error *err);
