#include "vm_ticker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "util/timeutil.h"
#include "vm_store.h"

struct vm_ticker {
        struct vm_env *env;
        const char *name;
        uint64_t interval_ms;
        vm_ticker_fn fn;
        void *data;
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        bool stop;
};

static void tick(struct vm_ticker *t)
{
        struct vm_record *all = NULL;
        size_t n = 0;
        struct bg_error err = {0};
        pthread_mutex_lock(t->env->mu);
        int r = vm_store_list(t->env->db, &all, &n, &err);
        pthread_mutex_unlock(t->env->mu);
        if (r < 0) {
                log_warn("%s: %s", t->name, err.msg);
                return;
        }
        t->fn(t->data, all, n);
        free(all);
}

static void *ticker_main(void *arg)
{
        struct vm_ticker *t = arg;
        pthread_mutex_lock(&t->mu);
        while (!t->stop) {
                struct timespec until = timespec_after_ms(CLOCK_REALTIME, t->interval_ms);
                pthread_cond_timedwait(&t->cond, &t->mu, &until);
                if (t->stop)
                        break;
                pthread_mutex_unlock(&t->mu);
                tick(t);
                pthread_mutex_lock(&t->mu);
        }
        pthread_mutex_unlock(&t->mu);
        return NULL;
}

int vm_ticker_start(struct vm_env *env, const char *name, uint64_t interval_ms, vm_ticker_fn fn,
                    void *data, struct vm_ticker **ret, struct bg_error *err)
{
        struct vm_ticker *t = calloc(1, sizeof(*t));
        if (!t)
                return bg_error_set(err, ENOMEM, "out of memory");
        t->env = env;
        t->name = name;
        t->interval_ms = interval_ms;
        t->fn = fn;
        t->data = data;
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->cond, NULL);
        int r = pthread_create(&t->thread, NULL, ticker_main, t);
        if (r != 0) {
                pthread_mutex_destroy(&t->mu);
                pthread_cond_destroy(&t->cond);
                free(t);
                return bg_error_set(err, r, "start the %s: %s", name, strerror(r));
        }
        *ret = t;
        return 0;
}

void vm_ticker_stop(struct vm_ticker *t)
{
        if (!t)
                return;
        pthread_mutex_lock(&t->mu);
        t->stop = true;
        pthread_cond_signal(&t->cond);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cond);
        free(t);
}
