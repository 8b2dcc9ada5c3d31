/* Checks of banger's own installation: the services the gateway reports
 * (service.<name>) and whether they run this banger's version (version),
 * and in system mode what `banger system install` put in place
 * (system.install, system.sockets, system.units: the installed units
 * compared line by line with what install would write now). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "doctor_internal.h"
#include "units.h"

/* ---- services and version --------------------------------------------- */

static const char *const service_names[] = {"gateway", "netsvc", "imagesvc", "vmsvc",
                                            "workspacesvc"};

int doctor_check_services(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep)
{
        struct doctor_health *h = NULL;
        size_t n = 0;
        char why[256] = "";
        int r = env->health ? env->health(env->ud, &h, &n, why, sizeof(why)) : -ENOSYS;
        bool sys = in->system_mode;
        char hint[256], id[48];
        if (r < 0) {
                if (r == -ENOSYS)
                        snprintf(why, sizeof(why), "cannot ask the gateway in this build");
                snprintf(hint, sizeof(hint), "%s",
                         sys ? "sudo systemctl start banger-gateway; journalctl -u "
                               "banger-gateway shows why it stopped"
                             : "banger daemon start");
                r = doctor_add(rep, "service.gateway", sys ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                               "the gateway is not running%s%s", why[0] ? ": " : "", why);
                for (size_t i = 1; r >= 0 && i < ELEMENTSOF(service_names); i++) {
                        snprintf(id, sizeof(id), "service.%s", service_names[i]);
                        r = doctor_add(rep, id, DOCTOR_WARN, hint,
                                       "%s: unknown, the gateway is not running", service_names[i]);
                }
                if (r >= 0)
                        r = doctor_add(rep, "version", DOCTOR_PASS, NULL,
                                       "no running service to compare with banger %s",
                                       in->cli_version);
                return r;
        }
        char mismatch[400] = "";
        size_t ml = 0;
        for (size_t k = 0; k < ELEMENTSOF(service_names); k++) {
                const struct doctor_health *s = NULL;
                for (size_t i = 0; i < n; i++)
                        if (streq(h[i].name, service_names[k]))
                                s = &h[i];
                snprintf(id, sizeof(id), "service.%s", service_names[k]);
                if (s && s->up) {
                        r = doctor_add(rep, id, DOCTOR_PASS, NULL, "%s is up (version %s)", s->name,
                                       s->version);
                        bool differs =
                            !streq(s->version, in->cli_version) ||
                            (in->cli_commit && s->commit[0] && !streq(s->commit, in->cli_commit));
                        if (differs && ml < sizeof(mismatch))
                                ml += (size_t)snprintf(mismatch + ml, sizeof(mismatch) - ml,
                                                       "%s%s runs %s (commit %s)", ml ? ", " : "",
                                                       s->name, s->version,
                                                       s->commit[0] ? s->commit : "?");
                } else {
                        if (sys)
                                snprintf(hint, sizeof(hint),
                                         "sudo systemctl restart banger-%s; journalctl -u "
                                         "banger-%s shows why it stopped",
                                         service_names[k], service_names[k]);
                        else
                                snprintf(hint, sizeof(hint),
                                         "banger daemon start (starts just the missing one); "
                                         "its log is STATE/logs/%s.log",
                                         service_names[k]);
                        r = doctor_add(rep, id, sys ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                                       "%s is down%s%s", service_names[k],
                                       s && s->error[0] ? ": " : "", s ? s->error : "");
                }
                if (r < 0)
                        break;
        }
        free(h);
        if (r < 0)
                return r;
        if (ml)
                return doctor_add(rep, "version", DOCTOR_WARN,
                                  sys ? "after upgrading banger run `sudo banger system install` "
                                        "again, then `sudo banger system restart`"
                                      : "restart them: `banger daemon stop && banger daemon "
                                        "start`",
                                  "this banger is %s (commit %s) but %s", in->cli_version,
                                  in->cli_commit ? in->cli_commit : "?", mismatch);
        return doctor_add(rep, "version", DOCTOR_PASS, NULL,
                          "every running service is version %s like this banger", in->cli_version);
}

/* ---- system mode ------------------------------------------------------ */

static void worst(enum doctor_status *st, enum doctor_status s)
{
        if (s > *st)
                *st = s;
}

static void append(char *buf, size_t len, const char *fmt, ...) _printf_(3, 4);
static void append(char *buf, size_t len, const char *fmt, ...)
{
        size_t n = strlen(buf);
        if (n + 3 >= len)
                return;
        if (n)
                n += (size_t)snprintf(buf + n, len - n, "; ");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + n, len - n, fmt, ap);
        va_end(ap);
}

/* One socket: the owner's (uid owner, mode 0600) or netsvc's (root's, in
 * the owner's group, mode 0660). */
