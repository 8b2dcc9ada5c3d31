/* hostnet_tool: a command-line driver of the lib/hostnet primitives for
 * the namespace scenarios in hostnet_nat.sh, plus the tiny TCP listener,
 * client and DNS junk sender those scenarios need. Test helper only: it is
 * not installed and not a test by itself.
 *
 *   bridge-ensure NAME GATEWAY/PREFIX     bridge-delete NAME
 *   tap-create NAME BRIDGE UID [GID]      tap-delete NAME
 *   port-isolate PORT 0|1                 links
 *   overlap CIDR [IGNORE_IFNAME]          uplink
 *   forward-on
 *   nft-apply|nft-present BRIDGE CIDR UPLINK|- DNS_PORT ISOLATE(0|1)
 *   nft-teardown
 *   dns-serve ADDR PORT NAME=IP...        (daemonizes, prints its pid)
 *   listen ADDR PORT                      (daemonizes, prints its pid;
 *                                          answers "peer <ip>" to each client)
 *   connect ADDR PORT TIMEOUT_MS          (prints the line the server sent)
 *   dns-garbage ADDR PORT COUNT           (random UDP datagrams, TCP junk) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostnet/dns.h"
#include "hostnet/netlink.h"
#include "hostnet/nft.h"

static int fail(const struct bg_error *err)
{
        fprintf(stderr, "error: %s\n", err->msg);
        return 1;
}

static int usage(void)
{
        fprintf(stderr, "hostnet_tool: bad arguments (see the comment in test_hostnet_tool.c)\n");
        return 2;
}

static struct in_addr addr_or_die(const char *s)
{
        struct in_addr a;
        if (inet_pton(AF_INET, s, &a) != 1) {
                fprintf(stderr, "bad address '%s'\n", s);
                exit(2);
        }
        return a;
}

static int nft_cfg(char **argv, struct nft_config *c, struct bg_error *err)
{
        memset(c, 0, sizeof(*c));
        snprintf(c->bridge, sizeof(c->bridge), "%s", argv[0]);
        int r = ipam_cidr_parse(argv[1], NULL, &c->subnet, err);
        if (r < 0)
                return r;
        if (strcmp(argv[2], "-") != 0)
                snprintf(c->uplink, sizeof(c->uplink), "%s", argv[2]);
        c->dns_port = (uint16_t)atoi(argv[3]);
        c->isolate_vms = atoi(argv[4]) != 0;
        return 0;
}

/* Once serving, a daemon must not hold the test runner's output pipe. */
static void detach_stderr(void)
{
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, 2);
                close(null);
        }
}

/* Forks; the child runs child_fn(ready_fd) and must write one byte to
 * ready_fd once it serves. The parent prints the child's pid and exits. */
static int daemonize(int (*child_fn)(int ready_fd, char **argv), char **argv)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return 1;
        pid_t pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                close(p[0]);
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                dup2(null, 0);
                dup2(null, 1);
                _exit(child_fn(p[1], argv));
        }
        close(p[1]);
        char b;
        if (read(p[0], &b, 1) != 1) {
                int st;
                waitpid(pid, &st, 0);
                fprintf(stderr, "server failed to start\n");
                return 1;
        }
        printf("%d\n", (int)pid);
        return 0;
}

struct table {
        int n;
        char **names;
        struct in_addr *addrs;
};

static int table_lookup(void *ud, const char *name, struct in_addr *ret)
{
        struct table *t = ud;
        for (int i = 0; i < t->n; i++)
                if (strcmp(t->names[i], name) == 0) {
                        *ret = t->addrs[i];
                        return 1;
                }
        return 0;
}

static int dns_child(int ready, char **argv)
{
        struct table t = {0};
        for (char **a = argv + 2; *a; a++)
                t.n++;
        t.names = calloc((size_t)t.n + 1, sizeof(char *));
        t.addrs = calloc((size_t)t.n + 1, sizeof(struct in_addr));
        for (int i = 0; i < t.n; i++) {
                char *eq = strchr(argv[2 + i], '=');
                if (!eq)
                        return 2;
                *eq = '\0';
                t.names[i] = argv[2 + i];
                t.addrs[i] = addr_or_die(eq + 1);
        }
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, NULL);
        struct dns_server_config cfg;
        dns_server_config_default(&cfg);
        cfg.addr = addr_or_die(argv[0]);
        cfg.port = (uint16_t)atoi(argv[1]);
        cfg.lookup = table_lookup;
        cfg.userdata = &t;
        struct dns_server *s = NULL;
        struct bg_error err = {0};
        if (dns_server_start(&cfg, &s, &err) < 0)
                return fail(&err);
        if (write(ready, "x", 1) != 1)
                return 1;
        close(ready);
        detach_stderr();
        int sig;
        sigwait(&set, &sig);
        dns_server_stop(s);
        free(t.names);
        free(t.addrs);
        return 0;
}

static int listen_child(int ready, char **argv)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr = addr_or_die(argv[0]),
                                 .sin_port = htons((uint16_t)atoi(argv[1]))};
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
                perror("listen");
                return 1;
        }
        if (write(ready, "x", 1) != 1)
                return 1;
        close(ready);
        detach_stderr();
        for (;;) {
                struct sockaddr_in peer;
                socklen_t pl = sizeof(peer);
                int c = accept4(fd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                char ip[INET_ADDRSTRLEN], line[64];
                inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
                int n = snprintf(line, sizeof(line), "peer %s\n", ip);
                (void)send(c, line, (size_t)n, MSG_NOSIGNAL);
                close(c);
        }
}

