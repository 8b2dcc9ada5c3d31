/* Setup, teardown, start and stop of banger's guest network. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/stat.h>

#include "hostnet/ifname.h"
#include "leases.h"
#include "log/log.h"
#include "hostnet/netlink.h"
#include "netsvc.h"
#include "hostnet/nft.h"
#include "hostnet/resolved.h"

int netsvc_dns_lookup(void *userdata, const char *name, struct in_addr *ret)
{
        struct netsvc *v = userdata;
        pthread_mutex_lock(&v->lock);
        int r = lease_lookup(v->db, name, ret);
        pthread_mutex_unlock(&v->lock);
        return r;
}

/* True unless we can tell that this process runs in another network
 * namespace than pid 1 (tests, `ip netns exec`): systemd-resolved lives in
 * the host's namespace and would look the bridge up by name there. */
static bool in_host_netns(void)
{
        struct stat self, init;
        if (stat("/proc/self/ns/net", &self) < 0 || stat("/proc/1/ns/net", &init) < 0)
                return true;
        return self.st_ino == init.st_ino && self.st_dev == init.st_dev;
}

int netsvc_init(struct netsvc *v, struct daemon *d, struct bg_error *err)
{
        const struct bg_config *c = &d->cfg;
        memset(v, 0, sizeof(*v));
        v->d = d;
        v->db = d->db;
        v->owner_uid = d->owner_uid;
        pthread_mutex_init(&v->lock, NULL);
        pthread_mutex_init(&v->setup_lock, NULL);

        int r = ifname_validate(c->network.bridge, "network.bridge", err);
        if (r < 0)
                return r;
        snprintf(v->bridge, sizeof(v->bridge), "%s", c->network.bridge);
        if (c->network.uplink && c->network.uplink[0]) {
                r = ifname_validate(c->network.uplink, "network.uplink", err);
                if (r < 0)
                        return r;
                snprintf(v->uplink_cfg, sizeof(v->uplink_cfg), "%s", c->network.uplink);
        }
        v->gateway = c->network.subnet.addr;
        v->net.prefix = c->network.subnet.prefix;
        v->net.network.s_addr = v->gateway.s_addr & htonl(ipam_net_mask(v->net.prefix));
        r = ipam_net_validate(&v->net, err);
        if (r >= 0)
                r = ipam_check_host(&v->net, v->gateway, err);
        if (r < 0)
                return bg_error_prefix(err, "network.subnet");
        v->dns_addr = c->network.dns_listen.addr;
        v->dns_port = c->network.dns_listen.port;
        if (v->dns_port == 0)
                return bg_error_set(err, EINVAL, "network.dns_listen: port 0 is not allowed");
        v->isolate_vms = c->network.isolate_vms;
        v->pool_size = c->network.tap_pool_size;
        v->host_netns = in_host_netns();

        struct tap_pool_config pc = {
            .owner = (uid_t)v->owner_uid,
            .isolated = v->isolate_vms,
            .target = v->pool_size,
            .parallel = NETSVC_POOL_PARALLEL,
        };
        snprintf(pc.bridge, sizeof(pc.bridge), "%s", v->bridge);
        return tap_pool_new(&pc, v->db, &v->lock, &v->pool, err);
}

static int dns_start(struct netsvc *v, struct in_addr addr, struct dns_server **ret,
                     struct bg_error *err)
{
        struct dns_server_config dc;
        dns_server_config_default(&dc);
        dc.addr = addr;
        dc.port = v->dns_port;
        dc.lookup = netsvc_dns_lookup;
        dc.userdata = v;
        return dns_server_start(&dc, ret, err);
}

static void fmt_endpoint(struct in_addr a, uint16_t port, char *buf, size_t len)
{
        char s[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a, s, sizeof(s));
        snprintf(buf, len, "%s:%u", s, port);
}

