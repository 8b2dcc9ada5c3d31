/* Why a VMM or its guest stopped, in words, from the files every driver
 * leaves in the VM directory: the VMM's own output (vmm.log, with banger's
 * notes as "# " lines) and the guest's serial console (console.log). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Log rotation for files a VMM writes with O_APPEND (console.log, and
 * vmm.log, where Firecracker's serial console goes): when dir/name is over
 * max / 2 bytes (or always, with force), its last max / 2 bytes are copied to
 * dir/name.1 (replacing it), the file is truncated to 0 under the writer,
 * whose appends start again at 0, and dir/name.base, the stream offset at
 * which dir/name begins, grows by the bytes moved out. Together the two files
 * hold at most max bytes plus what the writer adds between two rotations.
 * Returns 1 when it rotated, 0 when not needed, -errno. */
int vmm_log_rotate(const char *dir, const char *name, uint64_t max, bool force);

/* Reads the console stream (dir/console.log.1 then dir/console.log, see
 * vmm_log_rotate) from stream offset off, at most len bytes, into buf.
 * *ret_off is where the bytes read start (off, or the oldest byte kept when
 * off was rotated away, or the end when off is past it), *ret_n their count,
 * *ret_size the stream's end. A console never written reads as empty. */
int vmm_console_read(const char *dir, uint64_t off, void *buf, size_t len, uint64_t *ret_off,
                     size_t *ret_n, uint64_t *ret_size);
