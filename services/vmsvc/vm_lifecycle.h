/* What happens to one VM: create (reserve → network → disks → boot → agent),
 * start, stop, kill, delete. The service (vmsvc.c) turns RPCs into these
 * calls; the other services are reached through struct vm_deps, a seam tests
 * replace with fakes while keeping the real VMM, disks and guest agent. */
#pragma once

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "steps.h"
#include "vm_env.h"
#include "util/error.h"
#include "vm_store.h"
#include "vmm/vmm.h"

/* Where a create, start or clone reports its stages (fn(ctx, stage); may be
 * NULL) and the flag that cancels it (may be NULL): a cancelled one stops
 * before its next step, or while it waits for the guest, and undoes what it
 * did. */
struct vm_progress {
        step_progress_fn fn;
        void *ctx;
        const atomic_bool *cancel;
};

/* The stages of vm_create / vm_start, for progress display. */
extern const char *const vm_create_stages[];
extern const size_t vm_n_create_stages;

/* rec is the row already inserted (state created). ws_host/ws_guest: the
 * workspace written onto the new work disk (NULL or "" = none). Runs every stage; on
 * failure rolls back, stores state error with the reason, returns < 0. */
int vm_create(struct vm_env *env, const char *id, const char *ws_host, const char *ws_guest,
              const struct vm_progress *p, struct bg_error *err);
/* vm_create without the boot: the VM's directory and disks are made (no
 * network lease or tap yet) and it is left stopped for a later vm_start. */
int vm_create_stopped(struct vm_env *env, const char *id, const char *ws_host, const char *ws_guest,
                      const struct vm_progress *p, struct bg_error *err);
extern const char *const vm_create_stopped_stages[];
extern const size_t vm_n_create_stopped_stages;
/* Boots a stopped VM (its disks exist). */
int vm_start(struct vm_env *env, const char *id, const struct vm_progress *p, struct bg_error *err);
/* Agent Shutdown (sync + reboot) → wait → driver's own stop request → SIGKILL
 * after timeout; then gives the tap back. */
int vm_stop(struct vm_env *env, const char *id, struct bg_error *err);
int vm_kill(struct vm_env *env, const char *id, struct bg_error *err);
/* What workspacesvc puts on a work disk before a boot (file_sync entries,
 * the git identity; the workspace ws_host for a new VM, fresh). Without a
 * workspace its failure only skips them this time (logged). */
int vm_user_files(struct vm_env *env, const struct vm_record *rec, const char *work, bool fresh,
                  const char *ws_host, const char *ws_guest, struct bg_error *err);
/* Writes r (its updated time set now) under env->mu, then env->changed. */
int vm_save(struct vm_env *env, struct vm_record *r, struct bg_error *err);
/* Stops a running VM's vCPUs, or starts a paused VM's again (drivers with
 * VMM_CAP_PAUSE); the state becomes paused / running. */
int vm_pause(struct vm_env *env, const char *id, struct bg_error *err);
int vm_resume(struct vm_env *env, const char *id, struct bg_error *err);
/* The record of a VM by name or id (under env->mu). */
int vm_load(struct vm_env *env, const char *ref, struct vm_record *ret, struct bg_error *err);
/* Every VM's record (under env->mu); *ret is the caller's to free(). */
int vm_load_all(struct vm_env *env, struct vm_record **ret, size_t *ret_n, struct bg_error *err);
/* Connects to a running VM's guest agent. */
struct agent_conn;
int vm_agent_open(struct vm_env *env, const char *id, struct agent_conn **ret,
                  struct vm_record *ret_rec /* may be NULL */, struct bg_error *err);
/* The running VMM process of a VM (pid, start time) or -ESRCH. */
int vm_process(struct vm_env *env, const struct vm_record *r, pid_t *ret_pid, struct bg_error *err);
/* vcpu / memory / work disk (grow only) of a stopped VM; 0 = unchanged. */
int vm_set(struct vm_env *env, const char *id, uint32_t vcpu, uint32_t memory_mib,
           uint64_t work_disk_bytes, struct bg_error *err);

/* A running VM is refused unless force (then killed). Releases tap and lease,
 * removes the VM's directory and row. */
int vm_delete(struct vm_env *env, const char *id, bool force, struct bg_error *err);
