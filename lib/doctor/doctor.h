/* The checks of `banger doctor`: each adds one or more rows
 * {id, PASS|WARN|FAIL, message, fix hint}. Checks take everything they look
 * at from a struct doctor_env (function pointers plus a /proc root), so unit
 * tests run every branch against a faked host; doctor_env_real() (in
 * doctor_env.c) fills the parts that need nothing but libc, and the CLI adds
 * those that talk to banger's services or to netlink.
 *
 * Row ids are stable (docs/troubleshooting.md is keyed by them):
 *   config, kvm, accel, tun, vmm.qemu, vmm.firecracker, tools.<program>, nftables, subnet,
 *   dns.port, resolver, disk, service.<name>, version, system.install,
 *   system.sockets, system.units */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config.h"
#include "manifest.h"
#include "util/error.h"

enum doctor_status {
        DOCTOR_PASS,
        DOCTOR_WARN,
        DOCTOR_FAIL,
};

const char *doctor_status_to_string(enum doctor_status s); /* "PASS", "WARN", "FAIL" */

struct doctor_row {
        char id[48];
        enum doctor_status status;
        char message[512];
        char hint[512]; /* "" for PASS rows */
};

struct doctor_report {
        struct doctor_row *rows;
        size_t n, cap;
};

/* Appends a row; -ENOMEM. hint may be NULL. */
int doctor_add(struct doctor_report *rep, const char *id, enum doctor_status st, const char *hint,
               const char *fmt, ...) _printf_(5, 6);
const struct doctor_row *doctor_find(const struct doctor_report *rep, const char *id);
bool doctor_any_fail(const struct doctor_report *rep);
void doctor_report_free(struct doctor_report *rep);

/* One service as the gateway reports it. */
struct doctor_health {
        char name[32]; /* "gateway", "vmsvc", ... */
        bool up;
        char version[64];
        char commit[64];
        char error[256];
};

/* What NetService/Status said (known = the call succeeded). */
struct doctor_net {
        bool known;
        bool set_up;
        bool nft_present;
        bool resolver_routed;
        char setup_error[256];
        char dns_listen[4][48]; /* "ADDR:PORT" netsvc's DNS server listens on */
        size_t n_dns_listen;
        bool jailer_usable;   /* netsvc could run Firecracker's jailer */
        char jailer_why[256]; /* why not */
};

/* Results of the accelerator probe. */
enum doctor_accel {
        DOCTOR_ACCEL_UNKNOWN, /* no probe available, or it could not run */
        DOCTOR_ACCEL_KVM,     /* a guest ran under KVM */
        DOCTOR_ACCEL_TCG,     /* KVM did not work; guests fall back to TCG */
};

struct doctor_env {
        void *ud;
        const char *proc_root; /* "/proc" */
        bool is_root;
        /* Program lookup in PATH plus /usr/sbin and /sbin: 0 and its path,
         * or -ENOENT. A name with a '/' is checked as is. */
        int (*find_program)(void *ud, const char *name, char *path, size_t len);
        /* Runs argv[0] (an absolute path) with stdin /dev/null; stdout and
         * stderr in out (NUL-terminated, truncated). Returns its exit status
         * (>= 0; 128+N for a signal) or -errno when it could not run. */
        int (*run)(void *ud, const char *const *argv, char *out, size_t len);
        /* Opens the KVM device: 0 and the API version, or -errno. */
        int (*kvm_open)(void *ud, const char *dev, int *ret_api);
        /* Opens a device read-write and closes it again: 0 or -errno. */
        int (*dev_open)(void *ud, const char *dev);
        /* Which accelerator guests get; detail gets one line. */
        enum doctor_accel (*accel_probe)(void *ud, char *detail, size_t len);
        /* Free bytes for unprivileged users on the filesystem of path. */
        int (*disk_free)(void *ud, const char *path, uint64_t *ret);
        /* A host route overlapping subnet (not via bridge): 1 and its text,
         * 0 none, -errno. */
        int (*route_overlap)(void *ud, struct in_addr subnet, uint8_t prefix, const char *bridge,
                             char *route, size_t len);
        bool (*resolved_running)(void *ud);
        int (*lstat)(void *ud, const char *path, struct stat *st);
        /* Whole file, malloc'd and NUL-terminated. */
        int (*read_file)(void *ud, const char *path, char **ret);
        /* Gateway/Health: 0 with the gateway's own entry first, or -errno
         * with why the gateway could not be reached in error. */
        int (*health)(void *ud, struct doctor_health **ret, size_t *ret_n, char *error, size_t len);
        /* NetService/Status through the gateway. */
        int (*net_status)(void *ud, struct doctor_net *ret);
};

