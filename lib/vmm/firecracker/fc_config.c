#include "vmm/firecracker/fc_config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"
#include "vmm/firecracker/fc_api.h"
#include "vmm/firecracker/fc_version.h"
#include "vmm/vmm_cmdline.h"

int fc_check_vcpu(uint32_t vcpu, struct bg_error *err)
{
        if (vcpu == 0 || vcpu > FC_VCPU_MAX || (vcpu > 1 && vcpu % 2))
                return bg_error_set(err, EINVAL,
                                    "Firecracker needs 1 or an even number of vCPUs up to %d, "
                                    "not %" PRIu32,
                                    FC_VCPU_MAX, vcpu);
        return 0;
}

int fc_boot_args(const struct vmm_spec *spec, char *buf, size_t len, struct bg_error *err)
{
        char agent[32];
        snprintf(agent, sizeof(agent), "vsock:%d", FC_AGENT_VSOCK_PORT);
        const struct vmm_cmdline_machine m = {
            .console = "ttyS0",
            .agent = agent,
            .no_pci = true,
            .i8042_quick = true,
        };
        return vmm_cmdline_build(spec, &m, buf, len, err);
}

/* What a restore needs beyond a cold boot's spec (fc_check_spec). */
static int check_restore(const struct vmm_spec *spec, struct bg_error *err)
{
        if (spec->restore[0] != '/')
                return bg_error_set(err, EINVAL, "snapshot state '%s' is not an absolute path",
                                    spec->restore);
        if (!spec->mem.path[0] || spec->mem.shared)
                return bg_error_set(err, EINVAL,
                                    "restoring a snapshot needs its memory file, mapped private");
        struct stat st;
        if (stat(spec->restore, &st) < 0)
                return bg_error_errno(err, -errno, "snapshot state %s", spec->restore);
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "snapshot state %s is not a regular file",
                                    spec->restore);
        if (access(spec->restore, R_OK) < 0)
                return bg_error_errno(err, -errno, "snapshot state %s", spec->restore);
        if (stat(spec->mem.path, &st) < 0)
                return bg_error_errno(err, -errno, "snapshot memory %s", spec->mem.path);
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "snapshot memory %s is not a regular file",
                                    spec->mem.path);
        if (access(spec->mem.path, R_OK) < 0)
                return bg_error_errno(err, -errno, "snapshot memory %s", spec->mem.path);
        if ((uint64_t)st.st_size < (uint64_t)spec->memory_mib << 20)
                return bg_error_set(err, EINVAL,
                                    "snapshot memory %s holds %" PRIu64
                                    " bytes, less than the guest's %" PRIu32 " MiB (truncated?)",
                                    spec->mem.path, (uint64_t)st.st_size, spec->memory_mib);
        /* The snapshot's network interface would otherwise open the tap it
         * was made with, which another VM may hold by now. */
        if (!spec->tap[0])
                return bg_error_set(err, EINVAL,
                                    "a restored VM needs a tap of its own for the snapshot's "
                                    "network interface");
        return 0;
}

int fc_check_spec(const struct vmm_spec *spec, struct bg_error *err)
{
        if (!vmm_id_valid(spec->id))
                return bg_error_set(err, EINVAL, "VM id '%s' is not 1-32 lowercase hex digits",
                                    spec->id);
        int r = fc_check_vcpu(spec->vcpu, err);
        if (r < 0)
                return r;
        if (spec->memory_mib < 16)
                return bg_error_set(err, EINVAL, "memory of %" PRIu32 " MiB is too small",
                                    spec->memory_mib);
        if (!spec->restore[0] && !spec->kernel_vmlinux[0])
                return bg_error_set(err, EINVAL,
                                    "Firecracker boots an uncompressed vmlinux, and this kernel "
                                    "has none");
        if (spec->n_disks > VMM_MAX_DISKS)
                return bg_error_set(err, EINVAL, "%u disks, at most %d", spec->n_disks,
                                    VMM_MAX_DISKS);
        for (unsigned i = 0; i < spec->n_disks; i++) {
                if (!spec->disks[i].path[0])
                        return bg_error_set(err, EINVAL, "disk %u has no path", i);
                if (spec->disks[i].format != VMM_DISK_RAW)
                        return bg_error_set(err, EINVAL,
                                            "disk %u '%s' is qcow2: Firecracker needs raw disks", i,
                                            spec->disks[i].path);
        }
        if (spec->tap[0] && !vmm_mac_valid(spec->mac))
                return bg_error_set(err, EINVAL, "guest MAC '%s' is not aa:bb:cc:dd:ee:ff",
                                    spec->mac);
        if (spec->vsock_cid < 3)
                return bg_error_set(err, EINVAL,
                                    "vsock CID %" PRIu32 " is reserved (the agent needs >= 3)",
                                    spec->vsock_cid);
        char p[VMM_PATH_MAX + 16];
        if (!spec->dir[0] || vmm_path(p, sizeof(p), spec->dir, "agent.sock") < 0 ||
            strlen(p) > FC_UNIX_PATH_MAX)
                return bg_error_set(err, ENAMETOOLONG,
                                    "VM directory '%s' is too long for unix sockets (%d bytes)",
                                    spec->dir, FC_UNIX_PATH_MAX);
        if (spec->mem.path[0] && spec->mem.path[0] != '/')
                return bg_error_set(err, EINVAL, "memory file '%s' is not an absolute path",
                                    spec->mem.path);
        return spec->restore[0] ? check_restore(spec, err) : 0;
}

