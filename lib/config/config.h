/* banger's configuration: ~/.config/banger/config.toml (system-wide
 * /etc/banger/config.toml), read with the TOML parser in toml.h and checked
 * against a schema table, one entry per key (see bg_config_keys()).
 *
 * Every problem is reported in err->msg naming the file, the line and the key:
 *   config.toml:12: network.subnet: "172.30.0.0/33" is not an IPv4 CIDR like 172.30.0.1/24
 *   config.toml:3: unknown key vm.cpus
 *   config.toml:4:9: expected a value, got '!'          (TOML syntax: line:column)
 *
 * Ownership: a struct bg_config filled by bg_config_defaults() or a
 * bg_config_load_*() call owns its strings and arrays; release them with
 * bg_config_free(). */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/log.h"
#include "util/error.h"

enum bg_vmm {
        BG_VMM_AUTO,
        BG_VMM_QEMU,
        BG_VMM_FIRECRACKER,
        _BG_VMM_MAX,
};

enum bg_qemu_accel {
        BG_QEMU_ACCEL_AUTO,
        BG_QEMU_ACCEL_KVM,
        BG_QEMU_ACCEL_TCG,
        _BG_QEMU_ACCEL_MAX,
};

const char *bg_vmm_to_string(enum bg_vmm v); /* NULL if out of range */
int bg_vmm_from_string(const char *s);       /* enum value, or -EINVAL */
const char *bg_qemu_accel_to_string(enum bg_qemu_accel a);
int bg_qemu_accel_from_string(const char *s);

/* A setting that is on, off, or decided by banger ("auto"). */
enum bg_tristate {
        BG_TRISTATE_AUTO,
        BG_TRISTATE_OFF,
        BG_TRISTATE_ON,
};

struct bg_ipv4_cidr {
        struct in_addr addr; /* the host's own address (network byte order) */
        uint8_t prefix;      /* 8..30 */
};

struct bg_ipv4_endpoint {
        struct in_addr addr; /* network byte order */
        uint16_t port;       /* host byte order, 1..65535 */
};

struct bg_string_list {
        char **items;
        size_t n;
};

/* One [[file_sync]] entry: copy host path into the VM's work disk. */
struct bg_file_sync {
        char *host;    /* "/abs/path" or "~/rel" (~ = the owner's home) */
        char *guest;   /* "~/rel" or "/root/rel": normalised, no "..", no empty parts */
        uint32_t mode; /* permission bits, 0..07777; 0600 when has_mode is false */
        bool has_mode; /* false: files get 0600, directories keep their modes */
        unsigned line; /* where the entry starts in the file */
};

struct bg_file_sync_list {
        struct bg_file_sync *items;
        size_t n;
};

