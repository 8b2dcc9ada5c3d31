/* `banger-agent recv-tar`: the bulk half of a workspace copy.
 *
 * The host starts it over SSH (the control channel, which authenticates both
 * ends) in the directory to fill, and writes a one-time token to its stdin.
 * It then listens on an ephemeral TCP port, prints "banger-recv PORT\n" on
 * stdout, and takes the first connection whose first 64 bytes are that token;
 * the rest of that connection is a tar stream that `tar -x` unpacks in the
 * current directory. The data skips sshd, whose per-packet work under
 * emulation is what limits a copy (tens of MB/s against hundreds for TCP).
 *
 * A connection with the wrong token is closed and the next one is awaited;
 * nothing is written before the token matched. */
#pragma once

#include <stdint.h>

#define AGENT_RECV_TOKEN_LEN 64 /* hex digits */
#define AGENT_RECV_NO_CLIENT 75 /* exit code: nobody came (EX_TEMPFAIL) */
#define AGENT_RECV_BAD_TOKEN 65 /* exit code: stdin held no valid token */

struct agent_recv_opts {
        int in_fd;                   /* the token, one line */
        int out_fd;                  /* where "banger-recv PORT\n" goes */
        uint32_t bind_addr;          /* network order; 0 = any */
        int accept_ms;               /* how long to wait for the right connection */
        int token_ms;                /* how long a connection may take to send its token */
        const char *const *tar_argv; /* NULL = tar -b 256 -B -xf - --no-same-owner */
};

/* Returns only on failure, as an exit code (the success path execs tar with
 * the connection on its stdin). */
int agent_recv_tar(const struct agent_recv_opts *o);
