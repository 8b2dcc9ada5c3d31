#include "idle.h"
#include "vm_boot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_client.h"
#include "log/log.h"
#include "util/timeutil.h"
#include "vm_lifecycle.h"
#include "vm_probes.h"
#include "vm_store.h"
#include "vm_ticker.h"

struct seen {
        char id[33];
        uint64_t last_active_ms; /* monotonic */
        bool present;
        bool have_cpu;        /* busy/total below hold the previous sample */
        uint64_t busy, total; /* guest CPU time since boot, ms, all CPUs */
};

struct idle_watch {
        struct vm_env *env; /* the VMs' records and lifecycle */
        uint64_t auto_stop_ms;
        struct vm_ticker *ticker;
        struct seen *seen; /* touched only on the ticker's thread */
        size_t n_seen;
};

uint64_t idle_tick_ms(uint64_t auto_stop_s)
{
        uint64_t t = auto_stop_s * 1000 / 4;
        return t < 2000 ? 2000 : t > 30000 ? 30000 : t;
}

static struct seen *lookup(struct idle_watch *w, const char *id, uint64_t now)
{
        for (size_t i = 0; i < w->n_seen; i++)
                if (strcmp(w->seen[i].id, id) == 0)
                        return &w->seen[i];
        struct seen *ns = realloc(w->seen, (w->n_seen + 1) * sizeof(*ns));
        if (!ns)
                return NULL;
        w->seen = ns;
        struct seen *s = &w->seen[w->n_seen++];
        memset(s, 0, sizeof(*s));
        snprintf(s->id, sizeof(s->id), "%s", id);
        s->last_active_ms = now; /* first sight: the clock starts now */
        return s;
}

/* True when the guest used at least IDLE_BUSY of its CPUs since the last
 * look (its own accounting: user, nice, system, irq, softirq against all),
 * on the first look, or when it cannot be asked. */
static bool guest_busy(struct idle_watch *w, struct seen *s, double *frac)
{
        struct agent_conn *c = NULL;
        Banger__V1__AgentResponse *resp = NULL;
        struct bg_error err = {0};
        struct vm_record rec;
        bool busy = true;
        *frac = -1;
        uint64_t deadline = 0;
        bool opened = vm_probe_begin(w->env, s->id, "idle", &c, &rec, &deadline, &err) >= 0;
        uint64_t now = now_mono_msec();
        if (opened && agent_stats(c, deadline > now ? deadline - now : 1, &resp, &err) >= 0 &&
            resp->stats && resp->stats->cpu) {
                uint64_t b, t;
                vm_cpu_times(resp->stats->cpu, &b, &t);
                if (s->have_cpu && t > s->total && b >= s->busy) {
                        *frac = (double)(b - s->busy) / (double)(t - s->total);
                        busy = *frac >= IDLE_BUSY;
                }
                s->have_cpu = true;
                s->busy = b;
                s->total = t;
        } else {
                s->have_cpu = false;
        }
        agent_response_free(resp);
        if (opened)
                vm_probe_end(w->env, &rec, c);
        return busy;
}

static void look(void *data, const struct vm_record *all, size_t n)
{
        struct idle_watch *w = data;
        struct bg_error err = {0};
        for (size_t i = 0; i < w->n_seen; i++)
                w->seen[i].present = false;
        uint64_t now = now_mono_msec();
        for (size_t i = 0; i < n; i++) {
                if (all[i].state != VM_RUNNING)
                        continue;
                struct seen *s = lookup(w, all[i].id, now);
                if (!s)
                        continue;
                s->present = true;
                double frac;
                if (guest_busy(w, s, &frac)) {
                        s->last_active_ms = now_mono_msec();
                        continue;
                }
                uint64_t idle = now_mono_msec() - s->last_active_ms;
                if (idle < w->auto_stop_ms)
                        continue;
                log_info("VM %s has been idle for %llu s (CPU %.1f %% < %.0f %%); stopping it "
                         "(config vm.auto_stop_after)",
                         all[i].name, (unsigned long long)(idle / 1000), frac * 100,
                         IDLE_BUSY * 100);
                bg_error_clear(&err);
                if (vm_stop(w->env, all[i].id, &err) < 0)
                        log_warn("auto-stop of VM %s: %s", all[i].name, err.msg);
                s->present = false; /* stopped (or gone): forget it */
        }
        /* Forget VMs that are no longer running; a restart starts afresh. */
        size_t k = 0;
        for (size_t i = 0; i < w->n_seen; i++)
                if (w->seen[i].present)
                        w->seen[k++] = w->seen[i];
        w->n_seen = k;
}

int idle_watch_start(struct vm_env *env, uint64_t auto_stop_s, struct idle_watch **ret,
                     struct bg_error *err)
{
        *ret = NULL;
        if (auto_stop_s == 0)
                return 0;
        struct idle_watch *w = calloc(1, sizeof(*w));
        if (!w)
                return bg_error_set(err, ENOMEM, "out of memory");
        w->env = env;
        w->auto_stop_ms = auto_stop_s * 1000;
        uint64_t tick_ms = idle_tick_ms(auto_stop_s);
        int r = vm_ticker_start(env, "idle watch", tick_ms, look, w, &w->ticker, err);
        if (r < 0) {
                free(w);
                return r;
        }
        log_info("VMs idle (CPU < %.0f %%) for %llu s are stopped; checked every %llu s",
                 IDLE_BUSY * 100, (unsigned long long)auto_stop_s,
                 (unsigned long long)(tick_ms / 1000));
        *ret = w;
        return 0;
}

void idle_watch_stop(struct idle_watch *w)
{
        if (!w)
                return;
        vm_ticker_stop(w->ticker);
        free(w->seen);
        free(w);
}