/* What the checks are about. */
struct doctor_input {
        const struct bg_config *cfg;
        bool system_mode;
        const char *state_dir;
        const char *runtime_dir;
        const char *net_runtime_dir; /* netsvc's socket dir; NULL = /run/banger-netsvc */
        const char *cli_version;
        const char *cli_commit;
        /* System mode: the parsed install.toml, or NULL with manifest_error. */
        const struct install_manifest *manifest;
        const char *manifest_error;
        const char *install_root; /* "" = live; where units are read from */
};

/* Version "a.b.c" (or "vA.B.C", trailing text ignored) as a*1e6+b*1e3+c; -1
 * when it does not start with a number. */
long doctor_version_code(const char *s);

/* Process holding a socket bound to port (UDP) on addr or on 0.0.0.0, from
 * proc_root/net/udp and proc_root/<pid>/fd. 1 with pid and comm; 0 nothing
 * listens; -EACCES someone listens but no readable fd points at it (another
 * user's process, seen by a non-root caller): *ret_pid is then 0. */
int doctor_udp_port_owner(const char *proc_root, struct in_addr addr, uint16_t port, int *ret_pid,
                          char *comm, size_t comm_len);

/* The distribution id from /etc/os-release ("debian", "fedora", ...; "" when
 * unknown). */
void doctor_os_id(const struct doctor_env *env, char *out, size_t len);

int doctor_check_kvm(const struct doctor_env *env, const struct doctor_input *in,
                     struct doctor_report *rep);
int doctor_check_accel(const struct doctor_env *env, const struct doctor_input *in,
                       struct doctor_report *rep);
/* /dev/net/tun: QEMU and Firecracker open it, as the owner, to attach a VM
 * to the tap netsvc made for it. */
int doctor_check_tun(const struct doctor_env *env, const struct doctor_input *in,
                     struct doctor_report *rep);
int doctor_check_vmm(const struct doctor_env *env, const struct doctor_input *in,
                     struct doctor_report *rep);
/* Firecracker's binary (root-owned, not writable by others: netsvc runs it
 * through the jailer as root), the jailer (installed, trusted, usable by
 * netsvc, what firecracker.jailer makes of it) and dev mode as root
 * (doctor_fc.c). */
int doctor_check_fc_security(const struct doctor_env *env, const struct doctor_input *in,
                             struct doctor_report *rep);
int doctor_check_tools(const struct doctor_env *env, const struct doctor_input *in,
                       struct doctor_report *rep);
int doctor_check_nftables(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep);
int doctor_check_subnet(const struct doctor_env *env, const struct doctor_input *in,
                        struct doctor_report *rep);
int doctor_check_dns_port(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep);
int doctor_check_resolver(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep);
int doctor_check_disk(const struct doctor_env *env, const struct doctor_input *in,
                      struct doctor_report *rep);
/* service.<name> rows and the version row, from one Gateway/Health call. */
int doctor_check_services(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep);
/* system.install, system.sockets, system.units; nothing in user mode. */
int doctor_check_system(const struct doctor_env *env, const struct doctor_input *in,
                        struct doctor_report *rep);

/* Every check, in the order above. */
int doctor_run(const struct doctor_env *env, const struct doctor_input *in,
               struct doctor_report *rep);

/* Firecracker versions banger is tested with: 1.5.0 up to 1.16.x. */
#define DOCTOR_FC_MIN 1005000L
#define DOCTOR_FC_MAX 1016999L
/* QEMU versions with ACPI on microvm (banger's kernels need it). */
#define DOCTOR_QEMU_MIN 5002000L
#define DOCTOR_DISK_WARN (5ULL << 30)
#define DOCTOR_DISK_FAIL (1ULL << 30)

/* doctor_env.c: libc-only parts of the real environment (find_program, run,
 * kvm_open, dev_open, disk_free, lstat, read_file, proc_root, is_root); the others
 * are left NULL for the caller to set (a NULL op makes its check say it
 * could not look). */
void doctor_env_real(struct doctor_env *env);
