#include "fc_contract_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The first key of the fake's snapshot state file, and the first bytes of
 * its memory file: what a load checks it was given. */
#define SNAP_MARKER "fake_firecracker_snapshot"
#define MEM_MARKER "fake-firecracker-memory\n"

/* ---- routing ------------------------------------------------------------ */

/* Matches target against a path template ("/drives/{drive_id}"); the first
 * parameter value is copied to param. */
static bool path_match(const char *tmpl, const char *target, char *param, size_t plen)
{
        const char *t = tmpl, *p = target;
        while (*t && *p) {
                if (*t == '{') {
                        const char *te = strchr(t, '}');
                        size_t n = strcspn(p, "/");
                        if (!te || n == 0)
                                return false;
                        snprintf(param, plen, "%.*s", (int)n, p);
                        t = te + 1;
                        p += n;
                        continue;
                }
                if (*t != *p)
                        return false;
                t++;
                p++;
        }
        return !*t && !*p;
}

static json_t *body_schema(json_t *op, bool *required)
{
        size_t i;
        json_t *par;
        json_array_foreach(json_object_get(op, "parameters"), i, par)
        {
                const char *in = json_string_value(json_object_get(par, "in"));
                if (in && streq(in, "body")) {
                        const char *req = json_string_value(json_object_get(par, "required"));
                        *required = req && streq(req, "true");
                        return json_object_get(par, "schema");
                }
        }
        *required = false;
        return NULL;
}

static bool mac_ok(const char *m)
{
        if (strlen(m) != 17)
                return false;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
                        return false;
        return true;
}

/* path as the host sees it when Firecracker runs in a chroot. */
static const char *rooted(const struct fc_contract_state *st, const char *path, char *buf,
                          size_t len)
{
        if (!st->o.root || !path)
                return path;
        snprintf(buf, len, "%s%s", st->o.root, path);
        return buf;
}

static int file_check(const struct fc_contract_state *st, const char *what, const char *path,
                      int mode, char *fault)
{
        char rb[4200];
        if (st->o.skip_file_checks || access(rooted(st, path, rb, sizeof(rb)), mode) == 0)
                return 0;
        return fc_contract_faultf(fault, "%s: cannot open '%s': %s", what, path, strerror(errno));
}

static int bind_vsock(struct fc_contract_state *st, const char *path, char *fault)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char rb[4200];
        path = rooted(st, path, rb, sizeof(rb));
        if (strlen(path) >= sizeof(sa.sun_path))
                return fc_contract_faultf(fault,
                                          "Cannot create backend for vsock device: path too long");
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return fc_contract_faultf(fault, "Cannot create backend for vsock device: %s",
                                          strerror(errno));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
                int e = errno;
                close(fd);
                return fc_contract_faultf(
                    fault,
                    "Cannot create backend for vsock device: Error binding to the "
                    "host-side Unix socket: %s",
                    strerror(e));
        }
        if (st->vsock_fd >= 0) {
                close(st->vsock_fd);
                unlink(st->vsock_path);
        }
        st->vsock_fd = fd;
        snprintf(st->vsock_path, sizeof(st->vsock_path), "%s", path);
        return 0;
}

static json_int_t mem_mib(const struct fc_contract_state *st)
{
        json_int_t m =
            st->machine ? json_integer_value(json_object_get(st->machine, "mem_size_mib")) : 0;
        return m > 0 ? m : 128;
}

/* PUT /snapshot/create on a paused guest: the "device state" is what was
 * configured (a JSON file starting with SNAP_MARKER), the "memory" a sparse
 * file of mem_size_mib MiB starting with MEM_MARKER. Like Firecracker, the
 * state file is created or truncated, the memory file resized in place. */
