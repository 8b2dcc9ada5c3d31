#include "log_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "util/timeutil.h"
#include "vm_store.h"
#include "vmm/vmm.h"
#include "vmm/vmm_console.h"
#include "vmm/vmm_log.h"

#define LOG_WATCH_INTERVAL_MS 250

struct log_watch {
        struct vm_env *env;
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        bool stop;
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

static void tick(struct log_watch *w)
{
        struct vm_record *all = NULL;
        size_t n = 0;
        struct bg_error err = {0};
        pthread_mutex_lock(w->env->mu);
        int r = vm_store_list(w->env->db, &all, &n, &err);
        pthread_mutex_unlock(w->env->mu);
        if (r < 0) {
                log_warn("log watch: %s", err.msg);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (all[i].state != VM_RUNNING && all[i].state != VM_STARTING &&
                    all[i].state != VM_PAUSED && all[i].state != VM_STOPPING)
                        continue;
                char dir[VMM_PATH_MAX + 40];
                snprintf(dir, sizeof(dir), "%s/%s", w->env->vms_dir, all[i].id);
                /* A console pump keeps its own cap (and is alone rotating). */
                if (!vmm_console_pump_alive(dir))
                        watch_one(w, dir, VMM_FILE_CONSOLE);
                watch_one(w, dir, VMM_FILE_LOG);
        }
        free(all);
}

static void *watch_main(void *arg)
{
        struct log_watch *w = arg;
        pthread_mutex_lock(&w->mu);
        while (!w->stop) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += LOG_WATCH_INTERVAL_MS * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&w->cond, &w->mu, &until);
                if (w->stop)
                        break;
                pthread_mutex_unlock(&w->mu);
                tick(w);
                pthread_mutex_lock(&w->mu);
        }
        pthread_mutex_unlock(&w->mu);
        return NULL;
}

int log_watch_start(struct vm_env *env, struct log_watch **ret, struct bg_error *err)
{
        struct log_watch *w = calloc(1, sizeof(*w));
        if (!w)
                return bg_error_set(err, ENOMEM, "out of memory");
        w->env = env;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cond, NULL);
        int r = pthread_create(&w->thread, NULL, watch_main, w);
        if (r != 0) {
                pthread_mutex_destroy(&w->mu);
                pthread_cond_destroy(&w->cond);
                free(w);
                return bg_error_set(err, r, "start the log watch: %s", strerror(r));
        }
        *ret = w;
        return 0;
}

void log_watch_stop(struct log_watch *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cond);
        free(w);
}
