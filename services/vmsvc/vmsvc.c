/* banger-vmsvc's set-up: the other services' clients, the VM directories,
 * reconciliation with the running VMMs, the owner's ssh key and config, the
 * idle watch, and VmService's registration (its handlers: vmsvc_rpc.c). */
#include "vmsvc.h"

#include "banger/v1/template.pb-c.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <libssh/libssh.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banger/v1/net.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "forwards.h"
#include "idle.h"
#include "log_watch.h"
#include "log/log.h"
#include "ssh/ssh_key.h"
#include "reconcile.h"
#include "ssh_files.h"
#include "util/macro.h"
#include "vm_store.h"
#include "vmm/firecracker/fc_version.h"

/* The schema lives with the registry code (vm_store.c). */
const struct store_migration *const vmsvc_migrations = vm_store_migrations;

const struct vmm_driver *vmsvc_driver_for(const char *vmm)
{
        if (strcmp(vmm, "qemu") == 0)
                return &vmm_qemu_driver;
        if (strcmp(vmm, "firecracker") == 0)
                return &vmm_firecracker_driver;
        return NULL;
}

void vmsvc_ssh_refresh(void *ud)
{
        struct vmsvc *v = ud;
        struct bg_error err = {0};
        struct vm_record *all = NULL;
        size_t n = 0;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/ssh", v->d->paths.config_dir);
        const char *key = v->key_path;
        pthread_mutex_lock(&v->ssh_mu);
        int r = vm_load_all(&v->env, &all, &n, &err);
        if (r >= 0)
                r = ssh_files_write(dir, key, all, n, &err);
        pthread_mutex_unlock(&v->ssh_mu);
        free(all);
        if (r < 0)
                log_warn("could not update the ssh config for VMs: %s", err.msg);
}

void vmsvc_changed(void *ud)
{
        struct vmsvc *v = ud;
        vmsvc_ssh_refresh(v);
        forwards_sync(v->fwds);
}

/* ---- set-up ---- */

/* The owner's key pair in CONFIG/ssh/, made on first use; or the key config
 * ssh.key_path names, checked as ssh would (ssh_key.h). */
static int owner_key(struct vmsvc *v, struct bg_error *err)
{
        char dir[512], priv[600], pub[600];
        int x = bg_ssh_key_path(v->d->cfg.ssh.key_path, v->d->paths.config_dir, v->key_path,
                                sizeof(v->key_path), err);
        if (x < 0)
                return x;
        snprintf(dir, sizeof(dir), "%s/ssh", v->d->paths.config_dir);
        if (v->d->cfg.ssh.key_path[0]) {
                /* The ssh config for VMs lives here all the same. */
                if (mkdir_p(dir, 0700) < 0)
                        return bg_error_errno(err, -errno, "create %s", dir);
                x = bg_ssh_key_check(v->key_path, &v->owner_pubkey, err);
                if (x >= 0)
                        log_info("VMs get the key of ssh.key_path %s", v->key_path);
                return x;
        }
        snprintf(dir, sizeof(dir), "%s/ssh", v->d->paths.config_dir);
        snprintf(priv, sizeof(priv), "%s/id_ed25519", dir);
        snprintf(pub, sizeof(pub), "%s/id_ed25519.pub", dir);
        if (access(pub, R_OK) < 0) {
                if (mkdir_p(dir, 0700) < 0)
                        return bg_error_errno(err, -errno, "create %s", dir);
                ssh_key key = NULL;
                if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
                        return bg_error_set(err, EIO, "generate the owner's ssh key");
                mode_t old = umask(0077);
                int ok = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, priv) == SSH_OK;
                umask(old);
                char *b64 = NULL;
                ok = ok && ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK;
                ssh_key_free(key);
                if (!ok)
                        return bg_error_set(err, EIO, "write the owner's ssh key to %s", priv);
                FILE *f = fopen(pub, "we");
                if (!f) {
                        ssh_string_free_char(b64);
                        return bg_error_errno(err, -errno, "write %s", pub);
                }
                fprintf(f, "ssh-ed25519 %s banger-owner\n", b64);
                ssh_string_free_char(b64);
                fclose(f);
                log_info("made the owner's ssh key %s", priv);
        }
        FILE *f = fopen(pub, "re");
        if (!f)
                return bg_error_errno(err, -errno, "read %s", pub);
        char line[1024];
        if (!fgets(line, sizeof(line), f)) {
                fclose(f);
                return bg_error_set(err, EINVAL, "%s is empty", pub);
        }
        fclose(f);
        v->owner_pubkey = strdup(line);
        return v->owner_pubkey ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

