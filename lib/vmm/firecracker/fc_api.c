#include "vmm/firecracker/fc_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "util/macro.h"
#include "util/timeutil.h"

struct fc_api {
        CURL *curl;
        char sock_path[FC_UNIX_PATH_MAX + 1];
        uint64_t timeout_ms;
};

struct buf {
        char *data;
        size_t len;
        bool overflow;
};

/* curl_global_init is process-wide state that must run once before any
 * handle exists; libcurl offers no other way. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int fc_api_new(const char *sock_path, uint64_t timeout_ms, struct fc_api **ret,
               struct bg_error *err)
{
        if (!sock_path || !*sock_path)
                return bg_error_set(err, EINVAL, "Firecracker API socket path is empty");
        if (strlen(sock_path) > FC_UNIX_PATH_MAX)
                return bg_error_set(err, ENAMETOOLONG,
                                    "Firecracker API socket path '%s' is longer than %d bytes",
                                    sock_path, FC_UNIX_PATH_MAX);
        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK)
                return bg_error_set(err, ENOMEM, "libcurl initialisation failed: %s",
                                    curl_easy_strerror(curl_init_result));

        _cleanup_free_ struct fc_api *api = calloc(1, sizeof(*api));
        if (!api)
                return bg_error_set(err, ENOMEM, "out of memory");
        api->curl = curl_easy_init();
        if (!api->curl)
                return bg_error_set(err, ENOMEM, "libcurl: cannot create a handle");
        snprintf(api->sock_path, sizeof(api->sock_path), "%s", sock_path);
        api->timeout_ms = timeout_ms;
        *ret = TAKE_PTR(api);
        return 0;
}

struct fc_api *fc_api_free(struct fc_api *api)
{
        if (api) {
                if (api->curl)
                        curl_easy_cleanup(api->curl);
                free(api);
        }
        return NULL;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct buf *b = userdata;
        size_t n = size * nmemb;
        if (b->len + n > FC_API_MAX_RESPONSE) {
                b->overflow = true;
                return 0;
        }
        char *p = realloc(b->data, b->len + n + 1);
        if (!p)
                return 0;
        memcpy(p + b->len, ptr, n);
        b->len += n;
        p[b->len] = '\0';
        b->data = p;
        return n;
}

static int errno_from_curl(CURLcode c)
{
        switch (c) {
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                return -ECONNRESET;
        default:
                return -EIO;
        }
}

/* Firecracker's error answers are {"fault_message": "..."}; fall back to the
 * raw body (trimmed) when it is something else. */
static void fault_message(const struct buf *b, char *out, size_t len)
{
        out[0] = '\0';
        if (!b->data || b->len == 0) {
                snprintf(out, len, "(no fault message)");
                return;
        }
        json_error_t jerr;
        json_t *j = json_loadb(b->data, b->len, 0, &jerr);
        const char *msg = j ? json_string_value(json_object_get(j, "fault_message")) : NULL;
        if (msg)
                snprintf(out, len, "%s", msg);
        else
                snprintf(out, len, "%.*s", (int)strcspn(b->data, "\r\n"), b->data);
        json_decref(j);
}

