/* Running commands in a VM for `vm exec`, `vm run` and `vm cp`: the options
 * they share (-e, -w, -i, -t, --timeout, --ssh) and the guest agent's exec
 * stream (lib/agent/agent_exec.h), reached through the VM's agent socket in
 * its directory, which the owner running the CLI can open (like its SSH key:
 * the CLI talks to its own guests directly). SSH stays as the fallback. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "util/error.h"

/* The exit code for a command stopped by --timeout (as timeout(1)). */
#define EXEC_EXIT_TIMEOUT 124

struct exec_opts {
        char **env; /* "KEY=VALUE" from -e, n_env of them (borrowed from argv) */
        size_t n_env;
        const char *cwd;     /* -w, NULL = the command's default */
        bool tty;            /* -t */
        bool in;             /* -i */
        bool force_ssh;      /* --ssh */
        uint64_t timeout_ms; /* --timeout, 0 = none */
};

/* Reads -e/-w/-i/-t/--timeout/--ssh of the running command. Prints the
 * error and returns its exit code (> 0) on bad input, else 0. */
int exec_opts_parse(struct cli *cli, struct exec_opts *o);

/* Parses "90", "90s", "500ms", "5m", "2h" into milliseconds (> 0). */
int exec_parse_duration(const char *s, uint64_t *ret_ms);

/* Where the command's streams go. in_fd: read for its stdin (-1 = none);
 * out_fd, err_fd: its stdout and stderr (written fully, blocking). */
struct exec_io {
        int in_fd;
        int out_fd;
        int err_fd;
        bool quiet_signals; /* do not forward Ctrl-C (vm cp handles none) */
        /* Called after input was sent or output written: totals so far. */
        void (*on_bytes)(void *ud, uint64_t sent, uint64_t received);
        void *ud;
};

/* The agent socket of VM id. */
void exec_agent_socket(struct cli *cli, const char *vm_id, char *buf, size_t len);

/* Runs argv in the VM through its guest agent. Returns 0 with *ret_code the
 * command's exit code (128+N for signal N, EXEC_EXIT_TIMEOUT after a
 * timeout, 126/127 with a message when it could not start); -EAGAIN when
 * the agent cannot be used (no socket, owned by someone else, busy, too old:
 * the reason in err; use SSH); or another -errno with err set. */
int exec_via_agent(struct cli *cli, const char *vm_id, const char *vmm, size_t argc,
                   char *const *argv, const char *cwd, const struct exec_opts *o,
                   const struct exec_io *io, int *ret_code, struct bg_error *err);

/* A VM whose init is banger's agent (vm create --init agent) has no sshd:
 * prints that (what was to be done over SSH: what) and returns the exit code
 * for it; 0 when the VM may have sshd. */
int exec_refuse_ssh(const char *name, const char *init, const char *what);

/* The remote shell line for SSH: exports of o->env, then line. malloc()ed. */
char *exec_ssh_line(const struct exec_opts *o, const char *line);

/* -t over SSH: the ssh client with banger's config (CONFIG/ssh/config, the
 * pinned host key) and -tt; --timeout through timeout(1) in the guest.
 * Returns ssh's exit code or a CLI failure code. */
int exec_ssh_tty(struct cli *cli, const char *vm_name, const char *line, bool in,
                 uint64_t timeout_ms);