/* The host's own upstream resolvers (from /etc/resolv.conf, IPv4, not
 * loopback: a stub on 127.0.0.53 cannot be reached from a guest), which
 * guests reach through the NAT. netsvc's server answers only .vm names. */
static void host_resolvers(char *buf, size_t len)
{
        buf[0] = '\0';
        FILE *f = fopen("/etc/resolv.conf", "re");
        if (!f)
                return;
        char line[256];
        int n = 0;
        while (fgets(line, sizeof(line), f) && n < 3) {
                char addr[64];
                struct in_addr a;
                if (sscanf(line, "nameserver %63s", addr) != 1 || inet_pton(AF_INET, addr, &a) != 1)
                        continue;
                if ((ntohl(a.s_addr) >> 24) == 127)
                        continue;
                size_t used = strlen(buf);
                if (used + strlen(addr) + 2 > len)
                        break;
                snprintf(buf + used, len - used, "%s%s", used ? "," : "", addr);
                n++;
        }
        fclose(f);
}

/* Whether templates work with the VMM new VMs get (vm_env.snapshots). */
static void snapshot_support(struct vm_env *e, const char *fc_binary)
{
        const struct vmm_driver *drv = vmsvc_driver_for(e->vmm);
        e->snapshots = drv && (drv->caps & VMM_CAP_SNAPSHOT);
        if (!e->snapshots) {
                snprintf(e->why_no_snapshots, sizeof(e->why_no_snapshots),
                         "the %s driver cannot take snapshots", e->vmm);
                return;
        }
        if (!streq(e->vmm, "firecracker"))
                return;
        unsigned maj, min, pat;
        struct bg_error err = {0};
        if (e->jailer) {
                e->snapshots = false;
                snprintf(e->why_no_snapshots, sizeof(e->why_no_snapshots),
                         "Firecracker's jailer is on (firecracker.jailer), and clones are not "
                         "staged into jails");
        } else if (fc_version(fc_binary, &maj, &min, &pat, &err) < 0) {
                e->snapshots = false;
                snprintf(e->why_no_snapshots, sizeof(e->why_no_snapshots), "%s", err.msg);
        } else if (!fc_version_snapshots(maj, min, pat)) {
                e->snapshots = false;
                snprintf(e->why_no_snapshots, sizeof(e->why_no_snapshots),
                         "firecracker v%u.%u.%u is older than %s", maj, min, pat, FC_SNAPSHOT_MIN);
        }
}

/* firecracker.jailer: true or false as set; "auto" = on in system mode
 * (where the daemons run as a user of their own and the jailer adds a
 * chroot, namespaces and seccomp) when netsvc says it can run the jailer
 * there (NetStatus.jailer_usable: capabilities, trusted programs), else off
 * with the reason logged (banger doctor shows it too). */
