/* Checks of the VMs' network on the host: nftables (NAT), a subnet that
 * overlaps no host route (subnet), who answers DNS on network.dns_listen,
 * read from /proc (dns.port), and whether systemd-resolved sends *.vm to
 * banger (resolver). */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"
#include "doctor_internal.h"

/* The row of a check that needs the configuration when none was loaded. */
static int no_config(struct doctor_report *rep, const char *id)
{
        return doctor_add(rep, id, DOCTOR_WARN, "fix config.toml first (see the config row)",
                          "no configuration loaded");
}

/* ---- nftables --------------------------------------------------------- */

int doctor_check_nftables(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep)
{
        char os[64], hint[256], path[PATH_MAX];
        doctor_os_id(env, os, sizeof(os));
        if (!env->is_root) {
                struct doctor_net net = {0};
                if (env->net_status && env->net_status(env->ud, &net) == 0 && net.known) {
                        if (net.nft_present)
                                return doctor_add(rep, "nftables", DOCTOR_PASS, NULL,
                                                  "banger-netsvc reports table inet banger in "
                                                  "place");
                        return doctor_add(rep, "nftables", DOCTOR_WARN,
                                          "run `sudo banger doctor` to test nftables directly; "
                                          "`banger net status` shows why Setup failed",
                                          "banger-netsvc reports table inet banger missing%s%s",
                                          net.setup_error[0] ? ": " : "", net.setup_error);
                }
                return doctor_add(rep, "nftables", DOCTOR_WARN,
                                  "run `sudo banger doctor` to check nftables",
                                  "cannot check nftables without root while banger-netsvc is "
                                  "not running");
        }
        doctor_pkg_hint(os, "nftables", "nftables", hint, sizeof(hint));
        if (!env->find_program || env->find_program(env->ud, "nft", path, sizeof(path)) < 0)
                return doctor_add(rep, "nftables", DOCTOR_WARN, hint,
                                  "nft not found: banger-netsvc uses libnftables directly, but "
                                  "without nft the rules cannot be inspected or tested here");
        const char *argv[] = {path, "list", "tables", NULL};
        char out[4096], line[256];
        int r = env->run ? env->run(env->ud, argv, out, sizeof(out)) : -ENOSYS;
        if (r != 0) {
                if (r < 0)
                        snprintf(line, sizeof(line), "%s", strerror(-r));
                else
                        doctor_first_line(out, line, sizeof(line));
                return doctor_add(rep, "nftables", DOCTOR_WARN,
                                  "load nf_tables (`sudo modprobe nf_tables`); a kernel without "
                                  "it cannot give VMs NAT",
                                  "`nft list tables` failed: %s", line);
        }
        return doctor_add(rep, "nftables", DOCTOR_PASS, NULL, "nftables usable (%s)",
                          strstr(out, "table inet banger") ? "table inet banger present"
                                                           : "table inet banger not set up yet");
}

/* ---- subnet ----------------------------------------------------------- */

int doctor_check_subnet(const struct doctor_env *env, const struct doctor_input *in,
                        struct doctor_report *rep)
{
        if (!in->cfg)
                return no_config(rep, "subnet");
        uint8_t prefix = in->cfg->network.subnet.prefix;
        uint32_t mask = prefix ? htonl(0xffffffffu << (32 - prefix)) : 0;
        struct in_addr net = {.s_addr = in->cfg->network.subnet.addr.s_addr & mask};
        char ns[INET_ADDRSTRLEN], route[256] = "";
        inet_ntop(AF_INET, &net, ns, sizeof(ns));
        const char *bridge = in->cfg->network.bridge ? in->cfg->network.bridge : "banger0";
        if (!env->route_overlap)
                return doctor_add(rep, "subnet", DOCTOR_WARN,
                                  "compare network.subnet with `ip -4 route` by hand",
                                  "cannot read the host's routes in this build");
        int r = env->route_overlap(env->ud, net, prefix, bridge, route, sizeof(route));
        if (r < 0)
                return doctor_add(rep, "subnet", DOCTOR_WARN,
                                  "compare network.subnet with `ip -4 route` by hand",
                                  "cannot read the host's routes: %s", strerror(-r));
        if (r > 0)
                return doctor_add(rep, "subnet", DOCTOR_FAIL,
                                  "set network.subnet in config.toml to an unused private "
                                  "range (e.g. \"10.213.0.1/24\") and restart banger-netsvc",
                                  "network.subnet %s/%u overlaps the host route '%s'", ns,
                                  (unsigned)prefix, route);
        return doctor_add(rep, "subnet", DOCTOR_PASS, NULL,
                          "network.subnet %s/%u overlaps no host route", ns, (unsigned)prefix);
}

