/* Client of Firecracker's REST API: HTTP/1.1 over the API unix socket
 * (libcurl with CURLOPT_UNIX_SOCKET_PATH), JSON bodies built with jansson.
 *
 * One struct fc_api holds one curl handle, so consecutive calls reuse the
 * connection the way Firecracker's own clients do. Not thread-safe: one
 * caller at a time per handle. */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

/* Longest unix socket path connect() accepts (sun_path holds 108 bytes
 * including the terminating NUL). */
#define FC_UNIX_PATH_MAX 107

/* Largest answer body read from Firecracker; longer ones are an error. */
#define FC_API_MAX_RESPONSE (64 * 1024)

struct fc_api;

/* A client for the API socket at sock_path; each call fails after
 * timeout_ms. Does not connect yet. */
int fc_api_new(const char *sock_path, uint64_t timeout_ms, struct fc_api **ret,
               struct bg_error *err);

/* Frees; accepts NULL, returns NULL. */
struct fc_api *fc_api_free(struct fc_api *api);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct fc_api *, fc_api_free);

/* PUT path with body (not consumed; serialised compactly). 0 on a 2xx answer.
 * Otherwise an error naming the call, e.g.
 *   "Firecracker refused PUT /drives/rootfs (HTTP 400): <fault_message>",
 * -EINVAL for a 4xx answer, -EIO for others, -ECONNREFUSED/-ENOENT/-ETIMEDOUT
 * when the socket does not answer. */
int fc_api_put(struct fc_api *api, const char *path, json_t *body, struct bg_error *err);

/* PATCH, same contract as fc_api_put. */
int fc_api_patch(struct fc_api *api, const char *path, json_t *body, struct bg_error *err);

/* The same, taking body over (it is freed; NULL, as from a failed
 * json_pack(), is -ENOMEM). */
int fc_api_put_new(struct fc_api *api, const char *path, json_t *body, struct bg_error *err);
int fc_api_patch_new(struct fc_api *api, const char *path, json_t *body, struct bg_error *err);

/* GET path; *ret is the decoded JSON answer (caller json_decref()s it). */
int fc_api_get(struct fc_api *api, const char *path, json_t **ret, struct bg_error *err);

/* Waits until something accepts connections on sock_path, for up to
 * timeout_ms. When pid > 0 and that process is our child and exits first,
 * stops at once with -ECHILD and *ret_status set to its wait status (the child
 * is reaped). -ETIMEDOUT when the deadline passes. */
int fc_api_wait_socket(const char *sock_path, pid_t pid, uint64_t timeout_ms, int *ret_status,
                       struct bg_error *err);
