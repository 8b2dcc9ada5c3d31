#include "daemon/services.h"

#include <string.h>

#include "util/macro.h"

static const struct banger_service services[] = {
    {"netsvc", "banger-netsvc", {"banger.v1.NetService"}, "/banger.v1.NetService/Health", 1},
    {"imagesvc",
     "banger-imagesvc",
     {"banger.v1.ImageService", "banger.v1.KernelService"},
     "/banger.v1.ImageService/Health",
     0},
    {"vmsvc",
     "banger-vmsvc",
     {"banger.v1.VmService", "banger.v1.TemplateService"},
     "/banger.v1.VmService/Health",
     0},
    {"workspacesvc",
     "banger-workspacesvc",
     {"banger.v1.WorkspaceService"},
     "/banger.v1.WorkspaceService/Health",
     0},
};

const struct banger_service *banger_services(size_t *n)
{
        *n = ELEMENTSOF(services);
        return services;
}

const struct banger_service *banger_service_for_proto(const char *proto_service)
{
        for (size_t i = 0; i < ELEMENTSOF(services); i++)
                for (size_t j = 0; j < BANGER_MAX_PROTO_SERVICES && services[i].proto[j]; j++)
                        if (strcmp(services[i].proto[j], proto_service) == 0)
                                return &services[i];
        return NULL;
}

const struct banger_service *banger_service_by_name(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(services); i++)
                if (strcmp(services[i].name, name) == 0)
                        return &services[i];
        return NULL;
}
