#include "vm_probes.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "util/macro.h"
#include "util/timeutil.h"
#include "vmm/vmm_log.h"

int vm_probe_logs(struct vm_env *env, const Banger__V1__VmLogsRequest *in,
                  Banger__V1__VmLogsResponse *out, struct bg_error *err)
{
        struct vm_record rec;
        int r = vm_load(env, in->ref, &rec, err);
        if (r < 0)
                return r;
        char dir[VMM_PATH_MAX + 40];
        snprintf(dir, sizeof(dir), "%s/%s", env->vms_dir, rec.id);
        uint32_t max = in->max_bytes && in->max_bytes <= (1u << 20) ? in->max_bytes : 65536;
        out->data.data = malloc(max);
        if (!out->data.data)
                return bg_error_set(err, ENOMEM, "out of memory");
        /* Offsets are in the console's stream, which rotation (log_watch.h)
         * keeps going across console.log.1 and console.log. */
        uint64_t off = 0;
        size_t n = 0;
        pthread_mutex_lock(&env->log_mu);
        r = vmm_console_read(dir, in->offset, out->data.data, max, &off, &n, &out->size);
        pthread_mutex_unlock(&env->log_mu);
        if (r < 0)
                return bg_error_errno(err, r, "read the console log of VM %s", rec.name);
        out->data.len = n;
        out->next_offset = off + n;
        return 0;
}

uint32_t vm_probe_timeout(const struct vm_env *env)
{
        return env->probe_timeout_ms ? env->probe_timeout_ms : 2000;
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC ms), at least 1. */
static uint64_t left_ms(uint64_t deadline)
{
        uint64_t now = now_mono_msec();
        return deadline > now ? deadline - now : 1;
}

int vm_probe_begin(struct vm_env *env, const char *ref, const char *what, struct agent_conn **ret,
                   struct vm_record *ret_rec, uint64_t *ret_deadline, struct bg_error *err)
{
        int r = vm_load(env, ref, ret_rec, err);
        if (r < 0)
                return r;
        r = probe_gate_enter(env->probe_gate, ret_rec->id, ret_rec->name, what, err);
        if (r < 0)
                return r;
        /* The timeout covers connecting and the answer together. */
        *ret_deadline = now_mono_msec() + vm_probe_timeout(env);
        r = vm_agent_open(env, ret_rec->id, ret, ret_rec, err);
        if (r < 0)
                probe_gate_leave(env->probe_gate, ret_rec->id);
        return r;
}

void vm_probe_end(struct vm_env *env, const struct vm_record *rec, struct agent_conn *c)
{
        agent_conn_free(c);
        probe_gate_leave(env->probe_gate, rec->id);
}

/* A probe that timed out says which limit it hit. */
static int probe_result(const struct vm_env *env, const struct vm_record *rec, int r,
                        struct bg_error *err)
{
        if (r == -ETIMEDOUT)
                return bg_error_set(err, ETIMEDOUT,
                                    "VM %s: its agent did not answer within %u ms "
                                    "(vm.agent_probe_timeout)",
                                    rec->name, vm_probe_timeout(env));
        return r;
}

int vm_probe_stats(struct vm_env *env, const char *ref, Banger__V1__VmStats *out,
                   struct bg_error *err)
{
        struct vm_record rec;
        struct agent_conn *c = NULL;
        uint64_t deadline;
        int r = vm_probe_begin(env, ref, "stats", &c, &rec, &deadline, err);
        if (r < 0)
                return r;
        out->name = strdup(rec.name);
        /* Host side: the VMM process from /proc. */
        pid_t pid = 0;
        if (vm_process(env, &rec, &pid, err) == 0) {
                char p[64], buf[1024];
                snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
                FILE *f = fopen(p, "re");
                if (f && fgets(buf, sizeof(buf), f)) {
                        char *rp = strrchr(buf, ')');
                        unsigned long long ut = 0, stt = 0;
                        if (rp &&
                            sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                                   &ut, &stt) == 2)
                                out->vmm_cpu_ms =
                                    (ut + stt) * 1000 / (uint64_t)sysconf(_SC_CLK_TCK);
                }
                if (f)
                        fclose(f);
                snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
                f = fopen(p, "re");
                while (f && fgets(buf, sizeof(buf), f)) {
                        unsigned long long kb;
                        if (sscanf(buf, "VmRSS: %llu kB", &kb) == 1)
                                out->vmm_rss_bytes = kb * 1024;
                }
                if (f)
                        fclose(f);
        }
        Banger__V1__AgentResponse *resp = NULL;
        r = agent_stats(c, left_ms(deadline), &resp, err);
        vm_probe_end(env, &rec, c);
        if (r < 0)
                return probe_result(env, &rec, r, err);
        out->guest = resp->stats;
        resp->stats = NULL;
        resp->kind_case = BANGER__V1__AGENT_RESPONSE__KIND__NOT_SET;
        agent_response_free(resp);
        return out->name ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

