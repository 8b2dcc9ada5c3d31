#include "forwards.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward_store.h"
#include "fwd/fwd.h"
#include "log/log.h"
#include "vm_lifecycle.h"

struct entry {
        struct forward_row row;
        struct fwd *f;             /* NULL: not listening, error says why */
        struct fwd_budget *budget; /* shared by the entries of one VM */
        char error[160];
};

struct forwards {
        struct vm_env *env;
        struct forwards_limits lim;
        pthread_mutex_t mu; /* the entries; taken before env->mu */
        struct entry *e;
        size_t n;
};

int forwards_new(struct vm_env *env, const struct forwards_limits *lim, struct forwards **ret,
                 struct bg_error *err)
{
        struct forwards *fw = calloc(1, sizeof(*fw));
        if (!fw)
                return bg_error_set(err, ENOMEM, "out of memory");
        fw->env = env;
        fw->lim = *lim;
        pthread_mutex_init(&fw->mu, NULL);
        *ret = fw;
        return 0;
}

static bool forwardable(const struct vm_record *r)
{
        return (r->state == VM_RUNNING || r->state == VM_PAUSED) && r->ip[0];
}

static struct fwd_budget *budget_of(struct forwards *fw, const char *vm_id)
{
        for (size_t i = 0; i < fw->n; i++)
                if (strcmp(fw->e[i].row.vm_id, vm_id) == 0)
                        return fw->e[i].budget;
        return NULL;
}

/* Listens for e (its row's address and port; port 0 becomes the one
 * bound) and relays to ip. */
static int entry_start(struct forwards *fw, struct entry *e, const char *ip, struct bg_error *err)
{
        struct fwd_rule rule = {.listen_port = e->row.host_port, .target_port = e->row.guest_port};
        snprintf(rule.listen_addr, sizeof(rule.listen_addr), "%s", e->row.address);
        snprintf(rule.target_addr, sizeof(rule.target_addr), "%s", ip);
        struct fwd_opts o = {.max_conns = fw->lim.max_conns,
                             .idle_timeout_ms = fw->lim.idle_timeout_ms,
                             .budget = e->budget};
        int r = fwd_start_opts(&rule, 1, &o, &e->f, err);
        if (r < 0) {
                /* In use is the caller's to fix: ALREADY_EXISTS, not INTERNAL. */
                if (err->code == EADDRINUSE)
                        err->code = EEXIST;
                else if (err->code == EADDRNOTAVAIL)
                        err->code = EINVAL;
                else if (err->code == EACCES && e->row.host_port < 1024)
                        snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
                                 " (ports below 1024 need a privilege banger-vmsvc does not have)");
                snprintf(e->error, sizeof(e->error), "%s", err->msg);
                return -err->code;
        }
        e->error[0] = '\0';
        e->row.host_port = fwd_port(e->f, 0);
        return 0;
}

/* Stops the entries of vm_id (all its forwards) and frees their budget. */
static void drop_vm(struct forwards *fw, const char *vm_id)
{
        struct fwd_budget *b = NULL;
        size_t w = 0;
        for (size_t i = 0; i < fw->n; i++) {
                struct entry *e = &fw->e[i];
                if (strcmp(e->row.vm_id, vm_id) != 0) {
                        fw->e[w++] = *e;
                        continue;
                }
                fwd_stop(e->f);
                b = e->budget;
        }
        fw->n = w;
        free(b);
}

static void delete_rows(struct forwards *fw, const char *vm_id)
{
        struct bg_error e = {0};
        pthread_mutex_lock(fw->env->mu);
        int r = forward_store_delete(fw->env->db, vm_id, NULL, 0, &e);
        pthread_mutex_unlock(fw->env->mu);
        if (r < 0)
                log_warn("VM %s: could not delete its forwards: %s", vm_id, e.msg);
}

static int add_entry(struct forwards *fw, const struct entry *e)
{
        struct entry *ne = realloc(fw->e, (fw->n + 1) * sizeof(*ne));
        if (!ne)
                return -ENOMEM;
        fw->e = ne;
        fw->e[fw->n++] = *e;
        return 0;
}

