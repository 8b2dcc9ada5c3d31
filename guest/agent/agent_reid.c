#include "agent_reid.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_cmdline.h"
#include "agent_log.h"
#include "agent_netlink.h"
#include "agent_setup.h"
#include "util/macro.h"

/* The network part of the request in banger.* kernel parameter form, so the
 * boot-time parser (agent_config_parse) validates both the same way. */
struct parse_state {
        char *msg;
        size_t len;
        int warnings;
};

static void parse_warn(const char *message, void *ud)
{
        struct parse_state *st = ud;
        if (st->warnings++ == 0)
                snprintf(st->msg, st->len, "%s", message);
}

static bool has_space(const char *s)
{
        return strpbrk(s, " \t\r\n\"") != NULL;
}

static int to_config(const Banger__V1__AgentReidentifyRequest *req, struct agent_config *cfg,
                     char *msg, size_t len)
{
        const char *fields[] = {req->hostname, req->address, req->gateway, req->mac};
        const char *names[] = {"hostname", "address", "gateway", "mac"};
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                if (!fields[i] || !fields[i][0]) {
                        snprintf(msg, len, "%s is missing", names[i]);
                        return -EINVAL;
                }
                if (has_space(fields[i]) || strlen(fields[i]) > 64) {
                        snprintf(msg, len, "%s is malformed", names[i]);
                        return -EINVAL;
                }
        }
        if (req->n_dns > AGENT_DNS_MAX) {
                snprintf(msg, len, "%zu DNS servers given, at most %d", req->n_dns, AGENT_DNS_MAX);
                return -EINVAL;
        }
        char dns[3 * 48] = "";
        for (size_t i = 0; i < req->n_dns; i++) {
                struct in_addr a;
                if (!req->dns[i] || inet_pton(AF_INET, req->dns[i], &a) != 1) {
                        snprintf(msg, len, "DNS server %zu is not an IPv4 address", i + 1);
                        return -EINVAL;
                }
                size_t used = strlen(dns);
                snprintf(dns + used, sizeof(dns) - used, "%s%s", used ? "," : "", req->dns[i]);
        }
        char line[512];
        snprintf(line, sizeof(line), "banger.name=%s banger.ip=%s banger.gw=%s banger.mac=%s%s%s",
                 req->hostname, req->address, req->gateway, req->mac, dns[0] ? " banger.dns=" : "",
                 dns);
        struct parse_state st = {.msg = msg, .len = len};
        int r = agent_config_parse(line, cfg, parse_warn, &st);
        if (r < 0) {
                snprintf(msg, len, "out of memory");
                return r;
        }
        if (st.warnings)
                return -EINVAL;
        if (!cfg->name[0] || !cfg->has_ip || !cfg->has_gw || !cfg->has_mac) {
                snprintf(msg, len, "hostname, address, gateway or mac is not valid");
                return -EINVAL;
        }
        return 0;
}

static bool is_hex32(const char *s)
{
        if (!s || strlen(s) != 32)
                return false;
        bool nonzero = false;
        for (const char *p = s; *p; p++) {
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
                nonzero |= *p != '0';
        }
        return nonzero;
}

/* Printable text without NUL; newlines allowed only where multiline. */
static bool text_ok(const char *s, size_t max, bool multiline)
{
        size_t n = 0;
        for (const char *p = s; *p; p++, n++) {
                unsigned char c = (unsigned char)*p;
                if (n >= max)
                        return false;
                if (c == '\n' && multiline)
                        continue;
                if (c < 0x20 || c == 0x7f)
                        return false;
        }
        return true;
}

int agent_reid_validate(const Banger__V1__AgentReidentifyRequest *req, char *msg, size_t len)
{
        struct agent_config cfg;
        int r = to_config(req, &cfg, msg, len);
        if (r < 0)
                return r;
        if (req->time_unix_ns <= 0) {
                snprintf(msg, len, "time_unix_ns is not set");
                return -EINVAL;
        }
        if (req->entropy.len < AGENT_REID_ENTROPY_MIN ||
            req->entropy.len > AGENT_REID_ENTROPY_MAX) {
                snprintf(msg, len, "entropy must be %d..%d bytes (got %zu)", AGENT_REID_ENTROPY_MIN,
                         AGENT_REID_ENTROPY_MAX, req->entropy.len);
                return -EINVAL;
        }
        if (!req->ssh_host_key ||
            strncmp(req->ssh_host_key, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36) != 0 ||
            !text_ok(req->ssh_host_key, AGENT_REID_KEY_MAX, true)) {
                snprintf(msg, len, "ssh_host_key is not an OpenSSH private key");
                return -EINVAL;
        }
        if (!req->ssh_host_key_pub || strncmp(req->ssh_host_key_pub, "ssh-", 4) != 0 ||
            !text_ok(req->ssh_host_key_pub, 1024, false)) {
                snprintf(msg, len, "ssh_host_key_pub is not one public key line");
                return -EINVAL;
        }
        if (!is_hex32(req->machine_id)) {
                snprintf(msg, len, "machine_id is not 32 lowercase hex digits");
                return -EINVAL;
        }
        if (!req->authorized_keys || !req->authorized_keys[0] ||
            !text_ok(req->authorized_keys, 32768, true)) {
                snprintf(msg, len, "authorized_keys is empty or not text");
                return -EINVAL;
        }
        return 0;
}