static int do_connect(char **argv)
{
        int timeout = atoi(argv[2]);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr = addr_or_die(argv[0]),
                                 .sin_port = htons((uint16_t)atoi(argv[1]))};
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                perror("connect");
                return 1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, timeout) != 1) {
                fprintf(stderr, "connect %s:%s: timed out\n", argv[0], argv[1]);
                return 1;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
                fprintf(stderr, "connect %s:%s: %s\n", argv[0], argv[1], strerror(soerr));
                return 1;
        }
        char buf[128];
        size_t got = 0;
        while (got < sizeof(buf) - 1) {
                p = (struct pollfd){.fd = fd, .events = POLLIN};
                if (poll(&p, 1, timeout) != 1)
                        break;
                ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        buf[got] = '\0';
        if (got == 0) {
                fprintf(stderr, "connect %s:%s: no data\n", argv[0], argv[1]);
                return 1;
        }
        fputs(buf, stdout);
        return 0;
}

static int dns_garbage(char **argv)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr = addr_or_die(argv[0]),
                                 .sin_port = htons((uint16_t)atoi(argv[1]))};
        int count = atoi(argv[2]);
        srandom(4242);
        uint8_t buf[1400];
        int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        for (int i = 0; i < count; i++) {
                size_t len = (size_t)(random() % sizeof(buf));
                for (size_t k = 0; k < len; k++)
                        buf[k] = (uint8_t)random();
                if (i % 3 == 0 && len >= 12)
                        buf[2] &= 0x7f; /* a query, so the server parses further */
                (void)sendto(u, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa));
        }
        close(u);
        for (int i = 0; i < count / 20 + 1; i++) {
                int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (connect(t, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        size_t len = (size_t)(random() % sizeof(buf));
                        for (size_t k = 0; k < len; k++)
                                buf[k] = (uint8_t)random();
                        (void)send(t, buf, len, MSG_NOSIGNAL);
                }
                close(t);
        }
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2)
                return usage();
        const char *cmd = argv[1];
        char **a = argv + 2;
        int n = argc - 2;
        struct bg_error err = {0};
        int r;

        if (strcmp(cmd, "bridge-ensure") == 0 && n == 2) {
                struct in_addr gw;
                struct ipam_net net;
                r = ipam_cidr_parse(a[1], &gw, &net, &err);
                if (r >= 0)
                        r = netlink_bridge_ensure(a[0], gw, net.prefix, &err);
                return r < 0 ? fail(&err) : 0;
        }
        if (strcmp(cmd, "bridge-delete") == 0 && n == 1)
                return netlink_bridge_delete(a[0], &err) < 0 ? fail(&err) : 0;
        if (strcmp(cmd, "tap-create") == 0 && (n == 3 || n == 4)) {
                gid_t g = n == 4 ? (gid_t)atoi(a[3]) : (gid_t)-1;
                return netlink_tap_create(a[0], a[1], (uid_t)atoi(a[2]), g, false, &err) < 0
                           ? fail(&err)
                           : 0;
        }
        if (strcmp(cmd, "tap-delete") == 0 && n == 1)
                return netlink_tap_delete(a[0], &err) < 0 ? fail(&err) : 0;
        if (strcmp(cmd, "port-isolate") == 0 && n == 2)
                return netlink_port_set_isolated(a[0], atoi(a[1]) != 0, &err) < 0 ? fail(&err) : 0;
        if (strcmp(cmd, "links") == 0 && n == 0) {
                struct netlink_link *links = NULL;
                size_t nl = 0;
                if (netlink_link_dump(&links, &nl, &err) < 0)
                        return fail(&err);
                for (size_t i = 0; i < nl; i++)
                        printf("%s kind=%s master=%s up=%d\n", links[i].name,
                               links[i].kind[0] ? links[i].kind : "-",
                               links[i].master[0] ? links[i].master : "-", links[i].up);
                free(links);
                return 0;
        }
        if (strcmp(cmd, "overlap") == 0 && (n == 1 || n == 2)) {
                struct ipam_net net;
                char route[128];
                if (ipam_cidr_parse(a[0], NULL, &net, &err) < 0)
                        return fail(&err);
                r = netlink_route_find_overlap(&net, n == 2 ? a[1] : NULL, route, sizeof(route),
                                               &err);
                if (r < 0)
                        return fail(&err);
                printf("%s\n", r ? route : "none");
                return 0;
        }
        if (strcmp(cmd, "uplink") == 0 && n == 0) {
                char up[IFNAMSIZ];
                if (netlink_default_uplink(up, &err) < 0)
                        return fail(&err);
                printf("%s\n", up);
                return 0;
        }
        if (strcmp(cmd, "forward-on") == 0 && n == 0)
                return netlink_ip_forward_enable(&err) < 0 ? fail(&err) : 0;
        if ((strcmp(cmd, "nft-apply") == 0 || strcmp(cmd, "nft-present") == 0) && n == 5) {
                struct nft_config c;
                if (nft_cfg(a, &c, &err) < 0)
                        return fail(&err);
                if (cmd[4] == 'a')
                        return nft_apply(&c, &err) < 0 ? fail(&err) : 0;
                bool present;
                if (nft_present(&c, &present, &err) < 0)
                        return fail(&err);
                printf("%s\n", present ? "yes" : "no");
                return 0;
        }
        if (strcmp(cmd, "nft-teardown") == 0 && n == 0)
                return nft_teardown(&err) < 0 ? fail(&err) : 0;
        if (strcmp(cmd, "dns-serve") == 0 && n >= 2)
                return daemonize(dns_child, a);
        if (strcmp(cmd, "listen") == 0 && n == 2)
                return daemonize(listen_child, a);
        if (strcmp(cmd, "connect") == 0 && n == 3)
                return do_connect(a);
        if (strcmp(cmd, "dns-garbage") == 0 && n == 3)
                return dns_garbage(a);
        return usage();
}
