/* bench-net: in a fresh network namespace (the host is untouched),
 *   1. warm a pool of N taps (default 64) with one worker versus with the
 *      daemon's NETSVC_POOL_PARALLEL workers, and print the ratio;
 *   2. start the real banger-netsvc and measure AcquireTap over RPC from a
 *      warm pool (p50/p99), releasing in between rounds.
 * Each ends with a BENCH line for scripts/bench.sh (bench/CMakeLists.txt);
 * goals: the parallel warm-up is faster than the sequential one, and
 * AcquireTap from a warm pool is sub-millisecond at p50 (docs/networking.md).
 * Needs root (CAP_NET_ADMIN, unshare): prints a BANGER-SKIP line (not-root)
 * and exits 0 otherwise; exits 1 when it could not run. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banger/v1/net.pb-c.h"
#include "hostnet/netlink.h"
#include "netsvc.h"
#include "rpc/rpc.h"
#include "util/fs.h"
#include "util/timeutil.h"

extern char **environ;

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static int die(const char *what, const struct bg_error *err)
{
        fprintf(stderr, "bench-net: %s: %s\n", what, err && err->msg[0] ? err->msg : "failed");
        return 1;
}

/* Warms target taps with `parallel` workers on a fresh db; returns ms. */
static int warm_once(const char *dir, unsigned target, unsigned parallel, double *ret_ms)
{
        char path[256];
        static unsigned run;
        snprintf(path, sizeof(path), "%s/warm-%u.db", dir, run++);
        struct bg_error err = {0};
        sqlite3 *db = NULL;
        if (store_open(path, netsvc_migrations, netsvc_n_migrations, &db, &err) < 0)
                return die("open db", &err);
        pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        struct tap_pool_config pc = {
            .bridge = "banger0", .owner = 0, .target = target, .parallel = parallel};
        struct tap_pool *p = NULL;
        int rc = 1;
        if (tap_pool_new(&pc, db, &lock, &p, &err) < 0 || tap_pool_reconcile(p, NULL, &err) < 0) {
                rc = die("pool", &err);
                goto out;
        }
        uint64_t t0 = now_mono_usec();
        if (tap_pool_resume(p, &err) < 0) {
                rc = die("pool start", &err);
                goto out;
        }
        if (tap_pool_wait_warm(p, 120000) < 0) {
                struct tap_pool_stats st;
                tap_pool_stats(p, &st);
                fprintf(stderr, "bench-net: pool did not warm: %s\n", st.last_error);
                goto out;
        }
        *ret_ms = (double)(now_mono_usec() - t0) / 1000.0;
        unsigned n = 0;
        if (tap_pool_remove_all(p, &n, &err) < 0) {
                rc = die("remove taps", &err);
                goto out;
        }
        rc = 0;
out:
        tap_pool_free(p);
        store_close(db);
        return rc;
}

static struct rpc_client *client;

static int net_call(const char *method, const ProtobufCMessage *in,
                    const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
        char full[96];
        snprintf(full, sizeof(full), "/banger.v1.NetService/%s", method);
        struct rpc_status st = {0};
        struct rpc_call_opts o = {.deadline_ms = 20000};
        int r = rpc_call(client, full, in, d, out, &o, &st);
        if (r < 0)
                fprintf(stderr, "bench-net: %s: %s\n", method, st.message);
        return r;
}

static int pool_warm(uint32_t *ret)
{
        Banger__V1__NetStatusRequest in = BANGER__V1__NET_STATUS_REQUEST__INIT;
        Banger__V1__NetStatusResponse *s = NULL;
        int r = net_call("Status", &in.base, &banger__v1__net_status_response__descriptor,
                         (ProtobufCMessage **)&s);
        if (r < 0)
                return r;
        *ret = s->pool_warm;
        banger__v1__net_status_response__free_unpacked(s, NULL);
        return 0;
}