static int snapshot_create(struct fc_contract_state *st, json_t *body, char *fault)
{
        if (!st->paused)
                return fc_contract_faultf(fault,
                                          "Cannot save the microVM state: Operation not allowed: "
                                          "save/restore unavailable while running");
        char rb[4200], rb2[4200];
        const char *sp =
            rooted(st, json_string_value(json_object_get(body, "snapshot_path")), rb, sizeof(rb));
        const char *mp =
            rooted(st, json_string_value(json_object_get(body, "mem_file_path")), rb2, sizeof(rb2));
        json_t *state = json_pack(
            "{s:s, s:O, s:O, s:O, s:O}", SNAP_MARKER, st->o.version ? st->o.version : "1.16.1",
            "drives", st->drives, "ifaces", st->ifaces, "machine",
            st->machine ? st->machine : json_null(), "vsock", st->vsock ? st->vsock : json_null());
        _cleanup_free_ char *text = state ? json_dumps(state, JSON_COMPACT) : NULL;
        json_decref(state);
        if (!text)
                return fc_contract_faultf(fault, "Cannot save the microVM state: out of memory");
        _cleanup_close_ int fd = open(sp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return fc_contract_faultf(
                    fault, "Cannot perform open on the snapshot backing file: %s", strerror(errno));
        size_t n = strlen(text);
        if (write(fd, text, n) != (ssize_t)n)
                return fc_contract_faultf(fault,
                                          "Cannot perform write on the snapshot backing file: %s",
                                          strerror(errno));
        _cleanup_close_ int mfd = open(mp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (mfd < 0)
                return fc_contract_faultf(
                    fault, "Cannot perform open on the memory backing file: %s", strerror(errno));
        if (ftruncate(mfd, (off_t)mem_mib(st) << 20) < 0 ||
            pwrite(mfd, MEM_MARKER, strlen(MEM_MARKER), 0) != (ssize_t)strlen(MEM_MARKER))
                return fc_contract_faultf(
                    fault, "Cannot perform write on the memory backing file: %s", strerror(errno));
        return 0;
}

/* A failed load leaves Firecracker "too dirty to recover": it answers and
 * exits (fc_contract_serve returns 1). */
static int load_failed(struct fc_contract_state *st, char *fault, const char *fmt, ...)
    _printf_(3, 4);
static int load_failed(struct fc_contract_state *st, char *fault, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fault, FAULT_MAX, fmt, ap);
        va_end(ap);
        snprintf(st->fatal, sizeof(st->fatal), "%s", fault);
        return -1;
}

/* PUT /snapshot/load on a fresh process: reads the state and memory files
 * the fake's snapshot_create wrote, applies the overrides, opens the
 * recorded drives and binds the vsock uds, and leaves the guest paused
 * unless resume_vm. */
static int snapshot_load(struct fc_contract_state *st, json_t *body, char *fault)
{
        if (st->configured)
                return fc_contract_faultf(
                    fault, "Loading a microVM snapshot not allowed after configuring "
                           "boot-specific resources.");
        json_t *backend = json_object_get(body, "mem_backend");
        const char *mem_file = json_string_value(json_object_get(body, "mem_file_path"));
        if (backend && mem_file)
                return fc_contract_faultf(
                    fault, "too many fields: either `mem_backend` or `mem_file_path` "
                           "exclusively is required");
        if (!backend && !mem_file)
                return fc_contract_faultf(
                    fault, "missing field: either `mem_backend` or `mem_file_path` is required");
        if (backend) {
                if (!streq(json_string_value(json_object_get(backend, "backend_type")), "File"))
                        return load_failed(st, fault,
                                           "Failed to restore from snapshot: the fake Firecracker "
                                           "serves no UFFD");
                mem_file = json_string_value(json_object_get(backend, "backend_path"));
        }
        char rb[4200];
        const char *sp =
            rooted(st, json_string_value(json_object_get(body, "snapshot_path")), rb, sizeof(rb));
        json_error_t jerr;
        _cleanup_(json_decrefp) json_t *snap = NULL;
        {
                _cleanup_close_ int fd = open(sp, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to get snapshot state from file: Failed to open "
                                           "snapshot file: %s",
                                           strerror(errno));
                snap = json_loadfd(fd, JSON_DISABLE_EOF_CHECK, &jerr);
        }
        if (!json_is_object(snap) || !json_is_string(json_object_get(snap, SNAP_MARKER)))
                return load_failed(st, fault,
                                   "Load snapshot error: Failed to restore from snapshot: Failed "
                                   "to get snapshot state from file: Failed to load snapshot "
                                   "state from file: not a snapshot");
        json_t *machine = json_object_get(snap, "machine");
        json_int_t mib = json_integer_value(json_object_get(machine, "mem_size_mib"));
        if (mib <= 0)
                mib = 128;
        char mb[4200];
        mem_file = rooted(st, mem_file, mb, sizeof(mb));
        {
                _cleanup_close_ int mfd = open(mem_file, O_RDONLY | O_CLOEXEC);
                struct stat sb;
                char head[sizeof(MEM_MARKER)] = "";
                if (mfd < 0 || fstat(mfd, &sb) < 0)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to load guest memory: Error creating guest "
                                           "memory from file: %s",
                                           strerror(errno));
                if (sb.st_size < (off_t)mib << 20)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to load guest memory: Error creating guest "
                                           "memory from file: Failed to restore guest memory: "
                                           "offset too large");
                if (pread(mfd, head, strlen(MEM_MARKER), 0) != (ssize_t)strlen(MEM_MARKER) ||
                    !streq(head, MEM_MARKER))
                        return load_failed(st, fault,
                                           "Load snapshot error: the fake's memory file %s holds "
                                           "no guest memory",
                                           mem_file);
        }
        json_t *ifaces = json_object_get(snap, "ifaces");
        size_t i;
        json_t *ov;
        json_array_foreach(json_object_get(body, "network_overrides"), i, ov)
        {
                json_t *nic =
                    json_object_get(ifaces, json_string_value(json_object_get(ov, "iface_id")));
                if (!nic)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to get snapshot state from file: Unknown "
                                           "Network Device.");
                json_object_set(nic, "host_dev_name", json_object_get(ov, "host_dev_name"));
        }
        json_t *vsock = json_object_get(snap, "vsock");
        json_t *vov = json_object_get(body, "vsock_override");
        if (vov) {
                if (!json_is_object(vsock))
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to get snapshot state from file: Unknown Vsock "
                                           "Device.");
                json_object_set(vsock, "uds_path", json_object_get(vov, "uds_path"));
        }
        /* Firecracker opens the recorded drives while it builds the VM. */
        char why[FAULT_MAX];
        const char *id;
        json_t *d;
        json_object_foreach(json_object_get(snap, "drives"), id, d)
        {
                bool ro = json_is_true(json_object_get(d, "is_read_only"));
                if (file_check(st, "Drive", json_string_value(json_object_get(d, "path_on_host")),
                               ro ? R_OK : R_OK | W_OK, why) < 0)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to build microVM from snapshot: %.300s",
                                           why);
        }
        if (json_is_object(vsock) &&
            bind_vsock(st, json_string_value(json_object_get(vsock, "uds_path")), why) < 0)
                return load_failed(st, fault,
                                   "Load snapshot error: Failed to restore from snapshot: Failed "
                                   "to build microVM from snapshot: %.300s",
                                   why);
        json_decref(st->drives);
        st->drives = json_incref(json_object_get(snap, "drives"));
        json_decref(st->ifaces);
        st->ifaces = json_incref(ifaces);
        json_decref(st->machine);
        st->machine = json_is_object(machine) ? json_incref(machine) : NULL;
        json_decref(st->vsock);
        st->vsock = json_is_object(vsock) ? json_incref(vsock) : NULL;
        st->started = true;
        st->loaded = true;
        st->paused = !json_is_true(json_object_get(body, "resume_vm"));
        return 0;
}

