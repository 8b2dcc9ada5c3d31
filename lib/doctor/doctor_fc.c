/* Rows about how safely Firecracker runs (issue #21 item 5):
 *   firecracker.perms  the Firecracker binary is root-owned and writable by
 *                      nobody else (netsvc runs it through the jailer as
 *                      root; a binary the owner can swap is a root exploit);
 *   jailer             the jailer is installed and trusted, and what
 *                      firecracker.jailer (true, false, "auto" = on in
 *                      system mode where netsvc can run it) makes of it;
 *   dev-root           banger in user (dev) mode as root: VMs and their
 *                      files are root's and the jailer is off. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "doctor.h"
#include "doctor_internal.h"

/* 1 and st of the file path leads to (symlinks followed), 0 when it cannot
 * be looked at. */
static int file_of(const struct doctor_env *env, const char *path, char real[PATH_MAX],
                   struct stat *st)
{
        if (!env->lstat || env->lstat(env->ud, path, st) < 0)
                return 0;
        snprintf(real, PATH_MAX, "%s", path);
        if (S_ISLNK(st->st_mode)) {
                if (!realpath(path, real) || env->lstat(env->ud, real, st) < 0)
                        return 0;
        }
        return 1;
}

/* A program root may run: a regular file owned by root, not writable by
 * group or others. NULL when fine, else what is wrong (static text). */
static const char *untrusted(const struct stat *st)
{
        if (!S_ISREG(st->st_mode))
                return "is not a regular file";
        if (st->st_uid != 0)
                return "is not owned by root";
        if (st->st_mode & 022)
                return "is writable by group or others";
        return NULL;
}

static int check_fc_perms(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep, bool jailer_matters)
{
        const char *bin =
            in->cfg && in->cfg->firecracker.binary ? in->cfg->firecracker.binary : "firecracker";
        char path[PATH_MAX], real[PATH_MAX], hint[PATH_MAX * 2 + 96];
        struct stat st;
        if (!env->find_program || env->find_program(env->ud, bin, path, sizeof(path)) < 0)
                return 0; /* the vmm.firecracker row says it is missing */
        if (!file_of(env, path, real, &st))
                return doctor_add(rep, "firecracker.perms", DOCTOR_WARN,
                                  "check by hand: `ls -lL $(command -v firecracker)`",
                                  "cannot look at %s", path);
        const char *bad = untrusted(&st);
        if (!bad)
                return doctor_add(rep, "firecracker.perms", DOCTOR_PASS, NULL,
                                  "%s is owned by root and writable by nobody else (mode %04o)",
                                  real, (unsigned)(st.st_mode & 07777));
        snprintf(hint, sizeof(hint), "sudo chown root:root %s && sudo chmod 0755 %s", real, real);
        /* In system mode netsvc refuses to run it through the jailer; anywhere
         * it is a program whoever can write it gets to run as the VM owner. */
        return doctor_add(rep, "firecracker.perms", jailer_matters ? DOCTOR_FAIL : DOCTOR_WARN,
                          hint, "%s %s (uid %u, mode %04o)%s", real, bad, (unsigned)st.st_uid,
                          (unsigned)(st.st_mode & 07777),
                          jailer_matters ? ": netsvc will not run it through the jailer" : "");
}