static bool jailer_wanted(struct vmsvc *v, const char *vmm)
{
        const struct bg_config *cfg = &v->d->cfg;
        if (cfg->firecracker.jailer != BG_TRISTATE_AUTO)
                return cfg->firecracker.jailer == BG_TRISTATE_ON;
        if (!bg_config_jailer_on(cfg, v->d->paths.system) || !streq(vmm, "firecracker"))
                return false;
        Banger__V1__NetStatusRequest req = BANGER__V1__NET_STATUS_REQUEST__INIT;
        Banger__V1__NetStatusResponse *s = NULL;
        struct rpc_status st;
        struct rpc_call_opts o = {.deadline_ms = 10000, .connect_wait_ms = 10000};
        if (rpc_call(v->peers.netsvc, "/banger.v1.NetService/Status", &req.base,
                     &banger__v1__net_status_response__descriptor, (ProtobufCMessage **)&s, &o,
                     &st) < 0) {
                log_warn("firecracker.jailer = auto: off, netsvc did not answer (%s)", st.message);
                return false;
        }
        bool on = s->jailer_usable;
        if (on)
                log_info("firecracker.jailer = auto: on (system mode, netsvc can run the jailer)");
        else
                log_warn("firecracker.jailer = auto: off, netsvc cannot run the jailer here: %s",
                         s->jailer_why);
        banger__v1__net_status_response__free_unpacked(s, NULL);
        return on;
}

