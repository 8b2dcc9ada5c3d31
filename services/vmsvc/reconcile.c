#include "reconcile.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "util/fs.h"
#include "util/timeutil.h"

/* A stable guest vsock CID per VM, >= 3, from the id's first 7 hex digits. */
static uint32_t cid_for(const char *id)
{
        char h[8];
        snprintf(h, sizeof(h), "%.7s", id);
        return 3u + (uint32_t)strtoul(h, NULL, 16);
}

int vm_spec_identity(const struct vm_record *r, const char *vms_dir, struct vmm_spec *spec,
                     struct bg_error *err)
{
        memset(spec, 0, sizeof(*spec));
        spec->vsock_cid = cid_for(r->id);
        snprintf(spec->id, sizeof(spec->id), "%s", r->id);
        snprintf(spec->name, sizeof(spec->name), "%s", r->name);
        int n = snprintf(spec->dir, sizeof(spec->dir), "%s/%s", vms_dir, r->id);
        if (n < 0 || (size_t)n >= sizeof(spec->dir))
                return bg_error_set(err, ENAMETOOLONG, "VM directory under %s is too long",
                                    vms_dir);
        return 0;
}

static bool recorded_live(enum vm_state s)
{
        return s == VM_STARTING || s == VM_RUNNING || s == VM_PAUSED || s == VM_STOPPING;
}

/* Running or paused, as the VMM itself says; when it cannot say, what the
 * row said (paused stays paused, anything else is running). */
static enum vm_state live_state(const struct vmm_driver *drv, const struct vmm_spec *spec,
                                const struct vmm_handle *h, enum vm_state recorded)
{
        struct vmm_status st;
        struct bg_error e = {0};
        if (drv->query && drv->query(spec, h, &st, &e) == 0) {
                if (st.state == VMM_RUN_PAUSED)
                        return VM_PAUSED;
                if (st.state == VMM_RUN_RUNNING)
                        return VM_RUNNING;
        }
        return recorded == VM_PAUSED ? VM_PAUSED : VM_RUNNING;
}

static int undo_clone(sqlite3 *db, const struct vm_net_ops *net, const struct vmm_driver *drv,
                      const struct vmm_spec *spec, const struct vmm_handle *h, struct vm_record *r,
                      struct reconcile_result *res, struct bg_error *err)
{
        struct bg_error e = {0};
        if (h && drv->kill(h, &e) < 0) {
                /* Still there: leave everything as it is for the next start. */
                return bg_error_set(err, e.code, "VM %s (a clone caught half-way): %s", r->name,
                                    e.msg);
        }
        if (r->tap[0] && net && net->release_tap && net->release_tap(net->ud, r->tap, &e) < 0)
                log_warn("VM %s: could not give tap %s back: %s", r->name, r->tap, e.msg);
        if (net && net->release_lease && net->release_lease(net->ud, r->name, &e) < 0 &&
            e.code != ENOENT)
                log_warn("VM %s: could not give its address back: %s", r->name, e.msg);
        if (rm_rf(spec->dir, &e) < 0)
                log_warn("VM %s: %s", r->name, e.msg);
        int x = vm_store_delete(db, r->id, err);
        if (x < 0)
                return x;
        log_info("VM %s was being cloned when vmsvc stopped: undone", r->name);
        res->undone++;
        return 0;
}

/* A create cut short before its VMM ever ran (vmsvc died in one of its
 * first steps): undone as a failed create is -- lease and taps given back
 * (netsvc's Release frees both by name), directory removed -- and the row
 * left in state error saying why. When netsvc cannot be reached the row keeps
 * its tap, which `vm delete` gives back. */
static int undo_create(sqlite3 *db, const struct vm_net_ops *net, const struct vmm_spec *spec,
                       struct vm_record *r, struct reconcile_result *res, struct bg_error *err)
{
        struct bg_error e = {0};
        bool released = true;
        if (net && net->release_lease && net->release_lease(net->ud, r->name, &e) < 0 &&
            e.code != ENOENT) {
                log_warn("VM %s: could not give its address and tap back: %s", r->name, e.msg);
                released = false;
        }
        if (rm_rf(spec->dir, &e) < 0)
                log_warn("VM %s: %s", r->name, e.msg);
        if (released)
                r->tap[0] = '\0';
        r->state = VM_ERROR;
        r->pid = 0;
        r->pid_start = 0;
        snprintf(r->error, sizeof(r->error),
                 "vmsvc stopped while creating it, before it booted; what it had made is undone");
        r->updated_unix_ms = (int64_t)now_real_msec();
        int x = vm_store_update(db, r, err);
        if (x < 0)
                return x;
        log_info("VM %s was being created when vmsvc stopped: undone", r->name);
        res->undone++;
        return 0;
}

