/* bench/rpc: N Health calls client → gateway → vmsvc versus client → vmsvc
 * directly, against the real banger-vmsvc and banger-gateway processes in a
 * temp BANGER_HOME, in one run. Prints p50/p99 for both, the added latency of
 * the gateway hop and the ratio. Target: the hop adds ≤ 50 µs at p50.
 * Ends with the BENCH line scripts/bench.sh collects (bench/CMakeLists.txt);
 * exits 1 when it could not run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "banger/v1/common.pb-c.h"
#include "log/log.h"
#include "rpc/rpc.h"
#include "util/timeutil.h"

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static int run(const char *url, unsigned n, uint64_t *lat)
{
        struct rpc_client *c;
        struct bg_error err = {0};
        struct rpc_client_opts o = {.block_connect = true};
        if (rpc_client_open(url, &o, &c, &err) < 0) {
                fprintf(stderr, "bench_rpc: %s\n", err.msg);
                return -1;
        }
        Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
        struct rpc_call_opts co = {.deadline_ms = 5000, .op_id = "bench"};
        /* warm-up */
        for (unsigned i = 0; i < 200; i++) {
                ProtobufCMessage *out = NULL;
                struct rpc_status st;
                if (rpc_call(c, "/banger.v1.VmService/Health", &req.base,
                             &banger__v1__health_response__descriptor, &out, &co, &st) < 0) {
                        fprintf(stderr, "bench_rpc: %s\n", st.message);
                        rpc_client_close(c);
                        return -1;
                }
                protobuf_c_message_free_unpacked(out, NULL);
        }
        for (unsigned i = 0; i < n; i++) {
                ProtobufCMessage *out = NULL;
                struct rpc_status st;
                uint64_t t0 = now_mono_usec();
                int r = rpc_call(c, "/banger.v1.VmService/Health", &req.base,
                                 &banger__v1__health_response__descriptor, &out, &co, &st);
                lat[i] = now_mono_usec() - t0;
                if (r < 0) {
                        fprintf(stderr, "bench_rpc: call %u: %s\n", i, st.message);
                        rpc_client_close(c);
                        return -1;
                }
                protobuf_c_message_free_unpacked(out, NULL);
        }
        rpc_client_close(c);
        qsort(lat, n, sizeof(*lat), cmp_u64);
        return 0;
}

/* The floor: one round trip between two threads over a unix socket pair, the
 * least any extra process hop costs on this machine (two thread wake-ups). */
static void *echo_main(void *arg)
{
        int fd = *(int *)arg;
        char b[64];
        while (read(fd, b, sizeof(b)) > 0)
                if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
                        break;
        return NULL;
}

static int floor_run(unsigned n, uint64_t *lat)
{
        int sv[2];
        pthread_t t;
        char b[64] = {0};
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        pthread_create(&t, NULL, echo_main, &sv[1]);
        for (unsigned i = 0; i < n; i++) {
                uint64_t t0 = now_mono_usec();
                if (write(sv[0], b, sizeof(b)) != (ssize_t)sizeof(b) ||
                    read(sv[0], b, sizeof(b)) != (ssize_t)sizeof(b))
                        return -1;
                lat[i] = now_mono_usec() - t0;
        }
        close(sv[0]);
        pthread_join(t, NULL);
        close(sv[1]);
        qsort(lat, n, sizeof(*lat), cmp_u64);
        return 0;
}

/* A second floor: a bare nng REQ/REP round trip over ipc with an echo thread
 * and no banger code at all. Any hop through another nng process costs at
 * least this on this machine. */
static void *nng_echo_main(void *arg)
{
        nng_socket *rep = arg;
        nng_msg *m;
        while (nng_recvmsg(*rep, &m, 0) == 0)
                if (nng_sendmsg(*rep, m, 0) != 0)
                        nng_msg_free(m);
        return NULL;
}

static int nng_floor_run(const char *home, unsigned n, uint64_t *lat)
{
        char url[256];
        nng_socket rep, req;
        pthread_t t;
        snprintf(url, sizeof(url), "ipc://%s/floor.sock", home);
        if (nng_rep0_open(&rep) || nng_listen(rep, url, NULL, 0) || nng_req0_open(&req) ||
            nng_dial(req, url, NULL, 0))
                return -1;
        pthread_create(&t, NULL, nng_echo_main, &rep);
        for (unsigned i = 0; i < n + 200; i++) {
                nng_msg *m;
                if (nng_msg_alloc(&m, 64))
                        return -1;
                uint64_t t0 = now_mono_usec();
                if (nng_sendmsg(req, m, 0) || nng_recvmsg(req, &m, 0))
                        return -1;
                if (i >= 200)
                        lat[i - 200] = now_mono_usec() - t0;
                nng_msg_free(m);
        }
        nng_close(req);
        nng_close(rep);
        pthread_join(t, NULL);
        qsort(lat, n, sizeof(*lat), cmp_u64);
        return 0;
}

