#include "vmm/firecracker/fc_config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"
#include "vmm/firecracker/fc_api.h"

int fc_check_vcpu(uint32_t vcpu, struct bg_error *err)
{
        if (vcpu == 0 || vcpu > FC_VCPU_MAX || (vcpu > 1 && vcpu % 2))
                return bg_error_set(err, EINVAL,
                                    "Firecracker needs 1 or an even number of vCPUs up to %d, "
                                    "not %" PRIu32,
                                    FC_VCPU_MAX, vcpu);
        return 0;
}

/* Value of the last "key=value" word of a kernel command line (no quoting:
 * banger.agent values never contain spaces). */
static bool cmdline_last(const char *cmdline, const char *key, char *buf, size_t len)
{
        size_t kl = strlen(key);
        bool found = false;
        const char *p = cmdline;
        while (*p) {
                p += strspn(p, " \t\n");
                size_t n = strcspn(p, " \t\n");
                if (n == 2 && strncmp(p, "--", 2) == 0)
                        break;
                if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
                        snprintf(buf, len, "%.*s", (int)(n - kl - 1), p + kl + 1);
                        found = true;
                }
                p += n;
        }
        return found;
}

int fc_boot_args(const char *cmdline, char *buf, size_t len, uint32_t *ret_port,
                 struct bg_error *err)
{
        uint32_t port = FC_AGENT_VSOCK_PORT;
        char agent[128];
        bool has_agent = cmdline_last(cmdline, "banger.agent", agent, sizeof(agent));
        if (has_agent) {
                char *end;
                errno = 0;
                unsigned long v =
                    strncmp(agent, "vsock:", 6) == 0 && isdigit((unsigned char)agent[6])
                        ? strtoul(agent + 6, &end, 10)
                        : 0;
                if (v == 0 || errno || *end || v > UINT32_MAX)
                        return bg_error_set(err, EINVAL,
                                            "banger.agent=%s cannot work under Firecracker: it "
                                            "needs vsock:PORT",
                                            agent);
                port = (uint32_t)v;
        }
        size_t cl = strspn(cmdline, " ");
        int n =
            snprintf(buf, len, "%s%s%s", FC_BOOT_ARGS_BASE, cmdline[cl] ? " " : "", cmdline + cl);
        if (n >= 0 && (size_t)n < len && !has_agent)
                n += snprintf(buf + n, len - (size_t)n, " banger.agent=vsock:%" PRIu32, port);
        if (n < 0 || (size_t)n >= len || n >= FC_CMDLINE_MAX)
                return bg_error_set(err, E2BIG,
                                    "kernel command line too long for Firecracker (%d bytes, "
                                    "limit %d)",
                                    n, FC_CMDLINE_MAX - 1);
        if (ret_port)
                *ret_port = port;
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
        if (!spec->kernel_vmlinux[0])
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
        char args[FC_CMDLINE_MAX + 64];
        return fc_boot_args(spec->cmdline, args, sizeof(args), NULL, err);
}

/* ---- API configuration -------------------------------------------------- */

static const char *drive_id(unsigned i)
{
        static const char *const ids[VMM_MAX_DISKS] = {"rootfs", "work", "modules", "disk3"};
        return ids[i];
}

int fc_configure_and_start(const char *api_sock, const struct vmm_spec *v, struct bg_error *err)
{
        _cleanup_(fc_api_freep) struct fc_api *api = NULL;
        int r = fc_api_new(api_sock, FC_API_TIMEOUT_MS, &api, err);
        if (r < 0)
                return r;
        char p1[VMM_PATH_MAX + 32], p2[VMM_PATH_MAX + 32];
        if (vmm_path(p1, sizeof(p1), v->dir, "fc.log") < 0 ||
            vmm_path(p2, sizeof(p2), v->dir, "metrics.json") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", v->dir);

        r = fc_api_put_new(api, "/logger",
                           json_pack("{s:s, s:s, s:b, s:b}", "log_path", p1, "level", "Warning",
                                     "show_level", 1, "show_log_origin", 0),
                           err);
        if (r < 0)
                return r;
        r = fc_api_put_new(api, "/metrics", json_pack("{s:s}", "metrics_path", p2), err);
        if (r < 0)
                return r;
        r = fc_api_put_new(api, "/machine-config",
                           json_pack("{s:I, s:I, s:b}", "vcpu_count", (json_int_t)v->vcpu,
                                     "mem_size_mib", (json_int_t)v->memory_mib, "smt", 0),
                           err);
        if (r < 0)
                return r;

        char args[FC_CMDLINE_MAX + 64];
        r = fc_boot_args(v->cmdline, args, sizeof(args), NULL, err);
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
        if (vmm_path(p1, sizeof(p1), v->dir, "agent.sock") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", v->dir);
        r = fc_api_put_new(
            api, "/vsock",
            json_pack("{s:I, s:s}", "guest_cid", (json_int_t)v->vsock_cid, "uds_path", p1), err);
        if (r < 0)
                return r;
        return fc_api_put_new(api, "/actions", json_pack("{s:s}", "action_type", "InstanceStart"),
                              err);
}
