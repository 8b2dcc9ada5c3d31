/* The shim v2 process protocol: containerd runs
 *   containerd-shim-banger-v2 -namespace NS -address A -publish-binary B -id ID start
 * in the bundle directory and reads the ttrpc address from stdout; the
 * process that prints it has left a serving shim behind (setsid'd, holding
 * the listening socket). `delete` is run when that shim is gone, to clean
 * up; it prints a packed DeleteResponse. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/vm.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "log/log.h"
#include "process.h"
#include "rootfs.h"
#include "pod.h"
#include "shim.h"
#include "util/fs.h"

#define LISTEN_FD_ENV "BANGER_SHIM_LISTEN_FD"

static int sha256_hex(const char *s, char out[65])
{
        unsigned char md[32];
        unsigned int n = 0;
        if (!EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) || n != 32)
                return -EIO;
        for (int i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", md[i]);
        return 0;
}

int shim_vm_name(const char *ns, const char *id, char *out, size_t len)
{
        char buf[SHIM_MAX_NS + SHIM_MAX_ID + 2], hex[65];
        snprintf(buf, sizeof(buf), "%s/%s", ns, id);
        int r = sha256_hex(buf, hex);
        if (r < 0)
                return r;
        return snprintf(out, len, "ctr-%.16s", hex) < (int)len ? 0 : -ENAMETOOLONG;
}

int shim_socket_address(const struct shim_opts *o, char *path, size_t path_len)
{
        const char *dir = getenv("BANGER_SHIM_SOCKET_DIR");
        if (!dir || !dir[0])
                dir = SHIM_DEFAULT_SOCKET_DIR;
        char buf[PATH_MAX + 2 * SHIM_MAX_ID + 4], hex[65];
        /* containerd 1.6: filepath.Join(address, namespace, id). */
        snprintf(buf, sizeof(buf), "%s/%s/%s", o->address, o->ns, o->id);
        int r = sha256_hex(buf, hex);
        if (r < 0)
                return r;
        struct sockaddr_un a;
        if (snprintf(path, path_len, "%s/%s", dir, hex) >= (int)path_len ||
            strlen(path) >= sizeof(a.sun_path))
                return -ENAMETOOLONG;
        return 0;
}

static bool valid_name(const char *s, size_t max)
{
        size_t n = strlen(s);
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
                        return false;
        }
        return true;
}

int shim_parse_args(int argc, char **argv, struct shim_opts *o, const char **ret_action)
{
        *o = (struct shim_opts){0};
        const char *action = "";
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (a[0] != '-') {
                        action = a;
                        if (i + 1 < argc) {
                                fprintf(stderr,
                                        "containerd-shim-banger-v2: unexpected '%s' after "
                                        "the action\n",
                                        argv[i + 1]);
                                return -EINVAL;
                        }
                        break;
                }
                a += a[1] == '-' ? 2 : 1;
                char name[32];
                const char *val = NULL;
                const char *eq = strchr(a, '=');
                snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
                if (strcmp(name, "debug") == 0) {
                        o->debug = !eq || strcmp(eq + 1, "true") == 0;
                        continue;
                }
                if (strcmp(name, "v") == 0) {
                        action = "version";
                        continue;
                }
                if (eq)
                        val = eq + 1;
                else if (i + 1 < argc)
                        val = argv[++i];
                else {
                        fprintf(stderr, "containerd-shim-banger-v2: -%s needs a value\n", name);
                        return -EINVAL;
                }
                char *dst = NULL;
                size_t cap = 0;
                if (strcmp(name, "namespace") == 0)
                        dst = o->ns, cap = sizeof(o->ns);
                else if (strcmp(name, "id") == 0)
                        dst = o->id, cap = sizeof(o->id);
                else if (strcmp(name, "address") == 0)
                        dst = o->address, cap = sizeof(o->address);
                else if (strcmp(name, "bundle") == 0)
                        dst = o->bundle, cap = sizeof(o->bundle);
                else if (strcmp(name, "publish-binary") == 0 || strcmp(name, "socket") == 0)
                        continue; /* events are not published yet; the socket is computed */
                else {
                        fprintf(stderr, "containerd-shim-banger-v2: unknown flag -%s\n", name);
                        return -EINVAL;
                }
                if (strlen(val) >= cap) {
                        fprintf(stderr, "containerd-shim-banger-v2: -%s is too long\n", name);
                        return -EINVAL;
                }
                snprintf(dst, cap, "%s", val);
        }
        if (strcmp(action, "version") == 0) {
                *ret_action = action;
                return 0;
        }
        if (!valid_name(o->ns, SHIM_MAX_NS) || !valid_name(o->id, SHIM_MAX_ID)) {
                fprintf(stderr, "containerd-shim-banger-v2: -namespace and -id are required "
                                "([A-Za-z0-9._-], at most 76 characters)\n");
                return -EINVAL;
        }
        if (!o->bundle[0] && !getcwd(o->bundle, sizeof(o->bundle))) {
                fprintf(stderr, "containerd-shim-banger-v2: cannot get the working directory\n");
                return -EINVAL;
        }
        if (o->bundle[0] != '/') {
                fprintf(stderr, "containerd-shim-banger-v2: -bundle must be absolute\n");
                return -EINVAL;
        }
        if (strcmp(action, "") != 0 && strcmp(action, "start") != 0 &&
            strcmp(action, "delete") != 0) {
                fprintf(stderr, "containerd-shim-banger-v2: unknown action '%s' (start, delete)\n",
                        action);
                return -EINVAL;
        }
        *ret_action = action;
        return 0;
}