int vmsvc_setup(struct vmsvc *v, struct bg_error *err)
{
        int r;

        pthread_mutex_init(&v->mu, NULL);
        pthread_mutex_init(&v->ssh_mu, NULL);
        curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread uses curl */
        if ((r = ops_registry_new(0, &v->ops, err)) < 0)
                return r;
        if ((r = vm_peers_open(&v->peers, &v->d->paths, v->d->cfg.firecracker.jailer_binary, err)) <
            0)
                return r;
        v->peers.console_log_max = v->d->cfg.vm.console_log_max;
        if ((r = owner_key(v, err)) < 0)
                return r;

        vm_peers_deps(&v->peers, &v->deps);
        struct vm_env *e = &v->env;
        e->db = v->d->db;
        e->mu = &v->mu;
        snprintf(e->vms_dir, sizeof(e->vms_dir), "%s/vms", v->d->paths.state_dir);
        if (mkdir_p(e->vms_dir, 0700) < 0)
                return bg_error_errno(err, -errno, "create %s", e->vms_dir);
        snprintf(e->templates_dir, sizeof(e->templates_dir), "%s/templates", v->d->paths.state_dir);
        if (mkdir_p(e->templates_dir, 0700) < 0)
                return bg_error_errno(err, -errno, "create %s", e->templates_dir);
        e->deps = &v->deps;
        e->driver_for = vmsvc_driver_for;
        /* vmm = "auto": Firecracker when it is installed, new enough and
         * /dev/kvm is usable; QEMU otherwise. */
        const char *vmm = v->d->cfg.vmm == BG_VMM_FIRECRACKER ? "firecracker" : "qemu";
        if (v->d->cfg.vmm == BG_VMM_AUTO) {
                char why[256];
                vmm = fc_auto_pick(v->d->cfg.firecracker.binary, "/dev/kvm", why, sizeof(why));
                log_info("vmm = auto: new VMs use %s (%s)", vmm, why);
        }
        snprintf(e->vmm, sizeof(e->vmm), "%s", vmm);
        snprintf(e->binary, sizeof(e->binary), "%s",
                 streq(vmm, "firecracker") ? v->d->cfg.firecracker.binary : v->d->cfg.qemu.binary);
        e->accel = v->d->cfg.qemu.accel == BG_QEMU_ACCEL_KVM ? VMM_ACCEL_KVM : VMM_ACCEL_TCG;
        e->jailer = jailer_wanted(v, vmm);
        if (e->jailer)
                log_info("Firecracker VMs start through the jailer (%s), staged by netsvc",
                         v->d->cfg.firecracker.jailer_binary);
        snapshot_support(e, v->d->cfg.firecracker.binary);
        if (!e->snapshots)
                log_info("no snapshot templates: %s", e->why_no_snapshots);
        snprintf(e->qemu_img, sizeof(e->qemu_img), "qemu-img");
        snprintf(e->mkfs, sizeof(e->mkfs), "mkfs.ext4");
        e->authorized_keys = v->owner_pubkey;
        host_resolvers(e->dns, sizeof(e->dns));
        e->agent_timeout_ms = (uint32_t)(v->d->cfg.vm.boot_timeout * 1000);
        e->probe_timeout_ms = (uint32_t)(v->d->cfg.vm.agent_probe_timeout * 1000);
        if (probe_gate_new(&e->probe_gate) < 0)
                return bg_error_set(err, ENOMEM, "out of memory");
        e->console_log_max = v->d->cfg.vm.console_log_max;
        pthread_mutex_init(&e->log_mu, NULL);
        /* This very binary (even once upgraded on disk), in its pump mode
         * (main.c). */
        snprintf(e->console_pump, sizeof(e->console_pump), "/proc/self/exe");
        e->stop_timeout_ms = (uint32_t)(v->d->cfg.vm.stop_timeout * 1000);

        struct vm_net_ops net = {.release_tap = vm_peers_release_tap,
                                 .release_lease = vm_peers_release_lease,
                                 .ud = &v->peers};
        struct reconcile_result res;
        if ((r = vm_reconcile(v->d->db, e->vms_dir, vmsvc_driver_for, &net, &res, err)) < 0)
                return r;
        log_info("reconciled VMs: %zu adopted, %zu found stopped, %zu half-made undone, "
                 "%zu orphan directories removed, %zu left alone",
                 res.adopted, res.stopped, res.undone, res.orphans, res.failed);
        v->tpl = (struct tpl_env){
            .vm = e,
            .ops = v->ops,
            .max_auto = v->d->cfg.vm.auto_templates,
            .default_image = v->d->cfg.vm.default_image,
            .default_kernel = v->d->cfg.vm.default_kernel,
        };
        tpl_reconcile(&v->tpl);
        struct forwards_limits fl = {
            .max_per_vm = v->d->cfg.vm.max_forwards,
            .max_conns = v->d->cfg.vm.forward_max_conns,
            .idle_timeout_ms = (uint32_t)(v->d->cfg.vm.forward_idle_timeout * 1000),
        };
        if ((r = forwards_new(e, &fl, &v->fwds, err)) < 0)
                return r;
        forwards_restore(v->fwds);
        e->changed = vmsvc_changed;
        e->changed_ud = v;
        vmsvc_ssh_refresh(v);
        if ((r = idle_watch_start(&v->env, v->d->cfg.vm.auto_stop_after, &v->idle, err)) < 0)
                return r;
        if ((r = log_watch_start(&v->env, &v->logs, err)) < 0)
                return r;
        /* Stops and agent probes wait long on guests: each kind has its own
         * limit and call slots, so neither can hold every other call up. */
        r = rpc_server_set_pool_limit(v->d->srv, false, 0, v->d->cfg.vm.max_stops_in_flight,
                                      "vm stops", "vm.max_stops_in_flight", err);
        if (r >= 0)
                r = rpc_server_set_pool_limit(v->d->srv, true, 0, v->d->cfg.vm.max_probes_in_flight,
                                              "guest agent probes", "vm.max_probes_in_flight", err);
        if (r < 0)
                return r;
        r = rpc_server_add_service(v->d->srv, &banger__v1__vm_service__descriptor, vmsvc_vm_methods,
                                   vmsvc_n_vm_methods, v, err);
        if (r < 0)
                return r;
        return rpc_server_add_service(v->d->srv, &banger__v1__template_service__descriptor,
                                      vmsvc_template_methods, vmsvc_n_template_methods, v, err);
}

void vmsvc_done(struct vmsvc *v)
{
        idle_watch_stop(TAKE_PTR(v->idle));
        log_watch_stop(TAKE_PTR(v->logs));
        forwards_free(TAKE_PTR(v->fwds));
        v->env.probe_gate = probe_gate_free(v->env.probe_gate);
        v->ops = ops_registry_free(v->ops);
        vm_peers_close(&v->peers);
        free(TAKE_PTR(v->owner_pubkey));
}
