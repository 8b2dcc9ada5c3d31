#include "leases.h"

#include <string.h>

#include "netdb.h"
#include "util/array.h"
#include "util/timeutil.h"

static uint32_t host_u32(struct in_addr a)
{
        return ntohl(a.s_addr);
}

static struct in_addr addr_of(uint32_t h)
{
        return (struct in_addr){.s_addr = htonl(h)};
}

static int row_to_lease(sqlite3_stmt *st, struct lease *l)
{
        memset(l, 0, sizeof(*l));
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *ip = (const char *)sqlite3_column_text(st, 1);
        const char *mac = (const char *)sqlite3_column_text(st, 2);
        if (!name || !ip || !mac || strlen(name) >= sizeof(l->vm_name) ||
            inet_pton(AF_INET, ip, &l->ip) != 1 || strlen(mac) >= sizeof(l->mac))
                return -EBADMSG;
        strcpy(l->vm_name, name);
        inet_ntop(AF_INET, &l->ip, l->ip_str, sizeof(l->ip_str));
        strcpy(l->mac, mac);
        l->created_unix_ms = sqlite3_column_int64(st, 3);
        return 0;
}

#define LEASE_COLS "vm_name, ip, mac, created_unix_ms"

/* 1 with *ret when name has a lease, 0 when not. */
static int find_by_name(sqlite3 *db, const char *name, struct lease *ret, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = netdb_prepare(db, "SELECT " LEASE_COLS " FROM leases WHERE vm_name = ?", &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return netdb_fail(db, rc, "read lease", err);
        if (row_to_lease(st, ret) < 0)
                return bg_error_set(err, EBADMSG, "net.db: lease of '%s' is corrupt", name);
        return 1;
}

/* 1 with the holder's name in holder when ip is leased, 0 when free. */
static int ip_holder(sqlite3 *db, struct in_addr ip, char *holder, size_t len, struct bg_error *err)
{
        char s[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &ip, s, sizeof(s));
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = netdb_prepare(db, "SELECT vm_name FROM leases WHERE ip = ?", &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, s, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return netdb_fail(db, rc, "read lease", err);
        if (holder)
                snprintf(holder, len, "%s", (const char *)sqlite3_column_text(st, 0));
        return 1;
}

static int delete_by_name(sqlite3 *db, const char *name, bool remember, struct bg_error *err)
{
        struct lease old;
        int r = find_by_name(db, name, &old, err);
        if (r <= 0)
                return r;
        r = netdb_exec_text(db, "DELETE FROM leases WHERE vm_name = ?", name, "delete lease", err);
        if (r < 0)
                return r;
        if (!remember)
                return 1;
        int64_t seq;
        r = netdb_meta_get(db, "release_seq", 0, &seq, err);
        if (r >= 0)
                r = netdb_meta_set(db, "release_seq", seq + 1, err);
        if (r < 0)
                return r;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *ins = NULL;
        r = netdb_prepare(db,
                          "INSERT INTO released_ips(ip, seq) VALUES (?, ?) "
                          "ON CONFLICT(ip) DO UPDATE SET seq = excluded.seq",
                          &ins, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(ins, 1, old.ip_str, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, seq + 1);
        r = netdb_step_done(db, ins, "remember released address", err);
        return r < 0 ? r : 1;
}

/* The next address above the high-water mark, or the free address released
 * longest ago. 1 with *ret (and *ret_above_hwm), 0 when the subnet is full. */
static int pick_address(sqlite3 *db, const struct ipam_net *net, struct in_addr gateway,
                        struct in_addr *ret, bool *ret_above_hwm, struct bg_error *err)
{
        uint32_t lo = host_u32(net->network) + 1;
        uint32_t hi = host_u32(net->network) + ~ipam_net_mask(net->prefix) - 1; /* last host */
        int64_t hwm;
        int r = netdb_meta_get(db, "ip_hwm", 0, &hwm, err);
        if (r < 0)
                return r;
        /* A mark outside the subnet belongs to a previous configuration. */
        uint64_t start = lo;
        if (hwm >= (int64_t)lo && hwm <= (int64_t)hi)
                start = (uint64_t)hwm + 1; /* hwm == hi: used up once, only reuse */
        for (uint64_t c = start; c <= hi; c++) {
                struct in_addr a = addr_of((uint32_t)c);
                if (a.s_addr == gateway.s_addr)
                        continue;
                r = ip_holder(db, a, NULL, 0, err);
                if (r < 0)
                        return r;
                if (r == 0) {
                        *ret = a;
                        *ret_above_hwm = true;
                        return 1;
                }
        }

        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        r = netdb_prepare(db,
                          "SELECT ip FROM released_ips WHERE ip NOT IN (SELECT ip FROM leases) "
                          "ORDER BY seq",
                          &st, err);
        if (r < 0)
                return r;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct in_addr a;
                const char *s = (const char *)sqlite3_column_text(st, 0);
                if (!s || inet_pton(AF_INET, s, &a) != 1)
                        continue;
                if (!ipam_net_is_host(net, a) || a.s_addr == gateway.s_addr)
                        continue;
                *ret = a;
                *ret_above_hwm = false;
                return 1;
        }
        if (rc != SQLITE_DONE)
                return netdb_fail(db, rc, "read released addresses", err);
        return 0;
}

struct get_or_create {
        const struct ipam_net *net;
        struct in_addr gateway;
        const char *name;
        const struct in_addr *requested;
        struct lease *out;
        bool created;
};

static int get_or_create_tx(sqlite3 *db, void *ud, struct bg_error *err)
{
        struct get_or_create *g = ud;
        struct lease cur;
        int r = find_by_name(db, g->name, &cur, err);
        if (r < 0)
                return r;
        if (r > 0 && ipam_net_is_host(g->net, cur.ip) && cur.ip.s_addr != g->gateway.s_addr) {
                if (g->requested && g->requested->s_addr != cur.ip.s_addr)
                        return bg_error_set(err, EEXIST,
                                            "VM '%s' already holds %s; release it before asking "
                                            "for another address",
                                            g->name, cur.ip_str);
                *g->out = cur;
                g->created = false;
                return 0;
        }
        if (r > 0) { /* outside the (reconfigured) subnet: replace it */
                r = delete_by_name(db, g->name, false, err);
                if (r < 0)
                        return r;
        }

        struct in_addr ip;
        bool above = false;
        if (g->requested) {
                char holder[NETSVC_VM_NAME_MAX + 1];
                ip = *g->requested;
                r = ip_holder(db, ip, holder, sizeof(holder), err);
                if (r < 0)
                        return r;
                if (r > 0) {
                        char s[INET_ADDRSTRLEN];
                        inet_ntop(AF_INET, &ip, s, sizeof(s));
                        return bg_error_set(err, EEXIST, "%s is already leased to VM '%s'", s,
                                            holder);
                }
        } else {
                r = pick_address(db, g->net, g->gateway, &ip, &above, err);
                if (r < 0)
                        return r;
                if (r == 0) {
                        char nb[IPAM_CIDR_STRLEN];
                        return bg_error_set(err, ENOSPC,
                                            "no free address left in subnet %s: every guest "
                                            "address is leased",
                                            ipam_net_format(g->net, nb));
                }
        }

        struct lease l = {0};
        snprintf(l.vm_name, sizeof(l.vm_name), "%s", g->name);
        l.ip = ip;
        inet_ntop(AF_INET, &ip, l.ip_str, sizeof(l.ip_str));
        uint8_t mac[6];
        ipam_mac_from_ip(ip, mac);
        ipam_mac_format(mac, l.mac);
        l.created_unix_ms = (int64_t)now_real_msec();

        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        r = netdb_prepare(db, "INSERT INTO leases(" LEASE_COLS ") VALUES (?, ?, ?, ?)", &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, l.vm_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, l.ip_str, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, l.mac, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, l.created_unix_ms);
        r = netdb_step_done(db, st, "insert lease", err);
        if (r >= 0)
                r = netdb_exec_text(db, "DELETE FROM released_ips WHERE ip = ?", l.ip_str,
                                    "update released addresses", err);
        if (r < 0)
                return r;

        int64_t hwm;
        r = netdb_meta_get(db, "ip_hwm", 0, &hwm, err);
        if (r < 0)
                return r;
        /* A requested address counts too: it has been used now. */
        int64_t mine = (int64_t)host_u32(ip);
        bool hwm_in_net = ipam_net_contains(g->net, addr_of((uint32_t)hwm)) && hwm > 0;
        if ((above || g->requested) && (!hwm_in_net || mine > hwm)) {
                r = netdb_meta_set(db, "ip_hwm", mine, err);
                if (r < 0)
                        return r;
        }
        *g->out = l;
        g->created = true;
        return 0;
}

int lease_get_or_create(sqlite3 *db, const struct ipam_net *net, struct in_addr gateway,
                        const char *name, const struct in_addr *requested, struct lease *ret,
                        bool *ret_created, struct bg_error *err)
{
        int r = netsvc_validate_vm_name(name, err);
        if (r < 0)
                return r;
        if (requested &&
            (!ipam_net_is_host(net, *requested) || requested->s_addr == gateway.s_addr)) {
                char s[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, requested, s, sizeof(s));
                return netsvc_validate_guest_ip(net, gateway, s, &(struct in_addr){0}, err);
        }
        struct lease out;
        struct get_or_create g = {net, gateway, name, requested, &out, false};
        r = store_transaction(db, get_or_create_tx, &g, err);
        if (r < 0)
                return r;
        *ret = out;
        if (ret_created)
                *ret_created = g.created;
        return 0;
}

struct release_ctx {
        const char *name;
        bool released;
};

static int release_tx(sqlite3 *db, void *ud, struct bg_error *err)
{
        struct release_ctx *c = ud;
        int r = delete_by_name(db, c->name, true, err);
        if (r < 0)
                return r;
        c->released = r > 0;
        return 0;
}

int lease_release(sqlite3 *db, const char *name, bool *ret_released, struct bg_error *err)
{
        int r = netsvc_validate_vm_name(name, err);
        if (r < 0)
                return r;
        struct release_ctx c = {name, false};
        r = store_transaction(db, release_tx, &c, err);
        if (r < 0)
                return r;
        if (ret_released)
                *ret_released = c.released;
        return 0;
}

static int cmp_lease(const void *a, const void *b)
{
        uint32_t x = host_u32(((const struct lease *)a)->ip);
        uint32_t y = host_u32(((const struct lease *)b)->ip);
        return x < y ? -1 : x > y;
}

int lease_list(sqlite3 *db, struct lease **ret, size_t *ret_n, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = netdb_prepare(db, "SELECT " LEASE_COLS " FROM leases", &st, err);
        if (r < 0)
                return r;
        _cleanup_free_ struct lease *v = NULL;
        size_t n = 0, cap = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (ARRAY_RESERVE(v, cap, n + 1) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                if (row_to_lease(st, &v[n]) < 0)
                        continue; /* a corrupt row is skipped, not served */
                n++;
        }
        if (rc != SQLITE_DONE)
                return netdb_fail(db, rc, "list leases", err);
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_lease);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int lease_lookup(sqlite3 *db, const char *name, struct in_addr *ret)
{
        struct lease l;
        int r = find_by_name(db, name, &l, NULL);
        if (r > 0)
                *ret = l.ip;
        return r;
}

int lease_count(sqlite3 *db, size_t *ret, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = netdb_prepare(db, "SELECT count(*) FROM leases", &st, err);
        if (r < 0)
                return r;
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return netdb_fail(db, rc, "count leases", err);
        *ret = (size_t)sqlite3_column_int64(st, 0);
        return 0;
}

static int purge_tx(sqlite3 *db, void *ud, struct bg_error *err)
{
        size_t *n = ud;
        int r = lease_count(db, n, err);
        if (r < 0)
                return r;
        /* Remember them as released so they are reused last. */
        struct lease *all = NULL;
        size_t k = 0;
        r = lease_list(db, &all, &k, err);
        for (size_t i = 0; r >= 0 && i < k; i++)
                r = delete_by_name(db, all[i].vm_name, true, err);
        free(all);
        return r < 0 ? r : 0;
}

int lease_purge(sqlite3 *db, size_t *ret_n, struct bg_error *err)
{
        size_t n = 0;
        int r = store_transaction(db, purge_tx, &n, err);
        if (r < 0)
                return r;
        if (ret_n)
                *ret_n = n;
        return 0;
}