struct bg_config {
        enum log_level log_level; /* "info" */
        enum bg_vmm vmm;          /* "auto" */
        struct {
                uint32_t vcpu;            /* 2 (1..32) */
                uint32_t memory_mib;      /* 1024 (128..262144) */
                uint64_t work_disk_size;  /* bytes; "8G" (>= 64M) */
                char *default_image;      /* "golden" */
                char *default_kernel;     /* "debian-cloud-amd64" */
                uint64_t auto_stop_after; /* seconds; 0 = never */
                char *template_;          /* "auto", "off" or a template name */
                uint32_t auto_templates;  /* 3 (0..64) */
                uint32_t max_labels;      /* 32 (0..1024) */
                uint32_t max_label_value; /* 256 (0..4096) */
                uint64_t agent_probe_timeout; /* seconds; 2 (1..60) */
                uint64_t boot_timeout;        /* seconds; 120 (10..3600) */
                uint64_t console_log_max;     /* bytes; "16M" (>= 64K) */
                uint32_t max_forwards;        /* 16 (0..1024) */
                uint32_t forward_max_conns;   /* 256 (1..65536) */
                uint64_t forward_idle_timeout; /* seconds; 3600 (1..604800) */
                uint64_t stop_timeout;        /* seconds; 10 (1..45) */
                uint32_t max_stops_in_flight; /* 16 (1..24) */
                uint32_t max_probes_in_flight; /* 16 (1..24) */
        } vm;
        struct {
                char *bridge;                       /* "banger0" */
                struct bg_ipv4_cidr subnet;         /* 172.30.0.1/24 */
                struct bg_ipv4_endpoint dns_listen; /* 127.0.0.1:42069 */
                bool isolate_vms;                   /* false */
                uint32_t tap_pool_size;             /* 4 (0..256) */
                char *uplink;                       /* "" = pick the default route's */
        } network;
        struct {
                uint32_t pull_concurrency;                 /* 4 (1..32) */
                struct bg_string_list insecure_registries; /* host or host:port */
                uint64_t max_unpacked_size;                /* bytes; "64G" (>= 64M) */
                uint32_t max_layer_ratio;                  /* 100 (2..100000) */
                char *catalog_url; /* "" = none; http(s):// or file:/// JSON */
                uint32_t max_catalog_calls; /* 4 (1..16) */
        } image;
        struct {
                uint64_t export_max; /* bytes; "1G" (>= 1M) */
                uint32_t max_guest_calls; /* 16 (1..24) */
        } workspace;
        struct {
                char *debian_mirror; /* "" = the host's apt sources; else http(s) URL */
        } kernel;
        struct {
                char *binary;        /* "firecracker" */
                enum bg_tristate jailer; /* "auto": on in system mode (bg_config_jailer_on) */
                char *jailer_binary; /* "jailer" */
        } firecracker;
        struct {
                char *binary;             /* "qemu-system-x86_64" */
                enum bg_qemu_accel accel; /* "auto" */
        } qemu;
        struct {
                char *key_path; /* "" = banger's own CONFIG/ssh/id_ed25519 */
        } ssh;
        struct {
                char *manifest_url;    /* https:// release manifest (banger update) */
                char *ca_file;         /* "" = the system's CAs */
                char *public_key;      /* "" = the built-in release key; base64 ed25519 */
                uint64_t max_download; /* bytes; "512M" (>= 1M) per downloaded binary */
        } update;
        struct bg_file_sync_list file_sync;
};

/* Whether Firecracker starts through its jailer: firecracker.jailer, with
 * "auto" meaning on in system mode (the daemons run as a user of their own
 * and the jailer adds a chroot, namespaces and a seccomp filter) and off in
 * user mode (dev, tests: one user runs everything). */
bool bg_config_jailer_on(const struct bg_config *cfg, bool system_mode);

struct toml_value;
struct bg_config_src;

/* One schema entry. name, type, default_text and description document the
 * key (default_text is the TOML spelling of the default); the remaining
 * fields are used by the loader only. */
struct bg_config_key {
        const char *name;         /* "vm.vcpu", "file_sync.guest" */
        const char *type;         /* "integer", "string", "boolean", "size", ... */
        const char *default_text; /* "2", "\"8G\"", "[]" */
        const char *description;  /* one line */

        int (*parse)(const struct bg_config_key *key, const struct toml_value *v, void *field,
                     struct bg_config_src *src);
        void (*release)(void *field); /* frees what parse stored; NULL if nothing */
        size_t offset;                /* of the field in bg_config (bg_file_sync for file_sync.*) */
        int64_t min, max;             /* integer bounds */
        const char *const *choices;   /* enum names, NULL-terminated, index = value */
};

/* The schema, in documentation order; *n receives its length. */
const struct bg_config_key *bg_config_keys(size_t *n);

/* Fill cfg with the defaults. Returns 0 or -ENOMEM. */
int bg_config_defaults(struct bg_config *cfg);

/* Load a config file over the defaults. A missing file yields the defaults.
 * cfg is written only on success (it is not freed first). */
int bg_config_load_file(const char *path, struct bg_config *cfg, struct bg_error *err);

/* Same for text already in memory; name is used in messages ("config.toml"). */
int bg_config_load_string(const char *name, const char *text, size_t len, struct bg_config *cfg,
                          struct bg_error *err);

/* Free what cfg owns and zero it; accepts NULL. */
void bg_config_free(struct bg_config *cfg);
