/* SSH to a VM's sshd through libssh, as root with the owner's key, checking
 * the server against the host key vmsvc pinned (no trust on first use, no
 * known_hosts file).
 *
 * One bg_ssh is one connection; it is not thread-safe. Commands run in exec
 * channels one after the other. */
#pragma once

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

struct bg_ssh;

struct bg_ssh_target {
        const char *host;     /* IPv4 address or name */
        uint16_t port;        /* 0 = 22 */
        const char *user;     /* NULL = "root" */
        const char *key_path; /* the owner's private key (OpenSSH format) */
        const char *host_key; /* "ssh-ed25519 AAAA… [comment]": the only key accepted */
        uint32_t connect_timeout_ms; /* 0 = 10 s */
};

/* Connect, check the host key, authenticate. Errors: -ECONNREFUSED /
 * -ETIMEDOUT / -EHOSTUNREACH when sshd does not answer (yet), -EPERM for a
 * host key that is not the pinned one or a refused key, -EINVAL for a bad
 * pinned line or key file. */
int bg_ssh_connect(const struct bg_ssh_target *t, struct bg_ssh **ret, struct bg_error *err);
void bg_ssh_close(struct bg_ssh *s);

/* Streams of one command. Every callback may be NULL. */
struct bg_ssh_io {
        /* stdin: fill buf; return bytes, 0 at end of input, -EAGAIN when
         * nothing is ready yet, other -errno to abort. NULL = no input. */
        ssize_t (*in)(void *ud, void *buf, size_t len);
        /* stdout (stream 1) and stderr (stream 2) data; < 0 aborts. */
        int (*out)(void *ud, int stream, const void *buf, size_t len);
        void *ud;
        /* Each increment of *interrupts sends SIGINT to the command; at 3 the
         * channel is closed and the call returns -EINTR. May be NULL. */
        const volatile sig_atomic_t *interrupts;
        /* When it turns true: SIGTERM, then the channel is closed after 2 s
         * and the call returns -ECANCELED. May be NULL. */
        const atomic_bool *cancel;
        uint32_t timeout_ms; /* whole command; 0 = none; -ETIMEDOUT (after SIGKILL) */
        /* Run on a pseudo-terminal of rows x cols (0 = 24x80). */
        bool tty;
        unsigned rows, cols;
        /* Asked on every turn of the loop: a new window size (both > 0 to
         * change it). May be NULL. */
        void (*control)(void *ud, unsigned *ret_rows, unsigned *ret_cols);
};

/* Run command (a shell command line for the remote user's shell) and wait for
 * it. *exit_code gets its exit status, or 128 + N when signal N ended it
 * (255 when sshd reported neither). */
int bg_ssh_exec(struct bg_ssh *s, const char *command, const struct bg_ssh_io *io,
                int *exit_code, struct bg_error *err);

/* A collected output stream: at most max bytes kept (0 = 1 MiB), the rest
 * counted in dropped. */
struct bg_ssh_buf {
        char *data; /* malloc'ed, NUL-terminated */
        size_t len;
        size_t max;
        uint64_t dropped;
};
void bg_ssh_buf_free(struct bg_ssh_buf *b);

/* bg_ssh_exec with stdin from in/in_len and stdout/stderr collected into
 * out/errout (either may be NULL: discarded). */
int bg_ssh_run(struct bg_ssh *s, const char *command, const void *in, size_t in_len,
               struct bg_ssh_buf *out, struct bg_ssh_buf *errout, uint32_t timeout_ms,
               const atomic_bool *cancel, int *exit_code, struct bg_error *err);

/* Quote s as one word for a POSIX shell ('…' with '\'' for quotes) into buf.
 * -E2BIG when it does not fit. */
int bg_shell_quote(const char *s, char *buf, size_t len);
/* The words of argv, each quoted, joined with spaces. */
int bg_shell_join(size_t argc, char *const *argv, char *buf, size_t len);

/* The remote command line that runs argv in cwd (exit 127 with a message
 * when cwd is missing), through `mise exec --` when mise is installed in the
 * guest. -E2BIG when it does not fit. */
int bg_ssh_workspace_command(const char *cwd, size_t argc, char *const *argv, char *out,
                             size_t len);
