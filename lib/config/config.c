/* banger's configuration: the schema (one entry per key, with its parse
 * function from config_value.c), key lookup in sections and [[file_sync]]
 * entries, the defaults, loading a file or a string over them, and the enum
 * names. What each kind of value accepts is in config_value.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "toml.h"

#define CONFIG_MAX_SIZE (1024 * 1024)

/* ---- [[file_sync]] (parsed below, once find_key() exists) ------------ */

static void file_sync_entry_free(struct bg_file_sync *fs)
{
        free(fs->host);
        free(fs->guest);
}

static void release_file_sync(void *field)
{
        struct bg_file_sync_list *l = field;
        for (size_t i = 0; i < l->n; i++)
                file_sync_entry_free(&l->items[i]);
        free(l->items);
        l->items = NULL;
        l->n = 0;
}

static int parse_file_sync(const struct bg_config_key *k, const struct toml_value *v, void *field,
                           struct bg_config_src *src);

/* ---- the schema ------------------------------------------------------- */

static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
_Static_assert(ELEMENTSOF(log_level_names) == _LOG_LEVEL_MAX + 1, "log levels out of sync");
static const char *const vmm_names[] = {"auto", "qemu", "firecracker", NULL};
static const char *const accel_names[] = {"auto", "kvm", "tcg", NULL};

#define CFG(field) offsetof(struct bg_config, field)
#define FS(field) offsetof(struct bg_file_sync, field)