/* ---- dns port --------------------------------------------------------- */

static inline void closedirp_doctor(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* Looks for "socket:[inode]" among the fds of every process. */
static int find_inode_owner(const char *proc_root, unsigned long inode, int *ret_pid,
                            bool *ret_denied)
{
        _cleanup_(closedirp_doctor) DIR *d = opendir(proc_root);
        if (!d)
                return -errno;
        char want[64];
        snprintf(want, sizeof(want), "socket:[%lu]", inode);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!isdigit((unsigned char)de->d_name[0]))
                        continue;
                char fddir[PATH_MAX];
                snprintf(fddir, sizeof(fddir), "%s/%s/fd", proc_root, de->d_name);
                DIR *fds = opendir(fddir);
                if (!fds) {
                        if (errno == EACCES || errno == EPERM)
                                *ret_denied = true;
                        continue;
                }
                struct dirent *fe;
                bool found = false;
                while ((fe = readdir(fds))) {
                        if (fe->d_name[0] == '.')
                                continue;
                        char link[PATH_MAX + 300], target[128];
                        snprintf(link, sizeof(link), "%s/%s", fddir, fe->d_name);
                        ssize_t n = readlink(link, target, sizeof(target) - 1);
                        if (n < 0)
                                continue;
                        target[n] = '\0';
                        if (streq(target, want)) {
                                found = true;
                                break;
                        }
                }
                closedir(fds);
                if (found) {
                        *ret_pid = atoi(de->d_name);
                        return 1;
                }
        }
        return 0;
}

int doctor_udp_port_owner(const char *proc_root, struct in_addr addr, uint16_t port, int *ret_pid,
                          char *comm, size_t comm_len)
{
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/net/udp", proc_root);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char line[512];
        unsigned long inode = 0;
        bool header = true;
        while (fgets(line, sizeof(line), f)) {
                if (header) {
                        header = false;
                        continue;
                }
                unsigned sl, laddr, lport, raddr, rport, st;
                unsigned long txq, rxq, ino;
                unsigned uid;
                char rest[32];
                /* sl local rem st tx:rx tr:when retr uid timeout inode */
                if (sscanf(line, " %u: %8X:%4X %8X:%4X %2X %8lX:%8lX %31s %*s %u %*s %lu", &sl,
                           &laddr, &lport, &raddr, &rport, &st, &txq, &rxq, rest, &uid, &ino) != 11)
                        continue;
                if (lport != port || ino == 0)
                        continue;
                if (laddr == addr.s_addr || laddr == 0) {
                        inode = ino;
                        break;
                }
        }
        if (!inode)
                return 0;
        int pid = 0;
        bool denied = false;
        int r = find_inode_owner(proc_root, inode, &pid, &denied);
        if (r < 0)
                return r;
        if (r == 0) {
                *ret_pid = 0;
                comm[0] = '\0';
                return -EACCES; /* listening, owner not visible to us */
        }
        *ret_pid = pid;
        snprintf(path, sizeof(path), "%s/%d/comm", proc_root, pid);
        comm[0] = '\0';
        _cleanup_fclose_ FILE *c = fopen(path, "re");
        if (c && fgets(comm, (int)comm_len, c))
                comm[strcspn(comm, "\n")] = '\0';
        return 1;
}