/* True when something answers on path (a live shim for this task). */
static bool socket_live(const char *path)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        return ok;
}

int shim_cmd_start(const struct shim_opts *o, int argc, char **argv)
{
        char path[PATH_MAX];
        int r = shim_socket_address(o, path, sizeof(path));
        if (r < 0) {
                fprintf(stderr, "containerd-shim-banger-v2: socket path: %s\n", strerror(-r));
                return 1;
        }
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = '\0';
        r = mkdir_p(dir, 0711);
        if (r < 0) {
                fprintf(stderr, "containerd-shim-banger-v2: mkdir %s: %s\n", dir, strerror(-r));
                return 1;
        }
        if (socket_live(path)) {
                /* A shim for this task already serves: containerd reuses it. */
                printf("unix://%s", path);
                return 0;
        }
        unlink(path);                             /* a stale socket of a shim that died */
        int fd = socket(AF_UNIX, SOCK_STREAM, 0); /* no CLOEXEC: handed to the child */
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        mode_t old = umask(0177); /* 0600: only our uid (and root) may connect */
        r = fd < 0 ? -errno : bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
        umask(old);
        if (r == 0 && listen(fd, 16) < 0)
                r = -errno;
        if (r < 0) {
                fprintf(stderr, "containerd-shim-banger-v2: listen on %s: %s\n", path,
                        strerror(-r));
                if (fd >= 0)
                        close(fd);
                return 1;
        }

        pid_t pid = fork();
        if (pid < 0) {
                fprintf(stderr, "containerd-shim-banger-v2: fork: %s\n", strerror(errno));
                unlink(path);
                return 1;
        }
        if (pid == 0) {
                setsid();
                if (fd != 3) {
                        dup2(fd, 3);
                        close(fd);
                }
                int nul = open("/dev/null", O_RDWR);
                /* containerd reads the bundle's "log" FIFO for the shim's logs. */
                int logfd = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (logfd >= 0) {
                        int fl = fcntl(logfd, F_GETFL);
                        fcntl(logfd, F_SETFL, fl & ~O_NONBLOCK);
                }
                dup2(nul, 0);
                dup2(nul, 1);
                dup2(logfd >= 0 ? logfd : nul, 2);
                if (nul > 2)
                        close(nul);
                if (logfd > 2)
                        close(logfd);
                for (int k = 4; k < 1024; k++)
                        close(k);
                setenv(LISTEN_FD_ENV, "3", 1);
                /* Same flags, no action: the serving shim. */
                char *args[32];
                int n = 0;
                for (int i = 0; i < argc && n < 31; i++)
                        if (strcmp(argv[i], "start") != 0)
                                args[n++] = argv[i];
                args[n] = NULL;
                execv("/proc/self/exe", args);
                _exit(127);
        }
        close(fd);
        /* containerd reloads tasks after a restart from the bundle's address file. */
        FILE *f = fopen("address", "we");
        if (f) {
                fprintf(f, "unix://%s", path);
                fclose(f);
        }
        printf("unix://%s", path);
        return 0;
}

