/* `banger-agent enter`: run a command inside a directory tree of the guest
 * as its root, the way a pod's container runs in its sandbox's VM.
 *
 *   banger-agent enter --root=DIR [--cgroup=DIR] [--cwd=DIR]
 *                      [--user=UID:GID [--groups=G,...]] [--no-new-privs] -- ARGV...
 *
 * With --cgroup, it first moves itself into that cgroup v2 directory (so
 * the command and everything it starts stay there, wherever they chroot to
 * later: the shim's Delete kills the cgroup). A directory that is not
 * there is passed over only where no cgroup v2 hierarchy would hold it (a
 * guest without cgroup v2, where the shim's prepare made none); missing on
 * a cgroup v2 hierarchy, not a cgroup v2 directory, or not joined is an
 * error. Then
 * chroot(DIR), chdir(cwd) inside it (default "/"), then, with --user, the
 * supplementary groups (none without --groups), the gid and the uid, with
 * --no-new-privs PR_SET_NO_NEW_PRIVS (process.noNewPrivileges), then
 * exec ARGV looked up in the PATH of the environment it was given (the
 * container's, set by `env` before it) inside the new root. The environment
 * passes through unchanged. It runs from the guest's own root, so the tree
 * needs no `env`, `setpriv` or shell of its own.
 *
 * Exit codes when it cannot run the command: 125 bad arguments or a step
 * before exec failed (chroot, chdir, the user), 126 the program cannot be
 * run, 127 no such program; a message on stderr says which (before exec,
 * cannot join the cgroup, chroot, chdir, the user). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define AGENT_ENTER_MAX_GROUPS 64
#define AGENT_ENTER_EXIT_SETUP 125

struct agent_enter_opts {
        const char *root;
        const char *cgroup; /* NULL unless --cgroup */
        const char *cwd;    /* "/" unless --cwd */
        bool set_user;
        bool no_new_privs;
        uid_t uid;
        gid_t gid;
        gid_t groups[AGENT_ENTER_MAX_GROUPS];
        size_t n_groups;
        char **argv; /* NULL-terminated, at least one word */
};

/* Parses argv (argv[0] = "enter"). 0, or -EINVAL with a message in msg. */
int agent_enter_parse(int argc, char **argv, struct agent_enter_opts *o, char *msg, size_t msglen);

/* Parses, enters and execs; returns an exit code only on failure. */
int agent_enter_main(int argc, char **argv);
