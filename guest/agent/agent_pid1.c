#include "agent_pid1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_cmdline.h"
#include "agent_log.h"
#include "agent_setup.h"
#include "util/macro.h"
#include "util/timeutil.h"

bool agent_pid1_requested(const char *cmdline)
{
        char v[16];
        return agent_cmdline_get(cmdline, "banger.init", v, sizeof(v)) > 0 && streq(v, "agent");
}

int agent_pid1_supervise(struct agent_pid1_supervisor *s)
{
        pid_t server = s->spawn(s->userdata);
        if (server < 0)
                return (int)server;
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, 0);
                if (p < 0) {
                        if (errno == EINTR)
                                continue;
                        /* ECHILD cannot happen while the server runs; be safe. */
                        sleep_msec(s->restart_ms);
                        continue;
                }
                if (p != server) {
                        s->orphans_reaped++;
                        continue;
                }
                s->server_exits++;
                if (WIFSIGNALED(st))
                        agent_log("agent server %d killed by signal %d; starting it again", (int)p,
                                  WTERMSIG(st));
                else
                        agent_log("agent server %d exited with status %d; starting it again",
                                  (int)p, WEXITSTATUS(st));
                if (s->max_exits && s->server_exits >= s->max_exits)
                        return 0;
                sleep_msec(s->restart_ms);
                for (;;) {
                        server = s->spawn(s->userdata);
                        if (server >= 0)
                                break;
                        agent_log("start the agent server: %s; retrying", strerror((int)-server));
                        sleep_msec(s->restart_ms ? s->restart_ms : 1000);
                }
        }
}

static int api_mount(const char *root, const char *path, mode_t mode, const char *type,
                     unsigned long flags, const char *data)
{
        char p[512];
        snprintf(p, sizeof(p), "%s%s", streq(root, "/") ? "" : root, path);
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
                agent_log("create %s: %m", p);
                return -1;
        }
        if (!type)
                return chmod(p, mode) < 0 ? (agent_log("chmod %s: %m", p), -1) : 0;
        if (mount(type, p, type, flags, data) < 0 && errno != EBUSY) {
                agent_log("mount %s on %s: %m", type, p);
                return -1;
        }
        return 0;
}

int agent_pid1_mount_api(const char *root)
{
        int failed = 0;
        failed += api_mount(root, "/dev/pts", 0755, "devpts", MS_NOSUID | MS_NOEXEC,
                            "mode=0620,ptmxmode=0666") < 0;
        failed +=
            api_mount(root, "/dev/shm", 01777, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0;
        failed += api_mount(root, "/run", 0755, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0;
        /* /tmp stays on the root disk (as in the container); it only has to
         * exist and be writable by everyone. */
        failed += api_mount(root, "/tmp", 01777, NULL, 0, NULL) < 0;
        return failed;
}

_Noreturn void agent_pid1_run(const char *cmdline, agent_pid1_spawn_fn spawn, void *userdata)
{
        agent_log("running as the VM's init (banger.init=agent)");
        int failed = agent_pid1_mount_api("/");
        failed += agent_setup_run(cmdline);
        if (failed)
                agent_log("set-up finished with %d step(s) skipped", failed);
        struct agent_pid1_supervisor s = {.spawn = spawn, .userdata = userdata, .restart_ms = 1000};
        int r = agent_pid1_supervise(&s);
        agent_log("cannot start the agent server: %s; rebooting", strerror(-r));
        sync();
        reboot(RB_AUTOBOOT);
        for (;;)
                pause();
}
