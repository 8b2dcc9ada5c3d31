/* Why a VMM or its guest stopped, in words, from the files every driver
 * leaves in the VM directory: the VMM's own output (vmm.log, with banger's
 * notes as "# " lines) and the guest's serial console (console.log). */
#pragma once

#include <stddef.h>

/* The last line of the log at path that is neither blank nor one of
 * banger's notes ("# ..."), from its last 16 KiB, into buf; "" when there is
 * none. */
void vmm_log_tail(const char *path, char *buf, size_t len);

/* The last non-blank line the guest wrote to dir/console.log; "" when there
 * is none. */
void vmm_console_tail(const char *dir, char *buf, size_t len);

/* The guest kernel's last "Kernel panic - not syncing: ..." line in
 * dir/console.log; "" when it did not panic. */
void vmm_console_panic(const char *dir, char *buf, size_t len);

/* "<vmm> was killed by signal 9 (SIGKILL)". */
void vmm_signal_reason(const char *vmm, int sig, char *buf, size_t len);