/* PATCH /drives/{id} (post-boot): a new backing file for a drive that
 * exists, opened like the old one (read-only or read-write). */
static int patch_drive(struct fc_contract_state *st, const char *id, json_t *body, char *fault)
{
        json_t *d = json_object_get(st->drives, id);
        if (!d)
                return fc_contract_faultf(
                    fault,
                    "Unable to patch the block device: Invalid block device ID: "
                    "%s",
                    id);
        const char *p = json_string_value(json_object_get(body, "path_on_host"));
        if (!p)
                return 0;
        bool ro = json_is_true(json_object_get(d, "is_read_only"));
        if (file_check(st, "Drive", p, ro ? R_OK : R_OK | W_OK, fault) < 0)
                return -1;
        json_object_set_new(d, "path_on_host", json_string(p));
        return 0;
}

/* Firecracker's behaviour beyond the schema, for a valid body. */
static int semantics(struct fc_contract_state *st, const char *method, const char *tmpl,
                     const char *param, json_t *body, char *fault)
{
        bool is_put = streq(method, "PUT"), is_patch = streq(method, "PATCH");
        /* Post-boot calls (rpc_interface.rs, RuntimeApiController): actions,
         * every PATCH, snapshots; no more configuration. */
        bool after_ok = streq(tmpl, "/actions") || is_patch || streq(tmpl, "/snapshot/create");
        if (st->started && !after_ok)
                return fc_contract_faultf(fault,
                                          "The requested operation is not supported after starting "
                                          "the microVM.");
        if (!st->started &&
            (is_patch || streq(tmpl, "/snapshot/create") ||
             (streq(tmpl, "/actions") &&
              streq(json_string_value(json_object_get(body, "action_type")), "SendCtrlAltDel"))))
                return fc_contract_faultf(
                    fault, "The requested operation is not supported before starting "
                           "the microVM.");

        /* Ids in the path must equal the ids in the body. */
        static const char *const idkeys[] = {"drive_id", "iface_id", "id"};
        if (param[0])
                for (size_t i = 0; i < ELEMENTSOF(idkeys); i++) {
                        const char *b = json_string_value(json_object_get(body, idkeys[i]));
                        if (b && !streq(b, param))
                                return fc_contract_faultf(
                                    fault, "The id from the path does not match the id from "
                                           "the body!");
                }
        if (is_patch && streq(tmpl, "/vm"))
                st->paused = streq(json_string_value(json_object_get(body, "state")), "Paused");
        if (is_patch && streq(tmpl, "/drives/{drive_id}"))
                return patch_drive(st, param, body, fault);
        if (is_patch && streq(tmpl, "/network-interfaces/{iface_id}") &&
            !json_object_get(st->ifaces, param))
                return fc_contract_faultf(
                    fault,
                    "Unable to update the net device: Invalid network interface "
                    "ID: %s",
                    param);
        if (!is_put)
                return 0;
        if (streq(tmpl, "/snapshot/create"))
                return snapshot_create(st, body, fault);
        if (streq(tmpl, "/snapshot/load"))
                return snapshot_load(st, body, fault);
        /* What makes this a boot rather than a snapshot load. */
        if (!streq(tmpl, "/logger") && !streq(tmpl, "/metrics") && !streq(tmpl, "/actions") &&
            strncmp(tmpl, "/mmds", 5) != 0)
                st->configured = true;

        if (streq(tmpl, "/logger")) {
                if (st->logger)
                        return fc_contract_faultf(fault, "Logger can only be configured once.");
                char rb[4200];
                const char *lp = json_string_value(json_object_get(body, "log_path"));
                lp = rooted(st, lp, rb, sizeof(rb));
                if (lp && !st->o.skip_file_checks) {
                        int fd =
                            open(lp, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0640);
                        if (fd < 0)
                                return fc_contract_faultf(fault, "Cannot initialize logger: %s",
                                                          strerror(errno));
                        close(fd);
                }
                st->logger = true;
        } else if (streq(tmpl, "/metrics")) {
                if (st->metrics)
                        return fc_contract_faultf(fault,
                                                  "Reinitialization of metrics not allowed.");
                char rb[4200];
                const char *mp = json_string_value(json_object_get(body, "metrics_path"));
                mp = rooted(st, mp, rb, sizeof(rb));
                if (!st->o.skip_file_checks) {
                        int fd =
                            open(mp, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0640);
                        if (fd < 0)
                                return fc_contract_faultf(fault, "Cannot initialize metrics: %s",
                                                          strerror(errno));
                        close(fd);
                }
                st->metrics = true;
        } else if (streq(tmpl, "/machine-config")) {
                json_int_t vcpu = json_integer_value(json_object_get(body, "vcpu_count"));
                json_int_t mem = json_integer_value(json_object_get(body, "mem_size_mib"));
                if (json_is_true(json_object_get(body, "smt")) && vcpu > 1 && vcpu % 2)
                        return fc_contract_faultf(fault,
                                                  "The number of vCPUs must be 1 or an even number "
                                                  "when SMT is enabled.");
                if (mem == 0)
                        return fc_contract_faultf(fault,
                                                  "The memory size (MiB) is either 0, or not a "
                                                  "multiple of the configured page size.");
                json_decref(st->machine);
                st->machine = json_deep_copy(body);
        } else if (streq(tmpl, "/boot-source")) {
                if (file_check(st, "Kernel image",
                               json_string_value(json_object_get(body, "kernel_image_path")), R_OK,
                               fault) < 0)
                        return -1;
                const char *ird = json_string_value(json_object_get(body, "initrd_path"));
                if (ird && file_check(st, "Initrd image", ird, R_OK, fault) < 0)
                        return -1;
                st->boot_source = true;
        } else if (streq(tmpl, "/drives/{drive_id}")) {
                const char *p = json_string_value(json_object_get(body, "path_on_host"));
                bool ro = json_is_true(json_object_get(body, "is_read_only"));
                bool root = json_is_true(json_object_get(body, "is_root_device"));
                if (!p && !json_object_get(body, "socket"))
                        return fc_contract_faultf(fault, "Unable to create the block device: no "
                                                         "path_on_host");
                if (p && file_check(st, "Drive", p, ro ? R_OK : R_OK | W_OK, fault) < 0)
                        return -1;
                json_t *old = json_object_get(st->drives, param);
                bool was_root = old && json_is_true(json_object_get(old, "is_root_device"));
                if (root && !was_root && st->root_drives > 0)
                        return fc_contract_faultf(fault, "A root block device already exists!");
                st->root_drives += (unsigned)root - (unsigned)was_root;
                json_object_set_new(st->drives, param, json_deep_copy(body));
        } else if (streq(tmpl, "/network-interfaces/{iface_id}")) {
                const char *mac = json_string_value(json_object_get(body, "guest_mac"));
                if (mac && !mac_ok(mac))
                        return fc_contract_faultf(fault, "Invalid MAC address: %s", mac);
                const char *dev = json_string_value(json_object_get(body, "host_dev_name"));
                const char *k;
                json_t *o;
                json_object_foreach(st->ifaces, k, o)
                {
                        if (!streq(k, param) &&
                            streq(json_string_value(json_object_get(o, "host_dev_name")), dev))
                                return fc_contract_faultf(
                                    fault, "The host device name %s is already in use.", dev);
                }
                json_object_set_new(st->ifaces, param, json_deep_copy(body));
        } else if (streq(tmpl, "/vsock")) {
                if (bind_vsock(st, json_string_value(json_object_get(body, "uds_path")), fault) < 0)
                        return -1;
                json_decref(st->vsock);
                st->vsock = json_deep_copy(body);
        } else if (streq(tmpl, "/actions")) {
                const char *a = json_string_value(json_object_get(body, "action_type"));
                if (streq(a, "InstanceStart")) {
                        if (st->started)
                                return fc_contract_faultf(fault, "The microVM is already running.");
                        if (!st->boot_source)
                                return fc_contract_faultf(fault,
                                                          "Cannot start microvm without kernel "
                                                          "configuration.");
                        st->started = true;
                } else if (streq(a, "FlushMetrics")) {
                        if (!st->metrics)
                                return fc_contract_faultf(fault,
                                                          "The metrics system is not initialized.");
                } else if (streq(a, "SendCtrlAltDel")) {
                        st->shutdown_requested = true;
                }
        } else if (!streq(tmpl, "/metrics")) {
                /* Resources banger never configures: accepted when valid. */
        }
        return 0;
}

