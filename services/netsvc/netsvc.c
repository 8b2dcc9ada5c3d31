/* NetService: the closed set of operations banger-netsvc performs as root.
 *
 * Every handler validates every field of its request before anything else
 * happens, and says above its definition why it is safe to run as root. The
 * RPC layer has already refused callers other than root and the owner uid
 * (rpc_peer_allow_owner, see daemon_init), and methods absent from this
 * table do not exist (UNIMPLEMENTED). */
#include "netsvc.h"
#include "fault/fault.h"
#include "caps.h"
#include "jail.h"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <string.h>
#include <unistd.h>

#include "banger/v1/net.pb-c.h"
#include "hostnet/ifname.h"
#include "leases.h"
#include "log/log.h"
#include "hostnet/netlink.h"
#include "hostnet/nft.h"
#include "hostnet/resolved.h"

static int oom(struct bg_error *err)
{
        return bg_error_set(err, ENOMEM, "out of memory");
}

/* Not set up (failed Setup, or Teardown ran): tap operations need the bridge. */
static int require_set_up(struct netsvc *v, struct bg_error *err)
{
        pthread_mutex_lock(&v->lock);
        bool ok = v->set_up;
        char why[BG_ERROR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", v->setup_error);
        pthread_mutex_unlock(&v->lock);
        if (ok)
                return 0;
        return bg_error_set(err, EBUSY, "the guest network is not set up (%s); run Setup",
                            why[0] ? why : "not yet");
}

/* Safe as root: reads this process's state only. */
static int net_health(struct netsvc *v, const Banger__V1__HealthRequest *in,
                      Banger__V1__HealthResponse *out, const struct rpc_call *call,
                      struct bg_error *err)
{
        return daemon_health(v->d, in, out, call, err);
}

static int fill_status(struct netsvc *v, Banger__V1__NetStatusResponse *out, struct bg_error *err)
{
        char nb[IPAM_CIDR_STRLEN], gw[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &v->gateway, gw, sizeof(gw));
        pthread_mutex_lock(&v->lock);
        bool set_up = v->set_up, routed = v->resolver_routed;
        char setup_error[BG_ERROR_MSG_MAX], uplink[IFNAMSIZ];
        snprintf(setup_error, sizeof(setup_error), "%s", v->setup_error);
        snprintf(uplink, sizeof(uplink), "%s", v->uplink);
        char dns[2][40] = {"", ""};
        for (int i = 0; i < 2; i++) {
                if (!v->dns[i])
                        continue;
                struct in_addr a = i == 0 ? v->dns_addr : v->gateway;
                char s[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &a, s, sizeof(s));
                snprintf(dns[i], sizeof(dns[i]), "%s:%u", s, dns_server_port(v->dns[i]));
        }
        size_t n_leases = 0;
        int r = lease_count(v->db, &n_leases, err);
        pthread_mutex_unlock(&v->lock);
        if (r < 0)
                return r;

        bool bridge_present = false;
        _cleanup_free_ struct netlink_link *links = NULL;
        size_t n_links = 0;
        r = netlink_link_dump(&links, &n_links, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_links; i++)
                if (streq(links[i].name, v->bridge) && streq(links[i].kind, "bridge"))
                        bridge_present = true;

        struct nft_config nc = {
            .subnet = v->net, .dns_port = v->dns_port, .isolate_vms = v->isolate_vms};
        snprintf(nc.bridge, sizeof(nc.bridge), "%s", v->bridge);
        snprintf(nc.uplink, sizeof(nc.uplink), "%s", uplink);
        bool nft_ok = false;
        struct bg_error e = {0};
        if (nft_present(&nc, &nft_ok, &e) < 0)
                nft_ok = false;

        char text[600];
        if (v->host_netns)
                resolved_status_text(NULL, v->bridge, v->gateway, v->dns_port, text, sizeof(text));
        else
                snprintf(text, sizeof(text),
                         "banger-netsvc runs in its own network namespace, so systemd-resolved "
                         "routing is skipped; query the server directly: dig @%s -p %u NAME.vm",
                         gw, v->dns_port);

        struct tap_pool_stats ps;
        tap_pool_stats(v->pool, &ps);

        out->bridge = strdup(v->bridge);
        out->subnet = strdup(ipam_net_format(&v->net, nb));
        out->gateway = strdup(gw);
        out->uplink = strdup(uplink);
        out->set_up = set_up;
        out->setup_error = strdup(setup_error);
        out->bridge_present = bridge_present;
        out->nft_present = nft_ok;
        out->dns_listen = calloc(2, sizeof(char *));
        if (out->dns_listen)
                for (int i = 0; i < 2; i++)
                        if (dns[i][0])
                                out->dns_listen[out->n_dns_listen++] = strdup(dns[i]);
        out->resolver_routed = routed;
        out->resolver_text = strdup(text);
        out->pool_size = ps.target;
        out->pool_warm = ps.warm;
        out->taps_in_use = ps.used;
        out->lease_count = (uint32_t)n_leases;
        out->isolate_vms = v->isolate_vms;
        out->pool_error = strdup(ps.last_error);
        char jwhy[BG_ERROR_MSG_MAX];
        out->jailer_usable = netsvc_jail_usable(v->d, v->owner_uid, jwhy, sizeof(jwhy));
        out->jailer_why = strdup(jwhy);
        if (!out->bridge || !out->subnet || !out->gateway || !out->uplink || !out->setup_error ||
            !out->dns_listen || !out->resolver_text || !out->pool_error || !out->jailer_why)
                return oom(err);
        for (size_t i = 0; i < out->n_dns_listen; i++)
                if (!out->dns_listen[i])
                        return oom(err);
        return 0;
}

/* Safe as root: read-only (a link dump, an nft list of table inet banger,
 * database reads); the request has no fields. */
static int net_status(struct netsvc *v, const Banger__V1__NetStatusRequest *in,
                      Banger__V1__NetStatusResponse *out, const struct rpc_call *call,
                      struct bg_error *err)
{
        return fill_status(v, out, err);
}

/* Safe as root: takes no arguments; it applies the configuration root's or
 * the owner's config.toml validated at start (bridge name and uplink per
 * ifname.h, a usable subnet that overlaps no host route) to objects banger
 * owns: its bridge, `table inet banger`, its DNS listeners, resolved's
 * settings for its bridge link, and bg taps. Idempotent. */
static int net_setup(struct netsvc *v, const Banger__V1__NetSetupRequest *in,
                     Banger__V1__NetStatusResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        int r = netsvc_setup(v, err);
        if (r < 0)
                return r;
        return fill_status(v, out, err);
}

/* Safe as root: removes only banger's objects (bg taps recorded in net.db,
 * `table inet banger`, resolved's settings of its bridge, the bridge named in
 * its config, refused when that link is not a bridge). One boolean field. */
static int net_teardown(struct netsvc *v, const Banger__V1__NetTeardownRequest *in,
                        Banger__V1__NetTeardownResponse *out, const struct rpc_call *call,
                        struct bg_error *err)
{
        unsigned taps = 0;
        size_t leases = 0;
        int r = netsvc_teardown(v, in->purge_leases, &taps, &leases, err);
        if (r < 0)
                return r;
        out->taps_removed = taps;
        out->leases_removed = (uint32_t)leases;
        return 0;
}

static int lease_to_pb(struct netsvc *v, const struct lease *l, Banger__V1__NetLease **ret)
{
        Banger__V1__NetLease *p = malloc(sizeof(*p));
        if (!p)
                return -ENOMEM;
        banger__v1__net_lease__init(p);
        char gw[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &v->gateway, gw, sizeof(gw));
        p->vm_name = strdup(l->vm_name);
        p->ip = strdup(l->ip_str);
        p->mac = strdup(l->mac);
        p->gateway = strdup(gw);
        p->created_unix_ms = l->created_unix_ms;
        p->prefix = v->net.prefix;
        *ret = p; /* freed with the response even when incomplete */
        if (!p->vm_name || !p->ip || !p->mac || !p->gateway)
                return -ENOMEM;
        return 0;
}

/* Safe as root: database only. vm_name must be a DNS label; an optional ip
 * must be a guest address inside the configured subnet (not the network,
 * broadcast or gateway address) that no other VM holds. */
static int net_lease(struct netsvc *v, const Banger__V1__NetLeaseRequest *in,
                     Banger__V1__NetLeaseResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        int r = netsvc_validate_vm_name(in->vm_name, err);
        if (r < 0)
                return r;
        struct in_addr want, *requested = NULL;
        if (in->ip && in->ip[0]) {
                r = netsvc_validate_guest_ip(&v->net, v->gateway, in->ip, &want, err);
                if (r < 0)
                        return r;
                requested = &want;
        }
        struct lease l;
        bool created = false;
        pthread_mutex_lock(&v->lock);
        r = lease_get_or_create(v->db, &v->net, v->gateway, in->vm_name, requested, &l, &created,
                                err);
        pthread_mutex_unlock(&v->lock);
        if (r < 0)
                return r;
        if (created)
                log_info("leased %s (%s) to VM %s", l.ip_str, l.mac, l.vm_name);
        fault_point("net.leased"); /* recorded, not answered */
        out->created = created;
        if (lease_to_pb(v, &l, &out->lease) < 0)
                return oom(err);
        return 0;
}

/* Safe as root: vm_name must be a DNS label; deletes that name's lease row
 * and hands back the taps recorded for it (see ReleaseTap). */
static int net_release(struct netsvc *v, const Banger__V1__NetReleaseRequest *in,
                       Banger__V1__NetReleaseResponse *out, const struct rpc_call *call,
                       struct bg_error *err)
{
        int r = netsvc_validate_vm_name(in->vm_name, err);
        if (r < 0)
                return r;
        unsigned taps = 0;
        r = tap_pool_release_vm(v->pool, in->vm_name, &taps, err);
        if (r < 0)
                return r;
        fault_point("net.release.taps"); /* taps back, lease kept */
        bool released = false;
        pthread_mutex_lock(&v->lock);
        r = lease_release(v->db, in->vm_name, &released, err);
        pthread_mutex_unlock(&v->lock);
        if (r < 0)
                return r;
        if (released || taps)
                log_info("released VM %s (lease %s, %u taps)", in->vm_name,
                         released ? "freed" : "none", taps);
        out->released = released;
        out->taps_released = taps;
        return 0;
}

/* Safe as root: database read; no arguments. */
static int net_list_leases(struct netsvc *v, const Banger__V1__NetListLeasesRequest *in,
                           Banger__V1__NetListLeasesResponse *out, const struct rpc_call *call,
                           struct bg_error *err)
{
        _cleanup_free_ struct lease *all = NULL;
        size_t n = 0;
        pthread_mutex_lock(&v->lock);
        int r = lease_list(v->db, &all, &n, err);
        pthread_mutex_unlock(&v->lock);
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        out->leases = calloc(n, sizeof(*out->leases));
        if (!out->leases)
                return oom(err);
        for (size_t i = 0; i < n; i++) {
                r = lease_to_pb(v, &all[i], &out->leases[out->n_leases]);
                if (out->leases[out->n_leases])
                        out->n_leases++;
                if (r < 0)
                        return oom(err);
        }
        return 0;
}

/* Safe as root: vm_name must be a DNS label. The tap handed out is one of
 * netsvc's own (bgt<N>, recorded in net.db), owned by the owner uid and
 * attached to banger's bridge; no file descriptor leaves this process. */
static int net_acquire_tap(struct netsvc *v, const Banger__V1__NetAcquireTapRequest *in,
                           Banger__V1__NetAcquireTapResponse *out, const struct rpc_call *call,
                           struct bg_error *err)
{
        int r = netsvc_validate_vm_name(in->vm_name, err);
        if (r < 0)
                return r;
        r = require_set_up(v, err);
        if (r < 0)
                return r;
        char tap[IFNAMSIZ];
        bool from_pool = false, held = false;
        r = tap_pool_acquire(v->pool, in->vm_name, tap, &from_pool, &held, err);
        if (r < 0)
                return r;
        fault_point("net.tap.acquired"); /* the VM's now, not answered */
        log_debug("tap %s for VM %s (%s)", tap, in->vm_name,
                  held        ? "already held"
                  : from_pool ? "from the pool"
                              : "created");
        out->tap = strdup(tap);
        out->from_pool = from_pool;
        out->already_held = held;
        return out->tap ? 0 : oom(err);
}

/* Safe as root: the name must match ^bg[a-z0-9-]{1,13}$ and be a tap
 * recorded in net.db (ENOENT otherwise), so no other interface is touched;
 * the tap is re-checked for the pool or deleted. */
static int net_release_tap(struct netsvc *v, const Banger__V1__NetReleaseTapRequest *in,
                           Banger__V1__NetReleaseTapResponse *out, const struct rpc_call *call,
                           struct bg_error *err)
{
        int r = ifname_validate_tap(in->tap, err);
        if (r < 0)
                return r;
        bool to_pool = false;
        r = tap_pool_release(v->pool, in->tap, &to_pool, err);
        if (r < 0)
                return r;
        fault_point("net.tap.released");
        out->returned_to_pool = to_pool;
        return 0;
}

/* Safe as root: database read; no arguments. */
static int net_list_taps(struct netsvc *v, const Banger__V1__NetListTapsRequest *in,
                         Banger__V1__NetListTapsResponse *out, const struct rpc_call *call,
                         struct bg_error *err)
{
        _cleanup_free_ struct tap_info *all = NULL;
        size_t n = 0;
        int r = tap_pool_list(v->pool, &all, &n, err);
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        out->taps = calloc(n, sizeof(*out->taps));
        if (!out->taps)
                return oom(err);
        for (size_t i = 0; i < n; i++) {
                if (all[i].state != TAP_WARM && all[i].state != TAP_USED)
                        continue; /* transient */
                Banger__V1__NetTap *t = malloc(sizeof(*t));
                if (!t)
                        return oom(err);
                banger__v1__net_tap__init(t);
                out->taps[out->n_taps++] = t;
                t->name = strdup(all[i].name);
                t->vm_name = strdup(all[i].vm_name);
                t->state = strdup(all[i].state == TAP_WARM ? "warm" : "in-use");
                t->created_unix_ms = all[i].created_unix_ms;
                if (!t->name || !t->vm_name || !t->state)
                        return oom(err);
        }
        return 0;
}

static int net_jail_start(struct netsvc *v, const Banger__V1__NetJailSpec *in,
                          Banger__V1__NetJailStartResponse *out, const struct rpc_call *call,
                          struct bg_error *err)
{
        (void)call;
        return netsvc_jail_start(v->d, v->owner_uid, in, out, err);
}

static int net_jail_clean(struct netsvc *v, const Banger__V1__NetJailCleanRequest *in,
                          Banger__V1__NetJailCleanResponse *out, const struct rpc_call *call,
                          struct bg_error *err)
{
        (void)call, (void)out;
        return netsvc_jail_clean(v->d, v->owner_uid, in, err);
}

/* In descriptor order; checked at registration and by a unit test. */
const struct rpc_method_impl netsvc_net_methods[] = {
    RPC_METHOD("Health", net_health),
    RPC_METHOD("Status", net_status),
    RPC_METHOD("Setup", net_setup),
    RPC_METHOD("Teardown", net_teardown),
    RPC_METHOD("Lease", net_lease),
    RPC_METHOD("Release", net_release),
    RPC_METHOD("ListLeases", net_list_leases),
    RPC_METHOD("AcquireTap", net_acquire_tap),
    RPC_METHOD("ReleaseTap", net_release_tap),
    RPC_METHOD("ListTaps", net_list_taps),
    RPC_METHOD("JailStart", net_jail_start),
    RPC_METHOD("JailClean", net_jail_clean),
};
const size_t netsvc_n_net_methods = ELEMENTSOF(netsvc_net_methods);

int netsvc_register(struct netsvc *v, struct bg_error *err)
{
        return rpc_server_add_service(v->d->srv, &banger__v1__net_service__descriptor,
                                      netsvc_net_methods, netsvc_n_net_methods, v, err);
}

int netsvc_check_privileges(struct bg_error *err)
{
        static const struct {
                int cap;
                const char *name;
                const char *why;
        } needed[] = {
            {CAP_NET_ADMIN, "CAP_NET_ADMIN", "to manage the bridge, taps and nftables rules"},
        };
        for (size_t i = 0; i < ELEMENTSOF(needed); i++) {
                int has = netsvc_cap_effective(needed[i].cap, err);
                if (has < 0)
                        return has;
                if (!has)
                        return bg_error_set(err, EPERM,
                                            "banger-netsvc needs %s %s; run it as root "
                                            "(`sudo banger daemon start`, or the banger-netsvc "
                                            "systemd unit installed by `banger system install`)",
                                            needed[i].name, needed[i].why);
        }
        return 0;
}
