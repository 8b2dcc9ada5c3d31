#include "netsvc.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "banger/v1/net.pb-c.h"

/* Schema v1: the VM registry. Later versions append migrations; never edit one
 * that has shipped. */
const struct store_migration netsvc_migrations[] = {
        {1, "CREATE TABLE leases ("
            "  vm_name TEXT PRIMARY KEY,"
            "  ip TEXT NOT NULL UNIQUE,"
            "  mac TEXT NOT NULL UNIQUE,"
            "  created_unix_ms INTEGER NOT NULL"
            ");"
            "CREATE TABLE taps ("
            "  name TEXT PRIMARY KEY,"
            "  vm_name TEXT,"
            "  created_unix_ms INTEGER NOT NULL"
            ");"},
};
const size_t netsvc_n_migrations = ELEMENTSOF(netsvc_migrations);

static int net_health(struct netsvc *v, const Banger__V1__HealthRequest *in,
                     Banger__V1__HealthResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        return daemon_health(v->d, in, out, call, err);
}

const struct rpc_method_impl netsvc_net_methods[] = {
        RPC_METHOD("Health", net_health),
};
const size_t netsvc_n_net_methods = ELEMENTSOF(netsvc_net_methods);

int netsvc_register(struct netsvc *v, struct bg_error *err)
{
        return rpc_server_add_service(v->d->srv, &banger__v1__net_service__descriptor,
                                      netsvc_net_methods, netsvc_n_net_methods, v, err);
}

int netsvc_check_privileges(struct bg_error *err)
{
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {0};
        if (syscall(SYS_capget, &hdr, data) < 0)
                return bg_error_errno(err, -errno, "read own capabilities");
        static const struct {
                int cap;
                const char *name;
                const char *why;
        } needed[] = {
                {CAP_NET_ADMIN, "CAP_NET_ADMIN", "to manage the bridge, taps and nftables rules"},
        };
        for (size_t i = 0; i < ELEMENTSOF(needed); i++) {
                int c = needed[i].cap;
                if (!(data[c / 32].effective & (1u << (c % 32))))
                        return bg_error_set(err, EPERM,
                                            "banger-netsvc needs %s %s; run it as root "
                                            "(`sudo banger daemon start`, or the banger-netsvc "
                                            "systemd unit installed by `banger system install`)",
                                            needed[i].name, needed[i].why);
        }
        return 0;
}
