#include "agent_ports.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/array.h"
#include "util/macro.h"

#define TCP_LISTEN 0x0A
#define TCP_CLOSE 0x07

void agent_socket_list_clear(struct agent_socket_list *l)
{
        free(l->items);
        l->items = NULL;
        l->n = l->cap = 0;
}

static int socket_list_push(struct agent_socket_list *l, const struct agent_socket *s)
{
        if (ARRAY_RESERVE(l->items, l->cap, l->n + 1) < 0)
                return -ENOMEM;
        l->items[l->n++] = *s;
        return 0;
}

/* "0100007F:0277" (v4) or 32 hex digits ":" port (v6). The kernel prints the
 * address as 32-bit words in host byte order. */
static bool parse_endpoint(const char *s, bool ipv6, char *addr, size_t addr_size, uint16_t *port)
{
        size_t hexlen = ipv6 ? 32 : 8;
        if (strlen(s) < hexlen + 2 || s[hexlen] != ':')
                return false;
        for (size_t i = 0; i < hexlen; i++)
                if (!isxdigit((unsigned char)s[i]))
                        return false;
        uint32_t words[4] = {0};
        for (size_t w = 0; w < hexlen / 8; w++) {
                char chunk[9];
                memcpy(chunk, s + w * 8, 8);
                chunk[8] = '\0';
                words[w] = (uint32_t)strtoul(chunk, NULL, 16);
        }
        const char *ps = s + hexlen + 1;
        if (strlen(ps) != 4)
                return false;
        for (int i = 0; i < 4; i++)
                if (!isxdigit((unsigned char)ps[i]))
                        return false;
        *port = (uint16_t)strtoul(ps, NULL, 16);
        if (!inet_ntop(ipv6 ? AF_INET6 : AF_INET, words, addr, (socklen_t)addr_size))
                return false;
        return true;
}

int agent_procnet_parse(FILE *f, Banger__V1__AgentTransport transport, bool ipv6,
                        struct agent_socket_list *l)
{
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        if (getline(&line, &cap, f) < 0 || !strstr(line, "local_address"))
                return -EBADMSG;
        int added = 0;
        while (getline(&line, &cap, f) >= 0) {
                char local[80], remote[80];
                unsigned state;
                unsigned long uid;
                unsigned long long inode;
                /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
                if (sscanf(line, " %*[0-9]: %79s %79s %x %*x:%*x %*x:%*x %*x %lu %*d %llu", local,
                           remote, &state, &uid, &inode) != 5)
                        continue;
                struct agent_socket s = {.transport = transport, .ipv6 = ipv6};
                char raddr[46];
                uint16_t rport;
                if (!parse_endpoint(local, ipv6, s.address, sizeof(s.address), &s.port) ||
                    !parse_endpoint(remote, ipv6, raddr, sizeof(raddr), &rport))
                        continue;
                if (transport == BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_TCP) {
                        if (state != TCP_LISTEN)
                                continue;
                } else if (state != TCP_CLOSE || rport != 0) {
                        continue;
                }
                s.uid = (uint32_t)uid;
                s.inode = inode;
                int r = socket_list_push(l, &s);
                if (r < 0)
                        return r;
                added++;
        }
        return added;
}

void agent_inode_map_clear(struct agent_inode_map *m)
{
        free(m->items);
        m->items = NULL;
        m->n = m->cap = 0;
}

static int owner_cmp(const void *a, const void *b)
{
        const struct agent_inode_owner *x = a, *y = b;
        if (x->inode != y->inode)
                return x->inode < y->inode ? -1 : 1;
        return (x->pid > y->pid) - (x->pid < y->pid);
}

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char)*s))
                        return false;
        return true;
}

