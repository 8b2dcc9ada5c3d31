#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_paths(struct cli *cli)
{
        if (cli->paths_ready)
                return 0;
        struct bg_error err = {0};
        int r = bg_paths_init(&cli->paths, BG_PATHS_AUTO, &err);
        if (r < 0)
                return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        cli->paths_ready = true;
        return 0;
}

int cli_fail(enum rpc_code code, const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "banger: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return rpc_code_to_exit(code);
}

int cli_fail_status(const struct rpc_status *st)
{
        char buf[768];
        rpc_status_format(st, buf, sizeof(buf));
        return cli_fail(st->code, "%s", buf);
}

int cli_gateway(struct cli *cli, struct rpc_client **ret, struct rpc_status *st)
{
        char url[200];
        struct bg_error err = {0};
        int r = cli_paths(cli);
        if (r != 0) {
                st->code = RPC_INVALID_ARGUMENT;
                snprintf(st->message, sizeof(st->message), "cannot work out banger's paths");
                return -EINVAL;
        }
        r = bg_paths_socket_url(&cli->paths, "gateway", url, sizeof(url));
        if (r < 0) {
                st->code = RPC_INVALID_ARGUMENT;
                snprintf(st->message, sizeof(st->message), "gateway socket path is too long");
                return r;
        }
        struct rpc_client_opts o = {.block_connect = true};
        r = rpc_client_open(url, &o, ret, &err);
        if (r < 0) {
                st->code = rpc_code_from_errno(err.code);
                if (err.code == ECONNREFUSED || err.code == ENOENT) {
                        st->code = RPC_UNAVAILABLE;
                        snprintf(st->message, sizeof(st->message),
                                 "banger is not running (no gateway at %s); start it with "
                                 "`banger daemon start`",
                                 url + 6);
                } else {
                        snprintf(st->message, sizeof(st->message), "%s", err.msg);
                }
                st->op_id[0] = '\0';
                return r;
        }
        return 0;
}
