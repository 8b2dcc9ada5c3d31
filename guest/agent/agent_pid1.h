/* The agent as the VM's init (`banger vm create --init agent`, kernel
 * parameter banger.init=agent): for images with no init or sshd of their
 * own. The initramfs does not exec anything from the root disk then: the
 * same banger-agent process, already PID 1, switches root and goes on here,
 * so what runs as init is the agent banger put into its initramfs, whatever
 * the image holds at /usr/sbin/banger-agent. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* True when cmdline asks for the agent as init (banger.init=agent). */
bool agent_pid1_requested(const char *cmdline);

/* What PID 1 starts and keeps running: fork a child that serves the host
 * (banger-agent serve's own code path) and return its pid, or -errno. */
typedef pid_t (*agent_pid1_spawn_fn)(void *userdata);

struct agent_pid1_supervisor {
        agent_pid1_spawn_fn spawn;
        void *userdata;
        unsigned restart_ms; /* pause before starting the server again */
        /* Stop after this many server exits (tests); 0 = never return. */
        unsigned max_exits;
        /* Counters, for tests and the log. */
        unsigned orphans_reaped;
        unsigned server_exits;
};

/* Starts the server, then waits for every child, reaping orphans re-parented
 * to this process (PID 1 in the guest, a child subreaper in tests) and
 * starting the server again whenever it exits. Returns only after
 * max_exits server exits (0), or -errno if the server cannot be started. */
int agent_pid1_supervise(struct agent_pid1_supervisor *s);

/* The mounts an init provides beyond /dev, /proc and /sys (which the
 * initramfs moved in): /dev/pts, /dev/shm, /run, and /tmp's mode, under
 * root ("/" in the guest). A missing mount point is created; a failure is
 * logged and counted, never fatal. Returns the number of failures. */
int agent_pid1_mount_api(const char *root);

/* PID 1 in the switched root: the API mounts, `banger-agent init`'s set-up
 * (agent_setup_run), then agent_pid1_supervise with spawn. Never returns. */
_Noreturn void agent_pid1_run(const char *cmdline, agent_pid1_spawn_fn spawn, void *userdata);