static size_t discard(void *p, size_t s, size_t n, void *ud)
{
        return s * n;
}

/* Does ip:port answer HTTP, or HTTPS? Returns the URL scheme or NULL. */
static const char *probe_http(const char *ip, uint32_t port, uint64_t deadline)
{
        static const char *const schemes[] = {"http", "https"};
        for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
                uint64_t now = now_mono_msec();
                if (now + 50 >= deadline)
                        return NULL; /* the ports call's budget for HTTP probes is spent */
                long budget = (long)(deadline - now);
                CURL *h = curl_easy_init();
                if (!h)
                        return NULL;
                char url[64];
                snprintf(url, sizeof(url), "%s://%s:%u/", schemes[i], ip, port);
                curl_easy_setopt(h, CURLOPT_URL, url);
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, budget < 1500 ? budget : 1500L);
                curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, budget < 1000 ? budget : 1000L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L); /* only asking "is it TLS+HTTP" */
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
                curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
                CURLcode rc = curl_easy_perform(h);
                long code = 0;
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
                curl_easy_cleanup(h);
                if (rc == CURLE_OK && code > 0)
                        return schemes[i];
        }
        return NULL;
}

int vm_probe_ports(struct vm_env *env, const char *ref, Banger__V1__VmPortsResponse *out,
                   struct bg_error *err)
{
        struct vm_record rec;
        struct agent_conn *c = NULL;
        uint64_t deadline;
        int r = vm_probe_begin(env, ref, "ports", &c, &rec, &deadline, err);
        if (r < 0)
                return r;
        Banger__V1__AgentResponse *resp = NULL;
        r = agent_ports(c, left_ms(deadline), &resp, err);
        vm_probe_end(env, &rec, c);
        if (r < 0)
                return probe_result(env, &rec, r, err);
        /* The guest chooses how many ports listen and whether they answer:
         * asking them whether they speak HTTP gets one more probe timeout in
         * all, after which the rest are listed without a URL. */
        uint64_t http_deadline = now_mono_msec() + vm_probe_timeout(env);
        Banger__V1__AgentPorts *ap = resp->ports;
        size_t n = ap ? ap->n_ports : 0;
        out->ports = calloc(n ? n : 1, sizeof(*out->ports));
        if (!out->ports) {
                agent_response_free(resp);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                Banger__V1__AgentPort *p = ap->ports[i];
                Banger__V1__VmPort *vp = calloc(1, sizeof(*vp));
                if (!vp)
                        break;
                banger__v1__vm_port__init(vp);
                out->ports[out->n_ports++] = vp;
                vp->proto = strdup(p->transport == BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_UDP
                                       ? "udp"
                                       : "tcp");
                vp->address = strdup(p->address);
                vp->port = p->port;
                vp->processes = calloc(p->n_processes ? p->n_processes : 1, sizeof(char *));
                for (size_t k = 0; vp->processes && k < p->n_processes; k++)
                        vp->processes[vp->n_processes++] = strdup(p->processes[k]->name);
                const char *scheme = NULL;
                bool loopback_only =
                    strncmp(p->address, "127.", 4) == 0 || strcmp(p->address, "::1") == 0;
                if (p->transport != BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_UDP &&
                    !loopback_only && rec.ip[0])
                        scheme = probe_http(rec.ip, p->port, http_deadline);
                char url[128] = "";
                if (scheme)
                        snprintf(url, sizeof(url), "%s://%s.vm:%u/", scheme, rec.name, p->port);
                vp->url = strdup(url);
        }
        agent_response_free(resp);
        return 0;
}

int vm_probe_health(struct vm_env *env, const char *ref, Banger__V1__AgentHealth *out,
                    struct bg_error *err)
{
        struct vm_record rec;
        struct agent_conn *c = NULL;
        uint64_t deadline;
        int r = vm_probe_begin(env, ref, "health", &c, &rec, &deadline, err);
        if (r < 0)
                return r;
        Banger__V1__AgentResponse *resp = NULL;
        r = agent_health(c, left_ms(deadline), &resp, err);
        vm_probe_end(env, &rec, c);
        if (r < 0)
                return probe_result(env, &rec, r, err);
        Banger__V1__AgentHealth *h = resp->health;
        out->uptime_ms = h->uptime_ms;
        out->boot_id = strdup(h->boot_id);
        out->agent_version = strdup(h->agent_version);
        out->hostname = strdup(h->hostname);
        out->kernel_release = strdup(h->kernel_release);
        agent_response_free(resp);
        return out->boot_id && out->agent_version && out->hostname && out->kernel_release
                   ? 0
                   : bg_error_set(err, ENOMEM, "out of memory");
}
