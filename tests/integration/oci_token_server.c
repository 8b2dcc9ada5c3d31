/* Test helper: a tiny registry + Bearer token service over one OCI layout
 * directory, for the token flow that Debian's docker-registry cannot do
 * without a PKI.
 *
 *   oci_token_server LAYOUT PORTFILE USER PASS [REDIRECT_BASE]
 *
 * GET /token              Basic USER:PASS required → {"token":"tok-banger"}
 * GET /v2/...             "Bearer tok-banger" required, else 401 + challenge
 * GET /v2/N/manifests/R   tag (index.json ref.name) or digest
 * GET /v2/N/blobs/D       307 to REDIRECT_BASE/storage/HEX (default
 *                         http://localhost:PORT, another host name than the
 *                         registry's 127.0.0.1)
 * GET /storage/HEX        the blob; logs "LEAK" if it carries Authorization
 * One line per request on stdout. Thread per connection, Connection: close. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"

static const char *layout, *user, *pass;
static char redirect_base[256];
static int port;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *what, const char *path, bool auth)
{
        pthread_mutex_lock(&out_lock);
        printf("%s %s auth=%d\n", what, path, auth);
        fflush(stdout);
        pthread_mutex_unlock(&out_lock);
}

static void send_all(int fd, const void *buf, size_t n)
{
        const char *p = buf;
        while (n) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k <= 0)
                        return;
                p += k;
                n -= (size_t)k;
        }
}

static void reply(int fd, int code, const char *extra, const char *ctype, const void *body,
                  size_t len)
{
        char h[1024];
        int n = snprintf(h, sizeof(h),
                         "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s%s%s%s"
                         "\r\n",
                         code, len, extra ? extra : "", ctype ? "Content-Type: " : "",
                         ctype ? ctype : "", ctype ? "\r\n" : "");
        send_all(fd, h, (size_t)n);
        if (len)
                send_all(fd, body, len);
}

static bool hex64(const char *s)
{
        if (strlen(s) != 64)
                return false;
        for (; *s; s++)
                if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
                        return false;
        return true;
}

static void send_file(int fd, const char *hex, const char *ctype)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, hex);
        char *buf = NULL;
        size_t len = 0;
        if (read_file_capped(path, 1u << 30, 0, &buf, &len, NULL) < 0) {
                reply(fd, 404, NULL, NULL, NULL, 0);
                return;
        }
        char extra[128];
        snprintf(extra, sizeof(extra), "Docker-Content-Digest: sha256:%s\r\n", hex);
        reply(fd, 200, extra, ctype, buf, len);
        free(buf);
}

static void b64(const char *in, char *out)
{
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(in), o = 0;
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned)(unsigned char)in[i] << 16;
                if (i + 1 < n)
                        v |= (unsigned)(unsigned char)in[i + 1] << 8;
                if (i + 2 < n)
                        v |= (unsigned char)in[i + 2];
                out[o++] = t[(v >> 18) & 63];
                out[o++] = t[(v >> 12) & 63];
                out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < n ? t[v & 63] : '=';
        }
        out[o] = '\0';
}

static void serve(int fd)
{
        char req[16384];
        size_t n = 0;
        while (n < sizeof(req) - 1) {
                ssize_t k = recv(fd, req + n, sizeof(req) - 1 - n, 0);
                if (k <= 0)
                        return;
                n += (size_t)k;
                req[n] = '\0';
                if (strstr(req, "\r\n\r\n"))
                        break;
        }
        char method[8], path[4096];
        if (sscanf(req, "%7s %4095s", method, path) != 2)
                return;
        char *auth = strcasestr(req, "\r\nAuthorization: ");
        char authv[1024] = "";
        if (auth)
                sscanf(auth + 17, "%1023[^\r]", authv);
        if (strncmp(path, "/token", 6) == 0) {
                char up[512], want[800];
                snprintf(up, sizeof(up), "%s:%s", user, pass);
                strcpy(want, "Basic ");
                b64(up, want + 6);
                bool ok = strcmp(authv, want) == 0;
                say(ok ? "TOKEN" : "TOKEN-DENIED", path, auth != NULL);
                if (!ok)
                        reply(fd, 401, NULL, NULL, NULL, 0);
                else
                        reply(fd, 200, NULL, "application/json", "{\"token\":\"tok-banger\"}", 22);
                return;
        }
        if (strncmp(path, "/storage/", 9) == 0) {
                say(auth ? "LEAK" : "STORAGE", path, auth != NULL);
                if (auth || !hex64(path + 9)) {
                        reply(fd, 400, NULL, NULL, NULL, 0);
                        return;
                }
                send_file(fd, path + 9, "application/octet-stream");
                return;
        }
        if (strncmp(path, "/v2/", 4) != 0) {
                reply(fd, 404, NULL, NULL, NULL, 0);
                return;
        }
        if (strcmp(authv, "Bearer tok-banger") != 0) {
                say("CHALLENGE", path, auth != NULL);
                char extra[512];
                snprintf(extra, sizeof(extra),
                         "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
                         "service=\"banger-test\",scope=\"repository:test/img:pull\"\r\n",
                         port);
                reply(fd, 401, extra, NULL, NULL, 0);
                return;
        }
        say("V2", path, true);
        char *m = strstr(path, "/manifests/");
        char *b = strstr(path, "/blobs/");
        if (m) {
                const char *ref = m + 11;
                if (strncmp(ref, "sha256:", 7) == 0) {
                        if (!hex64(ref + 7)) {
                                reply(fd, 400, NULL, NULL, NULL, 0);
                                return;
                        }
                        char p[4096];
                        snprintf(p, sizeof(p), "%s/blobs/sha256/%s", layout, ref + 7);
                        json_t *j = json_load_file(p, 0, NULL);
                        const char *mt = json_string_value(json_object_get(j, "mediaType"));
                        send_file(fd, ref + 7,
                                  mt ? mt : "application/vnd.oci.image.manifest.v1+json");
                        json_decref(j);
                        return;
                }
                char p[4096];
                snprintf(p, sizeof(p), "%s/index.json", layout);
                json_t *idx = json_load_file(p, 0, NULL);
                json_t *e;
                size_t i;
                json_array_foreach(json_object_get(idx, "manifests"), i, e)
                {
                        const char *name =
                            json_string_value(json_object_get(json_object_get(e, "annotations"),
                                                              "org.opencontainers.image.ref.name"));
                        const char *dg = json_string_value(json_object_get(e, "digest"));
                        if (name && dg && strcmp(name, ref) == 0 && hex64(dg + 7)) {
                                send_file(fd, dg + 7,
                                          json_string_value(json_object_get(e, "mediaType")));
                                json_decref(idx);
                                return;
                        }
                }
                json_decref(idx);
                reply(fd, 404, NULL, NULL, NULL, 0);
                return;
        }
        if (b && strncmp(b + 7, "sha256:", 7) == 0 && hex64(b + 14)) {
                char extra[512];
                snprintf(extra, sizeof(extra), "Location: %s/storage/%s\r\n", redirect_base,
                         b + 14);
                reply(fd, 307, extra, NULL, NULL, 0);
                return;
        }
        reply(fd, 404, NULL, NULL, NULL, 0);
}

static void *conn_main(void *arg)
{
        int fd = (int)(intptr_t)arg;
        serve(fd);
        close(fd);
        return NULL;
}

int main(int argc, char **argv)
{
        if (argc < 5) {
                fprintf(stderr, "usage: oci_token_server LAYOUT PORTFILE USER PASS [REDIRECT]\n");
                return 2;
        }
        layout = argv[1];
        user = argv[3];
        pass = argv[4];
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0 ||
            getsockname(s, (struct sockaddr *)&a, &al) < 0) {
                perror("listen");
                return 1;
        }
        port = ntohs(a.sin_port);
        if (argc > 5)
                snprintf(redirect_base, sizeof(redirect_base), "%s", argv[5]);
        else
                snprintf(redirect_base, sizeof(redirect_base), "http://localhost:%d", port);
        char line[16];
        int n = snprintf(line, sizeof(line), "%d\n", port);
        struct bg_error err = {0};
        if (write_file_atomic(argv[2], line, (size_t)n, 0644, &err) < 0) {
                fprintf(stderr, "oci_token_server: %s\n", err.msg);
                return 1;
        }
        for (;;) {
                int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                pthread_t t;
                if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)c) == 0)
                        pthread_detach(t);
                else
                        close(c);
        }
}