static void record(const struct fc_contract_state *st, const char *method, const char *target,
                   int status, json_t *body)
{
        if (!st->o.record_path)
                return;
        _cleanup_free_ char *b = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        int fd = open(st->o.record_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        dprintf(fd, "%s %s %d %s\n", method, target, status, b ? b : "-");
        close(fd);
}

static int answer_get(struct fc_contract_state *st, const char *tmpl, char *resp, size_t len,
                      char *fault)
{
        json_t *j = NULL;
        if (streq(tmpl, "/"))
                j = json_pack("{s:s, s:s, s:s, s:s}", "app_name", "Firecracker", "id",
                              st->o.instance_id ? st->o.instance_id : "anonymous-instance", "state",
                              !st->started ? "Not started"
                              : st->paused ? "Paused"
                                           : "Running",
                              "vmm_version", st->o.version ? st->o.version : "1.16.1");
        else if (streq(tmpl, "/version"))
                j = json_pack("{s:s}", "firecracker_version",
                              st->o.version ? st->o.version : "1.16.1");
        else if (streq(tmpl, "/machine-config"))
                j = st->machine ? json_deep_copy(st->machine)
                                : json_pack("{s:i, s:i, s:b}", "vcpu_count", 1, "mem_size_mib", 128,
                                            "smt", 0);
        if (!j)
                return fc_contract_faultf(fault, "The requested resource is not configured.");
        _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        snprintf(resp, len, "%s", s ? s : "{}");
        return 0;
}

int fc_contract_handle(struct fc_contract_state *st, const char *method, const char *target,
                       const char *body, size_t body_len, char *resp, size_t resp_len)
{
        char fault[FAULT_MAX] = "";
        char lower[16], param[256] = "";
        json_t *jbody = NULL;
        int status = 400;
        const char *tmpl = NULL;
        json_t *op = NULL;

        size_t ml = strlen(method);
        for (size_t i = 0; i <= ml && i < sizeof(lower); i++)
                lower[i] = (char)tolower((unsigned char)method[i]);
        lower[sizeof(lower) - 1] = '\0';

        json_t *pv;
        const char *pk;
        json_object_foreach(st->c->paths, pk, pv)
        {
                char prm[256] = "";
                if (path_match(pk, target, prm, sizeof(prm))) {
                        tmpl = pk;
                        snprintf(param, sizeof(param), "%s", prm);
                        op = json_object_get(pv, lower);
                        break;
                }
        }
        if (!tmpl || !op) {
                fc_contract_faultf(fault, "Invalid request method and/or path: %s %s.", method,
                                   target);
                goto out;
        }
        if (streq(method, "GET")) {
                if (answer_get(st, tmpl, resp, resp_len, fault) == 0)
                        status = 200;
                goto out;
        }
        bool required;
        json_t *schema = body_schema(op, &required);
        if (body_len == 0) {
                if (required || schema) {
                        fc_contract_faultf(fault, "Empty request body for %s %s.", method, target);
                        goto out;
                }
        } else {
                json_error_t jerr;
                jbody = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr);
                if (!jbody) {
                        fc_contract_faultf(
                            fault,
                            "An error occurred when deserializing the json body of a "
                            "request: %s",
                            jerr.text);
                        goto out;
                }
                if (!schema) {
                        fc_contract_faultf(fault, "%s %s takes no body.", method, target);
                        goto out;
                }
                if (fc_contract_validate(st->c, schema, jbody, "body", 0, fault) < 0)
                        goto out;
        }
        /* An injected failure refuses a valid call and changes nothing. */
        if (st->o.fail_call) {
                char call[600];
                snprintf(call, sizeof(call), "%s %s", method, target);
                if (streq(call, st->o.fail_call)) {
                        fc_contract_faultf(fault, "%s",
                                           st->o.fail_message ? st->o.fail_message
                                                              : "injected failure");
                        goto out;
                }
        }
        if (semantics(st, method, tmpl, param, jbody, fault) < 0)
                goto out;
        status = 204;
out:
        st->calls++;
        if (status == 400) {
                st->rejected++;
                json_t *e = json_pack("{s:s}", "fault_message", fault);
                _cleanup_free_ char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
                json_decref(e);
                snprintf(resp, resp_len, "%s", s ? s : "{}");
        } else if (status == 204) {
                resp[0] = '\0';
        }
        record(st, method, target, status, jbody);
        json_decref(jbody);
        return status;
}

