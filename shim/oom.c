/* OOM kills in the task's VM as containerd's /tasks/oom events, as runc's
 * shim sends them from the cgroup's memory events: the VM is the task's
 * cgroup, and the guest agent counts the guest kernel's OOM kills
 * (/proc/vmstat oom_kill, AgentMemory.oom_kills in VmService/Stats). A
 * thread polls that count every OOM_POLL_MS while the task's init process
 * runs, and once more when it has ended (an OOM kill is often what ended
 * it), and publishes one TaskOOM per poll that saw the count rise.
 *
 * The count comes from the guest, which is hostile: it is compared with the
 * highest count seen (a count that goes down is ignored, so a flapping one
 * raises no event until it passes its old maximum), and a task gets at most
 * OOM_MAX_EVENTS events, however the count moves. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "banger/v1/vm.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/types/task/task.pb-c.h"
#include "shim.h"

#define OOM_POLL_MS 2000
#define OOM_CALL_MS 10000

bool shim_oom_observe(struct shim_oom_state *s, uint64_t count)
{
        if (!s->have_base) {
                /* The first answer: kills before the task started are not
                 * the task's (a pod sandbox's VM, a restarted shim). */
                s->have_base = true;
                s->max = count;
                return false;
        }
        if (count <= s->max)
                return false;
        s->max = count;
        if (s->events >= OOM_MAX_EVENTS)
                return false;
        s->events++;
        return true;
}

/* The guest's OOM kill count, or < 0 when Stats or the agent did not
 * answer. */
static int oom_count(struct shim_ctx *c, uint64_t *ret)
{
        char vm[sizeof(c->vm)];
        pthread_mutex_lock(&c->lock);
        snprintf(vm, sizeof(vm), "%s", c->vm);
        pthread_mutex_unlock(&c->lock);
        Banger__V1__VmStats *st = NULL;
        struct bg_error err = {0};
        int r = shim_vm_stats(c, vm, OOM_CALL_MS, &st, &err);
        if (r < 0)
                return r;
        r = -ENODATA;
        if (st->guest && st->guest->memory) {
                *ret = st->guest->memory->oom_kills;
                r = 0;
        }
        banger__v1__vm_stats__free_unpacked(st, NULL);
        return r;
}

static void oom_check(struct shim_ctx *c, struct shim_oom_state *s)
{
        uint64_t n;
        if (oom_count(c, &n) < 0)
                return;
        bool capped = s->events >= OOM_MAX_EVENTS;
        if (!shim_oom_observe(s, n)) {
                if (!capped && s->events >= OOM_MAX_EVENTS)
                        fprintf(stderr, "containerd-shim-banger-v2: task %s: more OOM kills; "
                                        "no more events (at most %d)\n",
                                c->opts.id, OOM_MAX_EVENTS);
                return;
        }
        fprintf(stderr, "containerd-shim-banger-v2: task %s: the guest kernel OOM-killed a "
                        "process (%llu kills since boot)\n",
                c->opts.id, (unsigned long long)n);
        Containerd__Events__TaskOOM ev = CONTAINERD__EVENTS__TASK_OOM__INIT;
        ev.container_id = c->opts.id;
        shim_publish(c, "/tasks/oom", &ev.base);
}

static void *oom_main(void *arg)
{
        struct shim_ctx *c = arg;
        struct shim_oom_state s = {0};
        bool ran = false;
        pthread_mutex_lock(&c->lock);
        for (;;) {
                if (c->shutting_down || c->deleted || !c->created)
                        break;
                const int st = c->init.status;
                if (st == CONTAINERD__V1__TYPES__STATUS__STOPPED) {
                        if (ran) {
                                /* The last look: the kill that ended it. */
                                pthread_mutex_unlock(&c->lock);
                                oom_check(c, &s);
                                pthread_mutex_lock(&c->lock);
                        }
                        break;
                }
                if (st == CONTAINERD__V1__TYPES__STATUS__RUNNING) {
                        ran = true;
                        pthread_mutex_unlock(&c->lock);
                        oom_check(c, &s);
                        pthread_mutex_lock(&c->lock);
                }
                /* Woken early by a status change; else the next poll. */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += OOM_POLL_MS / 1000;
                ts.tv_nsec += (long)(OOM_POLL_MS % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                while (c->init.status == st && !c->shutting_down && !c->deleted &&
                       pthread_cond_timedwait(&c->changed, &c->lock, &ts) != ETIMEDOUT)
                        ;
        }
        c->oom_watching = false;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

void shim_oom_watch_wait(struct shim_ctx *c)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += OOM_CALL_MS / 1000 + 1;
        pthread_mutex_lock(&c->lock);
        /* Only an ended task's watcher has a last look to take. */
        while (c->oom_watching && c->init.status == CONTAINERD__V1__TYPES__STATUS__STOPPED &&
               pthread_cond_timedwait(&c->changed, &c->lock, &ts) != ETIMEDOUT)
                ;
        pthread_mutex_unlock(&c->lock);
}

void shim_oom_watch_start(struct shim_ctx *c)
{
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&c->lock);
        c->oom_watching = true;
        pthread_mutex_unlock(&c->lock);
        if (pthread_create(&t, &a, oom_main, c) != 0) {
                pthread_mutex_lock(&c->lock);
                c->oom_watching = false;
                pthread_mutex_unlock(&c->lock);
                fprintf(stderr, "containerd-shim-banger-v2: task %s: cannot watch for OOM kills\n",
                        c->opts.id);
        }
        pthread_attr_destroy(&a);
}
