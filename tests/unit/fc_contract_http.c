/* The fake Firecracker's sockets: HTTP/1.1 over the API unix socket, each
 * request answered by fc_contract_handle, and the hybrid vsock handshake. */
#include "fc_contract_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNS 32
#define MAX_REQ (64 * 1024)

/* ---- HTTP over the unix socket ------------------------------------------ */

enum conn_kind { CONN_API, CONN_VSOCK };

struct conn {
        int fd;
        enum conn_kind kind;
        char *buf;
        size_t len;
        bool continued; /* 100 Continue sent for the current request */
        bool done;      /* vsock: handshake answered, just drain */
};

static void write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return;
                p += w;
                n -= (size_t)w;
        }
}

static void send_response(int fd, int status, const char *body)
{
        const char *reason = status == 200 ? "OK" : status == 204 ? "No Content" : "Bad Request";
        char head[256];
        int n;
        if (status == 204)
                n = snprintf(head, sizeof(head),
                             "HTTP/1.1 204 %s\r\nServer: Firecracker API\r\nConnection: "
                             "keep-alive\r\n\r\n",
                             reason);
        else
                n = snprintf(head, sizeof(head),
                             "HTTP/1.1 %d %s\r\nServer: Firecracker API\r\nConnection: "
                             "keep-alive\r\nContent-Type: application/json\r\nContent-Length: "
                             "%zu\r\n\r\n",
                             status, reason, strlen(body));
        write_all(fd, head, (size_t)n);
        if (status != 204)
                write_all(fd, body, strlen(body));
}

static const char *header_value(const char *headers, const char *name, char *out, size_t len)
{
        size_t nl = strlen(name);
        for (const char *l = headers; l && *l;) {
                const char *e = strstr(l, "\r\n");
                size_t ll = e ? (size_t)(e - l) : strlen(l);
                if (ll > nl && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
                        const char *v = l + nl + 1;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        snprintf(out, len, "%.*s", (int)(ll - (size_t)(v - l)), v);
                        return out;
                }
                l = e ? e + 2 : NULL;
        }
        return NULL;
}

/* Processes complete requests in c->buf. Returns false when the connection
 * must close. */
static bool api_process(struct fc_contract_state *st, struct conn *c)
{
        for (;;) {
                char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
                if (!end)
                        return c->len < MAX_REQ;
                size_t hlen = (size_t)(end - c->buf) + 4;
                *end = '\0';
                char method[16], target[512], version[16];
                if (sscanf(c->buf, "%15s %511s %15s", method, target, version) != 3 ||
                    strncmp(version, "HTTP/1.", 7) != 0) {
                        send_response(c->fd, 400,
                                      "{\"fault_message\":\"Malformed HTTP request line.\"}");
                        return false;
                }
                const char *hdrs = strstr(c->buf, "\r\n");
                hdrs = hdrs ? hdrs + 2 : "";
                char val[128];
                size_t clen = 0;
                if (header_value(hdrs, "Transfer-Encoding", val, sizeof(val))) {
                        send_response(c->fd, 400,
                                      "{\"fault_message\":\"Transfer-Encoding is not "
                                      "supported.\"}");
                        return false;
                }
                if (header_value(hdrs, "Content-Length", val, sizeof(val)))
                        clen = strtoul(val, NULL, 10);
                if (clen > MAX_REQ) {
                        send_response(c->fd, 400,
                                      "{\"fault_message\":\"Request payload too large.\"}");
                        return false;
                }
                bool close_after = (header_value(hdrs, "Connection", val, sizeof(val)) &&
                                    strcasecmp(val, "close") == 0) ||
                                   streq(version, "HTTP/1.0");
                if (c->len < hlen + clen) {
                        *end = '\r'; /* not complete yet: restore and wait */
                        if (!c->continued && header_value(hdrs, "Expect", val, sizeof(val)) &&
                            strcasecmp(val, "100-continue") == 0) {
                                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                                write_all(c->fd, cont, sizeof(cont) - 1);
                                c->continued = true;
                        }
                        return true;
                }
                char resp[8192];
                int status =
                    fc_contract_handle(st, method, target, c->buf + hlen, clen, resp, sizeof(resp));
                send_response(c->fd, status, resp);
                memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
                c->len -= hlen + clen;
                c->continued = false;
                if (close_after || st->shutdown_requested || st->fatal[0])
                        return false;
        }
}