int fc_contract_state_new(const struct fc_contract *c, const struct fc_contract_opts *opts,
                          struct fc_contract_state **ret)
{
        struct fc_contract_state *st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        st->c = c;
        if (opts)
                st->o = *opts;
        st->vsock_fd = -1;
        st->drives = json_object();
        st->ifaces = json_object();
        if (!st->drives || !st->ifaces) {
                fc_contract_state_free(st);
                return -ENOMEM;
        }
        *ret = st;
        return 0;
}

struct fc_contract_state *fc_contract_state_free(struct fc_contract_state *st)
{
        if (st) {
                if (st->vsock_fd >= 0)
                        close(st->vsock_fd);
                json_decref(st->drives);
                json_decref(st->ifaces);
                json_decref(st->machine);
                json_decref(st->vsock);
                free(st);
        }
        return NULL;
}

bool fc_contract_started(const struct fc_contract_state *st)
{
        return st->started;
}

bool fc_contract_paused(const struct fc_contract_state *st)
{
        return st->paused;
}

const char *fc_contract_fatal(const struct fc_contract_state *st)
{
        return st->fatal[0] ? st->fatal : NULL;
}

unsigned fc_contract_calls(const struct fc_contract_state *st)
{
        return st->calls;
}

unsigned fc_contract_rejected(const struct fc_contract_state *st)
{
        return st->rejected;
}