static int add_warning(Banger__V1__AgentReidentified *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_warning(Banger__V1__AgentReidentified *out, const char *fmt, ...)
{
        char **nw = realloc(out->warnings, (out->n_warnings + 1) * sizeof(char *));
        if (!nw)
                return -ENOMEM;
        out->warnings = nw;
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        out->warnings[out->n_warnings++] = s;
        agent_log("reidentify: %s", s);
        return 0;
}

void agent_reid_out_clear(Banger__V1__AgentReidentified *out)
{
        for (size_t i = 0; i < out->n_warnings; i++)
                free(out->warnings[i]);
        free(out->warnings);
        if (out->interface != protobuf_c_empty_string)
                free(out->interface);
        out->warnings = NULL;
        out->n_warnings = 0;
        out->interface = NULL;
}

/* Mixes the host's bytes into the kernel's pool, credits them, and forces
 * the CRNG to reseed now, so two clones of one snapshot diverge at once. */
static int reseed_rng(const ProtobufCBinaryData *entropy)
{
        _cleanup_close_ int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t words = (entropy->len + 3) / 4;
        struct rand_pool_info *info = calloc(1, sizeof(*info) + words * 4);
        if (!info)
                return -ENOMEM;
        info->entropy_count = (int)(entropy->len * 8);
        info->buf_size = (int)entropy->len;
        memcpy(info->buf, entropy->data, entropy->len);
        int r = ioctl(fd, RNDADDENTROPY, info) < 0 ? -errno : 0;
        explicit_bzero(info, sizeof(*info) + words * 4);
        free(info);
        if (r < 0)
                return r;
        if (ioctl(fd, RNDRESEEDCRNG) < 0)
                return -errno;
        return 0;
}

static int step_clock(int64_t unix_ns, int64_t *ret_step_ms)
{
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t cur = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        struct timespec ts = {.tv_sec = unix_ns / 1000000000, .tv_nsec = unix_ns % 1000000000};
        if (clock_settime(CLOCK_REALTIME, &ts) < 0)
                return -errno;
        *ret_step_ms = (unix_ns - cur) / 1000000;
        return 0;
}

static int mkdir_mode(const char *root, const char *rel, mode_t mode)
{
        char path[1024];
        snprintf(path, sizeof(path), "%s%s", streq(root, "/") ? "" : root, rel);
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return -errno;
        return chmod(path, mode) < 0 ? -errno : 0;
}

static int write_identity_files(const struct agent_reid_env *env,
                                const Banger__V1__AgentReidentifyRequest *req,
                                const struct agent_config *cfg, Banger__V1__AgentReidentified *out,
                                char *msg, size_t len)
{
        int r;
        if ((r = agent_write_hostname(env->root, cfg, WRITE_FILE_NOSYNC)) < 0 ||
            (r = agent_write_hosts(env->root, cfg, WRITE_FILE_NOSYNC)) < 0) {
                snprintf(msg, len, "write /etc/hostname or /etc/hosts: %s", strerror(-r));
                return r;
        }
        if (cfg->n_dns > 0 &&
            (r = agent_write_resolv_conf(env->root, cfg, WRITE_FILE_NOSYNC)) < 0) {
                snprintf(msg, len, "write /etc/resolv.conf: %s", strerror(-r));
                return r;
        }
        char id[40];
        snprintf(id, sizeof(id), "%s\n", req->machine_id);
        if ((r = agent_write_file_atomic(env->root, "/etc/machine-id", id, 0444,
                                         WRITE_FILE_NOSYNC)) < 0) {
                snprintf(msg, len, "write /etc/machine-id: %s", strerror(-r));
                return r;
        }
        /* The host key and authorized keys live on the work disk (/root). */
        if ((r = mkdir_mode(env->root, "/root/.banger", 0700)) < 0 ||
            (r = agent_write_file_atomic(env->root, AGENT_SSH_HOST_KEY, req->ssh_host_key, 0600,
                                         WRITE_FILE_NOSYNC)) < 0) {
                snprintf(msg, len, "write %s: %s", AGENT_SSH_HOST_KEY, strerror(-r));
                return r;
        }
        char pub[1100];
        snprintf(pub, sizeof(pub), "%s\n", req->ssh_host_key_pub);
        if ((r = agent_write_file_atomic(env->root, AGENT_SSH_HOST_KEY ".pub", pub, 0644,
                                         WRITE_FILE_NOSYNC)) < 0) {
                snprintf(msg, len, "write %s.pub: %s", AGENT_SSH_HOST_KEY, strerror(-r));
                return r;
        }
        if ((r = mkdir_mode(env->root, "/root/.ssh", 0700)) < 0 ||
            (r = agent_write_file_atomic(env->root, "/root/.ssh/authorized_keys",
                                         req->authorized_keys, 0600, WRITE_FILE_NOSYNC)) < 0) {
                snprintf(msg, len, "write /root/.ssh/authorized_keys: %s", strerror(-r));
                return r;
        }
        /* sshd (re-executed for every connection) reads the key file named by
         * the drop-in at each login: no restart needed. */
        r = agent_write_sshd_hostkey(env->root, WRITE_FILE_NOSYNC);
        if (r < 0 && r != -ENOENT) {
                snprintf(msg, len, "pin the sshd host key: %s", strerror(-r));
                return r;
        }
        if (r <= 0 && add_warning(out, "no /etc/ssh in this image: sshd host key not pinned") < 0)
                return -ENOMEM;
        return 0;
}

static int set_network(const struct agent_reid_env *env, const struct agent_config *cfg,
                       Banger__V1__AgentReidentified *out, char *msg, size_t len)
{
        char ifname[IF_NAMESIZE] = "";
        /* The clone has the template's one interface (and its old MAC). */
        int r = agent_iface_find(env->sys_dir, NULL, ifname, sizeof(ifname));
        if (r < 0) {
                snprintf(msg, len, "find the network interface: %s", strerror(-r));
                return r;
        }
        int idx = (int)if_nametoindex(ifname);
        if (idx <= 0) {
                snprintf(msg, len, "interface %s vanished", ifname);
                return -ENODEV;
        }
        /* Down first: the kernel drops the IPv6 link-local address derived
         * from the template's MAC and makes a new one from the clone's at up
         * (two clones on one bridge must not share it). */
        const char *step;
        do {
                step = "take down";
                if ((r = agent_link_set_updown(idx, false)) < 0)
                        break;
                step = "set MAC";
                if ((r = agent_link_set_mac(idx, cfg->mac)) < 0)
                        break;
                step = "flush addresses";
                if ((r = agent_addr_flush_v4(idx)) < 0)
                        break;
                step = "add address";
                if ((r = agent_addr_add(idx, cfg->ip, cfg->prefix)) < 0)
                        break;
                step = "bring up";
                if ((r = agent_link_set_updown(idx, true)) < 0)
                        break;
                step = "add default route";
                r = agent_route_add_default(idx, cfg->gw);
        } while (0);
        if (r < 0) {
                snprintf(msg, len, "%s on %s: %s", step, ifname, strerror(-r));
                return r;
        }
        if ((r = agent_arp_announce(idx, cfg->mac, cfg->ip)) < 0 &&
            add_warning(out, "gratuitous ARP on %s: %s", ifname, strerror(-r)) < 0)
                return -ENOMEM;
        out->interface = strdup(ifname);
        return out->interface ? 0 : -ENOMEM;
}

int agent_reid_apply(const struct agent_reid_env *env,
                     const Banger__V1__AgentReidentifyRequest *req,
                     Banger__V1__AgentReidentified *out, char *msg, size_t len)
{
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = agent_reid_validate(req, msg, len);
        if (r < 0)
                return r;
        struct agent_config cfg;
        if ((r = to_config(req, &cfg, msg, len)) < 0)
                return r;
        if (env->system) {
                /* Randomness first: everything after (the files' temp names,
                 * sshd's next connection) must already see the new state. */
                if ((r = reseed_rng(&req->entropy)) < 0) {
                        snprintf(msg, len, "reseed the kernel RNG: %s", strerror(-r));
                        return r;
                }
                if ((r = step_clock(req->time_unix_ns, &out->clock_step_ms)) < 0) {
                        snprintf(msg, len, "set the clock: %s", strerror(-r));
                        return r;
                }
        }
        if (env->system && !agent_work_mounted()) {
                /* A clone: the template gave its work disk up before it was
                 * saved; this one is the clone's own copy. */
                char cmdline[4096] = "";
                FILE *f = fopen("/proc/cmdline", "re");
                if (f) {
                        if (!fgets(cmdline, sizeof(cmdline), f))
                                cmdline[0] = '\0';
                        fclose(f);
                }
                struct agent_config boot;
                if (agent_config_parse(cmdline, &boot, NULL, NULL) < 0 || !boot.work[0]) {
                        snprintf(msg, len, "no banger.work on the kernel command line");
                        return -ENOENT;
                }
                if ((r = agent_work_mount(boot.work)) < 0) {
                        snprintf(msg, len, "mount the work disk %s at /root: %s", boot.work,
                                 strerror(-r));
                        return r;
                }
        }
        if ((r = write_identity_files(env, req, &cfg, out, msg, len)) < 0)
                return r;
        if (!env->system)
                return 0;
        if (sethostname(cfg.name, strlen(cfg.name)) < 0) {
                r = -errno;
                snprintf(msg, len, "set hostname '%s': %s", cfg.name, strerror(-r));
                return r;
        }
        r = set_network(env, &cfg, out, msg, len);
        if (r >= 0)
                agent_log("reidentified as %s (%s), clock stepped %lld ms", cfg.name, req->address,
                          (long long)out->clock_step_ms);
        return r;
}