static bool vsock_process(struct fc_contract_state *st, struct conn *c)
{
        if (c->done) {
                c->len = 0;
                return true;
        }
        char *nl = memchr(c->buf, '\n', c->len);
        if (!nl)
                return c->len < 64;
        unsigned port;
        bool ok = sscanf(c->buf, "CONNECT %u", &port) == 1;
        switch (st->o.vsock_mode) {
        case FC_VSOCK_OK:
                if (!ok)
                        return false;
                write_all(c->fd, "OK 1073741824\n", 14);
                c->done = true;
                c->len = 0;
                return true;
        case FC_VSOCK_GARBAGE:
                write_all(c->fd, "HELLO there\n", 12);
                return false;
        case FC_VSOCK_CLOSE:
        default:
                return false;
        }
}

int fc_contract_serve(struct fc_contract_state *st, const char *api_sock, int stop_fd)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(api_sock) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", api_sock);
        _cleanup_close_ int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0)
                return -errno;
        mode_t old = umask(0077);
        int br = bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (br < 0 || listen(lfd, 16) < 0)
                return -errno;

        struct conn conns[MAX_CONNS] = {0};
        size_t n = 0;
        int ret = 0;
        for (;;) {
                struct pollfd p[MAX_CONNS + 3];
                size_t np = 0;
                p[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
                p[np++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
                p[np++] = (struct pollfd){.fd = st->vsock_fd, .events = POLLIN};
                for (size_t i = 0; i < n; i++)
                        p[np++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
                if (poll(p, np, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        ret = -errno;
                        break;
                }
                if (p[1].revents) {
                        ret = -ECANCELED;
                        break;
                }
                for (size_t i = 0; i < 2; i++) {
                        int lis = i == 0 ? lfd : st->vsock_fd;
                        if (!(p[i == 0 ? 0 : 2].revents & POLLIN))
                                continue;
                        int fd = accept4(lis, NULL, NULL, SOCK_CLOEXEC);
                        if (fd < 0)
                                continue;
                        if (n == MAX_CONNS) {
                                close(fd);
                                continue;
                        }
                        conns[n++] =
                            (struct conn){.fd = fd, .kind = i == 0 ? CONN_API : CONN_VSOCK};
                }
                for (size_t i = 0; i < np - 3 && i < n; i++) {
                        struct conn *c = &conns[i];
                        if (!p[i + 3].revents || p[i + 3].fd != c->fd)
                                continue;
                        bool keep = true;
                        char *nb = realloc(c->buf, c->len + 4096 + 1);
                        if (!nb)
                                keep = false;
                        else {
                                c->buf = nb;
                                ssize_t r = recv(c->fd, c->buf + c->len, 4096, 0);
                                if (r <= 0)
                                        keep = false;
                                else {
                                        c->len += (size_t)r;
                                        c->buf[c->len] = '\0';
                                        keep = c->kind == CONN_API ? api_process(st, c)
                                                                   : vsock_process(st, c);
                                }
                        }
                        if (!keep) {
                                close(c->fd);
                                free(c->buf);
                                c->fd = -1;
                                c->buf = NULL;
                        }
                }
                /* Compact closed connections. */
                size_t w = 0;
                for (size_t i = 0; i < n; i++)
                        if (conns[i].fd >= 0)
                                conns[w++] = conns[i];
                n = w;
                if (st->shutdown_requested) {
                        ret = st->o.exit_code;
                        break;
                }
                if (st->fatal[0]) {
                        ret = 1; /* GenericError */
                        break;
                }
        }
        for (size_t i = 0; i < n; i++) {
                close(conns[i].fd);
                free(conns[i].buf);
        }
        return ret;
}