static int reconcile_one(sqlite3 *db, const char *vms_dir,
                         const struct vmm_driver *(*driver_for)(const char *vmm),
                         const struct vm_net_ops *net, struct vm_record *r,
                         struct reconcile_result *res, struct bg_error *err)
{
        struct vmm_spec spec;
        struct vmm_handle h;
        struct bg_error e = {0};
        int rr = vm_spec_identity(r, vms_dir, &spec, err);
        if (rr < 0)
                return rr;
        const struct vmm_driver *drv = r->vmm[0] ? driver_for(r->vmm) : NULL;
        int adopted = drv ? drv->adopt(&spec, &h, &e) : -ESRCH;
        if (r->state == VM_STARTING && r->template_id[0] && (adopted == 0 || adopted == -ESRCH))
                return undo_clone(db, net, drv, &spec, adopted == 0 ? &h : NULL, r, res, err);
        if (adopted == 0) {
                /* The process is there: whatever the row said, it runs (or
                 * is paused, which the VMM tells). */
                enum vm_state now = live_state(drv, &spec, &h, r->state);
                bool changed = r->state != now || r->pid != h.pid ||
                               r->pid_start != h.start_time || !r->launched;
                r->state = now;
                r->launched = true;
                r->pid = h.pid;
                r->pid_start = h.start_time;
                r->error[0] = '\0';
                if (changed) {
                        r->updated_unix_ms = (int64_t)now_real_msec();
                        rr = vm_store_update(db, r, err);
                        if (rr < 0)
                                return rr;
                }
                res->adopted++;
                return 0;
        }
        if (adopted != -ESRCH) {
                /* Could not tell (unreadable pidfile, /proc error): leave the
                 * row alone rather than release resources a VM may use. */
                return bg_error_set(err, -adopted, "VM %s: %s", r->name,
                                    e.msg[0] ? e.msg : strerror(-adopted));
        }
        if (!r->launched && (r->state == VM_CREATED || r->state == VM_STARTING))
                return undo_create(db, net, &spec, r, res, err);
        if (!recorded_live(r->state))
                return 0;
        bool was_starting = r->state == VM_STARTING;
        if (r->tap[0] && net && net->release_tap) {
                struct bg_error te = {0};
                if (net->release_tap(net->ud, r->tap, &te) < 0)
                        log_warn("VM %s: could not give tap %s back: %s", r->name, r->tap, te.msg);
        }
        r->tap[0] = '\0';
        r->pid = 0;
        r->pid_start = 0;
        if (was_starting) {
                r->state = VM_ERROR;
                snprintf(r->error, sizeof(r->error),
                         "the VM process was gone when vmsvc restarted during its start");
        } else {
                r->state = VM_STOPPED;
        }
        r->updated_unix_ms = (int64_t)now_real_msec();
        rr = vm_store_update(db, r, err);
        if (rr < 0)
                return rr;
        res->stopped++;
        return 0;
}

static bool is_vm_id(const char *s)
{
        size_t n = strspn(s, "0123456789abcdef");
        return n == 32 && s[n] == '\0';
}

/* A directory under vms_dir named like a VM id that no row names is what a
 * delete cut short after the row went leaves: removed. */
static void sweep_orphan_dirs(const char *vms_dir, const struct vm_record *all, size_t n,
                              struct reconcile_result *res)
{
        DIR *dh = opendir(vms_dir);
        if (!dh)
                return;
        struct dirent *de;
        while ((de = readdir(dh))) {
                if (!is_vm_id(de->d_name))
                        continue;
                bool known = false;
                for (size_t i = 0; i < n && !known; i++)
                        known = strcmp(all[i].id, de->d_name) == 0;
                if (known)
                        continue;
                char p[VMM_PATH_MAX + 40];
                snprintf(p, sizeof(p), "%s/%s", vms_dir, de->d_name);
                struct bg_error e = {0};
                if (rm_rf(p, &e) < 0) {
                        log_warn("reconcile: %s", e.msg);
                        continue;
                }
                log_info("removed %s: no VM has that id (a delete cut short)", p);
                res->orphans++;
        }
        closedir(dh);
}

int vm_reconcile(sqlite3 *db, const char *vms_dir,
                 const struct vmm_driver *(*driver_for)(const char *vmm),
                 const struct vm_net_ops *net, struct reconcile_result *ret, struct bg_error *err)
{
        struct vm_record *all = NULL;
        size_t n = 0;
        struct reconcile_result res = {0};
        int r = vm_store_list(db, &all, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct bg_error e = {0};
                if (reconcile_one(db, vms_dir, driver_for, net, &all[i], &res, &e) < 0) {
                        res.failed++;
                        log_warn("reconcile: %s", e.msg);
                }
        }
        sweep_orphan_dirs(vms_dir, all, n, &res);
        free(all);
        *ret = res;
        return 0;
}