/* Everything Setup does, in order; setup_lock held. */
static int setup_locked(struct netsvc *v, struct bg_error *err)
{
        char route[160];
        int r = netlink_route_find_overlap(&v->net, v->bridge, route, sizeof(route), err);
        if (r < 0)
                return r;
        if (r > 0) {
                char nb[IPAM_CIDR_STRLEN];
                return bg_error_set(err, EBUSY,
                                    "subnet %s overlaps the host route '%s'; choose another "
                                    "network.subnet in config.toml",
                                    ipam_net_format(&v->net, nb), route);
        }
        r = netlink_bridge_ensure(v->bridge, v->gateway, v->net.prefix, err);
        if (r < 0)
                return r;
        r = netlink_ip_forward_enable(err);
        if (r < 0)
                return r;

        char uplink[IFNAMSIZ] = "";
        if (v->uplink_cfg[0]) {
                snprintf(uplink, sizeof(uplink), "%s", v->uplink_cfg);
        } else {
                struct bg_error e = {0};
                r = netlink_default_uplink(uplink, &e);
                if (r < 0 || streq(uplink, v->bridge) || !ifname_is_valid(uplink))
                        uplink[0] = '\0'; /* masquerade out of any non-bridge interface */
        }
        struct nft_config nc = {
            .subnet = v->net, .dns_port = v->dns_port, .isolate_vms = v->isolate_vms};
        snprintf(nc.bridge, sizeof(nc.bridge), "%s", v->bridge);
        snprintf(nc.uplink, sizeof(nc.uplink), "%s", uplink);
        bool present = false;
        r = nft_present(&nc, &present, err);
        if (r >= 0 && !present)
                r = nft_apply(&nc, err);
        if (r < 0)
                return r;

        /* DNS on dns_listen and on the bridge address (guests ask the
         * gateway); one listener when they coincide or dns_listen is any. */
        struct dns_server *dns0 = NULL, *dns1 = NULL;
        pthread_mutex_lock(&v->lock);
        dns0 = v->dns[0], dns1 = v->dns[1];
        pthread_mutex_unlock(&v->lock);
        if (!dns0) {
                r = dns_start(v, v->dns_addr, &dns0, err);
                if (r < 0)
                        return bg_error_prefix(err, "DNS server");
        }
        bool need_bridge =
            v->dns_addr.s_addr != htonl(INADDR_ANY) && v->dns_addr.s_addr != v->gateway.s_addr;
        if (need_bridge && !dns1) {
                r = dns_start(v, v->gateway, &dns1, err);
                if (r < 0) {
                        pthread_mutex_lock(&v->lock);
                        v->dns[0] = dns0;
                        pthread_mutex_unlock(&v->lock);
                        return bg_error_prefix(err, "DNS server on the bridge");
                }
        }

        bool routed = false;
        if (v->host_netns) {
                struct bg_error e = {0};
                r = resolved_route(NULL, v->bridge, v->gateway, v->dns_port, &e);
                if (r < 0)
                        log_warn("resolver routing for .vm failed: %s", e.msg);
                routed = r > 0;
        }

        pthread_mutex_lock(&v->lock);
        v->dns[0] = dns0;
        v->dns[1] = dns1;
        snprintf(v->uplink, sizeof(v->uplink), "%s", uplink);
        v->resolver_routed = routed;
        pthread_mutex_unlock(&v->lock);

        struct tap_pool_reconcile_stats rs;
        tap_pool_pause(v->pool);
        tap_pool_set_enabled(v->pool, true);
        r = tap_pool_reconcile(v->pool, &rs, err);
        if (r < 0)
                return bg_error_prefix(err, "reconcile taps");
        log_info("reconciled taps: %u in use adopted, %u warm kept, %u unfinished rows undone, "
                 "%u orphan taps deleted, %u re-created",
                 rs.adopted, rs.kept_warm, rs.removed_rows, rs.removed_links, rs.recreated);
        return tap_pool_resume(v->pool, err);
}

int netsvc_setup(struct netsvc *v, struct bg_error *err)
{
        pthread_mutex_lock(&v->setup_lock);
        int r = setup_locked(v, err);
        pthread_mutex_lock(&v->lock);
        v->set_up = r >= 0;
        snprintf(v->setup_error, sizeof(v->setup_error), "%s", r < 0 ? err->msg : "");
        pthread_mutex_unlock(&v->lock);
        pthread_mutex_unlock(&v->setup_lock);
        if (r >= 0) {
                char ep[40];
                fmt_endpoint(v->dns_addr, v->dns_port, ep, sizeof(ep));
                log_info("network ready: bridge %s, uplink %s, dns %s%s", v->bridge,
                         v->uplink[0] ? v->uplink : "(any)", ep,
                         v->resolver_routed ? ", ~vm routed by systemd-resolved" : "");
        }
        return r < 0 ? r : 0;
}

int netsvc_teardown(struct netsvc *v, bool purge_leases, unsigned *ret_taps, size_t *ret_leases,
                    struct bg_error *err)
{
        pthread_mutex_lock(&v->setup_lock);
        unsigned taps = 0;
        size_t leases = 0;
        pthread_mutex_lock(&v->lock);
        v->set_up = false;
        snprintf(v->setup_error, sizeof(v->setup_error), "torn down");
        pthread_mutex_unlock(&v->lock);
        tap_pool_set_enabled(v->pool, false);
        int r = tap_pool_remove_all(v->pool, &taps, err);
        if (r >= 0)
                r = nft_teardown(err);
        if (r >= 0 && v->host_netns) {
                struct bg_error e = {0};
                if (resolved_revert(NULL, v->bridge, &e) < 0)
                        log_warn("resolver revert on %s failed: %s", v->bridge, e.msg);
        }
        if (r >= 0) {
                pthread_mutex_lock(&v->lock);
                struct dns_server *d0 = TAKE_PTR(v->dns[0]), *d1 = TAKE_PTR(v->dns[1]);
                v->resolver_routed = false;
                pthread_mutex_unlock(&v->lock);
                dns_server_stop(d1);
                dns_server_stop(d0);
                r = netlink_bridge_delete(v->bridge, err);
        }
        if (r >= 0 && purge_leases) {
                pthread_mutex_lock(&v->lock);
                r = lease_purge(v->db, &leases, err);
                pthread_mutex_unlock(&v->lock);
        }
        pthread_mutex_unlock(&v->setup_lock);
        if (r < 0)
                return r;
        log_info("network torn down: %u taps removed, %zu leases purged", taps, leases);
        if (ret_taps)
                *ret_taps = taps;
        if (ret_leases)
                *ret_leases = leases;
        return 0;
}

int netsvc_start(struct netsvc *v, struct bg_error *err)
{
        struct bg_error e = {0};
        int r = netsvc_setup(v, &e);
        if (r < 0)
                log_error("network setup failed (serving anyway; Status reports it): %s", e.msg);
        return 0;
}

void netsvc_stop(struct netsvc *v)
{
        v->pool = tap_pool_free(v->pool);
        dns_server_stop(TAKE_PTR(v->dns[1]));
        dns_server_stop(TAKE_PTR(v->dns[0]));
        pthread_mutex_destroy(&v->lock);
        pthread_mutex_destroy(&v->setup_lock);
}