static int wait_pool(uint32_t target)
{
        for (int i = 0; i < 2000; i++) {
                uint32_t w = 0;
                if (pool_warm(&w) < 0)
                        return -1;
                if (w >= target)
                        return 0;
                sleep_msec(10);
        }
        fprintf(stderr, "bench-net: pool did not refill\n");
        return -1;
}

static int acquire_bench(const char *dir, unsigned target)
{
        const char *bin_dir = getenv("BANGER_BIN_DIR");
        char bin[512], cfg_dir[300], cfg[340], url[300];
        snprintf(bin, sizeof(bin), "%s/banger-netsvc", bin_dir ? bin_dir : ".");
        snprintf(cfg_dir, sizeof(cfg_dir), "%s/home/config", dir);
        snprintf(cfg, sizeof(cfg), "%s/config.toml", cfg_dir);
        char home[300];
        snprintf(home, sizeof(home), "%s/home", dir);
        mkdir(home, 0700);
        mkdir(cfg_dir, 0700);
        FILE *f = fopen(cfg, "we");
        if (!f)
                return die("write config", NULL);
        /* DNS on the bridge address: lo is down in the fresh namespace. */
        fprintf(f, "[network]\ntap_pool_size = %u\ndns_listen = \"172.30.0.1:42069\"\n", target);
        fclose(f);
        setenv("BANGER_HOME", home, 1);
        setenv("BANGER_LOG_LEVEL", "warn", 1);
        snprintf(url, sizeof(url), "ipc://%s/run/netsvc.sock", home);

        char *argv[] = {bin, "--owner-uid", "0", NULL};
        pid_t pid;
        int r = posix_spawn(&pid, bin, NULL, NULL, argv, environ);
        if (r != 0) {
                fprintf(stderr, "bench-net: spawn %s: %s\n", bin, strerror(r));
                return 1;
        }
        int rc = 1;
        struct bg_error err = {0};
        struct rpc_client_opts co = {.block_connect = true};
        for (int i = 0; i < 200 && !client; i++) {
                if (rpc_client_open(url, &co, &client, &err) < 0)
                        sleep_msec(20);
        }
        if (!client) {
                die("connect to banger-netsvc", &err);
                goto out;
        }
        if (wait_pool(target) < 0)
                goto out;

        enum { ROUNDS = 16 };
        unsigned per_round = target / 2 ? target / 2 : 1;
        uint64_t *lat = calloc(ROUNDS * per_round, sizeof(*lat));
        char(*taps)[IFNAMSIZ] = calloc(per_round, IFNAMSIZ);
        size_t n = 0;
        unsigned not_from_pool = 0;
        for (int round = 0; round < ROUNDS; round++) {
                for (unsigned i = 0; i < per_round; i++) {
                        char vm[32];
                        snprintf(vm, sizeof(vm), "bench-%d-%u", round, i);
                        Banger__V1__NetAcquireTapRequest in =
                            BANGER__V1__NET_ACQUIRE_TAP_REQUEST__INIT;
                        in.vm_name = vm;
                        Banger__V1__NetAcquireTapResponse *out = NULL;
                        uint64_t t0 = now_mono_usec();
                        if (net_call("AcquireTap", &in.base,
                                     &banger__v1__net_acquire_tap_response__descriptor,
                                     (ProtobufCMessage **)&out) < 0)
                                goto out_free;
                        uint64_t dt = now_mono_usec() - t0;
                        if (out->from_pool)
                                lat[n++] = dt;
                        else
                                not_from_pool++;
                        snprintf(taps[i], IFNAMSIZ, "%s", out->tap);
                        banger__v1__net_acquire_tap_response__free_unpacked(out, NULL);
                }
                for (unsigned i = 0; i < per_round; i++) {
                        Banger__V1__NetReleaseTapRequest in =
                            BANGER__V1__NET_RELEASE_TAP_REQUEST__INIT;
                        in.tap = taps[i];
                        ProtobufCMessage *out = NULL;
                        if (net_call("ReleaseTap", &in.base,
                                     &banger__v1__net_release_tap_response__descriptor, &out) < 0)
                                goto out_free;
                        protobuf_c_message_free_unpacked(out, NULL);
                }
                if (wait_pool(target) < 0)
                        goto out_free;
        }
        qsort(lat, n, sizeof(*lat), cmp_u64);
        if (n == 0) {
                fprintf(stderr, "bench-net: no AcquireTap was served from the pool\n");
                goto out_free;
        }
        printf("net: AcquireTap from a warm pool over RPC (n=%zu, %u rounds of %u): "
               "p50 %llu us, p99 %llu us (%u calls not served from the pool "
               "excluded)\n",
               n, ROUNDS, per_round, (unsigned long long)lat[n / 2],
               (unsigned long long)lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], not_from_pool);
        printf("BENCH net.acquire_tap_p50_us ours=%llu base=- ratio=- goal=ours<1000 %s\n",
               (unsigned long long)lat[n / 2], lat[n / 2] < 1000 ? "PASS" : "MISS");
        rc = 0;