static void check_socket(const struct doctor_env *env, const struct install_manifest *m,
                         const char *dir, const char *name, bool root_socket,
                         enum doctor_status *st, char *msg, size_t len, size_t *ok)
{
        char p[PATH_MAX];
        struct stat s;
        snprintf(p, sizeof(p), "%s/%s.sock", dir, name);
        unsigned want_uid = root_socket ? 0 : m->owner_uid;
        unsigned want_mode = root_socket ? 0660 : 0600;
        if (env->lstat(env->ud, p, &s) < 0) {
                worst(st, DOCTOR_WARN);
                append(msg, len, "%s.sock missing (service not running)", name);
        } else if (!S_ISSOCK(s.st_mode)) {
                worst(st, DOCTOR_FAIL);
                append(msg, len, "%s is not a socket", p);
        } else if (s.st_uid != want_uid) {
                worst(st, DOCTOR_FAIL);
                append(msg, len, "%s.sock belongs to uid %u, not %s (uid %u)", name,
                       (unsigned)s.st_uid, root_socket ? "root" : m->owner, want_uid);
        } else if (root_socket && s.st_gid != m->owner_gid) {
                worst(st, DOCTOR_FAIL);
                append(msg, len, "%s.sock is in group %u, not the owner's %s (gid %u)", name,
                       (unsigned)s.st_gid, m->group, (unsigned)m->owner_gid);
        } else if ((s.st_mode & 07777) != want_mode) {
                worst(st, DOCTOR_FAIL);
                append(msg, len, "%s.sock has mode %04o, not %04o", name,
                       (unsigned)(s.st_mode & 07777), want_mode);
        } else {
                (*ok)++;
        }
}

static int check_sockets(const struct doctor_env *env, const struct doctor_input *in,
                         struct doctor_report *rep)
{
        const struct install_manifest *m = in->manifest;
        const char *rd = in->runtime_dir ? in->runtime_dir : "/run/banger";
        const char *nd = in->net_runtime_dir ? in->net_runtime_dir : "/run/banger-netsvc";
        enum doctor_status st = DOCTOR_PASS;
        char msg[640] = "";
        struct stat s;
        size_t ok = 0;
        if (!env->lstat || env->lstat(env->ud, rd, &s) < 0) {
                return doctor_add(rep, "system.sockets", DOCTOR_FAIL,
                                  "sudo systemd-tmpfiles --create /etc/tmpfiles.d/banger.conf",
                                  "%s does not exist", rd);
        }
        if (!S_ISDIR(s.st_mode) || s.st_uid != m->owner_uid || (s.st_mode & 0007)) {
                worst(&st, DOCTOR_FAIL);
                append(msg, sizeof(msg),
                       "%s is %s uid %u mode %04o (want a directory of uid %u, "
                       "no access for others)",
                       rd, S_ISDIR(s.st_mode) ? "a directory of" : "not a directory,",
                       (unsigned)s.st_uid, (unsigned)(s.st_mode & 07777), (unsigned)m->owner_uid);
        }
        /* netsvc's, made by systemd for its unit: root's, and nobody else may
         * create or replace entries in it. Absent while netsvc is stopped. */
        bool net_dir = env->lstat(env->ud, nd, &s) == 0;
        if (net_dir && (!S_ISDIR(s.st_mode) || s.st_uid != 0 || (s.st_mode & 022))) {
                worst(&st, DOCTOR_FAIL);
                append(msg, sizeof(msg),
                       "%s is %s uid %u mode %04o (want root's, writable by root alone: netsvc "
                       "runs as root)",
                       nd, S_ISDIR(s.st_mode) ? "a directory of" : "not a directory,",
                       (unsigned)s.st_uid, (unsigned)(s.st_mode & 07777));
        }
        for (size_t i = 0; i < ELEMENTSOF(service_names); i++) {
                bool root_socket = streq(service_names[i], "netsvc");
                check_socket(env, m, root_socket ? nd : rd, service_names[i], root_socket, &st, msg,
                             sizeof(msg), &ok);
        }
        if (st == DOCTOR_PASS)
                return doctor_add(rep, "system.sockets", DOCTOR_PASS, NULL,
                                  "%zu sockets in %s, each owned by %s with mode 0600; netsvc's "
                                  "in %s, root's, mode 0660 for group %s",
                                  ok - 1, rd, m->owner, nd, m->group);
        return doctor_add(rep, "system.sockets", st,
                          st == DOCTOR_FAIL ? "something other than the units changed them: "
                                              "`sudo banger system restart` recreates every "
                                              "socket; check for local edits of the units"
                                            : "sudo banger system restart",
                          "%s", msg);
}

/* The first line of `want` that `have` lacks (hardening removed or changed),
 * or else the first line of `have` that `want` lacks (something added). */
