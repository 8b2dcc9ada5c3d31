/* Long operations inside one service process (ARCHITECTURE §2): a method that
 * does slow work (a pull, an import, a VM create) starts an operation and
 * answers at once with its Operation message; the caller polls GetOperation
 * and may CancelOperation.
 *
 * The registry owns every operation. Work runs on a detached worker thread
 * with an ops_ctx through which it reports its stage and byte progress,
 * checks for cancellation and leaves a packed result. Finished operations are
 * kept for keep_done_ms (so a slow poller still sees the outcome), then
 * dropped. All functions are thread-safe.
 *
 * Dedup: an operation started with dedup set is keyed by (kind, target); while
 * one with the same key is still running, starting another returns the
 * running one's id instead, so concurrent pulls of one name do the work
 * once. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "banger/v1/rpc.pb-c.h"
#include "util/error.h"

#define OPS_ID_LEN 16 /* hex characters */
#define OPS_KIND_MAX 64
#define OPS_TARGET_MAX 256
#define OPS_STAGE_MAX 64
#define OPS_MAX_STAGES 16
#define OPS_MAX_PARTS 128
#define OPS_PART_NAME_MAX 80
#define OPS_DEFAULT_KEEP_DONE_MS (10u * 60u * 1000u)

struct ops_registry;
struct ops_ctx;

/* The work of one operation, run on its own thread. Return >= 0 on success
 * (after ops_ctx_set_result, if the operation has a result) or -errno with
 * err filled; -ECANCELED when it stopped because ops_ctx_cancelled said so.
 * err's code becomes the operation's status code (rpc_code_from_errno). */
typedef int (*ops_work_fn)(struct ops_ctx *ctx, void *userdata, struct bg_error *err);
/* Frees userdata once the work has returned (also when it never started). */
typedef void (*ops_free_fn)(void *userdata);

struct ops_start {
        const char *kind;          /* "kernel.pull": 1..OPS_KIND_MAX-1 bytes */
        const char *target;        /* what it works on, "debian-cloud-amd64"; may be "" */
        const char *const *stages; /* every stage in order (for progress display) */
        size_t n_stages;           /* at most OPS_MAX_STAGES */
        bool dedup;                /* reuse a running operation with the same kind+target */
        ops_work_fn fn;
        void *userdata;            /* ownership passes to the registry */
        ops_free_fn free_userdata; /* may be NULL */
};

/* keep_done_ms: how long finished operations stay visible (0 = the default,
 * 10 minutes). */
int ops_registry_new(uint64_t keep_done_ms, struct ops_registry **ret, struct bg_error *err);
/* Cancels every running operation, waits for their threads to return, then
 * frees everything. NULL is fine. Returns NULL. */
struct ops_registry *ops_registry_free(struct ops_registry *r);

/* Start an operation. On success writes its id (OPS_ID_LEN hex + NUL) and
 * whether an already running operation was returned (*ret_reused, may be
 * NULL); the userdata of a reused start is freed at once. On failure
 * userdata is freed too. Errors: -EINVAL (bad kind/target/stages), -ENOMEM,
 * -EAGAIN (no thread), -ESHUTDOWN (registry being freed). */
int ops_start(struct ops_registry *r, const struct ops_start *s, char ret_id[OPS_ID_LEN + 1],
              bool *ret_reused, struct bg_error *err);

/* ops_start, then ops_fill of the operation (new or reused) into out: what
 * an RPC method that starts long work answers. */
int ops_start_fill(struct ops_registry *r, const struct ops_start *s, Banger__V1__Operation *out,
                   struct bg_error *err);
/* Fill out (initialised with BANGER__V1__OPERATION__INIT or by the RPC
 * dispatcher) with heap copies of the operation's state; free them with
 * ops_operation_clear or protobuf_c_message_free_unpacked. -ENOENT ("no
 * operation 'x'") when unknown or already dropped. */
int ops_fill(struct ops_registry *r, const char *id, Banger__V1__Operation *out,
             struct bg_error *err);

/* Ask a running operation to stop: its ops_ctx_cancelled turns true. Asking
 * again or after it finished is fine. -ENOENT when unknown. */
int ops_cancel(struct ops_registry *r, const char *id, struct bg_error *err);

/* Append every operation (running ones; finished ones too with include_done)
 * to out->operations, oldest first, as heap-allocated messages. */
int ops_list(struct ops_registry *r, bool include_done, Banger__V1__ListOperationsResponse *out,
             struct bg_error *err);

/* The three operation methods every service with a registry serves
 * (GetOperation, CancelOperation, ListOperations), the same everywhere: the
 * handler passes its registry and the request. The id is checked first
 * (OPS_ID_LEN lower-case hex: -EINVAL otherwise). */
int ops_rpc_get(struct ops_registry *r, const Banger__V1__GetOperationRequest *in,
                Banger__V1__Operation *out, struct bg_error *err);
int ops_rpc_cancel(struct ops_registry *r, const Banger__V1__CancelOperationRequest *in,
                   Banger__V1__Operation *out, struct bg_error *err);
int ops_rpc_list(struct ops_registry *r, const Banger__V1__ListOperationsRequest *in,
                 Banger__V1__ListOperationsResponse *out, struct bg_error *err);

/* Wait until the operation is done or timeout_ms passes. Returns 1 done, 0
 * timed out, -ENOENT unknown. */
int ops_wait(struct ops_registry *r, const char *id, uint64_t timeout_ms);

/* Number of operations still running. */
size_t ops_running(struct ops_registry *r);

/* Frees what ops_fill put into *op (not op itself) and re-initialises it. */
void ops_operation_clear(Banger__V1__Operation *op);

/* ---- for the work function ---- */

const char *ops_ctx_id(const struct ops_ctx *ctx);
/* Enter a stage (should be one of the declared ones); resets the byte
 * counters. */
void ops_ctx_stage(struct ops_ctx *ctx, const char *stage);
/* Byte progress of the current stage (total 0 = unknown). */
void ops_ctx_progress(struct ops_ctx *ctx, uint64_t done_bytes, uint64_t total_bytes);
bool ops_ctx_cancelled(const struct ops_ctx *ctx);
/* The flag ops_ctx_cancelled reads, for libraries that poll one themselves
 * (lib/oci's pull and flatten). Valid while the work function runs. */
const atomic_bool *ops_ctx_cancel_flag(const struct ops_ctx *ctx);
/* Progress of item idx (< OPS_MAX_PARTS) of the current stage, e.g. one layer
 * of a pull; shown as one bar per item. Entering a stage clears them. */
void ops_ctx_part(struct ops_ctx *ctx, size_t idx, const char *name, uint64_t done_bytes,
                  uint64_t total_bytes);
/* Store the operation's result: msg is packed now (the caller keeps msg). */
int ops_ctx_set_result(struct ops_ctx *ctx, const ProtobufCMessage *msg);
