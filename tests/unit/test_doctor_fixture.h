/* Shared by lib/doctor's unit tests (test_doctor.c: the rows;
 * test_doctor_install.c: system install, units, the manifest): a faked
 * host behind struct doctor_env and a context per test. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor.h"
#include "manifest.h"
#include "paths/paths.h"
#include "units.h"

/* ---- a faked host ----------------------------------------------------- */

struct fake_file {
        const char *path;
        const char *text;
        mode_t mode;
        uid_t uid;
        gid_t gid;
};

struct fake {
        const char *missing[8];    /* programs not installed */
        const char *outputs[8][2]; /* program name -> --version / run output */
        int run_status;
        int kvm_r, kvm_api;
        int tun_r;
        enum doctor_accel accel;
        uint64_t free_bytes;
        int route_r;
        const char *route;
        bool resolved;
        struct fake_file files[16];
        size_t n_files;
        int health_r;
        struct doctor_health health[6];
        size_t n_health;
        struct doctor_net net;
        const char *os;
};

static inline int f_find(void *ud, const char *name, char *path, size_t len)
{
        struct fake *f = ud;
        for (size_t i = 0; i < 8 && f->missing[i]; i++)
                if (strcmp(f->missing[i], name) == 0)
                        return -ENOENT;
        snprintf(path, len, "/usr/bin/%s", name);
        return 0;
}

static inline int f_run(void *ud, const char *const *argv, char *out, size_t len)
{
        struct fake *f = ud;
        const char *base = strrchr(argv[0], '/') + 1;
        for (size_t i = 0; i < 8 && f->outputs[i][0]; i++)
                if (strcmp(f->outputs[i][0], base) == 0) {
                        snprintf(out, len, "%s", f->outputs[i][1]);
                        return f->run_status;
                }
        snprintf(out, len, "%s: no such fake", base);
        return 127;
}

static inline int f_kvm(void *ud, const char *dev, int *api)
{
        struct fake *f = ud;
        *api = f->kvm_api;
        return f->kvm_r;
}

static inline int f_dev(void *ud, const char *dev)
{
        struct fake *f = ud;
        return strcmp(dev, "/dev/net/tun") == 0 ? f->tun_r : -ENOENT;
}

static inline enum doctor_accel f_accel(void *ud, char *detail, size_t len)
{
        struct fake *f = ud;
        snprintf(detail, len, "fake probe");
        return f->accel;
}

static inline int f_disk(void *ud, const char *path, uint64_t *ret)
{
        *ret = ((struct fake *)ud)->free_bytes;
        return 0;
}

static inline int f_route(void *ud, struct in_addr subnet, uint8_t prefix, const char *bridge,
                          char *route, size_t len)
{
        struct fake *f = ud;
        if (f->route)
                snprintf(route, len, "%s", f->route);
        return f->route_r;
}

static inline bool f_resolved(void *ud)
{
        return ((struct fake *)ud)->resolved;
}

static inline const struct fake_file *f_lookup(struct fake *f, const char *path)
{
        for (size_t i = 0; i < f->n_files; i++)
                if (strcmp(f->files[i].path, path) == 0)
                        return &f->files[i];
        return NULL;
}

static inline int f_lstat(void *ud, const char *path, struct stat *st)
{
        const struct fake_file *ff = f_lookup(ud, path);
        if (!ff)
                return -ENOENT;
        memset(st, 0, sizeof(*st));
        st->st_mode = ff->mode;
        st->st_uid = ff->uid;
        st->st_gid = ff->gid;
        return 0;
}

static inline int f_read(void *ud, const char *path, char **ret)
{
        struct fake *f = ud;
        if (strcmp(path, "/etc/os-release") == 0) {
                if (!f->os)
                        return -ENOENT;
                char buf[64];
                snprintf(buf, sizeof(buf), "NAME=x\nID=\"%s\"\n", f->os);
                *ret = strdup(buf);
                return 0;
        }
        const struct fake_file *ff = f_lookup(f, path);
        if (!ff || !ff->text)
                return -ENOENT;
        *ret = strdup(ff->text);
        return 0;
}

static inline int f_health(void *ud, struct doctor_health **ret, size_t *n, char *error, size_t len)
{
        struct fake *f = ud;
        if (f->health_r < 0) {
                snprintf(error, len, "no gateway");
                return f->health_r;
        }
        *ret = calloc(f->n_health, sizeof(**ret));
        memcpy(*ret, f->health, f->n_health * sizeof(**ret));
        *n = f->n_health;
        return 0;
}

static inline int f_net(void *ud, struct doctor_net *ret)
{
        *ret = ((struct fake *)ud)->net;
        return 0;
}

struct ctx {
        struct fake f;
        struct doctor_env env;
        struct bg_config cfg;
        struct doctor_input in;
        struct doctor_report rep;
        struct install_manifest m;
        char tmp[64];
};

static inline int setup(void **state)
{
        struct ctx *c = calloc(1, sizeof(*c));
        assert_int_equal(bg_config_defaults(&c->cfg), 0);
        c->f.kvm_api = 12;
        c->f.free_bytes = 100ULL << 30;
        c->f.os = "debian";
        struct doctor_env e = {
            .ud = &c->f,
            .proc_root = "/nonexistent-proc",
            .is_root = true,
            .find_program = f_find,
            .run = f_run,
            .kvm_open = f_kvm,
            .dev_open = f_dev,
            .accel_probe = f_accel,
            .disk_free = f_disk,
            .route_overlap = f_route,
            .resolved_running = f_resolved,
            .lstat = f_lstat,
            .read_file = f_read,
            .health = f_health,
            .net_status = f_net,
        };
        c->env = e;
        c->in = (struct doctor_input){.cfg = &c->cfg,
                                      .state_dir = "/var/lib/banger",
                                      .runtime_dir = "/run/banger",
                                      .cli_version = "0.1.0",
                                      .cli_commit = "abc",
                                      .install_root = ""};
        *state = c;
        return 0;
}

static inline int teardown(void **state)
{
        struct ctx *c = *state;
        doctor_report_free(&c->rep);
        bg_config_free(&c->cfg);
        manifest_free(&c->m);
        if (c->tmp[0]) {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "rm -rf %s", c->tmp);
                assert_int_equal(system(cmd), 0);
        }
        free(c);
        return 0;
}

/* Runs check, returns the row with id (asserting it exists) after clearing
 * the report. */
typedef int (*check_fn)(const struct doctor_env *, const struct doctor_input *,
                        struct doctor_report *);

static inline const struct doctor_row *run1(struct ctx *c, check_fn fn, const char *id)
{
        doctor_report_free(&c->rep);
        assert_int_equal(fn(&c->env, &c->in, &c->rep), 0);
        const struct doctor_row *r = doctor_find(&c->rep, id);
        if (!r)
                fail_msg("no row %s", id);
        if (r->status != DOCTOR_PASS && !r->hint[0])
                fail_msg("row %s is %s without a hint", id, doctor_status_to_string(r->status));
        return r;
}

#define assert_row(c, fn, id, st, text)                                                            \
        do {                                                                                       \
                const struct doctor_row *_r = run1(c, fn, id);                                     \
                if (_r->status != (st) || !strstr(_r->message, text))                              \
                        fail_msg("%s: got %s '%s', want %s containing '%s'", id,                   \
                                 doctor_status_to_string(_r->status), _r->message,                 \
                                 doctor_status_to_string(st), text);                               \
        } while (0)
