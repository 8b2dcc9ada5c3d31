/* Caps every VM's console log (and vmm.log, where Firecracker's serial
 * console goes) at config vm.console_log_max: a thread looks at each VM's
 * logs four times a second and rotates one past half the cap
 * (vmm_log_rotate), keeping the last part. A guest flooding its console can
 * add at most what it writes in a quarter second beyond the cap. */
#pragma once

#include "util/error.h"
#include "vm_env.h"

struct log_watch;

int log_watch_start(struct vm_env *env, struct log_watch **ret, struct bg_error *err);
/* Stops and frees; accepts NULL. */
void log_watch_stop(struct log_watch *w);

/* Called before a VMM starts in dir: what an earlier boot wrote to the
 * console moves to console.log.1, so the new boot's console starts empty
 * (its last line and any panic are its own) while vm logs still reads on. */
void vm_console_fresh(struct vm_env *env, const char *dir);