static bool line_in(const char *text, const char *line, size_t len)
{
        for (const char *s = text; s && *s;) {
                size_t n = strcspn(s, "\n");
                if (n == len && strncmp(s, line, len) == 0)
                        return true;
                s += n;
                if (*s)
                        s++;
        }
        return false;
}

static bool missing_line(const char *from, const char *in_text, char *out, size_t len)
{
        for (const char *s = from; *s;) {
                size_t n = strcspn(s, "\n");
                if (n && s[0] != '#' && !line_in(in_text, s, n)) {
                        snprintf(out, len, "%.*s", (int)(n > 120 ? 120 : n), s);
                        return true;
                }
                s += n;
                if (*s)
                        s++;
        }
        return false;
}

static int check_units(const struct doctor_env *env, const struct doctor_input *in,
                       struct doctor_report *rep)
{
        const struct install_manifest *m = in->manifest;
        struct units_params up = {.libexecdir = m->libexecdir,
                                  .owner = m->owner,
                                  .group = m->group,
                                  .owner_uid = m->owner_uid};
        enum doctor_status st = DOCTOR_PASS;
        char msg[512] = "";
        size_t ok = 0;
        for (size_t i = 0; i < units_n_embedded; i++) {
                const char *name = units_embedded[i].name;
                char rel[PATH_MAX], path[PATH_MAX + 8], line[160];
                struct bg_error err = {0};
                _cleanup_free_ char *want = NULL, *have = NULL;
                if (units_install_path(name, rel, sizeof(rel)) < 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s",
                         in->install_root && !streq(in->install_root, "/") ? in->install_root : "",
                         rel);
                if (units_render(units_embedded[i].text, &up, &want, &err) < 0) {
                        worst(&st, DOCTOR_FAIL);
                        append(msg, sizeof(msg), "%s: %s", name, err.msg);
                        continue;
                }
                if (!env->read_file || env->read_file(env->ud, path, &have) < 0) {
                        worst(&st, DOCTOR_FAIL);
                        append(msg, sizeof(msg), "%s is missing", path);
                        continue;
                }
                if (streq(want, have)) {
                        ok++;
                } else if (missing_line(want, have, line, sizeof(line))) {
                        worst(&st, DOCTOR_FAIL);
                        append(msg, sizeof(msg), "%s lacks '%s'", path, line);
                } else if (missing_line(have, want, line, sizeof(line))) {
                        worst(&st, DOCTOR_WARN);
                        append(msg, sizeof(msg), "%s adds '%s'", path, line);
                } else {
                        worst(&st, DOCTOR_WARN);
                        append(msg, sizeof(msg), "%s differs in comments or order", path);
                }
                /* Drop-ins can override anything in the unit. */
                if (units_is_service(name) && env->lstat) {
                        struct stat s;
                        char dropin[PATH_MAX + 16];
                        snprintf(dropin, sizeof(dropin), "%s.d", path);
                        if (env->lstat(env->ud, dropin, &s) == 0) {
                                worst(&st, DOCTOR_WARN);
                                append(msg, sizeof(msg), "drop-in directory %s overrides it",
                                       dropin);
                        }
                }
        }
        if (st == DOCTOR_PASS)
                return doctor_add(rep, "system.units", DOCTOR_PASS, NULL,
                                  "%zu installed files match what `banger system install` wrote",
                                  ok);
        return doctor_add(rep, "system.units", st,
                          "`sudo banger system install` writes them again (then `sudo banger "
                          "system restart`); put local changes in drop-ins only if you mean to "
                          "weaken the sandbox",
                          "%s", msg);
}

int doctor_check_system(const struct doctor_env *env, const struct doctor_input *in,
                        struct doctor_report *rep)
{
        if (!in->system_mode)
                return 0;
        const struct install_manifest *m = in->manifest;
        int r;
        if (!m)
                return doctor_add(rep, "system.install", DOCTOR_FAIL, "sudo banger system install",
                                  "cannot read /etc/banger/install.toml: %s",
                                  in->manifest_error ? in->manifest_error : "unknown error");
        if (!streq(m->version, in->cli_version))
                r = doctor_add(rep, "system.install", DOCTOR_WARN,
                               "run `sudo banger system install` with this banger to update "
                               "the services",
                               "installed banger %s for %s (uid %u), but this banger is %s",
                               m->version, m->owner, (unsigned)m->owner_uid, in->cli_version);
        else
                r = doctor_add(rep, "system.install", DOCTOR_PASS, NULL,
                               "banger %s installed in %s for %s (uid %u)", m->version, m->prefix,
                               m->owner, (unsigned)m->owner_uid);
        if (r < 0)
                return r;
        r = check_sockets(env, in, rep);
        if (r < 0)
                return r;
        return check_units(env, in, rep);
}
