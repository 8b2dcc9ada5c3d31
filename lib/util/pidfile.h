/* Pidfiles that survive PID reuse: "PID STARTTIME\n", where STARTTIME is field
 * 22 of /proc/PID/stat (clock ticks since boot). A process matches a pidfile
 * only if it is alive AND has the same start time, so a recycled PID is never
 * mistaken for ours. Written atomically (temp file + rename). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

/* Start time of pid from /proc (-ESRCH if it is gone). */
int proc_start_time(pid_t pid, uint64_t *ret);

/* Reaps pid if it is our child and has exited, waiting up to timeout_ms for
 * the whole thread group to be gone (a multi-threaded process's leader shows
 * as a zombie before it can be reaped). Returns 1 when reaped, 0 when it is
 * not our child, -ETIMEDOUT when it was still there. */
int proc_reap(pid_t pid, unsigned timeout_ms);

int pidfile_write(const char *path, pid_t pid, struct bg_error *err);
/* Reads pid and start time; -ENOENT if absent, -EBADMSG if malformed. */
int pidfile_read(const char *path, pid_t *ret_pid, uint64_t *ret_start);
/* 1 and *ret_pid when the recorded process is alive with the recorded start
 * time, 0 when the file is absent or stale, < 0 on error. */
int pidfile_check(const char *path, pid_t *ret_pid);