int shim_cmd_delete(const struct shim_opts *o)
{
        struct shim_ctx c = {.opts = *o};
        pthread_mutex_init(&c.lock, NULL);
        pthread_cond_init(&c.changed, NULL);
        int rc = 0;
        if (shim_vm_name(o->ns, o->id, c.vm, sizeof(c.vm)) < 0)
                return 1;
        Banger__V1__DeleteVmRequest dq = BANGER__V1__DELETE_VM_REQUEST__INIT;
        dq.ref = c.vm;
        dq.force = true;
        Banger__V1__DeleteVmResponse *out = NULL;
        struct bg_error err = {0};
        int r = shim_gw_call(&c, "/banger.v1.VmService/Delete", &dq.base,
                             &banger__v1__delete_vm_response__descriptor, (ProtobufCMessage **)&out,
                             30000, &err);
        if (r >= 0)
                banger__v1__delete_vm_response__free_unpacked(out, NULL);
        else if (r != -ENOENT) {
                fprintf(stderr, "containerd-shim-banger-v2: delete VM %s: %s\n", c.vm, err.msg);
                rc = 1;
        }
        /* A pod's container: its tree in the sandbox's VM (pod.h), if the
         * VM is still there. */
        struct bundle_process proc = {0};
        struct bg_error berr = {0};
        char svm[64], root[128];
        if (bundle_load(o->bundle, &proc, &berr) >= 0 &&
            strcmp(proc.container_type, "container") == 0 &&
            shim_vm_name(o->ns, proc.sandbox_id, svm, sizeof(svm)) == 0 &&
            shim_pod_root(o->ns, o->id, root, sizeof(root)) == 0) {
                bg_error_clear(&err);
                r = shim_pod_remove(&c, svm, root, &err);
                if (r < 0 && r != -ENOENT)
                        fprintf(stderr, "containerd-shim-banger-v2: remove %s in VM %s: %s\n",
                                root, svm, err.msg);
        }
        bundle_process_free(&proc);
        rootfs_unmount(o->bundle);
        char path[PATH_MAX];
        if (shim_socket_address(o, path, sizeof(path)) == 0)
                unlink(path);
        if (c.gw)
                rpc_client_close(c.gw);
        if (rc)
                return rc;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        t.seconds = ts.tv_sec;
        t.nanos = (int32_t)ts.tv_nsec;
        Containerd__Task__V2__DeleteResponse d = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
        d.exit_status = 128 + SIGKILL; /* as runc's shim reports a task it cleaned up */
        d.exited_at = &t;
        uint8_t *b = NULL;
        size_t n = 0;
        if (ttrpc_pack(&d.base, &b, &n) < 0)
                return 1;
        fwrite(b, 1, n, stdout);
        free(b);
        return 0;
}

int shim_serve(const struct shim_opts *o, int listen_fd)
{
        struct shim_ctx *c = calloc(1, sizeof(*c));
        if (!c)
                return 1;
        c->opts = *o;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->changed, NULL);
        if (shim_vm_name(o->ns, o->id, c->vm, sizeof(c->vm)) < 0)
                return 1;
        signal(SIGPIPE, SIG_IGN);
        struct bg_error eerr = {0};
        if (shim_proc_init(c, &c->init) < 0 ||
            shim_events_start(c, getenv("TTRPC_ADDRESS"), &eerr) < 0) {
                fprintf(stderr, "containerd-shim-banger-v2: %s\n",
                        eerr.msg[0] ? eerr.msg : "out of file descriptors");
                return 1;
        }
        struct ttrpc_server_config cfg = {.listen_fd = listen_fd,
                                          .methods = shim_task_methods,
                                          .n_methods = shim_task_n_methods,
                                          .ud = c};
        struct bg_error err = {0};
        if (ttrpc_server_new(&cfg, &c->srv, &err) < 0) {
                fprintf(stderr, "containerd-shim-banger-v2: %s\n", err.msg);
                return 1;
        }
        fprintf(stderr, "containerd-shim-banger-v2: serving task %s/%s (VM %s)\n", o->ns, o->id,
                c->vm);
        int r = ttrpc_server_run(c->srv);
        rootfs_unmount(o->bundle);
        char path[PATH_MAX];
        if (shim_socket_address(o, path, sizeof(path)) == 0)
                unlink(path);
        if (r < 0)
                fprintf(stderr, "containerd-shim-banger-v2: serve: %s\n", strerror(-r));
        /* The process exits now: the pump thread (if any) ends with it. */
        return r < 0 ? 1 : 0;
}

int shim_listen_fd_from_env(void)
{
        const char *v = getenv(LISTEN_FD_ENV);
        if (!v || strcmp(v, "3") != 0)
                return -1;
        unsetenv(LISTEN_FD_ENV);
        struct stat st;
        if (fstat(3, &st) < 0 || !S_ISSOCK(st.st_mode))
                return -1;
        fcntl(3, F_SETFD, FD_CLOEXEC);
        return 3;
}
