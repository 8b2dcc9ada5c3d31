/* Registry authentication pieces: WWW-Authenticate challenges and
 * credentials from a Docker config.json. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

enum oci_auth_scheme {
        OCI_AUTH_NONE,
        OCI_AUTH_BASIC,
        OCI_AUTH_BEARER,
};

struct oci_challenge {
        enum oci_auth_scheme scheme;
        char *realm;   /* Basic: optional; Bearer: token endpoint URL */
        char *service; /* Bearer, may be NULL */
        char *scope;   /* Bearer, may be NULL */
};

/* Parse a WWW-Authenticate header value ('Bearer realm="...",service="...",
 * scope="..."' or 'Basic realm="..."'; scheme case-insensitive, quoted or
 * token values, backslash escapes). -EINVAL for anything else or a Bearer
 * challenge without realm. Release with oci_challenge_done. */
int oci_challenge_parse(const char *header, struct oci_challenge *ret, struct bg_error *err);
void oci_challenge_done(struct oci_challenge *c);

struct oci_credentials {
        char *username;
        char *password;
};

void oci_credentials_done(struct oci_credentials *c);

/* The Docker config path: $DOCKER_CONFIG/config.json, else
 * $HOME/.docker/config.json (malloc'ed), or NULL when neither is set. */
char *oci_docker_config_default_path(void);

/* Look up the credentials for `registry` (host[:port], as in struct oci_ref)
 * in the Docker config at path. Keys of "auths" are matched by host[:port]
 * after removing a scheme and path ("https://index.docker.io/v1/" is
 * docker.io); never by prefix or suffix, so credentials only go to their own
 * registry. Entries carry "auth" (base64 of user:password) or
 * "username"/"password". Returns 1 and fills *ret when found, 0 when the file
 * does not exist or has no entry for registry, -errno on an unreadable or
 * malformed file. */
int oci_docker_config_credentials(const char *path, const char *registry,
                                  struct oci_credentials *ret, struct bg_error *err);

/* Same, from a JSON text (for tests and callers that hold the text). */
int oci_docker_config_credentials_from_json(const char *json, const char *registry,
                                            struct oci_credentials *ret, struct bg_error *err);

/* Normalise a config.json "auths" key or a registry name to host[:port] in
 * lowercase, mapping the Docker Hub aliases to "docker.io". Writes at most
 * size bytes; returns false when it does not fit or is empty. */
bool oci_registry_key_normalize(const char *key, char *out, size_t size);
