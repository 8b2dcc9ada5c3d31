#include "ssh.h"

#include <errno.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

struct bg_ssh {
        ssh_session sess;
        char host[256];
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void init_libssh(void)
{
        ssh_init();
}

/* libssh reports errors as text only; map the common ones for callers that
 * retry until sshd is up. */
static int ssh_errno(const char *msg)
{
        if (strstr(msg, "refused"))
                return -ECONNREFUSED;
        if (strstr(msg, "imeout") || strstr(msg, "timed out"))
                return -ETIMEDOUT;
        if (strstr(msg, "nreachable") || strstr(msg, "No route"))
                return -EHOSTUNREACH;
        return -EIO;
}

static int pinned_key(const char *line, ssh_key *ret, char *type, size_t type_len,
                      struct bg_error *err)
{
        char buf[1024];
        if (!line || strlen(line) >= sizeof(buf))
                return bg_error_set(err, EINVAL, "no usable pinned host key for this VM");
        snprintf(buf, sizeof(buf), "%s", line);
        char *save = NULL;
        char *t = strtok_r(buf, " \t\n", &save);
        char *b64 = t ? strtok_r(NULL, " \t\n", &save) : NULL;
        if (!t || !b64)
                return bg_error_set(err, EINVAL, "the pinned host key is not \"TYPE BASE64\"");
        enum ssh_keytypes_e kt = ssh_key_type_from_name(t);
        if (kt == SSH_KEYTYPE_UNKNOWN || ssh_pki_import_pubkey_base64(b64, kt, ret) != SSH_OK)
                return bg_error_set(err, EINVAL, "the pinned host key (%s) cannot be read", t);
        snprintf(type, type_len, "%s", t);
        return 0;
}

int bg_ssh_connect(const struct bg_ssh_target *t, struct bg_ssh **ret, struct bg_error *err)
{
        pthread_once(&init_once, init_libssh);
        *ret = NULL;
        char ktype[64];
        ssh_key pin = NULL, srv = NULL, priv = NULL;
        int r = pinned_key(t->host_key, &pin, ktype, sizeof(ktype), err);
        if (r < 0)
                return r;
        struct bg_ssh *s = calloc(1, sizeof(*s));
        if (!s || !(s->sess = ssh_new())) {
                free(s);
                ssh_key_free(pin);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        snprintf(s->host, sizeof(s->host), "%s", t->host);
        unsigned port = t->port ? t->port : 22;
        long usec = (long)(t->connect_timeout_ms ? t->connect_timeout_ms : 10000) * 1000;
        bool no = false;
        int verbosity = SSH_LOG_NOLOG;
        ssh_options_set(s->sess, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
        ssh_options_set(s->sess, SSH_OPTIONS_PROCESS_CONFIG, &no);
        ssh_options_set(s->sess, SSH_OPTIONS_HOST, t->host);
        ssh_options_set(s->sess, SSH_OPTIONS_PORT, &port);
        ssh_options_set(s->sess, SSH_OPTIONS_USER, t->user ? t->user : "root");
        ssh_options_set(s->sess, SSH_OPTIONS_TIMEOUT_USEC, &usec);
        ssh_options_set(s->sess, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
        ssh_options_set(s->sess, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
        /* Ask only for the pinned key's type, so a server with several keys
         * shows the one we can check. */
        ssh_options_set(s->sess, SSH_OPTIONS_HOSTKEYS, ktype);

        if (ssh_connect(s->sess) != SSH_OK) {
                const char *m = ssh_get_error(s->sess);
                r = bg_error_set(err, -ssh_errno(m), "ssh to %s:%u: %s", t->host, port, m);
                goto fail;
        }
        if (ssh_get_server_publickey(s->sess, &srv) != SSH_OK ||
            ssh_key_cmp(srv, pin, SSH_KEY_CMP_PUBLIC) != 0) {
                r = bg_error_set(err, EPERM,
                                 "ssh to %s: the server's host key is not the one banger pinned "
                                 "for this VM (refusing to connect)",
                                 t->host);
                goto fail;
        }
        if (ssh_pki_import_privkey_file(t->key_path, NULL, NULL, NULL, &priv) != SSH_OK) {
                r = bg_error_set(err, EINVAL, "cannot read the ssh key %s", t->key_path);
                goto fail;
        }
        if (ssh_userauth_publickey(s->sess, NULL, priv) != SSH_AUTH_SUCCESS) {
                r = bg_error_set(err, EPERM, "ssh to %s: the key %s was refused: %s", t->host,
                                 t->key_path, ssh_get_error(s->sess));
                goto fail;
        }
        ssh_key_free(pin);
        ssh_key_free(srv);
        ssh_key_free(priv);
        *ret = s;
        return 0;
fail:
        ssh_key_free(pin);
        ssh_key_free(srv);
        ssh_key_free(priv);
        bg_ssh_close(s);
        return r;
}

void bg_ssh_close(struct bg_ssh *s)
{
        if (!s)
                return;
        if (s->sess) {
                ssh_disconnect(s->sess);
                ssh_free(s->sess);
        }
        free(s);
}

struct exit_info {
        int signo; /* from exit-signal; 0 = none */
};

static int signo_of(const char *name)
{
        static const struct {
                const char *n;
                int s;
        } tab[] = {{"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"FPE", SIGFPE},   {"HUP", SIGHUP},
                   {"ILL", SIGILL},   {"INT", SIGINT},   {"KILL", SIGKILL}, {"PIPE", SIGPIPE},
                   {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
                   {"USR2", SIGUSR2}, {"BUS", SIGBUS},   {"TRAP", SIGTRAP}, {"SYS", SIGSYS}};
        for (size_t i = 0; name && i < sizeof(tab) / sizeof(tab[0]); i++)
                if (strcmp(name, tab[i].n) == 0)
                        return tab[i].s;
        return SIGTERM;
}

static void on_exit_signal(ssh_session session, ssh_channel channel, const char *signal, int core,
                           const char *errmsg, const char *lang, void *userdata)
{
        (void)session, (void)channel, (void)core, (void)errmsg, (void)lang;
        ((struct exit_info *)userdata)->signo = signo_of(signal);
}

/* Moves whatever the channel has buffered on both streams to io->out.
 * Returns bytes moved, or < 0. */
static int drain(ssh_channel ch, const struct bg_ssh_io *io, char *buf, size_t len,
                 struct bg_error *err)
{
        int moved = 0;
        for (int is_err = 0; is_err <= 1; is_err++) {
                for (;;) {
                        int n = ssh_channel_read_nonblocking(ch, buf, (uint32_t)len, is_err);
                        if (n == SSH_ERROR)
                                return bg_error_set(err, EIO, "ssh: reading the command's output failed");
                        if (n <= 0)
                                break;
                        moved += n;
                        if (io && io->out) {
                                int r = io->out(io->ud, is_err ? 2 : 1, buf, (size_t)n);
                                if (r < 0)
                                        return bg_error_errno(err, r, "ssh: handling output");
                        }
                }
        }
        return moved;
}

int bg_ssh_exec(struct bg_ssh *s, const char *command, const struct bg_ssh_io *io,
                int *exit_code, struct bg_error *err)
{
        *exit_code = 255;
        ssh_channel ch = ssh_channel_new(s->sess);
        if (!ch)
                return bg_error_set(err, ENOMEM, "ssh: no channel");
        struct exit_info xi = {0};
        struct ssh_channel_callbacks_struct cb = {
            .userdata = &xi,
            .channel_exit_signal_function = on_exit_signal,
        };
        ssh_callbacks_init(&cb);
        ssh_set_channel_callbacks(ch, &cb);
        int r = 0;
        unsigned rows = io && io->rows ? io->rows : 24, cols = io && io->cols ? io->cols : 80;
        if (ssh_channel_open_session(ch) != SSH_OK ||
            (io && io->tty &&
             ssh_channel_request_pty_size(ch, "xterm", (int)cols, (int)rows) != SSH_OK) ||
            ssh_channel_request_exec(ch, command) != SSH_OK) {
                r = bg_error_set(err, EIO, "ssh to %s: cannot start the command: %s", s->host,
                                 ssh_get_error(s->sess));
                ssh_channel_free(ch);
                return r;
        }
        ssh_event ev = ssh_event_new();
        if (!ev || ssh_event_add_session(ev, s->sess) != SSH_OK) {
                ssh_event_free(ev);
                ssh_channel_close(ch);
                ssh_channel_free(ch);
                return bg_error_set(err, ENOMEM, "ssh: no event loop");
        }
        bool in_open = io && io->in;
        if (!in_open)
                ssh_channel_send_eof(ch);
        size_t blen = 64 * 1024;
        char *buf = malloc(blen);
        if (!buf) {
                r = bg_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        uint64_t t0 = now_mono_msec();
        sig_atomic_t seen_int = io && io->interrupts ? *io->interrupts : 0;
        uint64_t cancel_at = 0;
        bool killed = false;
        for (;;) {
                int moved = drain(ch, io, buf, blen, err);
                if (moved < 0) {
                        r = moved;
                        break;
                }
                bool busy = moved > 0;
                if (in_open) {
                        ssize_t n = io->in(io->ud, buf, blen);
                        if (n == 0) {
                                ssh_channel_send_eof(ch);
                                in_open = false;
                        } else if (n > 0) {
                                busy = true;
                                if (ssh_channel_write(ch, buf, (uint32_t)n) != n) {
                                        /* The command stopped reading (exited): its status says why. */
                                        in_open = false;
                                }
                        } else if (n != -EAGAIN) {
                                r = bg_error_errno(err, (int)n, "ssh: reading the command's input");
                                break;
                        }
                }
                if (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch)) {
                        if (drain(ch, io, buf, blen, err) == 0)
                                break;
                        continue;
                }
                if (io && io->interrupts && *io->interrupts != seen_int) {
                        seen_int = *io->interrupts;
                        if (seen_int >= 3) {
                                r = bg_error_set(err, EINTR, "interrupted");
                                break;
                        }
                        ssh_channel_request_send_signal(ch, "INT");
                }
                if (io && io->control) {
                        unsigned wr = 0, wc = 0;
                        io->control(io->ud, &wr, &wc);
                        if (io->tty && wr > 0 && wc > 0)
                                ssh_channel_change_pty_size(ch, (int)wc, (int)wr);
                }
                uint64_t now = now_mono_msec();
                if (io && io->cancel && atomic_load(io->cancel) && !cancel_at) {
                        ssh_channel_request_send_signal(ch, "TERM");
                        cancel_at = now;
                }
                if (cancel_at && now - cancel_at > 2000) {
                        r = bg_error_set(err, ECANCELED, "cancelled");
                        break;
                }
                if (io && io->timeout_ms && now - t0 > io->timeout_ms && !killed) {
                        ssh_channel_request_send_signal(ch, "KILL");
                        killed = true;
                        r = bg_error_set(err, ETIMEDOUT, "the command ran longer than %u ms",
                                         io->timeout_ms);
                        break;
                }
                /* While input flows, its callback does the waiting. */
                if (!busy && ssh_event_dopoll(ev, in_open ? 0 : 100) == SSH_ERROR) {
                        r = bg_error_set(err, EIO, "ssh to %s: connection lost: %s", s->host,
                                         ssh_get_error(s->sess));
                        break;
                }
        }
        if (r == 0) {
                int st = ssh_channel_get_exit_status(ch);
                if (xi.signo)
                        *exit_code = 128 + xi.signo;
                else if (st >= 0)
                        *exit_code = st;
        }
out:
        free(buf);
        ssh_event_remove_session(ev, s->sess);
        ssh_event_free(ev);
        ssh_channel_close(ch);
        ssh_channel_free(ch);
        return r;
}

void bg_ssh_buf_free(struct bg_ssh_buf *b)
{
        if (!b)
                return;
        free(b->data);
        b->data = NULL;
        b->len = 0;
        b->dropped = 0;
}

struct run_ud {
        const char *in;
        size_t in_len, in_off;
        struct bg_ssh_buf *bufs[3];
};

static ssize_t run_in(void *ud, void *buf, size_t len)
{
        struct run_ud *u = ud;
        size_t n = u->in_len - u->in_off;
        if (n > len)
                n = len;
        memcpy(buf, u->in + u->in_off, n);
        u->in_off += n;
        return (ssize_t)n;
}

static int run_out(void *ud, int stream, const void *data, size_t len)
{
        struct run_ud *u = ud;
        struct bg_ssh_buf *b = u->bufs[stream];
        if (!b)
                return 0;
        size_t max = b->max ? b->max : (1u << 20);
        size_t take = b->len < max ? max - b->len : 0;
        if (take > len)
                take = len;
        if (take) {
                char *p = realloc(b->data, b->len + take + 1);
                if (!p)
                        return -ENOMEM;
                memcpy(p + b->len, data, take);
                b->data = p;
                b->len += take;
                b->data[b->len] = '\0';
        }
        b->dropped += len - take;
        return 0;
}

int bg_ssh_run(struct bg_ssh *s, const char *command, const void *in, size_t in_len,
               struct bg_ssh_buf *out, struct bg_ssh_buf *errout, uint32_t timeout_ms,
               const atomic_bool *cancel, int *exit_code, struct bg_error *err)
{
        struct run_ud u = {.in = in, .in_len = in_len, .bufs = {NULL, out, errout}};
        for (int i = 1; i <= 2; i++)
                if (u.bufs[i] && !u.bufs[i]->data && !(u.bufs[i]->data = calloc(1, 1)))
                        return bg_error_set(err, ENOMEM, "out of memory");
        struct bg_ssh_io io = {
            .in = in ? run_in : NULL,
            .out = run_out,
            .ud = &u,
            .cancel = cancel,
            .timeout_ms = timeout_ms,
        };
        return bg_ssh_exec(s, command, &io, exit_code, err);
}

int bg_shell_quote(const char *s, char *buf, size_t len)
{
        size_t pos = 0;
        if (len < 3)
                return -E2BIG;
        buf[pos++] = '\'';
        for (; *s; s++) {
                const char *piece = *s == '\'' ? "'\\''" : NULL;
                size_t n = piece ? 4 : 1;
                if (pos + n + 2 > len)
                        return -E2BIG;
                if (piece)
                        memcpy(buf + pos, piece, n);
                else
                        buf[pos] = *s;
                pos += n;
        }
        buf[pos++] = '\'';
        buf[pos] = '\0';
        return 0;
}

int bg_shell_join(size_t argc, char *const *argv, char *buf, size_t len)
{
        size_t pos = 0;
        if (len == 0)
                return -E2BIG;
        buf[0] = '\0';
        for (size_t i = 0; i < argc; i++) {
                if (i) {
                        if (pos + 2 > len)
                                return -E2BIG;
                        buf[pos++] = ' ';
                }
                int r = bg_shell_quote(argv[i], buf + pos, len - pos);
                if (r < 0)
                        return r;
                pos += strlen(buf + pos);
        }
        return 0;
}

int bg_ssh_workspace_command(const char *cwd, size_t argc, char *const *argv, char *out, size_t len)
{
        char qcwd[4200], words[65536];
        if (bg_shell_quote(cwd, qcwd, sizeof(qcwd)) < 0 ||
            bg_shell_join(argc, argv, words, sizeof(words)) < 0)
                return -E2BIG;
        int n = snprintf(out, len,
                         "cd %s 2>/dev/null || { printf 'banger: no directory %%s in the VM\\n' "
                         "%s >&2; exit 127; }; if command -v mise >/dev/null 2>&1; then exec mise exec -- "
                         "%s; else exec %s; fi",
                         qcwd, qcwd, words, words);
        return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}