static int request(struct fc_api *api, const char *method, const char *path, json_t *body,
                   json_t **ret, struct bg_error *err)
{
        if (!path || path[0] != '/')
                return bg_error_set(err, EINVAL, "Firecracker API path '%s' must start with '/'",
                                    path ? path : "");
        _cleanup_free_ char *payload = NULL;
        if (body) {
                payload = json_dumps(body, JSON_COMPACT);
                if (!payload)
                        return bg_error_set(err, ENOMEM, "%s %s: cannot serialise body", method,
                                            path);
        }
        char url[512];
        snprintf(url, sizeof(url), "http://localhost%s", path);

        CURL *c = api->curl;
        struct buf resp = {0};
        struct curl_slist *headers = NULL, *h;
        /* Firecracker's micro HTTP server does not use 100-continue; ask
         * curl not to wait for it. */
        static const char *const hdrs[] = {"Content-Type: application/json",
                                           "Accept: application/json", "Expect:"};
        for (size_t i = 0; i < ELEMENTSOF(hdrs); i++) {
                h = curl_slist_append(headers, hdrs[i]);
                if (!h) {
                        curl_slist_free_all(headers);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
                headers = h;
        }

        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, api->sock_path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)api->timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)api->timeout_ms);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
        if (streq(method, "GET")) {
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        } else {
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload ? payload : "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(payload ? strlen(payload) : 0));
        }

        CURLcode cc = curl_easy_perform(c);
        curl_slist_free_all(headers);
        _cleanup_free_ _unused_ char *data = resp.data;
        if (cc != CURLE_OK) {
                if (resp.overflow)
                        return bg_error_set(err, EMSGSIZE,
                                            "Firecracker %s %s: answer larger than %d bytes",
                                            method, path, FC_API_MAX_RESPONSE);
                int r = errno_from_curl(cc);
                return bg_error_set(err, -r, "Firecracker %s %s on '%s': %s", method, path,
                                    api->sock_path, curl_easy_strerror(cc));
        }
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) {
                char msg[BG_ERROR_MSG_MAX];
                fault_message(&resp, msg, sizeof(msg));
                return bg_error_set(err, status >= 400 && status < 500 ? EINVAL : EIO,
                                    "Firecracker refused %s %s (HTTP %ld): %s", method, path,
                                    status, msg);
        }
        if (ret) {
                json_error_t jerr;
                json_t *j = resp.len ? json_loadb(resp.data, resp.len, 0, &jerr) : NULL;
                if (!j)
                        return bg_error_set(err, EBADMSG, "Firecracker %s %s: answer is not JSON",
                                            method, path);
                *ret = j;
        }
        return 0;
}

int fc_api_put(struct fc_api *api, const char *path, json_t *body, struct bg_error *err)
{
        return request(api, "PUT", path, body, NULL, err);
}

int fc_api_patch(struct fc_api *api, const char *path, json_t *body, struct bg_error *err)
{
        return request(api, "PATCH", path, body, NULL, err);
}

int fc_api_get(struct fc_api *api, const char *path, json_t **ret, struct bg_error *err)
{
        return request(api, "GET", path, NULL, ret, err);
}

/* The _new variants take body over (jansson's convention): a NULL body is
 * what a failed json_pack() returns. */
static int request_new(struct fc_api *api, const char *method, const char *path, json_t *body,
                       struct bg_error *err)
{
        if (!body)
                return bg_error_set(err, ENOMEM, "%s %s: out of memory", method, path);
        int r = request(api, method, path, body, NULL, err);
        json_decref(body);
        return r;
}

int fc_api_put_new(struct fc_api *api, const char *path, json_t *body, struct bg_error *err)
{
        return request_new(api, "PUT", path, body, err);
}

int fc_api_patch_new(struct fc_api *api, const char *path, json_t *body, struct bg_error *err)
{
        return request_new(api, "PATCH", path, body, err);
}

static int try_connect(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

int fc_api_wait_socket(const char *sock_path, pid_t pid, uint64_t timeout_ms, int *ret_status,
                       struct bg_error *err)
{
        if (strlen(sock_path) > FC_UNIX_PATH_MAX)
                return bg_error_set(err, ENAMETOOLONG,
                                    "Firecracker API socket path '%s' is longer than %d bytes",
                                    sock_path, FC_UNIX_PATH_MAX);
        uint64_t deadline = now_mono_msec() + timeout_ms;
        int last = -ENOENT;
        for (;;) {
                last = try_connect(sock_path);
                if (last == 0)
                        return 0;
                if (pid > 0) {
                        int status;
                        pid_t w = waitpid(pid, &status, WNOHANG);
                        if (w == pid) {
                                if (ret_status)
                                        *ret_status = status;
                                return bg_error_set(err, ECHILD,
                                                    "Firecracker (pid %d) exited before its API "
                                                    "socket '%s' was ready",
                                                    (int)pid, sock_path);
                        }
                }
                if (now_mono_msec() >= deadline)
                        break;
                sleep_msec(5);
        }
        return bg_error_set(err, ETIMEDOUT,
                            "Firecracker API socket '%s' not ready after %llu ms (last: %s)",
                            sock_path, (unsigned long long)timeout_ms, strerror(-last));
}
