#include "resolved.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ifname.h"
#include "syserr.h"
#include "util/run.h"

static const char *env_resolvectl(const struct resolved_env *env)
{
        return env && env->resolvectl ? env->resolvectl : RESOLVED_RESOLVECTL;
}

static const char *env_run_dir(const struct resolved_env *env)
{
        return env && env->run_dir ? env->run_dir : RESOLVED_RUN_DIR;
}

bool resolved_running(const struct resolved_env *env)
{
        const char *dir = env_run_dir(env);
        char path[4096];
        struct stat st;
        bool alive = false;
        snprintf(path, sizeof(path), "%s/io.systemd.Resolve", dir);
        if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                alive = true;
        snprintf(path, sizeof(path), "%s/stub-resolv.conf", dir);
        if (!alive && stat(path, &st) == 0 && S_ISREG(st.st_mode))
                alive = true;
        return alive && access(env_resolvectl(env), X_OK) == 0;
}

static void sanitize(char *s)
{
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
                s[--n] = '\0';
        for (size_t i = 0; i < n; i++)
                if (s[i] == '\n' || s[i] == '\t' || (unsigned char)s[i] < 0x20)
                        s[i] = ' ';
}

/* Runs resolvectl with argv (argv[0] is set here) under a timeout; on
 * failure err carries its exit status and first output. */
static int run_resolvectl(const struct resolved_env *env, char *const args[], struct bg_error *err)
{
        const char *exe = env_resolvectl(env);
        if (exe[0] != '/')
                return bg_error_set(err, EINVAL, "resolvectl path '%s' is not absolute", exe);
        const char *argv[8] = {exe};
        size_t argc = 1;
        for (size_t i = 0; args[i] && argc < ELEMENTSOF(argv) - 1; i++)
                argv[argc++] = args[i];
        argv[argc] = NULL;
        static const char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
        unsigned timeout = env && env->timeout_ms ? env->timeout_ms : RESOLVED_TIMEOUT_MS;
        struct bg_run_opts o = {.env = envp, .env_only = true, .timeout_ms = timeout};
        struct bg_error e = {0};
        char out[200];
        int r = bg_run_head(argv, &o, true, out, sizeof(out), &e);
        sanitize(out);
        if (r == -ETIMEDOUT)
                return bg_error_set(err, ETIMEDOUT, "resolvectl %s %s: no answer within %u ms",
                                    argv[1], argv[2] ? argv[2] : "", timeout);
        if (r < 0)
                return bg_error_set(err, e.code, "%s", e.msg);
        if (r != 0)
                return bg_error_set(err, EIO, "resolvectl %s %s failed (%s %d)%s%s", argv[1],
                                    argv[2] ? argv[2] : "", r > 128 ? "signal" : "exit",
                                    r > 128 ? r - 128 : r, out[0] ? ": " : "", out);
        return 0;
}

/* Safe as root: validated interface name and address, a fixed program by
 * absolute path with a fixed environment and argument list, no shell. */
int resolved_route(const struct resolved_env *env, const char *bridge, struct in_addr dns,
                   uint16_t port, struct bg_error *err)
{
        int r = ifname_validate(bridge, "bridge", err);
        if (r < 0)
                return r;
        if (port == 0)
                return bg_error_set(err, EINVAL, "DNS port 0 is not valid");
        if (!resolved_running(env))
                return 0;
        char abuf[INET_ADDRSTRLEN], server[INET_ADDRSTRLEN + 8];
        inet_ntop(AF_INET, &dns, abuf, sizeof(abuf));
        snprintf(server, sizeof(server), "%s:%u", abuf, (unsigned)port);
        char *dns_args[] = {(char *)"dns", (char *)bridge, server, NULL};
        r = run_resolvectl(env, dns_args, err);
        if (r < 0)
                return r;
        char *dom_args[] = {(char *)"domain", (char *)bridge, (char *)"~vm", NULL};
        r = run_resolvectl(env, dom_args, err);
        if (r < 0) {
                char *revert[] = {(char *)"revert", (char *)bridge, NULL};
                (void)run_resolvectl(env, revert, NULL);
                return r;
        }
        return 1;
}

/* Safe as root: as resolved_route, and revert only resets that link. */
int resolved_revert(const struct resolved_env *env, const char *bridge, struct bg_error *err)
{
        int r = ifname_validate(bridge, "bridge", err);
        if (r < 0)
                return r;
        if (!resolved_running(env))
                return 0;
        char *args[] = {(char *)"revert", (char *)bridge, NULL};
        r = run_resolvectl(env, args, err);
        return r < 0 ? r : 1;
}

void resolved_status_text(const struct resolved_env *env, const char *bridge, struct in_addr dns,
                          uint16_t port, char *buf, size_t len)
{
        char abuf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &dns, abuf, sizeof(abuf));
        if (resolved_running(env))
                snprintf(buf, len,
                         "systemd-resolved is running: queries for ~vm on link %s go to %s:%u "
                         "(check with: resolvectl status %s)",
                         bridge, abuf, (unsigned)port, bridge);
        else
                snprintf(buf, len,
                         "systemd-resolved is not running, so this host does not resolve .vm "
                         "names by itself. Forward the vm domain to %s port %u in your "
                         "resolver, e.g. dnsmasq: server=/vm/%s#%u ; unbound: stub-zone: "
                         "name: \"vm\" stub-addr: %s@%u",
                         abuf, (unsigned)port, abuf, (unsigned)port, abuf, (unsigned)port);
}
