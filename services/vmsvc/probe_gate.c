#include "probe_gate.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"
#include "util/timeutil.h"

struct probe_slot {
        char vm_id[33];
        char what[16];
        uint64_t since_ms; /* CLOCK_MONOTONIC */
};

struct probe_gate {
        pthread_mutex_t mu;
        struct probe_slot *slots; /* in flight, unordered */
        size_t n, cap;
};

int probe_gate_new(struct probe_gate **ret)
{
        struct probe_gate *g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        pthread_mutex_init(&g->mu, NULL);
        *ret = g;
        return 0;
}

struct probe_gate *probe_gate_free(struct probe_gate *g)
{
        if (!g)
                return NULL;
        pthread_mutex_destroy(&g->mu);
        free(g->slots);
        free(g);
        return NULL;
}

int probe_gate_enter(struct probe_gate *g, const char *vm_id, const char *vm_name,
                     const char *what, struct bg_error *err)
{
        if (!g)
                return 0;
        pthread_mutex_lock(&g->mu);
        for (size_t i = 0; i < g->n; i++) {
                if (!streq(g->slots[i].vm_id, vm_id))
                        continue;
                uint64_t ms = now_mono_msec() - g->slots[i].since_ms;
                char busy_what[16];
                snprintf(busy_what, sizeof(busy_what), "%s", g->slots[i].what);
                pthread_mutex_unlock(&g->mu);
                return bg_error_set(err, ECONNABORTED,
                                    "VM %s is busy: its agent has not answered a %s probe "
                                    "started %llu.%llu s ago; try again",
                                    vm_name, busy_what, (unsigned long long)(ms / 1000),
                                    (unsigned long long)(ms % 1000 / 100));
        }
        if (g->n == g->cap) {
                size_t cap = g->cap ? g->cap * 2 : 8;
                struct probe_slot *s = realloc(g->slots, cap * sizeof(*s));
                if (!s) {
                        pthread_mutex_unlock(&g->mu);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
                g->slots = s;
                g->cap = cap;
        }
        struct probe_slot *s = &g->slots[g->n++];
        snprintf(s->vm_id, sizeof(s->vm_id), "%s", vm_id);
        snprintf(s->what, sizeof(s->what), "%s", what);
        s->since_ms = now_mono_msec();
        pthread_mutex_unlock(&g->mu);
        return 0;
}

void probe_gate_leave(struct probe_gate *g, const char *vm_id)
{
        if (!g)
                return;
        pthread_mutex_lock(&g->mu);
        for (size_t i = 0; i < g->n; i++) {
                if (streq(g->slots[i].vm_id, vm_id)) {
                        g->slots[i] = g->slots[--g->n];
                        break;
                }
        }
        pthread_mutex_unlock(&g->mu);
}