void forwards_restore(struct forwards *fw)
{
        struct forward_row *rows = NULL;
        size_t n = 0;
        struct bg_error err = {0};
        pthread_mutex_lock(fw->env->mu);
        int r = forward_store_list(fw->env->db, NULL, &rows, &n, &err);
        pthread_mutex_unlock(fw->env->mu);
        if (r < 0) {
                log_error("could not read the forwards: %s", err.msg);
                return;
        }
        size_t listening = 0, dropped = 0;
        pthread_mutex_lock(&fw->mu);
        for (size_t i = 0; i < n; i++) {
                struct vm_record rec;
                struct bg_error e = {0};
                if (vm_load(fw->env, rows[i].vm_id, &rec, &e) < 0 || !forwardable(&rec)) {
                        if (i == 0 || strcmp(rows[i].vm_id, rows[i - 1].vm_id) != 0)
                                delete_rows(fw, rows[i].vm_id);
                        dropped++;
                        continue;
                }
                struct entry en = {.row = rows[i], .budget = budget_of(fw, rows[i].vm_id)};
                if (!en.budget && !(en.budget = calloc(1, sizeof(*en.budget))))
                        break;
                en.budget->max = fw->lim.max_conns;
                if (entry_start(fw, &en, rec.ip, &e) < 0)
                        log_warn("VM %s: forward %s:%u -> %u not restored: %s", rec.name,
                                 en.row.address, en.row.host_port, en.row.guest_port, e.msg);
                else
                        listening++;
                if (add_entry(fw, &en) < 0) {
                        fwd_stop(en.f);
                        if (!budget_of(fw, en.row.vm_id))
                                free(en.budget);
                        break;
                }
        }
        pthread_mutex_unlock(&fw->mu);
        free(rows);
        if (n)
                log_info("forwards: %zu listening again, %zu of stopped VMs dropped", listening,
                         dropped);
}

void forwards_sync(struct forwards *fw)
{
        if (!fw)
                return;
        pthread_mutex_lock(&fw->mu);
        char(*ids)[33] = calloc(fw->n ? fw->n : 1, sizeof(*ids));
        size_t nid = 0;
        for (size_t i = 0; ids && i < fw->n; i++) {
                bool seen = false;
                for (size_t k = 0; k < nid && !seen; k++)
                        seen = strcmp(ids[k], fw->e[i].row.vm_id) == 0;
                if (!seen)
                        snprintf(ids[nid++], sizeof(ids[0]), "%s", fw->e[i].row.vm_id);
        }
        for (size_t k = 0; k < nid; k++) {
                struct vm_record rec;
                struct bg_error e = {0};
                int r = vm_load(fw->env, ids[k], &rec, &e);
                if (r == -ENOENT || (r >= 0 && !forwardable(&rec))) {
                        log_info("VM %s is %s: its forwards are removed",
                                 r >= 0 ? rec.name : ids[k],
                                 r >= 0 ? vm_state_to_string(rec.state) : "gone");
                        drop_vm(fw, ids[k]);
                        delete_rows(fw, ids[k]);
                        continue;
                }
                /* A port that could not be bound at restore: try again. */
                for (size_t i = 0; r >= 0 && i < fw->n; i++)
                        if (strcmp(fw->e[i].row.vm_id, ids[k]) == 0 && !fw->e[i].f &&
                            entry_start(fw, &fw->e[i], rec.ip, &e) >= 0)
                                log_info("VM %s: forward %s:%u -> %u listening again", rec.name,
                                         fw->e[i].row.address, fw->e[i].row.host_port,
                                         fw->e[i].row.guest_port);
        }
        free(ids);
        pthread_mutex_unlock(&fw->mu);
}

static const char *addr_or_default(const char *a)
{
        return a && a[0] ? a : "127.0.0.1";
}

