/* Fuzz target "agent": the byte stream a guest sends back to the host's agent
 * client (lib/agent: agent_frame_read's length-prefixed framing, the
 * AgentResponse decode, id matching with stale replies skipped, AgentError
 * mapping and the typed calls' kind checks). The guest is hostile: it owns
 * what comes out of its side of the vsock.
 *
 * A thread plays the guest on a unix socket: it reads the host's request
 * frame, then sends the input as its reply stream and closes. Input: first
 * byte picks the call (health, ports, stats, shutdown, reidentify,
 * unmount_work); the rest is the stream. Since the host picks a fresh
 * request id per connection, a frame of the stream that decodes as an
 * AgentResponse with id 1 is re-packed with the real id, so matched replies
 * are reached too; every other byte goes out as it is. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_client.h"
#include "agent_frame.h"
#include "banger/v1/agent.pb-c.h"
#include "fuzz.h"

#define CHECK(cond)                                                                        \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "fuzz_agent: check failed: %s (%s:%d)\n", #cond,   \
                                __FILE__, __LINE__);                                       \
                        abort();                                                           \
                }                                                                          \
        } while (0)

static char sock_dir[64];
static char sock_path[128];
static int listen_fd = -1;

struct guest {
        const uint8_t *data;
        size_t size;
};

static void cleanup(void)
{
        if (sock_path[0])
                unlink(sock_path);
        if (sock_dir[0])
                rmdir(sock_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        snprintf(sock_dir, sizeof(sock_dir), "/tmp/fuzz-agent-XXXXXX");
        CHECK(mkdtemp(sock_dir));
        snprintf(sock_path, sizeof(sock_path), "%s/agent.sock", sock_dir);
        atexit(cleanup);
        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(listen_fd >= 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
        CHECK(bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0);
        CHECK(listen(listen_fd, 4) == 0);
        return 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
        const uint8_t *p = buf;
        while (len > 0) {
                ssize_t k = send(fd, p, len, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -1; /* the host hung up: it has what it wanted */
                p += k;
                len -= (size_t)k;
        }
        return 0;
}

static void *guest_main(void *arg)
{
        const struct guest *g = arg;
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        CHECK(fd >= 0);
        uint64_t id = 0;
        uint8_t *req = NULL;
        size_t req_len = 0;
        if (agent_frame_read(fd, AGENT_FRAME_MAX, agent_deadline_after_ms(5000), 0, &req,
                             &req_len) == 1) {
                Banger__V1__AgentRequest *r = banger__v1__agent_request__unpack(NULL, req_len, req);
                CHECK(r); /* the host sends well-formed requests */
                id = r->id;
                banger__v1__agent_request__free_unpacked(r, NULL);
        }
        free(req);

        size_t off = 0;
        while (off < g->size) {
                size_t left = g->size - off;
                if (left >= 4) {
                        uint32_t n = (uint32_t)g->data[off] << 24 |
                                     (uint32_t)g->data[off + 1] << 16 |
                                     (uint32_t)g->data[off + 2] << 8 | g->data[off + 3];
                        if (n <= left - 4) {
                                const uint8_t *body = g->data + off + 4;
                                Banger__V1__AgentResponse *resp =
                                    banger__v1__agent_response__unpack(NULL, n, body);
                                if (resp && resp->id == 1) {
                                        resp->id = id;
                                        size_t len = banger__v1__agent_response__get_packed_size(resp);
                                        uint8_t *out = malloc(4 + len);
                                        CHECK(out);
                                        out[0] = (uint8_t)(len >> 24);
                                        out[1] = (uint8_t)(len >> 16);
                                        out[2] = (uint8_t)(len >> 8);
                                        out[3] = (uint8_t)len;
                                        banger__v1__agent_response__pack(resp, out + 4);
                                        int s = send_all(fd, out, 4 + len);
                                        free(out);
                                        banger__v1__agent_response__free_unpacked(resp, NULL);
                                        if (s < 0)
                                                break;
                                        off += 4 + n;
                                        continue;
                                }
                                if (resp)
                                        banger__v1__agent_response__free_unpacked(resp, NULL);
                                if (send_all(fd, g->data + off, 4 + n) < 0)
                                        break;
                                off += 4 + n;
                                continue;
                        }
                }
                send_all(fd, g->data + off, left);
                break;
        }
        shutdown(fd, SHUT_WR);
        char sink[4096];
        while (recv(fd, sink, sizeof(sink), 0) > 0)
                ;
        close(fd);
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (listen_fd < 0)
                LLVMFuzzerInitialize(NULL, NULL);
        if (size < 1)
                return 0;
        struct guest g = {.data = data + 1, .size = size - 1};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, guest_main, &g) == 0);

        struct agent_conn *c = NULL;
        struct bg_error err = {0};
        CHECK(agent_conn_open_unix(sock_path, 2000, &c, &err) == 0);
        Banger__V1__AgentResponse *resp = NULL;
        int r;
        switch (data[0] % 6) {
        case 0:
                r = agent_health(c, 5000, &resp, &err);
                if (r >= 0)
                        CHECK(resp->kind_case == BANGER__V1__AGENT_RESPONSE__KIND_HEALTH &&
                              resp->health);
                break;
        case 1:
                r = agent_ports(c, 5000, &resp, &err);
                if (r >= 0) {
                        CHECK(resp->kind_case == BANGER__V1__AGENT_RESPONSE__KIND_PORTS &&
                              resp->ports);
                        for (size_t i = 0; i < resp->ports->n_ports; i++)
                                CHECK(resp->ports->ports[i]->address);
                }
                break;
        case 2:
                r = agent_stats(c, 5000, &resp, &err);
                if (r >= 0)
                        CHECK(resp->kind_case == BANGER__V1__AGENT_RESPONSE__KIND_STATS &&
                              resp->stats);
                break;
        case 3:
                r = agent_shutdown(c, 5000, &err);
                break;
        case 4: {
                Banger__V1__AgentReidentifyRequest body = BANGER__V1__AGENT_REIDENTIFY_REQUEST__INIT;
                char *dns[] = {"172.30.0.1"};
                uint8_t entropy[32] = {1};
                body.hostname = "clone-1";
                body.address = "172.30.0.9/24";
                body.gateway = "172.30.0.1";
                body.dns = dns;
                body.n_dns = 1;
                body.mac = "52:54:00:aa:bb:cc";
                body.entropy.data = entropy;
                body.entropy.len = sizeof(entropy);
                body.machine_id = "0123456789abcdef0123456789abcdef";
                r = agent_reidentify(c, &body, 5000, &resp, &err);
                if (r >= 0)
                        CHECK(resp->kind_case == BANGER__V1__AGENT_RESPONSE__KIND_REIDENTIFY);
                break;
        }
        default:
                r = agent_unmount_work(c, 5000, &err);
                break;
        }
        if (r < 0) {
                CHECK(!resp);
                CHECK(err.msg[0] != '\0');
                CHECK(r != -ETIMEDOUT); /* the guest always closes: nothing waits */
        }
        agent_response_free(resp);
        agent_conn_free(c);
        CHECK(pthread_join(t, NULL) == 0);
        return 0;
}