static const struct bg_config_key schema[] = {
    {"log_level", "string", "\"info\"",
     "Least severe log level written: debug, info, warn or error.", config_parse_enum, NULL,
     CFG(log_level), 0, 0, log_level_names},
    {"vmm", "string", "\"auto\"",
     "VMM for new VMs: qemu, firecracker, or auto (firecracker when it is installed, >= 1.5 and "
     "/dev/kvm is usable; else qemu).",
     config_parse_enum, NULL, CFG(vmm), 0, 0, vmm_names},

    {"vm.vcpu", "integer", "2", "Virtual CPUs of a new VM (1..32).", config_parse_int, NULL,
     CFG(vm.vcpu), 1, 32, NULL},
    {"vm.memory_mib", "integer", "1024", "Memory of a new VM in MiB (128..262144).",
     config_parse_int, NULL, CFG(vm.memory_mib), 128, 262144, NULL},
    {"vm.work_disk_size", "size", "\"8G\"",
     "Size of a new VM's work disk: a number with K, M, G or T, or bytes (at least 64M).",
     config_parse_size, NULL, CFG(vm.work_disk_size), 64LL << 20, INT64_MAX, NULL},
    {"vm.default_image", "string", "\"golden\"", "Image used when none is given.",
     config_parse_name, config_release_string, CFG(vm.default_image), 0, 0, NULL},
    {"vm.default_kernel", "string", "\"debian-cloud-amd64\"", "Kernel used when none is given.",
     config_parse_name, config_release_string, CFG(vm.default_kernel), 0, 0, NULL},
    {"vm.auto_stop_after", "duration", "\"0\"",
     "Stop a VM whose guest has been idle (under 10 % CPU) this long, like \"90s\" "
     "or \"1h30m\" (or seconds); \"0\" = never.",
     config_parse_duration, NULL, CFG(vm.auto_stop_after), 0, 0, NULL},
    {"vm.template", "string", "\"auto\"",
     "How new VMs start: \"auto\" resumes a snapshot template kept for their image, kernel, "
     "vcpu and memory (made in the background the first time), \"off\" always boots cold, any "
     "other name resumes that template (banger template create).",
     config_parse_name, config_release_string, CFG(vm.template_), 0, 0, NULL},
    {"vm.auto_templates", "integer", "3",
     "Automatic templates kept at most (each holds a RAM file of the VM's memory size); the "
     "least recently used one without clones goes first (0..64; 0 = none are made).",
     config_parse_int, NULL, CFG(vm.auto_templates), 0, 64, NULL},
    {"vm.max_labels", "integer", "32",
     "Most labels a VM may carry (vm create --label; 0..1024; 0 = labels are refused).",
     config_parse_int, NULL, CFG(vm.max_labels), 0, 1024, NULL},
    {"vm.max_label_value", "integer", "256",
     "Longest label value in characters (printable ASCII; 0..4096). Keys are 1-63 "
     "characters of letters, digits and . _ - /.",
     config_parse_int, NULL, CFG(vm.max_label_value), 0, 4096, NULL},
    {"vm.boot_timeout", "duration", "\"2m\"",
     "How long a booting (or resuming) VM's agent gets to answer before the start fails and "
     "is undone (10s..1h).",
     config_parse_duration, NULL, CFG(vm.boot_timeout), 10, 3600, NULL},
    {"vm.agent_probe_timeout", "duration", "\"2s\"",
     "Time a running guest's agent gets to answer vm health, ports or stats (1s..60s). One "
     "probe per VM at a time: another while it waits is refused as busy.",
     config_parse_duration, NULL, CFG(vm.agent_probe_timeout), 1, 60, NULL},
    {"vm.console_log_max", "size", "\"16M\"",
     "Most disk a VM's console log takes (at least 64K): past half of it the log is rotated "
     "and the oldest half dropped, so the last part is always kept. Kept by a console pump per "
     "VM, also while vmsvc is down.",
     config_parse_size, NULL, CFG(vm.console_log_max), 64LL << 10, INT64_MAX, NULL},
    {"vm.max_forwards", "integer", "16",
     "Most ports vmsvc forwards to one VM at once (vm forward --detach; 0..1024; 0 = detached "
     "forwards are refused).",
     config_parse_int, NULL, CFG(vm.max_forwards), 0, 1024, NULL},
    {"vm.forward_max_conns", "integer", "256",
     "Most connections open at once through one VM's detached forwards (1..65536; each holds "
     "up to 128 KiB of buffers). Past it new connections wait in the listen backlog.",
     config_parse_int, NULL, CFG(vm.forward_max_conns), 1, 65536, NULL},
    {"vm.forward_idle_timeout", "duration", "\"1h\"",
     "A connection through a detached forward that moves no byte either way this long is "
     "closed (1s..7d).",
     config_parse_duration, NULL, CFG(vm.forward_idle_timeout), 1, 604800, NULL},
    {"vm.stop_timeout", "duration", "\"10s\"",
     "Time vm stop gives a guest to power off (1s..45s), its agent asked first: then the "
     "VMM's power button gets 3 s more and a guest still running is killed. A stop waits on "
     "workers of its own, so stalled guests being stopped never slow other calls.",
     config_parse_duration, NULL, CFG(vm.stop_timeout), 1, 45, NULL},
    {"vm.max_stops_in_flight", "integer", "16",
     "Most vm stop calls vmsvc works on at once (1..24), running or waiting for one of its 8 "
     "stop workers; one more is refused at once as busy. Stops have call slots of their own, "
     "so stopping stalled guests never delays vm list, health or any other call.",
     config_parse_int, NULL, CFG(vm.max_stops_in_flight), 1, 24, NULL},
    {"vm.max_probes_in_flight", "integer", "16",
     "Most guest agent probes (vm health, ports, stats) vmsvc works on at once over all VMs "
     "(1..24), running or waiting for one of its 4 probe workers; one more is refused at once "
     "as busy, and other calls never wait for them.",
     config_parse_int, NULL, CFG(vm.max_probes_in_flight), 1, 24, NULL},

    {"network.bridge", "string", "\"banger0\"", "Name of the bridge the VMs' taps join.",
     config_parse_ifname, config_release_string, CFG(network.bridge), 1, 0, NULL},
    {"network.subnet", "string", "\"172.30.0.1/24\"",
     "The bridge's address and prefix (8..30); VMs get addresses in this subnet.",
     config_parse_cidr, NULL, CFG(network.subnet), 0, 0, NULL},
    {"network.dns_listen", "string", "\"127.0.0.1:42069\"",
     "IPv4 address and port of the DNS server for <name>.vm.", config_parse_endpoint, NULL,
     CFG(network.dns_listen), 0, 0, NULL},
    {"network.isolate_vms", "boolean", "false", "Block traffic between VMs on the bridge.",
     config_parse_bool, NULL, CFG(network.isolate_vms), 0, 0, NULL},
    {"network.tap_pool_size", "integer", "4", "Taps kept ready for new VMs (0..256).",
     config_parse_int, NULL, CFG(network.tap_pool_size), 0, 256, NULL},
    {"network.uplink", "string", "\"\"",
     "Interface VMs reach the outside through; \"\" = the default route's.", config_parse_ifname,
     config_release_string, CFG(network.uplink), 0, 0, NULL},

    {"image.pull_concurrency", "integer", "4", "Layers downloaded at once (1..32).",
     config_parse_int, NULL, CFG(image.pull_concurrency), 1, 32, NULL},
    {"image.insecure_registries", "array of strings", "[]",
     "Registries (host or host:port) reached over plain HTTP.", config_parse_hosts,
     config_release_string_list, CFG(image.insecure_registries), 0, 0, NULL},
    {"image.max_unpacked_size", "size", "\"64G\"",
     "Most an image pull may unpack to: its layers' files together, and its blobs before they "
     "are fetched (at least 64M). A pull over it fails and leaves nothing behind.",
     config_parse_size, NULL, CFG(image.max_unpacked_size), 64LL << 20, INT64_MAX, NULL},
    {"image.max_layer_ratio", "integer", "100",
     "Most times a pulled layer's tar may be larger than its compressed blob (2..100000); "
     "layers unpacking to under 64 MiB are not held to it.",
     config_parse_int, NULL, CFG(image.max_layer_ratio), 2, 100000, NULL},
    {"image.catalog_url", "string", "\"\"",
     "Image catalog for `image catalog` and `image pull --catalog`: a JSON list of bundles "
     "{name, url, sha256, size?, description?} at an http(s):// or file:/// URL; \"\" = none.",
     config_parse_catalog_url, config_release_string, CFG(image.catalog_url), 0, 0, NULL},
    {"image.max_catalog_calls", "integer", "4",
     "Most `image catalog` and `kernel catalog` reads imagesvc runs at once (1..16), each on a "
     "worker of its own: a slow catalog server never holds the workers other calls need; one "
     "more is refused at once as busy.",
     config_parse_int, NULL, CFG(image.max_catalog_calls), 1, 16, NULL},

    {"workspace.export_max", "size", "\"1G\"",
     "Most bytes a vm workspace export may spool (at least 1M): the guest's git diff is stopped "
     "past it, and the export fails naming this key.",
     config_parse_size, NULL, CFG(workspace.export_max), 1LL << 20, INT64_MAX, NULL},
    {"workspace.max_guest_calls", "integer", "16",
     "Most calls workspacesvc runs at once that wait on guests (exec through the API, workspace "
     "export, exec output polls; 1..24), each on a worker of its own; one more is refused at "
     "once as busy, and other calls never wait for them.",
     config_parse_int, NULL, CFG(workspace.max_guest_calls), 1, 24, NULL},

    {"kernel.debian_mirror", "string", "\"\"",
     "Debian mirror URL for kernel packages; \"\" = the host's apt sources.", config_parse_mirror,
     config_release_string, CFG(kernel.debian_mirror), 0, 0, NULL},

    {"firecracker.binary", "string", "\"firecracker\"", "Firecracker program name or path.",
     config_parse_program, config_release_string, CFG(firecracker.binary), 0, 0, NULL},
    {"firecracker.jailer", "boolean or \"auto\"", "\"auto\"",
     "Start Firecracker through its jailer (chroot, namespaces, seccomp; netsvc stages the "
     "jail): true, false, or \"auto\" = on in system mode, off in user mode. Snapshot templates "
     "are not available while it is on.",
     config_parse_tristate, NULL, CFG(firecracker.jailer), 0, 0, NULL},
    {"firecracker.jailer_binary", "string", "\"jailer\"", "Jailer program name or path.",
     config_parse_program, config_release_string, CFG(firecracker.jailer_binary), 0, 0, NULL},

    {"qemu.binary", "string", "\"qemu-system-x86_64\"", "QEMU program name or path.",
     config_parse_program, config_release_string, CFG(qemu.binary), 0, 0, NULL},
    {"qemu.accel", "string", "\"auto\"", "QEMU accelerator: auto, kvm or tcg.", config_parse_enum,
     NULL, CFG(qemu.accel), 0, 0, accel_names},

    {"ssh.key_path", "string", "\"\"",
     "An existing private key (OpenSSH, no passphrase, mode 0600 or stricter, yours) that banger "
     "uses instead of its own CONFIG/ssh/id_ed25519: put in VMs' authorized_keys and used by vm "
     "ssh, vm run, vm exec and ssh-config. Absolute or starting with ~/; \"\" = banger's own.",
     config_parse_opt_host_path, config_release_string, CFG(ssh.key_path), 0, 0, NULL},

    {"update.manifest_url", "string",
     "\"https://github.com/banger/banger/releases/latest/download/manifest.json\"",
     "The signed release manifest `banger update` reads (https:// only); its signature is "
     "MANIFEST_URL.sig.",
     config_parse_https_url, config_release_string, CFG(update.manifest_url), 0, 0, NULL},
    {"update.ca_file", "string", "\"\"",
     "A PEM file of the CAs `banger update` verifies its HTTPS downloads against instead of "
     "the system's CA store (\"\"). Absolute or starting with ~/.",
     config_parse_opt_host_path, config_release_string, CFG(update.ca_file), 0, 0, NULL},
    {"update.public_key", "string", "\"\"",
     "The ed25519 key (base64 of its 32 bytes) release manifests must be signed with instead of "
     "the one built into banger; honoured only from a config file owned by root and writable by "
     "no one else (else `banger update` refuses to run). \"\" = the built-in key.",
     config_parse_public_key, config_release_string, CFG(update.public_key), 0, 0, NULL},
    {"update.max_download", "size", "\"512M\"",
     "Most bytes `banger update` downloads for one binary (at least 1M); the manifest itself "
     "is capped at 1 MiB.",
     config_parse_size, NULL, CFG(update.max_download), 1LL << 20, INT64_MAX, NULL},

    {"file_sync", "array of tables", "[]",
     "Files and directories copied from the host onto each VM's work disk before every boot "
     "(a missing host path or a symlink inside a directory is skipped with a warning).",
     parse_file_sync, release_file_sync, CFG(file_sync), 0, 0, NULL},
    {"file_sync.host", "string", "(required)", "Host path: absolute or starting with ~/.",
     config_parse_host_path, config_release_string, FS(host), 0, 0, NULL},
    {"file_sync.guest", "string", "(required)",
     "Path in the VM: starting with ~/ or /root/, without . or .. components.",
     config_parse_guest_path, config_release_string, FS(guest), 0, 0, NULL},
    {"file_sync.mode", "integer or string", "0o600 for files, kept for directories",
     "Permission bits, like 0o600 or \"0600\".", config_parse_mode, NULL, FS(mode), 0, 0, NULL},
};

