/* banger-agent enter: see agent_enter.h. */
#include "agent_enter.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <unistd.h>

static bool prefix(const char *s, const char *p, const char **rest)
{
        size_t n = strlen(p);
        if (strncmp(s, p, n) != 0)
                return false;
        *rest = s + n;
        return true;
}

/* A uid or gid: decimal, 0..2^32-2 (2^32-1 is "no id" to the kernel). */
static bool parse_id(const char *s, const char *end, uint32_t *ret)
{
        if (s == end || end - s > 10)
                return false;
        uint64_t v = 0;
        for (const char *p = s; p < end; p++) {
                if (*p < '0' || *p > '9')
                        return false;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (v >= UINT32_MAX)
                return false;
        *ret = (uint32_t)v;
        return true;
}

static int bad(char *msg, size_t msglen, const char *what, const char *arg)
{
        snprintf(msg, msglen, "enter: %s: '%.200s'", what, arg);
        return -EINVAL;
}

int agent_enter_parse(int argc, char **argv, struct agent_enter_opts *o, char *msg, size_t msglen)
{
        *o = (struct agent_enter_opts){.cwd = "/"};
        bool have_groups = false;
        int i = 1;
        for (; i < argc; i++) {
                const char *a = argv[i], *v;
                if (strcmp(a, "--") == 0) {
                        i++;
                        break;
                }
                if (prefix(a, "--root=", &v)) {
                        if (v[0] != '/')
                                return bad(msg, msglen, "--root must be an absolute path", v);
                        o->root = v;
                } else if (prefix(a, "--cgroup=", &v)) {
                        if (v[0] != '/')
                                return bad(msg, msglen, "--cgroup must be an absolute path", v);
                        o->cgroup = v;
                } else if (prefix(a, "--cwd=", &v)) {
                        if (v[0] != '/')
                                return bad(msg, msglen, "--cwd must be an absolute path", v);
                        o->cwd = v;
                } else if (prefix(a, "--user=", &v)) {
                        const char *colon = strchr(v, ':');
                        uint32_t uid, gid;
                        if (!colon || !parse_id(v, colon, &uid) ||
                            !parse_id(colon + 1, colon + 1 + strlen(colon + 1), &gid))
                                return bad(msg, msglen, "--user is not UID:GID", v);
                        o->set_user = true;
                        o->uid = uid;
                        o->gid = gid;
                } else if (strcmp(a, "--no-new-privs") == 0) {
                        o->no_new_privs = true;
                } else if (prefix(a, "--groups=", &v)) {
                        have_groups = true;
                        o->n_groups = 0;
                        while (*v) {
                                const char *end = strchrnul(v, ',');
                                uint32_t g;
                                if (o->n_groups == AGENT_ENTER_MAX_GROUPS)
                                        return bad(msg, msglen, "--groups has more than 64 groups",
                                                   a);
                                if (!parse_id(v, end, &g))
                                        return bad(msg, msglen,
                                                   "--groups is not a comma-separated list of "
                                                   "gids",
                                                   a);
                                o->groups[o->n_groups++] = g;
                                v = *end ? end + 1 : end;
                        }
                } else {
                        return bad(msg, msglen,
                                   "unknown option (want --root, --cgroup, --cwd, "
                                   "--user, --groups, --no-new-privs, then -- and "
                                   "the command)",
                                   a);
                }
        }
        if (!o->root) {
                snprintf(msg, msglen, "enter: --root=DIR is required");
                return -EINVAL;
        }
        if (have_groups && !o->set_user) {
                snprintf(msg, msglen, "enter: --groups needs --user");
                return -EINVAL;
        }
        if (i >= argc || !argv[i][0]) {
                snprintf(msg, msglen, "enter: no command after --");
                return -EINVAL;
        }
        o->argv = argv + i;
        return 0;
}

/* Whether the file system at path, or at its nearest ancestor that
 * exists, is a cgroup v2 hierarchy. */
static bool on_cgroup2(const char *path)
{
        char p[4096];
        snprintf(p, sizeof(p), "%s", path);
        struct statfs sf;
        for (;;) {
                if (statfs(p, &sf) == 0)
                        return sf.f_type == CGROUP2_SUPER_MAGIC;
                char *slash = strrchr(p, '/');
                if (!slash || slash == p)
                        return statfs("/", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
                *slash = '\0';
        }
}

/* Moves this process into the cgroup v2 directory dir: 1 joined; 0 dir is
 * not there and neither is a cgroup v2 hierarchy where it would be (a guest
 * without cgroup v2: passed over); -errno with *what set. */
static int join_cgroup(const char *dir, const char **what)
{
        *what = "";
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                int e = errno;
                if (e == ENOENT && !on_cgroup2(dir))
                        return 0;
                if (e == ENOENT)
                        *what = " (the container's cgroup is missing)";
                return -e;
        }
        struct statfs sf;
        if (fstatfs(dfd, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
                close(dfd);
                *what = " (not a cgroup v2 directory)";
                return -ENOTDIR;
        }
        int fd = openat(dfd, "cgroup.procs", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        int e = errno;
        close(dfd);
        if (fd < 0)
                return -e;
        ssize_t k = write(fd, "0", 1); /* "0": the writing process */
        e = errno;
        close(fd);
        return k == 1 ? 1 : -(k < 0 ? e : EIO);
}

int agent_enter_main(int argc, char **argv)
{
        struct agent_enter_opts o;
        char msg[512];
        if (agent_enter_parse(argc, argv, &o, msg, sizeof(msg)) < 0) {
                fprintf(stderr, "banger-agent %s\n", msg);
                return AGENT_ENTER_EXIT_SETUP;
        }
        const char *what = "";
        int j = o.cgroup ? join_cgroup(o.cgroup, &what) : 0;
        if (j < 0) {
                fprintf(stderr, "banger-agent enter: cannot join cgroup %s: %s%s\n", o.cgroup,
                        strerror(-j), what);
                return AGENT_ENTER_EXIT_SETUP;
        }
        if (chroot(o.root) < 0) {
                fprintf(stderr, "banger-agent enter: cannot change root to %s: %m\n", o.root);
                return AGENT_ENTER_EXIT_SETUP;
        }
        if (chdir("/") < 0 || chdir(o.cwd) < 0) {
                fprintf(stderr, "banger-agent enter: cannot change to directory %s: %m\n", o.cwd);
                return AGENT_ENTER_EXIT_SETUP;
        }
        if (o.set_user) {
                if (setgroups(o.n_groups, o.groups) < 0 || setgid(o.gid) < 0 || setuid(o.uid) < 0) {
                        fprintf(stderr,
                                "banger-agent enter: cannot become user %u (group %u): %m\n",
                                (unsigned)o.uid, (unsigned)o.gid);
                        return AGENT_ENTER_EXIT_SETUP;
                }
        }
        if (o.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                fprintf(stderr, "banger-agent enter: cannot set no_new_privs: %m\n");
                return AGENT_ENTER_EXIT_SETUP;
        }
        execvp(o.argv[0], o.argv);
        int e = errno;
        fprintf(stderr, "banger-agent enter: cannot run %s: %s\n", o.argv[0], strerror(e));
        return e == ENOENT ? 127 : 126;
}
