/* The Firecracker VMM driver (vmm_firecracker_driver in vmm.h) and how it
 * explains an exit. Its configuration is fc_config.h, the installed binary
 * fc_version.h, the jailer fc_jailer.h. */
#pragma once

#include "vmm/vmm.h"

/* Timeouts of the driver (ms): the API socket to appear, the process to go
 * after SIGKILL. */
#define FC_SOCKET_TIMEOUT_MS 5000
#define FC_KILL_TIMEOUT_MS 5000

/* Firecracker's process exit codes (src/vmm/src/lib.rs FcExitCode):
 * 0 Ok, 1 GenericError, 2 UnexpectedError, 148 BadSyscall, 149 SIGBUS,
 * 150 SIGSEGV, 151 SIGXFSZ, 152 BadConfiguration, 153 ArgParsing, 154 SIGXCPU,
 * 155 SIGPIPE, 156 SIGHUP, 157 SIGILL. */
const char *fc_exit_code_to_string(int code);   /* "BadSyscall"; NULL if unknown */
int fc_exit_code_from_string(const char *name); /* 148; -EINVAL if unknown */
const char *fc_exit_code_describe(int code);    /* readable sentence; NULL if unknown */