const struct bg_config_key *bg_config_keys(size_t *n)
{
        if (n)
                *n = ELEMENTSOF(schema);
        return schema;
}

static bool in_file_sync(const struct bg_config_key *k)
{
        return strncmp(k->name, "file_sync.", 10) == 0;
}

/* The schema entry for a top-level key ("log_level"), a key in a section
 * ("vm.vcpu", never matched by a quoted top-level key "vm.vcpu") or, with
 * file_sync_entry, a key of a [[file_sync]] entry ("host"). */
static const struct bg_config_key *find_key(const char *section, const char *name,
                                            bool file_sync_entry)
{
        size_t sl = section ? strlen(section) : 0;
        for (size_t i = 0; i < ELEMENTSOF(schema); i++) {
                const struct bg_config_key *k = &schema[i];
                if (in_file_sync(k) != file_sync_entry)
                        continue;
                const char *kn = file_sync_entry ? k->name + 10 : k->name;
                if (section) {
                        if (strncmp(kn, section, sl) != 0 || kn[sl] != '.')
                                continue;
                        kn += sl + 1;
                } else if (!file_sync_entry && strchr(kn, '.')) {
                        continue;
                }
                if (streq(kn, name))
                        return k;
        }
        return NULL;
}

/* A key as written, for messages: bare keys as they are, others quoted. */
static const char *key_text(const char *key, char *out, size_t size)
{
        size_t n = strlen(key);
        if (n > 0 && n == strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789_-"))
                snprintf(out, size, "%s", key);
        else
                config_quote(key, n, out, size);
        return out;
}

/* Is name a [section] of the schema? */
static bool is_section(const char *name)
{
        size_t n = strlen(name);
        for (size_t i = 0; i < ELEMENTSOF(schema); i++)
                if (!in_file_sync(&schema[i]) && strncmp(schema[i].name, name, n) == 0 &&
                    schema[i].name[n] == '.')
                        return true;
        return false;
}

static int parse_file_sync_entry(const struct toml_value *t, struct bg_file_sync *fs,
                                 struct bg_config_src *src)
{
        const struct bg_config_key *top = find_key(NULL, "file_sync", false);
        char kt[96];
        if (t->type != TOML_TABLE)
                return config_fail(src, t->line, top->name,
                                   "expected an array of tables, got an array "
                                   "holding %s",
                                   toml_type_to_string(t->type));
        fs->line = t->line;
        fs->mode = 0600;
        for (size_t i = 0; i < t->u.table.n; i++) {
                const struct toml_keyval *kv = &t->u.table.items[i];
                const struct bg_config_key *k = find_key(NULL, kv->key, true);
                if (!k)
                        return bg_error_set(src->err, EINVAL, "%s:%u: unknown key file_sync.%s",
                                            src->name, kv->line, key_text(kv->key, kt, sizeof(kt)));
                int r = k->parse(k, kv->value, (char *)fs + k->offset, src);
                if (r < 0)
                        return r;
                if (k->parse == config_parse_mode)
                        fs->has_mode = true;
        }
        if (!fs->host)
                return config_fail(src, t->line, top->name, "entry has no host (the path to copy)");
        if (!fs->guest)
                return config_fail(src, t->line, top->name,
                                   "entry has no guest (where to copy it)");
        return 0;
}

static int parse_file_sync(const struct bg_config_key *k, const struct toml_value *v, void *field,
                           struct bg_config_src *src)
{
        if (v->type != TOML_ARRAY)
                return config_fail(src, v->line, k->name,
                                   "expected an array of tables ([[file_sync]]), got %s",
                                   toml_type_to_string(v->type));
        struct bg_file_sync_list l = {};
        if (v->u.array.n > 0) {
                l.items = calloc(v->u.array.n, sizeof(*l.items));
                if (!l.items)
                        return config_fail_oom(src);
        }
        for (size_t i = 0; i < v->u.array.n; i++) {
                int r = parse_file_sync_entry(v->u.array.items[i], &l.items[l.n++], src);
                if (r < 0) {
                        release_file_sync(&l);
                        return r;
                }
        }
        release_file_sync(field);
        *(struct bg_file_sync_list *)field = l;
        return 0;
}

/* ---- loading ---------------------------------------------------------- */

void bg_config_free(struct bg_config *cfg)
{
        if (!cfg)
                return;
        for (size_t i = 0; i < ELEMENTSOF(schema); i++)
                if (schema[i].release && !in_file_sync(&schema[i]))
                        schema[i].release((char *)cfg + schema[i].offset);
        memset(cfg, 0, sizeof(*cfg));
}

bool bg_config_jailer_on(const struct bg_config *cfg, bool system_mode)
{
        return cfg->firecracker.jailer == BG_TRISTATE_ON ||
               (cfg->firecracker.jailer == BG_TRISTATE_AUTO && system_mode);
}

int bg_config_defaults(struct bg_config *cfg)
{
        struct bg_config c = {};
        struct bg_error err = {};
        struct bg_config_src src = {.name = "<defaults>", .err = &err};

        for (size_t i = 0; i < ELEMENTSOF(schema); i++) {
                const struct bg_config_key *k = &schema[i];
                char text[256];
                _cleanup_(toml_freep) struct toml_value *doc = NULL;
                if (in_file_sync(k))
                        continue;
                snprintf(text, sizeof(text), "v = %s\n", k->default_text);
                int r = toml_parse(text, strlen(text), &doc, &err);
                if (r >= 0)
                        r = k->parse(k, toml_table_get(doc, "v"), (char *)&c + k->offset, &src);
                if (r < 0) {
                        bg_config_free(&c);
                        return r;
                }
        }
        *cfg = c;
        return 0;
}

static int apply(const struct toml_value *root, struct bg_config *cfg, struct bg_config_src *src)
{
        char kt[96], skt[96];
        for (size_t i = 0; i < root->u.table.n; i++) {
                const struct toml_keyval *kv = &root->u.table.items[i];
                const struct bg_config_key *k = find_key(NULL, kv->key, false);
                if (k) {
                        int r = k->parse(k, kv->value, (char *)cfg + k->offset, src);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!is_section(kv->key))
                        return bg_error_set(src->err, EINVAL, "%s:%u: unknown key %s", src->name,
                                            kv->line, key_text(kv->key, kt, sizeof(kt)));
                const struct toml_value *t = kv->value;
                if (t->type != TOML_TABLE)
                        return config_fail(src, t->line, kv->key, "expected a table, got %s",
                                           toml_type_to_string(t->type));
                for (size_t j = 0; j < t->u.table.n; j++) {
                        const struct toml_keyval *skv = &t->u.table.items[j];
                        const struct bg_config_key *sk = find_key(kv->key, skv->key, false);
                        if (!sk)
                                return bg_error_set(src->err, EINVAL, "%s:%u: unknown key %s.%s",
                                                    src->name, skv->line, kv->key,
                                                    key_text(skv->key, skt, sizeof(skt)));
                        int r = sk->parse(sk, skv->value, (char *)cfg + sk->offset, src);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int bg_config_load_string(const char *name, const char *text, size_t len, struct bg_config *cfg,
                          struct bg_error *err)
{
        struct bg_config_src src = {.name = name ? name : "<config>", .err = err};
        _cleanup_(toml_freep) struct toml_value *root = NULL;
        struct bg_config c;

        int r = toml_parse(text, len, &root, err);
        if (r < 0) {
                char msg[BG_ERROR_MSG_MAX];
                snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
                return bg_error_set(err, -r, "%s:%s", src.name, msg);
        }
        r = bg_config_defaults(&c);
        if (r < 0)
                return bg_error_set(err, -r, "%s: cannot set the defaults: %s", src.name,
                                    strerror(-r));
        r = apply(root, &c, &src);
        if (r < 0) {
                bg_config_free(&c);
                return r;
        }
        *cfg = c;
        return 0;
}

int bg_config_load_file(const char *path, struct bg_config *cfg, struct bg_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return bg_config_defaults(cfg) < 0
                                   ? bg_error_set(err, ENOMEM, "%s: out of memory", path)
                                   : 0;
                return bg_error_errno(err, -errno, "%s: cannot open", path);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "%s: cannot stat", path);
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "%s: not a regular file", path);
        if (st.st_size > CONFIG_MAX_SIZE)
                return bg_error_set(err, EFBIG, "%s: larger than %d bytes", path, CONFIG_MAX_SIZE);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return bg_error_set(err, ENOMEM, "%s: out of memory", path);
        size_t n = 0;
        for (;;) {
                if (n == (size_t)st.st_size + 1) /* grew while reading: re-read is simpler */
                        return bg_error_set(err, EAGAIN, "%s: changed while being read", path);
                ssize_t k = read(fd, buf + n, (size_t)st.st_size + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return bg_error_errno(err, -errno, "%s: cannot read", path);
                }
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        return bg_config_load_string(path, buf, n, cfg, err);
}

static int enum_from(const char *const *names, const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; names[i]; i++)
                if (streq(names[i], s))
                        return i;
        return -EINVAL;
}

const char *bg_vmm_to_string(enum bg_vmm v)
{
        return (unsigned)v < _BG_VMM_MAX ? vmm_names[v] : NULL;
}

int bg_vmm_from_string(const char *s)
{
        return enum_from(vmm_names, s);
}

const char *bg_qemu_accel_to_string(enum bg_qemu_accel a)
{
        return (unsigned)a < _BG_QEMU_ACCEL_MAX ? accel_names[a] : NULL;
}

int bg_qemu_accel_from_string(const char *s)
{
        return enum_from(accel_names, s);
}
