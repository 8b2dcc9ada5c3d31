/* Docker-style image references and platform strings.
 *
 * "debian:bookworm"            → docker.io / library/debian : bookworm
 * "ghcr.io/o/r@sha256:…"       → ghcr.io / o/r @ sha256:…
 * "localhost:5000/x/y:1.0"     → localhost:5000 / x/y : 1.0
 * The grammar is the one of distribution/reference: a first component is a
 * registry when it holds '.' or ':' or is "localhost" and more components
 * follow; repository components are lowercase [a-z0-9] runs joined by '.',
 * '_', "__" or dashes; tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; only
 * sha256 digests are accepted. */
#pragma once

#include <stdbool.h>

#include "util/error.h"

#define OCI_DEFAULT_REGISTRY "docker.io"
#define OCI_DOCKER_HUB_ENDPOINT "registry-1.docker.io"

struct oci_ref {
        char *registry;   /* "docker.io", "ghcr.io", "127.0.0.1:5000", "[::1]:5000" */
        char *repository; /* "library/debian" */
        char *tag;        /* "bookworm"; "latest" when neither tag nor digest given; NULL with
                             a digest only */
        char *digest;     /* "sha256:<64 hex>" or NULL */
};

struct oci_platform {
        char os[32];      /* "linux" */
        char arch[32];    /* "amd64", "arm64", ... */
        char variant[32]; /* "v8", "v7" or "" (any) */
};

/* Parse s into *ret (strings owned by ret; release with oci_ref_done).
 * -EINVAL with a message naming what is wrong. */
int oci_ref_parse(const char *s, struct oci_ref *ret, struct bg_error *err);
void oci_ref_done(struct oci_ref *r);

/* Whether what a user typed where an image is expected ("--image X") is a
 * registry reference to pull rather than the name of a local image: image
 * names are [a-z0-9][a-z0-9._-]*, so a ':' (name:tag, host:port), a '/'
 * (registry/…, org/repo) or a '@' (…@sha256:…) makes it a reference.
 * "debian" alone is an image name, never docker.io/library/debian. */
bool oci_ref_is_reference(const char *s);

/* The local image name a reference gets when none is given (what `image
 * pull` and an auto-pull on `vm create --image REF` name it): the
 * repository's last component, '-', the tag (or the digest's first 12 hex),
 * lowercased, other characters as '-', at most max_len (< len) bytes,
 * without leading or trailing separators. -EINVAL when nothing is left. */
int oci_ref_default_name(const struct oci_ref *ref, char *buf, size_t len, size_t max_len);

/* Canonical form "registry/repository[:tag][@digest]" (malloc'ed), NULL on
 * allocation failure. */
char *oci_ref_to_string(const struct oci_ref *r);

/* The host[:port] to talk to for registry: docker.io → registry-1.docker.io,
 * anything else unchanged. */
const char *oci_registry_endpoint(const char *registry);

/* True for localhost, 127.0.0.0/8 and [::1] (any port): plain HTTP allowed. */
bool oci_registry_is_loopback(const char *registry);

/* "linux/amd64", "linux/arm64/v8", "linux/arm/v7"; NULL or "" means
 * linux/amd64. Architectures are normalised (x86_64 → amd64, aarch64 → arm64). */
int oci_platform_parse(const char *s, struct oci_platform *ret, struct bg_error *err);
