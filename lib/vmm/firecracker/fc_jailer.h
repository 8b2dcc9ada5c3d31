/* Firecracker's jailer, as banger uses it: a validated plan (pure functions),
 * the jailer's argv, and the chroot staging and cleanup that netsvc (root)
 * performs.
 *
 * Layout (the jailer's own, from --chroot-base-dir and the exec file name):
 *   <base>/firecracker/<id>/root/            the chroot, "/" for Firecracker
 *       vmlinux, initrd, vda..vdd           hard links of the VM's artifacts
 *       api.sock, agent.sock, fc.log,       created by Firecracker
 *       metrics.json, firecracker.pid
 *       dev/kvm, dev/net/tun                created by the jailer (mknod; it
 *                                           fails if they already exist)
 * and in the VM directory, symlinks into the chroot so every path banger
 * connects to stays short (sun_path holds 107 bytes) and the same as
 * without the jailer:
 *   DIR/api.sock, DIR/agent.sock, DIR/fc.log, DIR/firecracker.pid
 *
 * Jailer argv: jailer --id ID --exec-file FC --uid U --gid G
 *   --chroot-base-dir BASE --cgroup-version 2 [--parent-cgroup P]
 *   -- --api-sock /api.sock
 * No --daemonize (banger detaches it itself) and no --new-pid-ns, so the
 * jailer execs into Firecracker: the pid netsvc spawned is Firecracker's.
 * Without --daemonize the jailer keeps stdio, so Firecracker's stdout (the
 * guest's console) is what netsvc gives the jailer: a console pump's pipe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"
#include "vmm/vmm.h"

#define FC_JAIL_PATH_MAX 512
#define FC_JAIL_MAX_LINKS (2 + VMM_MAX_DISKS)
#define FC_JAIL_MAX_ROOTS 8
#define FC_JAIL_MAX_ARGS 24

struct fc_jailer_opts {
        const char *jailer;    /* absolute path of the jailer binary */
        const char *exec_file; /* absolute path of firecracker; basename "firecracker" */
        const char *base_dir;  /* --chroot-base-dir, under one of roots */
        uid_t uid;             /* owner user Firecracker runs as (not 0) */
        gid_t gid;
        const char *parent_cgroup; /* optional --parent-cgroup (relative, no ..) */
        /* banger's own directories: every path of the plan must be under one */
        const char *const *roots;
        size_t n_roots;
};

struct fc_jail_link {
        char src[VMM_PATH_MAX];     /* host file (regular, owned by uid) */
        char dst[FC_JAIL_PATH_MAX]; /* host path of the link inside the chroot */
        char jailed[16];            /* path Firecracker sees: "/vmlinux" */
        unsigned root_len;          /* src[0..root_len) is the banger root it is under */
};

struct fc_jail_node {
        char path[FC_JAIL_PATH_MAX]; /* host path inside the chroot */
        unsigned major, minor;
};

struct fc_jail_symlink {
        char path[VMM_PATH_MAX + 32];  /* DIR/api.sock */
        char target[FC_JAIL_PATH_MAX]; /* <chroot>/api.sock */
};

struct fc_jail_plan {
        char id[33];
        uid_t uid;
        gid_t gid;
        char jailer[VMM_PATH_MAX];
        char exec_file[VMM_PATH_MAX];
        char base_dir[VMM_PATH_MAX];
        char parent_cgroup[128];
        char jail_dir[FC_JAIL_PATH_MAX];   /* <base>/firecracker/<id> */
        char chroot_dir[FC_JAIL_PATH_MAX]; /* <base>/firecracker/<id>/root */
        char vm_dir[VMM_PATH_MAX];
        unsigned vm_dir_root_len; /* vm_dir[0..len) is its banger root */
        unsigned base_dir_root_len;
        struct fc_jail_link links[FC_JAIL_MAX_LINKS];
        unsigned n_links;
        struct fc_jail_node nodes[2]; /* dev/kvm 10:232, dev/net/tun 10:200 */
        struct fc_jail_symlink symlinks[4];
        unsigned n_symlinks;
        /* The spec as Firecracker sees it inside the jail: dir "/", kernel
         * "/vmlinux", initrd "/initrd", disks "/vda"…; hand it to
         * fc_configure_and_start with DIR/api.sock. */
        struct vmm_spec jailed;
};

/* An absolute path without "", "." or ".." components, under one of roots
 * (a root itself is not accepted: things live below it). */
int fc_jail_path_check(const char *path, const char *const *roots, size_t n_roots,
                       struct bg_error *err);

/* Builds and validates the plan for spec. Refuses ids that are not hex,
 * uid 0, paths outside roots or with "..", an exec file not named
 * "firecracker", non-raw disks, and socket paths that would not fit. */
int fc_jailer_plan(const struct vmm_spec *spec, const struct fc_jailer_opts *opts,
                   struct fc_jail_plan *ret, struct bg_error *err);

/* spec as Firecracker sees it inside the jail: dir "/", kernel "/vmlinux",
 * initrd "/initrd", disks "/vda", "/vdb"… */
void fc_jailed_spec(const struct vmm_spec *spec, struct vmm_spec *out);

/* Only the paths of a plan (id, uid/gid, base, jail, chroot, VM dir and its
 * symlinks), checked the same way: enough for fc_jailer_cleanup. */
int fc_jailer_plan_paths(const char *id, const char *vm_dir, const struct fc_jailer_opts *opts,
                         struct fc_jail_plan *ret, struct bg_error *err);

/* The jailer's argv, NULL-terminated, pointing into plan and argbuf (the
 * numbers are formatted there); valid as long as both are. Returns argc. */
struct fc_jail_argbuf {
        char uid[16], gid[16];
};
int fc_jailer_argv(const struct fc_jail_plan *plan, struct fc_jail_argbuf *argbuf,
                   const char *argv[FC_JAIL_MAX_ARGS], struct bg_error *err);

/* Creates the chroot (root-owned directories, 0755) and hard-links the
 * plan's files into it without following symlinks (each source must be a
 * regular file owned by plan->uid, on the chroot's filesystem), then the
 * short symlinks in the VM dir. Refuses when the jail exists already. Needs
 * root (CAP_DAC_READ_SEARCH for linkat AT_EMPTY_PATH, CAP_CHOWN). On failure
 * what was made is removed. */
int fc_jailer_stage(const struct fc_jail_plan *plan, struct bg_error *err);

/* Removes <base>/firecracker/<id> (never following symlinks, never crossing
 * into another filesystem) and the VM dir symlinks that point into it.
 * Absent pieces are fine. */
int fc_jailer_cleanup(const struct fc_jail_plan *plan, struct bg_error *err);