out_free:
        free(lat);
        free(taps);
out:
        if (client) {
                Banger__V1__NetTeardownRequest in = BANGER__V1__NET_TEARDOWN_REQUEST__INIT;
                ProtobufCMessage *o = NULL;
                if (net_call("Teardown", &in.base, &banger__v1__net_teardown_response__descriptor,
                             &o) == 0)
                        protobuf_c_message_free_unpacked(o, NULL);
                rpc_client_close(client);
        }
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return rc;
}

int main(int argc, char **argv)
{
        unsigned target = argc > 1 ? (unsigned)atoi(argv[1]) : 64;
        if (target < 2 || target > 256) {
                fprintf(stderr, "usage: bench_net [TAPS 2..256]\n");
                return 2;
        }
        if (geteuid() != 0) {
                printf("BANGER-SKIP: not-root: bench-net needs root (network namespace, "
                       "CAP_NET_ADMIN)\n");
                return 0;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "bench-net: could not run: unshare(CLONE_NEWNET): %s\n",
                        strerror(errno));
                return 1;
        }
        struct bg_error err = {0};
        struct in_addr gw = {.s_addr = htonl(0xac1e0001)}; /* 172.30.0.1 */
        if (netlink_bridge_ensure("banger0", gw, 24, &err) < 0)
                return die("bridge", &err);
        char dir[] = "/tmp/bench-net.XXXXXX";
        if (!mkdtemp(dir))
                return die("mkdtemp", NULL);

        /* Alternating runs, median of each: single runs are noisy (RCU grace
         * periods and rtnl_lock contention in the kernel). */
        enum { RUNS = 5 };
        double seq[RUNS], par[RUNS];
        int rc = 0;
        for (int i = 0; i < RUNS && rc == 0; i++) {
                rc = warm_once(dir, target, 1, &seq[i]);
                if (rc == 0)
                        rc = warm_once(dir, target, NETSVC_POOL_PARALLEL, &par[i]);
        }
        if (rc == 0) {
                qsort(seq, RUNS, sizeof(seq[0]), cmp_double);
                qsort(par, RUNS, sizeof(par[0]), cmp_double);
                double seq_ms = seq[RUNS / 2], par_ms = par[RUNS / 2];
                printf("net: warm %u taps (median of %d): sequential %.1f ms, parallel (%d "
                       "workers) %.1f ms, ratio %.2fx\n",
                       target, RUNS, seq_ms, NETSVC_POOL_PARALLEL, par_ms,
                       par_ms > 0 ? seq_ms / par_ms : 0);
                printf("BENCH net.warm_%u_taps_ms ours=%.1f base=%.1f ratio=%.3f goal=ratio<1 %s\n",
                       target, par_ms, seq_ms, seq_ms > 0 ? par_ms / seq_ms : 0,
                       par_ms < seq_ms ? "PASS" : "MISS");
        }
        if (rc == 0) {
                (void)netlink_bridge_delete("banger0", &err);
                rc = acquire_bench(dir, target);
        }
        if (rm_rf(dir, &err) < 0)
                fprintf(stderr, "bench-net: could not remove %s: %s\n", dir, err.msg);
        return rc;
}