int main(int argc, char **argv)
{
        unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 10000;
        const char *bin = getenv("BANGER_BIN_DIR");
        char home[] = "/tmp/bgbench.XXXXXX", cmd[512], gw[256], direct[256];
        if (!bin || n == 0) {
                fprintf(stderr, "usage: BANGER_BIN_DIR=build/bin bench_rpc [CALLS]\n");
                return 2;
        }
        if (!mkdtemp(home))
                return 1;
        setenv("BANGER_HOME", home, 1);
        log_setup("bench", LOG_LEVEL_ERROR, 2);
        /* Only the two processes measured: vmsvc and the gateway (no netsvc,
         * so the host's network is not touched). */
        snprintf(cmd, sizeof(cmd),
                 "%s/banger-vmsvc >/dev/null 2>&1 & %s/banger-gateway >/dev/null 2>&1 &", bin, bin);
        if (system(cmd) != 0) {
                fprintf(stderr, "bench_rpc: could not start the services\n");
                return 1;
        }
        snprintf(gw, sizeof(gw), "ipc://%s/run/gateway.sock", home);
        snprintf(direct, sizeof(direct), "ipc://%s/run/vmsvc.sock", home);
        char pids[2][300];
        snprintf(pids[0], sizeof(pids[0]), "%s/run/vmsvc.pid", home);
        snprintf(pids[1], sizeof(pids[1]), "%s/run/gateway.pid", home);
        for (int i = 0; i < 500 && (access(pids[0], F_OK) || access(pids[1], F_OK)); i++)
                sleep_msec(20);

        uint64_t *a = calloc(n, sizeof(*a)), *b = calloc(n, sizeof(*b)), *f = calloc(n, sizeof(*f)),
                 *g = calloc(n, sizeof(*g));
        int r = 0;
        if (!a || !b || !f || !g || run(direct, n, a) < 0 || run(gw, n, b) < 0 ||
            floor_run(n, f) < 0 || nng_floor_run(home, n, g) < 0)
                r = 1;
        snprintf(cmd, sizeof(cmd),
                 "for f in %s/run/*.pid; do kill $(cut -d' ' -f1 $f) 2>/dev/null; done; "
                 "sleep 0.5; rm -rf %s",
                 home, home);
        if (system(cmd) != 0)
                fprintf(stderr, "bench_rpc: cleanup of %s failed\n", home);
        if (r)
                return r;

        uint64_t d50 = a[n / 2], d99 = a[n * 99 / 100], g50 = b[n / 2], g99 = b[n * 99 / 100];
        printf("bench/rpc: %u Health calls each\n", n);
        printf("  direct  client -> vmsvc            p50 %6llu us  p99 %6llu us\n",
               (unsigned long long)d50, (unsigned long long)d99);
        printf("  gateway client -> gateway -> vmsvc p50 %6llu us  p99 %6llu us\n",
               (unsigned long long)g50, (unsigned long long)g99);
        long long added = (long long)g50 - (long long)d50;
        printf("  gateway hop adds %lld us at p50 (target <= 50 us: %s); ratio gateway/direct "
               "p50 %.2fx, p99 %.2fx\n",
               added, added <= 50 ? "met" : "NOT met", (double)g50 / (double)(d50 ? d50 : 1),
               (double)g99 / (double)(d99 ? d99 : 1));
        printf("  floor: one unix-socket round trip between two threads p50 %llu us; the hop "
               "costs %.2fx that floor (the gateway's own work is the rest: %lld us)\n",
               (unsigned long long)f[n / 2], (double)added / (double)(f[n / 2] ? f[n / 2] : 1),
               added - (long long)f[n / 2]);
        printf(
            "  floor: a bare nng REQ/REP ipc round trip (echo thread, no banger code) p50 %llu us;"
            " the hop costs %.2fx that, i.e. %lld us beyond nng's own round trip\n",
            (unsigned long long)g[n / 2], (double)added / (double)(g[n / 2] ? g[n / 2] : 1),
            added - (long long)g[n / 2]);
        printf("BENCH rpc.gateway_health_p50_us ours=%llu base=%llu ratio=%.3f goal=ours-base<=50 "
               "%s\n",
               (unsigned long long)g50, (unsigned long long)d50,
               (double)g50 / (double)(d50 ? d50 : 1), added <= 50 ? "PASS" : "MISS");
        free(a);
        free(b);
        free(f);
        free(g);
        return 0;
}
