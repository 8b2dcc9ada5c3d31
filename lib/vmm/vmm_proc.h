/* The process side of a VMM, the same for every driver: finding its binary,
 * starting it detached, telling whether the process we started still runs
 * (PID + /proc start time, so a recycled PID never counts), killing it, and
 * re-adopting it after a restart from its pidfile (lib/util/pidfile.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

/* Resolves a binary name with lib/util's find_program: a name with '/' is
 * taken as is, else the absolute directories of $PATH, then the sbin
 * directories below (a user's PATH often lacks them), into a regular file
 * we may execute. -ENOENT when there is none, -ENAMETOOLONG when it does
 * not fit buf. */
#define VMM_BINARY_EXTRA_DIRS "/usr/local/sbin:/usr/sbin:/sbin"
int vmm_find_binary(const char *name, char *buf, size_t len);

/* Starts argv[0] (a path) detached: its own session, stdin from /dev/null,
 * stdout and stderr appended to log_path (created 0600), default signal
 * dispositions, an empty signal mask and no other open fds. The child is
 * the caller's to reap. -errno when it could not be executed. */
int vmm_spawn(char *const argv[], const char *log_path, pid_t *ret_pid);
/* The same with stdout the pipe out_fd (>= 3; a console pump's,
 * vmm_console.h), stderr still appended to log_path; out_fd < 0 is
 * vmm_spawn. */
int vmm_spawn_console(char *const argv[], const char *log_path, int out_fd, pid_t *ret_pid);

/* 1 while pid runs and has the given /proc start time, else 0 (a zombie is
 * gone: it only waits to be reaped). */
int vmm_proc_alive(pid_t pid, uint64_t start_time);

/* SIGKILLs pid (only when it still has start_time; 0: do not compare) and
 * waits up to timeout_ms until it has exited, through a pidfd where the
 * kernel offers one. With reap, a child of the caller is also collected;
 * without, its wait status is left for the caller. 0 also when it was gone
 * already; -ETIMEDOUT when it is still there. */
int vmm_proc_kill(pid_t pid, uint64_t start_time, uint64_t timeout_ms, bool reap);

/* /proc/PID/cmdline: the NUL-separated arguments (NUL-terminated once more),
 * *ret_len bytes. -ESRCH when the process is gone. */
int vmm_proc_cmdline(pid_t pid, char **ret, size_t *ret_len);

/* Checks that pid, recorded with start_time, is still that process and runs
 * the VMM: the base name of its executable (" (deleted)" after an upgrade
 * aside) is exe, or starts with exe unless exact. vmm names it in messages
 * ("QEMU"). -ESRCH with the reason when it is gone, reused or something
 * else. */
int vmm_proc_verify(pid_t pid, uint64_t start_time, const char *vmm, const char *exe, bool exact,
                    struct bg_error *err);

/* The same for the process recorded in pidfile (lib/util/pidfile.h format);
 * -ESRCH also when there is no pidfile. */
int vmm_proc_adopt(const char *pidfile, const char *vmm, const char *exe, bool exact,
                   pid_t *ret_pid, uint64_t *ret_start, struct bg_error *err);