int forwards_add(struct forwards *fw, const char *ref, Banger__V1__VmForward *const *req, size_t n,
                 char ret_id[33], struct bg_error *err)
{
        struct vm_record rec;
        int r;
        pthread_mutex_lock(&fw->mu);
        if ((r = vm_load(fw->env, ref, &rec, err)) < 0)
                goto out;
        if (!forwardable(&rec)) {
                r = bg_error_set(err, EAGAIN, "VM %s is %s, not running", rec.name,
                                 vm_state_to_string(rec.state));
                goto out;
        }
        size_t have = 0;
        for (size_t i = 0; i < fw->n; i++)
                have += strcmp(fw->e[i].row.vm_id, rec.id) == 0;
        if (fw->lim.max_per_vm == 0) {
                r = bg_error_set(err, EFBIG,
                                 "detached forwards are off (config vm.max_forwards = 0)");
                goto out;
        }
        if (have + n > fw->lim.max_per_vm) {
                r = bg_error_set(
                    err, EFBIG,
                    "VM %s would have %zu forwards; at most %u (config vm.max_forwards)", rec.name,
                    have + n, fw->lim.max_per_vm);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                const char *a = addr_or_default(req[i]->address);
                uint32_t p = req[i]->host_port;
                for (size_t k = 0; p && k < i; k++)
                        if (req[k]->host_port == p &&
                            strcmp(addr_or_default(req[k]->address), a) == 0) {
                                r = bg_error_set(err, EINVAL, "host port %s:%u is given twice", a,
                                                 p);
                                goto out;
                        }
                for (size_t k = 0; p && k < fw->n; k++)
                        if (fw->e[k].row.host_port == p && strcmp(fw->e[k].row.address, a) == 0) {
                                struct vm_record o;
                                struct bg_error e = {0};
                                char name[64];
                                snprintf(name, sizeof(name), "%s",
                                         vm_load(fw->env, fw->e[k].row.vm_id, &o, &e) >= 0
                                             ? o.name
                                             : fw->e[k].row.vm_id);
                                r = bg_error_set(err, EEXIST,
                                                 "host port %s:%u is forwarded to VM %s already "
                                                 "(banger vm unforward %s %u)",
                                                 a, p, name, name, p);
                                goto out;
                        }
        }
        struct fwd_budget *budget = budget_of(fw, rec.id);
        bool new_budget = !budget;
        if (new_budget && !(budget = calloc(1, sizeof(*budget)))) {
                r = bg_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        budget->max = fw->lim.max_conns;
        struct entry *ne = calloc(n, sizeof(*ne));
        struct forward_row *rows = calloc(n, sizeof(*rows));
        size_t started = 0;
        r = ne && rows ? 0 : bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                struct entry *e = &ne[i];
                snprintf(e->row.vm_id, sizeof(e->row.vm_id), "%s", rec.id);
                snprintf(e->row.address, sizeof(e->row.address), "%s",
                         addr_or_default(req[i]->address));
                e->row.host_port = (uint16_t)req[i]->host_port;
                e->row.guest_port = (uint16_t)req[i]->guest_port;
                e->budget = budget;
                if ((r = entry_start(fw, e, rec.ip, err)) >= 0)
                        rows[started++] = e->row;
        }
        if (r >= 0) {
                pthread_mutex_lock(fw->env->mu);
                r = forward_store_insert(fw->env->db, rows, n, err);
                pthread_mutex_unlock(fw->env->mu);
        }
        struct entry *grown = r >= 0 ? realloc(fw->e, (fw->n + n) * sizeof(*grown)) : NULL;
        if (r >= 0 && !grown) {
                pthread_mutex_lock(fw->env->mu);
                for (size_t i = 0; i < n; i++)
                        forward_store_delete(fw->env->db, rec.id, rows[i].address,
                                             rows[i].host_port, err);
                pthread_mutex_unlock(fw->env->mu);
                r = bg_error_set(err, ENOMEM, "out of memory");
        }
        if (r < 0) {
                for (size_t i = 0; ne && i < started; i++)
                        fwd_stop(ne[i].f);
                if (new_budget)
                        free(budget);
        } else {
                fw->e = grown;
                for (size_t i = 0; i < n; i++) {
                        fw->e[fw->n++] = ne[i];
                        log_info("VM %s: forwarding %s:%u -> %s:%u", rec.name, ne[i].row.address,
                                 ne[i].row.host_port, rec.ip, ne[i].row.guest_port);
                }
                snprintf(ret_id, 33, "%s", rec.id);
        }
        free(ne);
        free(rows);
out:
        pthread_mutex_unlock(&fw->mu);
        return r;
}