static int check_jailer(const struct doctor_env *env, const struct doctor_input *in,
                        struct doctor_report *rep)
{
        enum bg_tristate mode = in->cfg ? in->cfg->firecracker.jailer : BG_TRISTATE_AUTO;
        const char *bin = in->cfg && in->cfg->firecracker.jailer_binary
                              ? in->cfg->firecracker.jailer_binary
                              : "jailer";
        const char *setting = mode == BG_TRISTATE_ON    ? "firecracker.jailer = true"
                              : mode == BG_TRISTATE_OFF ? "firecracker.jailer = false"
                                                        : "firecracker.jailer = \"auto\"";
        bool wanted = mode == BG_TRISTATE_ON || (mode == BG_TRISTATE_AUTO && in->system_mode);
        char path[PATH_MAX], real[PATH_MAX], hint[PATH_MAX * 2 + 96];
        struct stat st;
        if (!env->find_program || env->find_program(env->ud, bin, path, sizeof(path)) < 0) {
                if (!wanted)
                        return doctor_add(rep, "jailer", DOCTOR_PASS, NULL,
                                          "no jailer (%s) installed; %s: not used%s", bin, setting,
                                          mode == BG_TRISTATE_AUTO ? " in user mode" : "");
                return doctor_add(rep, "jailer", mode == BG_TRISTATE_ON ? DOCTOR_FAIL : DOCTOR_WARN,
                                  "install the jailer from the same Firecracker release "
                                  "(release-*/jailer-* into /usr/local/bin, root-owned, 0755), "
                                  "or set firecracker.jailer = false",
                                  "no jailer (%s) found: %s", bin,
                                  mode == BG_TRISTATE_ON
                                      ? "firecracker.jailer = true, so Firecracker VMs cannot start"
                                      : "Firecracker VMs run without its chroot, namespaces and "
                                        "seccomp filter");
        }
        const char *bad = file_of(env, path, real, &st) ? untrusted(&st) : "cannot be looked at";
        if (bad) {
                snprintf(hint, sizeof(hint), "sudo chown root:root %s && sudo chmod 0755 %s", path,
                         path);
                return doctor_add(rep, "jailer", wanted ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                                  "jailer %s %s: netsvc runs it as root and refuses it", path, bad);
        }
        if (!wanted)
                return doctor_add(
                    rep, "jailer", DOCTOR_PASS, NULL, "jailer at %s; %s: off%s", path, setting,
                    mode == BG_TRISTATE_AUTO ? " in user mode (on in system mode)" : "");
        /* Whether netsvc itself can run it (capabilities, the owner). */
        struct doctor_net net = {0};
        if (env->net_status)
                env->net_status(env->ud, &net);
        if (net.known && !net.jailer_usable)
                return doctor_add(
                    rep, "jailer", mode == BG_TRISTATE_ON ? DOCTOR_FAIL : DOCTOR_WARN,
                    "give banger-netsvc what the jailer needs (docs/firecracker.md, "
                    "\"Jailer mode\": a systemctl edit drop-in), or set "
                    "firecracker.jailer = false",
                    "jailer at %s, but netsvc cannot run it: %s%s", path, net.jailer_why,
                    mode == BG_TRISTATE_ON ? " (firecracker.jailer = true: Firecracker VMs fail)"
                                           : "; with \"auto\" Firecracker VMs start without it");
        return doctor_add(rep, "jailer", DOCTOR_PASS, NULL, "jailer at %s; %s: on%s", path, setting,
                          net.known ? ", netsvc can run it" : " (netsvc not asked: not running)");
}

static int check_dev_root(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep)
{
        if (in->system_mode)
                return 0;
        if (!env->is_root)
                return doctor_add(rep, "dev-root", DOCTOR_PASS, NULL,
                                  "user (dev) mode as a normal user");
        return doctor_add(rep, "dev-root", DOCTOR_WARN,
                          "run banger as your own user, or install it for everyday use with "
                          "`sudo banger system install --owner $USER` (the daemons then run as "
                          "that user and only netsvc keeps root)",
                          "running in user (dev) mode as root: every daemon, VMM and VM file is "
                          "root's, and Firecracker's jailer is off (it never runs a VM as root)");
}

int doctor_check_fc_security(const struct doctor_env *env, const struct doctor_input *in,
                             struct doctor_report *rep)
{
        bool jailer_matters = in->system_mode;
        int r = check_fc_perms(env, in, rep, jailer_matters);
        if (r >= 0)
                r = check_jailer(env, in, rep);
        if (r >= 0)
                r = check_dev_root(env, in, rep);
        return r;
}
