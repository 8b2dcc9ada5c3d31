#include "log_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "util/timeutil.h"
#include "vm_store.h"
#include "vm_ticker.h"
#include "vmm/vmm.h"
#include "vmm/vmm_console.h"
#include "vmm/vmm_log.h"

#define LOG_WATCH_INTERVAL_MS 250

struct log_watch {
        struct vm_env *env;
        struct vm_ticker *ticker;
        uint64_t last_warn_ms; /* a failing rotation is told once a minute */
};

static int rotate(struct vm_env *env, const char *dir, const char *name, bool force)
{
        pthread_mutex_lock(&env->log_mu);
        int r = vmm_log_rotate(dir, name, env->console_log_max ? env->console_log_max : 16u << 20,
                               force);
        pthread_mutex_unlock(&env->log_mu);
        if (r > 0 && !force)
                log_debug("rotated %s/%s (over half of vm.console_log_max)", dir, name);
        return r;
}

void vm_console_fresh(struct vm_env *env, const char *dir)
{
        /* The pump of an earlier boot writes what it has left, then goes. */
        int r = vmm_console_pump_wait(dir, 2000);
        if (r < 0)
                log_warn("console pump of %s: %s", dir, strerror(-r));
        r = rotate(env, dir, VMM_FILE_CONSOLE, true);
        if (r < 0)
                log_warn("cannot rotate %s/" VMM_FILE_CONSOLE " before a boot: %s", dir,
                         strerror(-r));
}

static void watch_one(struct log_watch *w, const char *dir, const char *name)
{
        int r = rotate(w->env, dir, name, false);
        uint64_t now = now_mono_msec();
        if (r < 0 && now - w->last_warn_ms >= 60000) {
                w->last_warn_ms = now;
                log_warn("cannot rotate %s/%s (vm.console_log_max): %s", dir, name, strerror(-r));
        }
}

static void look(void *data, const struct vm_record *vms, size_t n)
{
        struct log_watch *w = data;
        for (size_t i = 0; i < n; i++) {
                if (vms[i].state != VM_RUNNING && vms[i].state != VM_STARTING &&
                    vms[i].state != VM_PAUSED && vms[i].state != VM_STOPPING)
                        continue;
                char dir[VMM_PATH_MAX + 40];
                snprintf(dir, sizeof(dir), "%s/%s", w->env->vms_dir, vms[i].id);
                /* A console pump keeps its own cap (and is alone rotating). */
                if (!vmm_console_pump_alive(dir))
                        watch_one(w, dir, VMM_FILE_CONSOLE);
                watch_one(w, dir, VMM_FILE_LOG);
        }
}

int log_watch_start(struct vm_env *env, struct log_watch **ret, struct bg_error *err)
{
        struct log_watch *w = calloc(1, sizeof(*w));
        if (!w)
                return bg_error_set(err, ENOMEM, "out of memory");
        w->env = env;
        int r = vm_ticker_start(env, "log watch", LOG_WATCH_INTERVAL_MS, look, w, &w->ticker, err);
        if (r < 0) {
                free(w);
                return r;
        }
        *ret = w;
        return 0;
}

void log_watch_stop(struct log_watch *w)
{
        if (!w)
                return;
        vm_ticker_stop(w->ticker);
        free(w);
}