int fc_check_snapshot_support(struct fc_api *api, const char *what, struct bg_error *err)
{
        _cleanup_(json_decrefp) json_t *info = NULL;
        int r = fc_api_get(api, "/", &info, err);
        if (r < 0)
                return r;
        const char *v = json_string_value(json_object_get(info, "vmm_version"));
        unsigned a, b, c;
        if (fc_version_parse_api(v, &a, &b, &c) < 0)
                return bg_error_set(err, EPROTO,
                                    "Firecracker GET /: \"vmm_version\" '%s' is not a version",
                                    v ? v : "");
        if (!fc_version_snapshots(a, b, c))
                return bg_error_set(err, ENOTSUP,
                                    "Firecracker v%u.%u.%u cannot %s: templates need Firecracker "
                                    ">= " FC_SNAPSHOT_MIN
                                    " (snapshot load with network_overrides and "
                                    "vsock_override); upgrade it or boot cold (--cold)",
                                    a, b, c, what);
        return 0;
}

/* ---- API configuration -------------------------------------------------- */

static const char *drive_id(unsigned i)
{
        static const char *const ids[VMM_MAX_DISKS] = {"rootfs", "work", "modules", "disk3"};
        return ids[i];
}

/* PUT /logger and /metrics, into dir/fc.log and dir/metrics.json. */
static int put_logger_metrics(struct fc_api *api, const char *dir, struct bg_error *err)
{
        char p1[VMM_PATH_MAX + 32], p2[VMM_PATH_MAX + 32];
        if (vmm_path(p1, sizeof(p1), dir, "fc.log") < 0 ||
            vmm_path(p2, sizeof(p2), dir, "metrics.json") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", dir);
        int r = fc_api_put_new(api, "/logger",
                               json_pack("{s:s, s:s, s:b, s:b}", "log_path", p1, "level", "Warning",
                                         "show_level", 1, "show_log_origin", 0),
                               err);
        if (r < 0)
                return r;
        return fc_api_put_new(api, "/metrics", json_pack("{s:s}", "metrics_path", p2), err);
}

int fc_configure_and_start(const char *api_sock, const struct vmm_spec *v, struct bg_error *err)
{
        _cleanup_(fc_api_freep) struct fc_api *api = NULL;
        int r = fc_api_new(api_sock, FC_API_TIMEOUT_MS, &api, err);
        if (r < 0)
                return r;
        /* A template's boot (its RAM goes to mem.path when it is
         * snapshotted): fail now, not after the guest booted, when this
         * Firecracker could not clone it. */
        if (v->mem.path[0]) {
                r = fc_check_snapshot_support(api, "make a template", err);
                if (r < 0)
                        return r;
        }
        r = put_logger_metrics(api, v->dir, err);
        if (r < 0)
                return r;
        r = fc_api_put_new(api, "/machine-config",
                           json_pack("{s:I, s:I, s:b}", "vcpu_count", (json_int_t)v->vcpu,
                                     "mem_size_mib", (json_int_t)v->memory_mib, "smt", 0),
                           err);
        if (r < 0)
                return r;

        char args[VMM_CMDLINE_MAX];
        r = fc_boot_args(v, args, sizeof(args), err);
        if (r < 0)
                return r;
        json_t *boot =
            json_pack("{s:s, s:s}", "kernel_image_path", v->kernel_vmlinux, "boot_args", args);
        if (boot && v->initrd[0] &&
            json_object_set_new(boot, "initrd_path", json_string(v->initrd)) < 0) {
                json_decref(boot);
                boot = NULL;
        }
        r = fc_api_put_new(api, "/boot-source", boot, err);
        if (r < 0)
                return r;

        /* The banger initramfs mounts root= itself, so no drive is
         * Firecracker's root device; drives appear in this order as
         * /dev/vda, vdb, vdc. */
        for (unsigned i = 0; i < v->n_disks; i++) {
                const struct vmm_disk *d = &v->disks[i];
                char path[64];
                snprintf(path, sizeof(path), "/drives/%s", drive_id(i));
                json_t *drive =
                    json_pack("{s:s, s:s, s:b, s:b}", "drive_id", drive_id(i), "path_on_host",
                              d->path, "is_root_device", 0, "is_read_only", d->read_only);
                /* Writeback honours the guest's flushes: `sync` before stop
                 * reaches the host file. */
                if (drive && !d->read_only &&
                    json_object_set_new(drive, "cache_type", json_string("Writeback")) < 0) {
                        json_decref(drive);
                        drive = NULL;
                }
                r = fc_api_put_new(api, path, drive, err);
                if (r < 0)
                        return r;
        }
        if (v->tap[0]) {
                r = fc_api_put_new(api, "/network-interfaces/eth0",
                                   json_pack("{s:s, s:s, s:s}", "iface_id", "eth0", "host_dev_name",
                                             v->tap, "guest_mac", v->mac),
                                   err);
                if (r < 0)
                        return r;
        }
        char agent[VMM_PATH_MAX + 32];
        if (vmm_path(agent, sizeof(agent), v->dir, "agent.sock") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", v->dir);
        r = fc_api_put_new(
            api, "/vsock",
            json_pack("{s:I, s:s}", "guest_cid", (json_int_t)v->vsock_cid, "uds_path", agent), err);
        if (r < 0)
                return r;
        return fc_api_put_new(api, "/actions", json_pack("{s:s}", "action_type", "InstanceStart"),
                              err);
}

int fc_restore(const char *api_sock, const struct vmm_spec *v, struct bg_error *err)
{
        _cleanup_(fc_api_freep) struct fc_api *api = NULL;
        int r = fc_api_new(api_sock, FC_API_TIMEOUT_MS, &api, err);
        if (r < 0)
                return r;
        r = fc_check_snapshot_support(api, "restore a template's clone", err);
        if (r < 0)
                return r;
        r = put_logger_metrics(api, v->dir, err);
        if (r < 0)
                return r;
        char agent[VMM_PATH_MAX + 32];
        if (vmm_path(agent, sizeof(agent), v->dir, "agent.sock") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", v->dir);
        /* The snapshot's devices with the clone's host ends: its own tap
         * and its own agent socket. resume_vm false: the drives are not the
         * clone's yet. */
        r = fc_api_put_new(api, "/snapshot/load",
                           json_pack("{s:s, s:{s:s, s:s}, s:b, s:[{s:s, s:s}], s:{s:s}}",
                                     "snapshot_path", v->restore, "mem_backend", "backend_type",
                                     "File", "backend_path", v->mem.path, "resume_vm", 0,
                                     "network_overrides", "iface_id", "eth0", "host_dev_name",
                                     v->tap, "vsock_override", "uds_path", agent),
                           err);
        if (r < 0)
                return r;
        /* PATCH /drives is a post-boot call, and a loaded snapshot is booted
         * (paused): the guest sees its disks change under it only as a
         * virtio config interrupt, delivered when it runs again. */
        for (unsigned i = 0; i < v->n_disks; i++) {
                char path[64];
                snprintf(path, sizeof(path), "/drives/%s", drive_id(i));
                r = fc_api_patch_new(api, path,
                                     json_pack("{s:s, s:s}", "drive_id", drive_id(i),
                                               "path_on_host", v->disks[i].path),
                                     err);
                if (r < 0)
                        return r;
        }
        return 0;
}
