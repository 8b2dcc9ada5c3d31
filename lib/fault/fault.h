/* Test-only fault injection: a process that reaches a named fault point kills
 * itself with SIGKILL, so the chaos test (tests/e2e/test_chaos.sh) can stop a
 * service at an exact stage of an operation and check what a restart leaves.
 *
 *   BANGER_FAULT=<stage>[:<service>]   e.g. create.boot:vmsvc, pull.publish
 *
 * read once by daemon_init. Without the variable (every real deployment) a
 * fault point is a load and a compare. docs/testing.md lists the points.
 *
 * Why this is safe: the only thing it can do is kill the process that reads
 * it, which whoever sets a daemon's environment can do anyway. It is honoured
 * only in user mode (tests, dev): a service started in system mode (its
 * systemd unit, whose environment only root writes) ignores it, so the
 * non-root owner has no way to make root's netsvc die half-way through an
 * operation. */
#pragma once

#include <stdbool.h>

/* Arms the fault named by BANGER_FAULT for the service `name`, unless
 * system_mode. Logs that it is armed. */
void fault_setup(const char *name, bool system_mode);

/* When `stage` is the armed fault: logs "fault point STAGE: SIGKILL" and
 * kills this process. Does nothing otherwise. */
void fault_point(const char *stage);

/* fault_point("<prefix>.<stage>"), for stages named by a table. */
void fault_point2(const char *prefix, const char *stage);