static void read_comm(int piddir, char name[16])
{
        name[0] = '\0';
        _cleanup_close_ int fd = openat(piddir, "comm", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        ssize_t n = read(fd, name, 15);
        if (n <= 0)
                return;
        name[n] = '\0';
        name[strcspn(name, "\n")] = '\0';
}

static int scan_pid(int procfd, const char *pid_s, struct agent_inode_map *m)
{
        _cleanup_close_ int piddir = openat(procfd, pid_s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (piddir < 0)
                return 0;
        int fdfd = openat(piddir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fdfd < 0)
                return 0;
        DIR *d = fdopendir(fdfd);
        if (!d) {
                close(fdfd);
                return 0;
        }
        char name[16];
        bool have_name = false;
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char target[64];
                ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = '\0';
                unsigned long long inode;
                char close_bracket;
                if (sscanf(target, "socket:[%llu%c", &inode, &close_bracket) != 2 ||
                    close_bracket != ']')
                        continue;
                if (!have_name) {
                        read_comm(piddir, name);
                        have_name = true;
                }
                if (ARRAY_RESERVE(m->items, m->cap, m->n + 1) < 0) {
                        r = -ENOMEM;
                        break;
                }
                struct agent_inode_owner *o = &m->items[m->n++];
                o->inode = inode;
                o->pid = (int32_t)strtol(pid_s, NULL, 10);
                memcpy(o->name, name, sizeof(o->name));
        }
        closedir(d);
        return r;
}

int agent_inode_map_build(const char *proc_root, struct agent_inode_map *m)
{
        int procfd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (procfd < 0)
                return -errno;
        DIR *d = fdopendir(procfd);
        if (!d) {
                int r = -errno;
                close(procfd);
                return r;
        }
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                if (!all_digits(de->d_name))
                        continue;
                r = scan_pid(dirfd(d), de->d_name, m);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (m->n)
                qsort(m->items, m->n, sizeof(m->items[0]), owner_cmp);
        return 0;
}

void agent_ports_reply_clear(Banger__V1__AgentPorts *out)
{
        for (size_t i = 0; i < out->n_ports; i++) {
                Banger__V1__AgentPort *p = out->ports[i];
                if (!p)
                        continue;
                for (size_t j = 0; j < p->n_processes; j++) {
                        if (p->processes[j])
                                free(p->processes[j]->name);
                        free(p->processes[j]);
                }
                free(p->processes);
                free(p->address);
                free(p);
        }
        free(out->ports);
        out->ports = NULL;
        out->n_ports = 0;
}

static int add_port(Banger__V1__AgentPorts *out, const struct agent_socket *s,
                    const struct agent_inode_map *m)
{
        Banger__V1__AgentPort *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        banger__v1__agent_port__init(p);
        out->ports[out->n_ports++] = p; /* owned by out from here on */
        p->transport = s->transport;
        p->ipv6 = s->ipv6;
        p->port = s->port;
        p->inode = s->inode;
        p->uid = s->uid;
        p->address = strdup(s->address);
        if (!p->address)
                return -ENOMEM;

        /* Owners of this inode: a contiguous run in the sorted map. */
        size_t lo = 0, hi = m->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (m->items[mid].inode < s->inode)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        size_t end = lo;
        while (end < m->n && m->items[end].inode == s->inode)
                end++;
        if (end == lo || s->inode == 0)
                return 0;
        p->processes = calloc(end - lo, sizeof(*p->processes));
        if (!p->processes)
                return -ENOMEM;
        for (size_t i = lo; i < end; i++) {
                /* One entry per process, even if it holds the socket twice. */
                if (i > lo && m->items[i].pid == m->items[i - 1].pid)
                        continue;
                Banger__V1__AgentProcess *proc = calloc(1, sizeof(*proc));
                if (!proc)
                        return -ENOMEM;
                banger__v1__agent_process__init(proc);
                p->processes[p->n_processes++] = proc;
                proc->pid = m->items[i].pid;
                proc->name = strdup(m->items[i].name);
                if (!proc->name)
                        return -ENOMEM;
        }
        return 0;
}

int agent_ports_collect(const char *proc_root, Banger__V1__AgentPorts *out)
{
        static const struct {
                const char *file;
                Banger__V1__AgentTransport transport;
                bool ipv6;
        } tables[] = {
            {"tcp", BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_TCP, false},
            {"tcp6", BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_TCP, true},
            {"udp", BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_UDP, false},
            {"udp6", BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_UDP, true},
        };
        _cleanup_(agent_socket_list_clear) struct agent_socket_list l = {0};
        _cleanup_(agent_inode_map_clear) struct agent_inode_map m = {0};
        int r;

        for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
                char path[512];
                snprintf(path, sizeof(path), "%s/net/%s", proc_root, tables[i].file);
                _cleanup_fclose_ FILE *f = fopen(path, "re");
                if (!f) {
                        if (errno == ENOENT) /* e.g. no IPv6 in this kernel */
                                continue;
                        return -errno;
                }
                r = agent_procnet_parse(f, tables[i].transport, tables[i].ipv6, &l);
                if (r < 0 && r != -EBADMSG)
                        return r;
        }
        r = agent_inode_map_build(proc_root, &m);
        if (r < 0)
                return r;

        if (l.n) {
                out->ports = calloc(l.n, sizeof(*out->ports));
                if (!out->ports)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < l.n; i++) {
                r = add_port(out, &l.items[i], &m);
                if (r < 0) {
                        agent_ports_reply_clear(out);
                        return r;
                }
        }
        return 0;
}
