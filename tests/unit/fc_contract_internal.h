/* What the three files of the fake Firecracker API share (not for tests):
 * fc_contract_spec.c (the Swagger document and its schemas),
 * fc_contract_server.c (routing and what each call means) and
 * fc_contract_http.c (HTTP over the API socket, the hybrid vsock). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "fc_contract_server.h"
#include "util/macro.h"

#define FAULT_MAX 512

struct fc_contract {
        json_t *doc;   /* the whole spec as JSON (every scalar a string) */
        json_t *paths; /* doc.paths */
        json_t *defs;  /* doc.definitions */
};

struct fc_contract_state {
        const struct fc_contract *c;
        struct fc_contract_opts o;
        bool started, logger, metrics, boot_source, shutdown_requested;
        bool paused;           /* PATCH /vm Paused, until Resumed */
        bool configured;       /* a boot resource was PUT: no snapshot load any more */
        bool loaded;           /* started by PUT /snapshot/load */
        char fatal[FAULT_MAX]; /* a failed load: Firecracker exits after answering */
        unsigned root_drives;
        json_t *drives;  /* drive_id -> body */
        json_t *ifaces;  /* iface_id -> body */
        json_t *machine; /* machine-config body, or NULL */
        json_t *vsock;   /* PUT /vsock body (uds_path as given), or NULL */
        int vsock_fd;    /* listening hybrid-vsock uds, -1 */
        char vsock_path[108];
        unsigned calls, rejected;
};

/* Writes the fault message (at most FAULT_MAX) and returns -1. */
int fc_contract_faultf(char *fault, const char *fmt, ...) _printf_(2, 3);
/* Checks v against schema (a $ref into the document's definitions is
 * followed); 0, or -1 with fault saying where and why. */
int fc_contract_validate(const struct fc_contract *c, json_t *schema, json_t *v, const char *where,
                         int depth, char *fault);
