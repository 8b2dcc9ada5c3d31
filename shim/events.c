/* Task events for containerd, sent the way containerd 1.6's own shims send
 * them (runtime/v2/shim/publisher.go): a ttrpc call
 * containerd.services.events.ttrpc.v1.Events/Forward to the address in
 * TTRPC_ADDRESS, carrying an Envelope{timestamp, namespace, topic, event}
 * whose event is a google.protobuf.Any with the message's full name as its
 * type URL ("containerd.events.TaskExit"), as containerd's typeurl writes it.
 *
 * Handlers queue events and return; one thread sends them in order, each
 * with a fresh connection and a 5 s deadline, and retries a failed send a
 * few times (containerd may be restarting). The queue is capped: beyond
 * EVENTS_MAX_QUEUED an event is dropped with a line on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "containerd/services/events/ttrpc/v1/events.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "shim.h"

#define EVENTS_MAX_QUEUED 256
#define EVENTS_TIMEOUT_S 5
#define EVENTS_TRIES 3

struct event_item {
        struct event_item *next;
        uint8_t *req; /* a packed ttrpc.Request; owned */
        size_t len;
        char topic[32];
};

struct shim_events {
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        pthread_mutex_t lock;
        pthread_cond_t more;
        struct event_item *head, *tail;
        size_t n;
        uint32_t stream;
};

/* One call: connect, send the request on a new stream, read the answer. */
static int forward_once(struct shim_events *e, const struct event_item *it, struct bg_error *err)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return bg_error_errno(err, -errno, "socket");
        struct timeval tv = {.tv_sec = EVENTS_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path, e->path, sizeof(sa.sun_path));
        int r = 0;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                r = bg_error_errno(err, -errno, "connect to containerd at %s", e->path);
        if (r >= 0)
                r = ttrpc_write_frame(fd, 1, TTRPC_TYPE_REQUEST, it->req, it->len);
        struct ttrpc_header h;
        uint8_t *payload = NULL;
        if (r >= 0) {
                r = ttrpc_read_frame(fd, 1u << 20, &h, &payload, err);
                if (r == 0)
                        r = -EPIPE;
                if (r < 0)
                        r = bg_error_errno(err, r, "containerd's answer");
        }
        close(fd);
        if (r < 0)
                return r;
        Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h.length, payload);
        free(payload);
        if (!resp)
                return bg_error_set(err, EBADMSG, "containerd's answer is not a ttrpc response");
        if (resp->status && resp->status->code != 0)
                r = bg_error_set(err, EIO, "containerd refused the event: %s",
                                 resp->status->message ? resp->status->message : "");
        ttrpc__response__free_unpacked(resp, NULL);
        return r;
}

static void *publisher_main(void *arg)
{
        struct shim_ctx *c = arg;
        struct shim_events *e = c->events;
        for (;;) {
                pthread_mutex_lock(&e->lock);
                while (!e->head)
                        pthread_cond_wait(&e->more, &e->lock);
                struct event_item *it = e->head;
                e->head = it->next;
                if (!e->head)
                        e->tail = NULL;
                e->n--;
                pthread_mutex_unlock(&e->lock);
                struct bg_error err = {0};
                int r = -EIO;
                for (int i = 0; i < EVENTS_TRIES && r < 0; i++) {
                        if (i > 0)
                                sleep(1);
                        r = forward_once(e, it, &err);
                }
                if (r < 0)
                        fprintf(stderr, "containerd-shim-banger-v2: event %s not sent: %s\n",
                                it->topic, err.msg);
                free(it->req);
                free(it);
        }
        return NULL;
}

int shim_events_start(struct shim_ctx *c, const char *addr, struct bg_error *err)
{
        if (!addr || !addr[0])
                return 0;
        if (strncmp(addr, "unix://", 7) == 0)
                addr += 7;
        struct shim_events *e = calloc(1, sizeof(*e));
        if (!e)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (addr[0] != '/' || strlen(addr) >= sizeof(e->path)) {
                free(e);
                return bg_error_set(err, EINVAL, "TTRPC_ADDRESS '%.200s' is not a socket path",
                                    addr);
        }
        snprintf(e->path, sizeof(e->path), "%s", addr);
        pthread_mutex_init(&e->lock, NULL);
        pthread_cond_init(&e->more, NULL);
        c->events = e;
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        int r = pthread_create(&t, &a, publisher_main, c);
        pthread_attr_destroy(&a);
        if (r != 0) {
                c->events = NULL;
                free(e);
                return bg_error_set(err, r, "cannot start the event publisher");
        }
        return 0;
}

void shim_publish(struct shim_ctx *c, const char *topic, const ProtobufCMessage *event)
{
        struct shim_events *e = c->events;
        if (!e)
                return;
        uint8_t *ev = NULL, *fwd = NULL;
        size_t ev_len = 0, fwd_len = 0;
        if (ttrpc_pack(event, &ev, &ev_len) < 0)
                return;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = now.tv_sec;
        ts.nanos = (int32_t)now.tv_nsec;
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        any.type_url = (char *)event->descriptor->name; /* "containerd.events.TaskExit" */
        any.value.data = ev;
        any.value.len = ev_len;
        Containerd__Services__Events__Ttrpc__V1__Envelope env =
            CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
        env.timestamp = &ts;
        env.namespace_ = c->opts.ns;
        env.topic = (char *)topic;
        env.event = &any;
        Containerd__Services__Events__Ttrpc__V1__ForwardRequest fr =
            CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
        fr.envelope = &env;
        int r = ttrpc_pack(&fr.base, &fwd, &fwd_len);
        free(ev);
        if (r < 0)
                return;
        Ttrpc__Request rq = TTRPC__REQUEST__INIT;
        rq.service = "containerd.services.events.ttrpc.v1.Events";
        rq.method = "Forward";
        rq.payload.data = fwd;
        rq.payload.len = fwd_len;
        rq.timeout_nano = (int64_t)EVENTS_TIMEOUT_S * 1000000000;
        struct event_item *it = calloc(1, sizeof(*it));
        if (!it || ttrpc_pack(&rq.base, &it->req, &it->len) < 0) {
                free(it);
                free(fwd);
                return;
        }
        free(fwd);
        snprintf(it->topic, sizeof(it->topic), "%s", topic);
        pthread_mutex_lock(&e->lock);
        if (e->n >= EVENTS_MAX_QUEUED) {
                pthread_mutex_unlock(&e->lock);
                fprintf(stderr, "containerd-shim-banger-v2: event %s dropped: %d waiting\n", topic,
                        EVENTS_MAX_QUEUED);
                free(it->req);
                free(it);
                return;
        }
        if (e->tail)
                e->tail->next = it;
        else
                e->head = it;
        e->tail = it;
        e->n++;
        pthread_cond_signal(&e->more);
        pthread_mutex_unlock(&e->lock);
}
