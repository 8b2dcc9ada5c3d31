/* The guest side of workspaces, over SSH (lib/ssh) to a running VM: copy a
 * work tree in as a tar stream, export the guest's changes as a patch, run a
 * command. The VM's address and pinned host key come from vmsvc. */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

#include "rpc/rpc.h"
#include "ssh/ssh.h"
#include "ws_repo.h"

struct ws_vm {
        char id[64];
        char name[64];
        char state[16];
        char ip[16];
        char host_key[512];
        char vmm[16]; /* "qemu", "firecracker" */
        unsigned vcpu;
        bool no_sshd; /* banger's agent is its init (vm create --init agent): no SSH */
};

/* Looks the VM up in vmsvc (name or id prefix). -ENOENT for no such VM. */
int ws_vm_lookup(struct rpc_client *vmsvc, const char *ref, struct ws_vm *vm, struct bg_error *err);

/* SSH to a running VM as root with the owner's key (key_path), pinned host
 * key; -EBUSY when the VM is not running. Retries a refused connection for
 * up to 20 s (sshd still starting). */
int ws_vm_connect(const struct ws_vm *vm, const char *key_path, struct bg_ssh **ret,
                  struct bg_error *err);

/* Progress of a copy: bytes of file data sent so far. */
typedef void (*ws_progress_fn)(void *ud, uint64_t bytes);

#define WS_MAX_STREAMS 8

/* Streams repo's entries as tar into guest_abs ("/root/repo") over `streams`
 * SSH connections at once (s and streams-1 more to vm: each carries every
 * streams-th file and all directories, so a guest with several vCPUs
 * decrypts and unpacks in parallel), then checks out branch (made at the
 * copied HEAD if new) or the commit from (either may be "" or NULL), runs
 * `mise trust` when mise exists, and reads back the guest's HEAD into head
 * (may stay "" in a repository without commits). */
int ws_copy_over_ssh(struct bg_ssh *s, const struct ws_vm *vm, const char *key_path,
                     unsigned streams, const struct ws_repo *repo, const char *guest_abs,
                     const char *branch, const char *from, const atomic_bool *cancel,
                     ws_progress_fn progress, void *progress_ud, struct ws_walk_stats *stats,
                     char head[64], struct bg_error *err);

/* Limits of one export (ws_export_patch). */
struct ws_export_limits {
        uint64_t max_bytes;   /* config workspace.export_max: over it, -EFBIG */
        uint32_t timeout_ms;  /* the whole git diff (the call's deadline) */
        int client_pidfd;     /* the caller's process (pidfd; -1 = unknown): once it
                                 exited, -ECANCELED */
};

/* Writes a binary git patch of everything changed in the guest work tree at
 * guest_abs against base (a commit id; "" = the guest's HEAD) to out_fd,
 * without touching the guest's index, within lim (the guest chooses how much
 * its git diff writes). base_used gets the commit the patch is relative to;
 * *files the number of files in it. */
int ws_export_patch(struct bg_ssh *s, const char *guest_abs, const char *base, int out_fd,
                    const struct ws_export_limits *lim, char base_used[64], uint32_t *files,
                    struct bg_error *err);
