#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "manifest.h"
#include "output.h"
#include "util/timeutil.h"

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

void cli_verror(const char *fmt, va_list ap)
{
        /* Messages quote what services, guests and images sent: escaped. */
        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        fprintf(stderr, "banger: %s", msg ? cli_safe_text(msg) : "(out of memory)");
        free(msg);
}

int cli_fail(enum rpc_code code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cli_verror(fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return rpc_code_to_exit(code);
}

int cli_fail_status(const struct rpc_status *st)
{
        char buf[768];
        rpc_status_format(st, buf, sizeof(buf));
        /* One line: a newline a guest put in the message is shown, not obeyed. */
        fprintf(stderr, "banger: %s\n", cli_safe(buf));
        return rpc_code_to_exit(st->code);
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
                                 "banger is not running (no gateway at %s); start it with %s",
                                 url + 6,
                                 cli->paths.system ? "`sudo systemctl start banger-gateway` "
                                                     "(see `banger system status`)"
                                                   : "`banger daemon start`");
                } else if ((err.code == EACCES || err.code == EPERM) && cli->paths.system) {
                        /* The sockets are the owner's, mode 0600. */
                        struct install_manifest m = {0};
                        struct bg_error me = {0};
                        bool have = manifest_load("", &m, &me) == 0;
                        st->code = RPC_PERMISSION_DENIED;
                        snprintf(st->message, sizeof(st->message),
                                 "banger is installed for %s (system mode; %s is theirs, mode "
                                 "0600): run banger as %s, or reinstall for yourself with `sudo "
                                 "banger system install --owner $USER`",
                                 have ? m.owner : "its owner", url + 6,
                                 have ? m.owner : "that user");
                        if (have)
                                manifest_free(&m);
                } else {
                        snprintf(st->message, sizeof(st->message), "%s", err.msg);
                }
                st->op_id[0] = '\0';
                return r;
        }
        return 0;
}

int cli_parse_size(const char *flag, const char *s, uint64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        uint64_t mul = 1;
        if (errno || end == s)
                goto bad;
        switch (*end) {
        case 'K':
        case 'k':
                mul = 1ull << 10;
                end++;
                break;
        case 'M':
        case 'm':
                mul = 1ull << 20;
                end++;
                break;
        case 'G':
        case 'g':
                mul = 1ull << 30;
                end++;
                break;
        case 'T':
        case 't':
                mul = 1ull << 40;
                end++;
                break;
        case '\0':
                break;
        default:
                goto bad;
        }
        if (*end == 'i' && end[1] == 'B')
                end += 2;
        else if (*end == 'B')
                end++;
        if (*end || v > UINT64_MAX / mul)
                goto bad;
        *ret = v * mul;
        return 0;
bad:
        return cli_fail(RPC_INVALID_ARGUMENT, "--%s: '%s' is not a size like 8G or 512M", flag, s);
}

int cli_call(struct cli *cli, const char *method, const ProtobufCMessage *in,
             const ProtobufCMessageDescriptor *od, ProtobufCMessage **out, uint32_t deadline_ms,
             unsigned flags, struct rpc_status *st)
{
        struct rpc_client *c = NULL;
        int r = cli_gateway(cli, &c, st);
        if (r < 0)
                return r;
        struct rpc_call_opts o = {.deadline_ms = deadline_ms, .flags = flags};
        uint64_t t0 = cli_verbose() ? now_mono_msec() : 0;
        r = rpc_call(c, method, in, od, out, &o, st);
        if (cli_verbose()) {
                const char *code = rpc_code_to_string(r < 0 ? st->code : RPC_OK);
                fprintf(stderr, "banger: %s: %s in %llu ms%s%s\n", method, code ? code : "?",
                        (unsigned long long)(now_mono_msec() - t0),
                        r < 0 && st->op_id[0] ? ", op_id " : "", r < 0 ? cli_safe(st->op_id) : "");
        }
        rpc_client_close(c);
        return r;
}

void cli_print_json(json_t *o)
{
        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
}
