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

int vm_probe_logs(struct vm_env *env, const Banger__V1__VmLogsRequest *in,
                  Banger__V1__VmLogsResponse *out, struct bg_error *err)
{
        struct vm_record rec;
        int r = vm_load(env, in->ref, &rec, err);
        if (r < 0)
                return r;
        char path[600];
        snprintf(path, sizeof(path), "%s/%s/console.log", env->vms_dir, rec.id);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                out->next_offset = in->offset;
                return errno == ENOENT ? 0 : bg_error_errno(err, -errno, "open %s", path);
        }
        struct stat st;
        fstat(fd, &st);
        out->size = (uint64_t)st.st_size;
        uint32_t max = in->max_bytes && in->max_bytes <= (1u << 20) ? in->max_bytes : 65536;
        uint64_t off = in->offset <= (uint64_t)st.st_size ? in->offset : (uint64_t)st.st_size;
        out->data.data = malloc(max);
        if (!out->data.data) {
                close(fd);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        ssize_t n = pread(fd, out->data.data, max, (off_t)off);
        close(fd);
        out->data.len = n > 0 ? (size_t)n : 0;
        out->next_offset = off + out->data.len;
        return 0;
}

int vm_probe_stats(struct vm_env *env, const char *ref, Banger__V1__VmStats *out,
                   struct bg_error *err)
{
        struct vm_record rec;
        struct agent_conn *c = NULL;
        int r = vm_agent_open(env, ref, &c, &rec, err);
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
        r = agent_stats(c, 5000, &resp, err);
        agent_conn_free(c);
        if (r < 0)
                return r;
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
static const char *probe_http(const char *ip, uint32_t port)
{
        static const char *const schemes[] = {"http", "https"};
        for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
                CURL *h = curl_easy_init();
                if (!h)
                        return NULL;
                char url[64];
                snprintf(url, sizeof(url), "%s://%s:%u/", schemes[i], ip, port);
                curl_easy_setopt(h, CURLOPT_URL, url);
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1500L);
                curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
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

/* One request (fn) to the agent of VM ref on a connection of its own: the
 * response is the caller's to free (agent_response_free). */
static int agent_once(struct vm_env *env, const char *ref,
                      int (*fn)(struct agent_conn *, uint64_t, Banger__V1__AgentResponse **,
                                struct bg_error *),
                      struct vm_record *rec, Banger__V1__AgentResponse **ret, struct bg_error *err)
{
        struct agent_conn *c = NULL;
        int r = vm_agent_open(env, ref, &c, rec, err);
        if (r < 0)
                return r;
        r = fn(c, 5000, ret, err);
        agent_conn_free(c);
        return r;
}

int vm_probe_ports(struct vm_env *env, const char *ref, Banger__V1__VmPortsResponse *out,
                   struct bg_error *err)
{
        struct vm_record rec;
        Banger__V1__AgentResponse *resp = NULL;
        int r = agent_once(env, ref, agent_ports, &rec, &resp, err);
        if (r < 0)
                return r;
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
                        scheme = probe_http(rec.ip, p->port);
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
        Banger__V1__AgentResponse *resp = NULL;
        int r = agent_once(env, ref, agent_health, &rec, &resp, err);
        if (r < 0)
                return r;
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
