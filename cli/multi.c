#include "multi.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define MULTI_WORKERS 8

struct multi_job {
        struct cli *cli;
        char **refs;
        size_t n;
        cli_multi_fn fn;
        void *userdata;
        struct cli_multi_result *res;
        pthread_mutex_t mu;
        size_t next; /* under mu: the next ref nobody took yet */
};

static void *worker(void *arg)
{
        struct multi_job *j = arg;
        for (;;) {
                pthread_mutex_lock(&j->mu);
                size_t i = j->next++;
                pthread_mutex_unlock(&j->mu);
                if (i >= j->n)
                        return NULL;
                j->fn(j->cli, j->refs[i], j->userdata, &j->res[i]);
        }
}

int cli_multi_exit(const struct cli_multi_result *res, size_t n)
{
        int code = 0;
        for (size_t i = 0; i < n; i++) {
                if (res[i].ok)
                        continue;
                int c = rpc_code_to_exit(res[i].st.code);
                if (c == 0)
                        c = CLI_EXIT_FAILURE;
                if (code == 0)
                        code = c;
                else if (code != c)
                        return CLI_EXIT_FAILURE;
        }
        return code;
}

int cli_multi_run(struct cli *cli, int n, char **refs, bool parallel, cli_multi_fn fn,
                  void *userdata)
{
        size_t count = n > 0 ? (size_t)n : 0;
        struct cli_multi_result *res = calloc(count ? count : 1, sizeof(*res));
        if (!res)
                return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
        /* The paths are worked out once, before any thread needs them. */
        int r = cli_paths(cli);
        if (r != 0) {
                free(res);
                return r;
        }
        if (parallel && count > 1) {
                struct multi_job j = {.cli = cli,
                                      .refs = refs,
                                      .n = count,
                                      .fn = fn,
                                      .userdata = userdata,
                                      .res = res};
                pthread_mutex_init(&j.mu, NULL);
                pthread_t th[MULTI_WORKERS];
                size_t nth = 0;
                for (; nth < MULTI_WORKERS && nth < count; nth++)
                        if (pthread_create(&th[nth], NULL, worker, &j) != 0)
                                break;
                if (nth == 0)
                        worker(&j); /* no thread: do it all here */
                for (size_t i = 0; i < nth; i++)
                        pthread_join(th[i], NULL);
                pthread_mutex_destroy(&j.mu);
        } else {
                bool cancelled = false;
                for (size_t i = 0; i < count; i++) {
                        if (cancelled) {
                                res[i].st.code = RPC_CANCELLED;
                                snprintf(res[i].st.message, sizeof(res[i].st.message),
                                         "not attempted: cancelled");
                                continue;
                        }
                        fn(cli, refs[i], userdata, &res[i]);
                        cancelled = !res[i].ok && res[i].st.code == RPC_CANCELLED;
                }
        }
        json_t *arr = NULL;
        bool want_json = false;
        for (size_t i = 0; i < count; i++)
                want_json = want_json || res[i].json;
        if (want_json && count > 1)
                arr = json_array();
        for (size_t i = 0; i < count; i++) {
                struct cli_multi_result *x = &res[i];
                if (x->ok) {
                        if (x->json && arr)
                                json_array_append_new(arr, x->json);
                        else if (x->json)
                                cli_print_json(x->json);
                        else if (x->out && !cli_quiet())
                                printf("%s\n", x->out);
                        fflush(stdout);
                } else {
                        char buf[768];
                        rpc_status_format(&x->st, buf, sizeof(buf));
                        if (count > 1)
                                fprintf(stderr, "banger: %s: %s\n", cli_safe(refs[i]),
                                        cli_safe(buf));
                        else
                                fprintf(stderr, "banger: %s\n", cli_safe(buf));
                        if (x->json)
                                json_decref(x->json);
                }
                free(x->out);
        }
        if (arr)
                cli_print_json(arr);
        int code = cli_multi_exit(res, count);
        free(res);
        return code;
}
