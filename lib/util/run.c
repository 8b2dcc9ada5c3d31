#include "util/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/macro.h"

extern char **environ;

static char **merged_env(const char *const env[])
{
        size_t n = 0, m = 0;
        while (environ[n])
                n++;
        while (env && env[m])
                m++;
        char **e = calloc(n + m + 1, sizeof(char *));
        if (!e)
                return NULL;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                bool replaced = false;
                for (size_t j = 0; j < m && !replaced; j++) {
                        const char *eq = strchr(env[j], '=');
                        size_t kl = eq ? (size_t)(eq - env[j]) + 1 : strlen(env[j]);
                        replaced = strncmp(environ[i], env[j], kl) == 0;
                }
                if (!replaced)
                        e[k++] = environ[i];
        }
        for (size_t j = 0; j < m; j++)
                e[k++] = (char *)env[j];
        return e;
}

int bg_run_capture(const char *const argv[], const char *const env[], char **out, size_t *len,
                   size_t max, struct bg_error *err)
{
        int op[2] = {-1, -1}, ep[2] = {-1, -1};
        if (out)
                *out = NULL;
        if (len)
                *len = 0;
        if (pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
                int e = errno;
                if (op[0] >= 0)
                        close(op[0]), close(op[1]);
                return bg_error_errno(err, -e, "pipe");
        }
        char **envp = merged_env(env);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, op[1], 1);
        posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
        pid_t pid;
        int r = envp ? posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, envp) : ENOMEM;
        posix_spawn_file_actions_destroy(&fa);
        free(envp);
        close(op[1]);
        close(ep[1]);
        if (r != 0) {
                close(op[0]);
                close(ep[0]);
                return bg_error_errno(err, -r, "run %s", argv[0]);
        }
        char *buf = NULL, ebuf[512];
        size_t blen = 0, elen = 0, cap = 0;
        bool big = false;
        struct pollfd p[2] = {{.fd = op[0], .events = POLLIN}, {.fd = ep[0], .events = POLLIN}};
        int open_fds = 2;
        while (open_fds > 0) {
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        if (p[i].fd < 0 || !p[i].revents)
                                continue;
                        char tmp[65536];
                        ssize_t n = read(p[i].fd, tmp, sizeof(tmp));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                close(p[i].fd);
                                p[i].fd = -1;
                                open_fds--;
                                continue;
                        }
                        if (i == 1) {
                                size_t take = sizeof(ebuf) - 1 - elen;
                                if (take > (size_t)n)
                                        take = (size_t)n;
                                memcpy(ebuf + elen, tmp, take);
                                elen += take;
                        } else if (!out || big) {
                                continue;
                        } else if (blen + (size_t)n > max) {
                                big = true;
                        } else {
                                if (blen + (size_t)n + 1 > cap) {
                                        cap = (blen + (size_t)n + 1) * 2;
                                        char *nb = realloc(buf, cap);
                                        if (!nb) {
                                                big = true;
                                                continue;
                                        }
                                        buf = nb;
                                }
                                memcpy(buf + blen, tmp, (size_t)n);
                                blen += (size_t)n;
                        }
                }
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        ebuf[elen] = '\0';
        while (elen && (ebuf[elen - 1] == '\n' || ebuf[elen - 1] == ' '))
                ebuf[--elen] = '\0';
        if (big) {
                free(buf);
                return bg_error_set(err, E2BIG, "%s wrote more than %zu bytes", argv[0], max);
        }
        if (code != 0)
                bg_error_set(err, EIO, "%s failed (exit %d)%s%s", argv[0], code, elen ? ": " : "",
                             ebuf);
        if (out) {
                if (!buf)
                        buf = calloc(1, 1);
                else
                        buf[blen] = '\0';
                *out = buf;
        } else {
                free(buf);
        }
        if (len)
                *len = blen;
        return code;
}