int forwards_remove(struct forwards *fw, const char *ref, const uint32_t *host_ports, size_t n,
                    bool all, char ret_id[33], struct bg_error *err)
{
        struct vm_record rec;
        pthread_mutex_lock(&fw->mu);
        int r = vm_load(fw->env, ref, &rec, err);
        for (size_t i = 0; r >= 0 && !all && i < n; i++) {
                bool found = false;
                for (size_t k = 0; k < fw->n && !found; k++)
                        found = strcmp(fw->e[k].row.vm_id, rec.id) == 0 &&
                                fw->e[k].row.host_port == host_ports[i];
                if (!found)
                        r = bg_error_set(err, ENOENT,
                                         "VM %s has no forward on host port %u (vm show %s lists "
                                         "them)",
                                         rec.name, host_ports[i], rec.name);
        }
        if (r < 0) {
                pthread_mutex_unlock(&fw->mu);
                return r;
        }
        size_t w = 0, left = 0;
        struct fwd_budget *b = NULL;
        for (size_t k = 0; k < fw->n; k++) {
                struct entry *e = &fw->e[k];
                bool drop = false;
                if (strcmp(e->row.vm_id, rec.id) == 0) {
                        b = e->budget;
                        for (size_t i = 0; !drop && i < n; i++)
                                drop = e->row.host_port == host_ports[i];
                        drop = drop || all;
                        left += !drop;
                }
                if (!drop) {
                        fw->e[w++] = *e;
                        continue;
                }
                struct bg_error de = {0};
                pthread_mutex_lock(fw->env->mu);
                if (forward_store_delete(fw->env->db, rec.id, e->row.address, e->row.host_port,
                                         &de) < 0)
                        log_warn("VM %s: could not delete forward %u: %s", rec.name,
                                 e->row.host_port, de.msg);
                pthread_mutex_unlock(fw->env->mu);
                fwd_stop(e->f);
                log_info("VM %s: forward %s:%u -> %u removed", rec.name, e->row.address,
                         e->row.host_port, e->row.guest_port);
        }
        fw->n = w;
        if (b && left == 0)
                free(b);
        snprintf(ret_id, 33, "%s", rec.id);
        pthread_mutex_unlock(&fw->mu);
        return 0;
}

int forwards_fill(struct forwards *fw, const char *vm_id, Banger__V1__Vm *out)
{
        if (!fw)
                return 0;
        pthread_mutex_lock(&fw->mu);
        size_t n = 0;
        for (size_t i = 0; i < fw->n; i++)
                n += strcmp(fw->e[i].row.vm_id, vm_id) == 0;
        int r = 0;
        if (n && !(out->forwards = calloc(n, sizeof(*out->forwards))))
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < fw->n; i++) {
                const struct entry *e = &fw->e[i];
                if (strcmp(e->row.vm_id, vm_id) != 0)
                        continue;
                Banger__V1__VmForward *f = malloc(sizeof(*f));
                if (!f) {
                        r = -ENOMEM;
                        break;
                }
                banger__v1__vm_forward__init(f);
                out->forwards[out->n_forwards++] = f;
                f->host_port = e->row.host_port;
                f->guest_port = e->row.guest_port;
                f->address = strdup(e->row.address);
                f->error = strdup(e->error);
                if (!f->address || !f->error)
                        r = -ENOMEM;
        }
        pthread_mutex_unlock(&fw->mu);
        return r;
}

void forwards_free(struct forwards *fw)
{
        if (!fw)
                return;
        while (fw->n) {
                char id[33];
                snprintf(id, sizeof(id), "%s", fw->e[0].row.vm_id);
                drop_vm(fw, id);
        }
        free(fw->e);
        pthread_mutex_destroy(&fw->mu);
        free(fw);
}