int doctor_check_dns_port(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep)
{
        if (!in->cfg)
                return no_config(rep, "dns.port");
        struct in_addr a = in->cfg->network.dns_listen.addr;
        uint16_t port = in->cfg->network.dns_listen.port;
        char as[INET_ADDRSTRLEN], comm[64];
        inet_ntop(AF_INET, &a, as, sizeof(as));
        if (in->system_mode && port < 1024)
                return doctor_add(rep, "dns.port", DOCTOR_FAIL,
                                  "set network.dns_listen to a port of 1024 or above (default "
                                  "127.0.0.1:42069)",
                                  "network.dns_listen %s:%u: the banger-netsvc unit has no "
                                  "CAP_NET_BIND_SERVICE, so it cannot bind a port below 1024",
                                  as, (unsigned)port);
        int pid = 0;
        int r = doctor_udp_port_owner(env->proc_root ? env->proc_root : "/proc", a, port, &pid,
                                      comm, sizeof(comm));
        if (r == 1 && streq(comm, "banger-netsvc"))
                return doctor_add(rep, "dns.port", DOCTOR_PASS, NULL,
                                  "banger-netsvc (pid %d) answers DNS on %s:%u", pid, as,
                                  (unsigned)port);
        if (r == 1)
                return doctor_add(rep, "dns.port", DOCTOR_FAIL,
                                  "stop that program, or set network.dns_listen in config.toml "
                                  "to a free port and restart banger-netsvc",
                                  "%s:%u is taken by %s (pid %d), not banger-netsvc", as,
                                  (unsigned)port, comm[0] ? comm : "?", pid);
        if (r == -EACCES) {
                /* netsvc runs as root: the owner cannot see its sockets in
                 * /proc. Its own Status names what its DNS server listens on. */
                struct doctor_net net = {0};
                char want[48];
                snprintf(want, sizeof(want), "%s:%u", as, (unsigned)port);
                if (env->net_status && env->net_status(env->ud, &net) == 0 && net.known)
                        for (size_t i = 0; i < net.n_dns_listen && i < ELEMENTSOF(net.dns_listen);
                             i++)
                                if (streq(net.dns_listen[i], want))
                                        return doctor_add(rep, "dns.port", DOCTOR_PASS, NULL,
                                                          "banger-netsvc reports it answers DNS "
                                                          "on %s (its process is not visible to "
                                                          "this user)",
                                                          want);
                return doctor_add(rep, "dns.port", DOCTOR_WARN,
                                  "run `sudo banger doctor` to see which process holds it",
                                  "something listens on %s:%u, but this user cannot see which "
                                  "process",
                                  as, (unsigned)port);
        }
        if (r < 0)
                return doctor_add(rep, "dns.port", DOCTOR_WARN, "check by hand: `sudo ss -ulpn`",
                                  "cannot read the UDP socket table: %s", strerror(-r));
        return doctor_add(rep, "dns.port", DOCTOR_WARN,
                          in->system_mode ? "sudo systemctl start banger-netsvc; `banger net "
                                            "status` shows why Setup failed"
                                          : "start banger (`banger daemon start`); `banger net "
                                            "status` shows why Setup failed",
                          "nothing answers DNS on %s:%u (banger-netsvc not running or not set "
                          "up)",
                          as, (unsigned)port);
}

/* ---- resolver --------------------------------------------------------- */

int doctor_check_resolver(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep)
{
        const char *bridge =
            in->cfg && in->cfg->network.bridge ? in->cfg->network.bridge : "banger0";
        char hint[384], as[INET_ADDRSTRLEN] = "127.0.0.1";
        unsigned port = in->cfg ? in->cfg->network.dns_listen.port : 42069;
        if (in->cfg)
                inet_ntop(AF_INET, &in->cfg->network.dns_listen.addr, as, sizeof(as));
        snprintf(hint, sizeof(hint),
                 "ask banger's server directly (`dig @%s -p %u NAME.vm`), or make your resolver "
                 "forward the vm domain to %s:%u (dnsmasq: server=/vm/%s#%u)",
                 as, port, as, port, as, port);
        if (!env->resolved_running || !env->resolved_running(env->ud))
                return doctor_add(rep, "resolver", DOCTOR_WARN, hint,
                                  "systemd-resolved is not running: NAME.vm does not resolve on "
                                  "the host by itself");
        struct doctor_net net = {0};
        if (env->net_status && env->net_status(env->ud, &net) == 0 && net.known) {
                if (net.resolver_routed)
                        return doctor_add(rep, "resolver", DOCTOR_PASS, NULL,
                                          "systemd-resolved routes ~vm to banger's DNS on %s",
                                          bridge);
                return doctor_add(rep, "resolver", DOCTOR_WARN,
                                  "restart banger-netsvc; `banger net status` shows the "
                                  "resolver text",
                                  "systemd-resolved runs but does not route ~vm to %s", bridge);
        }
        char path[PATH_MAX], out[2048];
        if (env->find_program && env->run &&
            env->find_program(env->ud, "resolvectl", path, sizeof(path)) == 0) {
                const char *argv[] = {path, "domain", bridge, NULL};
                int r = env->run(env->ud, argv, out, sizeof(out));
                if (r == 0 && strstr(out, "~vm"))
                        return doctor_add(rep, "resolver", DOCTOR_PASS, NULL,
                                          "systemd-resolved routes ~vm via %s", bridge);
        }
        return doctor_add(rep, "resolver", DOCTOR_WARN,
                          "start banger-netsvc: it routes ~vm when it sets the bridge up",
                          "systemd-resolved runs but ~vm is not routed to %s (banger-netsvc "
                          "not running or not set up)",
                          bridge);
}
