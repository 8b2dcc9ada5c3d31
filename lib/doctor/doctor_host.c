/* Checks of the host's programs banger runs (tools.<program>, with the
 * package to install in the words of the host's package manager) and of the
 * free space where banger keeps its state (disk). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "doctor.h"
#include "doctor_internal.h"

/* ---- tools ------------------------------------------------------------ */

int doctor_check_tools(const struct doctor_env *env, const struct doctor_input *in,
                       struct doctor_report *rep)
{
        static const struct {
                const char *name, *deb, *rpm, *why;
                int need; /* 2 always FAIL, 1 FAIL when QEMU is the VMM, 0 WARN,
                           * -1 WARN and checked in system mode only */
        } tools[] = {
            {"mkfs.ext4", "e2fsprogs", "e2fsprogs", "makes every VM's work disk", 2},
            {"e2fsck", "e2fsprogs", "e2fsprogs", "checks work and image disks", 2},
            {"qemu-img", "qemu-utils", "qemu-img", "makes QEMU's copy-on-write root disks", 1},
            {"mmdebstrap", "mmdebstrap", "mmdebstrap", "builds the golden image", 0},
            /* The imagesvc unit sets no_new_privs, so no newuidmap: mmdebstrap
             * runs in fakechroot mode there. */
            {"fakechroot", "fakechroot fakeroot", "fakechroot fakeroot",
             "lets the owner's imagesvc build the golden image", -1},
            {"gpgv", "gpgv", "gnupg2", "verifies downloaded Debian kernel packages", 0},
            {"ssh", "openssh-client", "openssh-clients", "runs `banger vm ssh`", 0},
        };
        char os[64];
        doctor_os_id(env, os, sizeof(os));
        for (size_t i = 0; i < ELEMENTSOF(tools); i++) {
                char id[48], path[PATH_MAX], hint[256];
                if (tools[i].need < 0 && !in->system_mode)
                        continue;
                snprintf(id, sizeof(id), "tools.%s", tools[i].name);
                int r;
                if (env->find_program &&
                    env->find_program(env->ud, tools[i].name, path, sizeof(path)) == 0) {
                        r = doctor_add(rep, id, DOCTOR_PASS, NULL, "%s: %s", tools[i].name, path);
                } else {
                        bool fail = tools[i].need == 2 ||
                                    (tools[i].need == 1 && doctor_cfg_vmm(in) == BG_VMM_QEMU);
                        doctor_pkg_hint(os, tools[i].deb, tools[i].rpm, hint, sizeof(hint));
                        r = doctor_add(rep, id, fail ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                                       "%s not found (it %s)", tools[i].name, tools[i].why);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- disk ------------------------------------------------------------- */

int doctor_check_disk(const struct doctor_env *env, const struct doctor_input *in,
                      struct doctor_report *rep)
{
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", in->state_dir ? in->state_dir : "/");
        /* The state dir may not exist yet: measure its nearest parent. */
        struct stat st;
        while (env->lstat && env->lstat(env->ud, dir, &st) < 0 && strlen(dir) > 1) {
                char *s = strrchr(dir, '/');
                if (!s)
                        break;
                if (s == dir)
                        s[1] = '\0';
                else
                        *s = '\0';
        }
        uint64_t avail = 0;
        int r = env->disk_free ? env->disk_free(env->ud, dir, &avail) : -ENOSYS;
        if (r < 0)
                return doctor_add(rep, "disk", DOCTOR_WARN, "check by hand: `df -h`",
                                  "cannot measure free space in %s: %s", dir, strerror(-r));
        double gib = (double)avail / (double)(1ULL << 30);
        const char *hint =
            "free space there: `banger vm prune`, `banger image cache prune`, or move "
            "the state directory to a larger disk";
        if (avail < DOCTOR_DISK_FAIL)
                return doctor_add(rep, "disk", DOCTOR_FAIL, hint,
                                  "only %.2f GiB free in %s (need at least 1 GiB)", gib, dir);
        if (avail < DOCTOR_DISK_WARN)
                return doctor_add(rep, "disk", DOCTOR_WARN, hint,
                                  "%.1f GiB free in %s (images and work disks want 5 GiB or "
                                  "more)",
                                  gib, dir);
        return doctor_add(rep, "disk", DOCTOR_PASS, NULL, "%.1f GiB free in %s", gib, dir);
}
