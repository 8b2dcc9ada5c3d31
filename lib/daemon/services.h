/* The fixed set of banger service processes: their short names, binaries and
 * the protobuf services each one serves. The gateway routes with it and
 * `banger daemon start|stop` spawns and stops by it. */
#pragma once

#include <stddef.h>

#define BANGER_MAX_PROTO_SERVICES 3

struct banger_service {
        const char *name;   /* "vmsvc": socket NAME.sock, pidfile NAME.pid, log NAME.log */
        const char *binary; /* "banger-vmsvc" */
        const char *proto[BANGER_MAX_PROTO_SERVICES]; /* "banger.v1.VmService", NULL-terminated */
        const char *health_method;                    /* "/banger.v1.VmService/Health" */
        int needs_root;
};

/* In start order: netsvc first (others call it), the gateway last. The
 * gateway itself is not in this table. */
const struct banger_service *banger_services(size_t *n);
/* The entry serving protobuf service "banger.v1.X", or NULL. */
const struct banger_service *banger_service_for_proto(const char *proto_service);
const struct banger_service *banger_service_by_name(const char *name);
