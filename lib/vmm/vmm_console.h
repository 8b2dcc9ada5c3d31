/* The console pump: a small process per VM that holds the read end of a pipe
 * the VMM writes the guest's serial console into, and appends what it reads
 * to DIR/console.log, rotating it (vmm_log_rotate, vmm_log.h) itself once it
 * is over half of the cap. It runs in its own session and does not need the
 * service that started it: the cap (vm.console_log_max) holds while vmsvc is
 * stopped, killed or restarting. It ends when every writer is gone (the VMM
 * exited), after it wrote what was left; its pidfile, DIR/console-pump.pid,
 * names it until then.
 *
 * With the pump the VMM never writes a file a guest can grow: a pump that is
 * gone (killed by hand) leaves the VMM writing into a pipe nobody reads,
 * which blocks the guest's console (its kernel drops console output after a
 * while), never the disk. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

#define VMM_FILE_CONSOLE_PUMP_PID "console-pump.pid"
/* The most the pump reads at once: console.log and console.log.1 together
 * hold at most the cap plus this. */
#define VMM_CONSOLE_PUMP_READ 4096
/* The first argument of exe (below) that makes it a pump. */
#define VMM_CONSOLE_PUMP_ARG "--console-pump"

/* Starts the pump of dir (exe VMM_CONSOLE_PUMP_ARG dir max, exe "" is
 * refused) and returns the write end of its pipe (O_CLOEXEC, >= 3; the
 * caller hands it to the VMM and closes it). Returns once the pump wrote its
 * pidfile. On failure nothing runs. */
int vmm_console_pump_start(const char *exe, const char *dir, uint64_t max, int *ret_fd,
                           struct bg_error *err);

/* 1 when dir's pump (its pidfile) runs, else 0. */
int vmm_console_pump_alive(const char *dir);

/* Waits up to timeout_ms for dir's pump to end (its VMM should be gone), then
 * SIGKILLs it. 0 when none is left. */
int vmm_console_pump_wait(const char *dir, uint64_t timeout_ms);

/* The pump itself: copies in to dir/console.log (max: vm.console_log_max)
 * until end of file. Returns 0 at end of file, -errno when in fails. */
int vmm_console_pump_run(int in, const char *dir, uint64_t max);

/* main() of a binary called with argv[1] == VMM_CONSOLE_PUMP_ARG: argv[2]
 * the directory, argv[3] the cap in bytes, stdin the pipe. Detaches (the
 * caller of vmm_console_pump_start reaps only the first process), writes the
 * pidfile, pumps, removes the pidfile. Returns the exit code. */
int vmm_console_pump_main(int argc, char **argv);
