/* A fake /proc tree for the guest agent's unit tests: two processes holding
 * sockets, /proc/net tables, uptime, boot id, stat, meminfo, loadavg, vmstat. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void fixture_write(const char *root, const char *rel, const char *content)
{
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        /* mkdir -p the parent */
        for (char *p = path + strlen(root) + 1; *p; p++) {
                if (*p == '/') {
                        *p = '\0';
                        mkdir(path, 0755);
                        *p = '/';
                }
        }
        FILE *f = fopen(path, "we");
        if (!f)
                abort();
        fputs(content, f);
        fclose(f);
}

static inline void fixture_link(const char *root, const char *rel, const char *target)
{
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        if (symlink(target, path) < 0)
                abort();
}

#define FIXTURE_TCP                                                                                \
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "      \
        "timeout inode\n"                                                                          \
        "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0    "    \
        "    0 1001 1 0000000000000000 100 0 0 10 0\n"                                             \
        "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000    "    \
        "    0 1002 1 0000000000000000 100 0 0 10 0\n"                                             \
        "   2: 0F02000A:0016 0202000A:D431 01 00000000:00000000 02:000A7E4C 00000000     0    "    \
        "    0 1003 4 0000000000000000 20 4 27 10 -1\n"                                            \
        "garbage line that is not a socket\n"

#define FIXTURE_TCP6                                                                               \
        "  sl  local_address                         remote_address                        st "    \
        "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"                            \
        "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A "    \
        "00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 100 0 0 "   \
        "10 0\n"                                                                                   \
        "   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A "    \
        "00000000:00000000 00:00000000 00000000     0        0 1005 1 0000000000000000 100 0 0 "   \
        "10 0\n"

#define FIXTURE_UDP                                                                                \
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "     \
        "timeout inode ref pointer drops\n"                                                        \
        "  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101   "    \
        "     0 1006 2 0000000000000000 0\n"                                                       \
        "  101: 0F02000A:8CA0 08080808:0035 01 00000000:00000000 00:00000000 00000000     0   "    \
        "     0 1007 2 0000000000000000 0\n"

static inline char *fixture_proc_new(void)
{
        char tmpl[] = "/tmp/banger-agent-procXXXXXX";
        char *root = mkdtemp(tmpl) ? strdup(tmpl) : NULL;
        if (!root)
                abort();
        fixture_write(root, "net/tcp", FIXTURE_TCP);
        fixture_write(root, "net/tcp6", FIXTURE_TCP6);
        fixture_write(root, "net/udp", FIXTURE_UDP);
        /* no net/udp6: a kernel without it must not be an error */
        fixture_write(root, "100/comm", "sshd\n");
        mkdir(strcat(strcpy((char[1024]){0}, root), "/100/fd"), 0755);
        fixture_link(root, "100/fd/3", "socket:[1001]");
        fixture_link(root, "100/fd/4", "socket:[1004]");
        fixture_link(root, "100/fd/5", "/dev/null");
        fixture_write(root, "200/comm", "python3\n");
        mkdir(strcat(strcpy((char[1024]){0}, root), "/200/fd"), 0755);
        fixture_link(root, "200/fd/7", "socket:[1002]");
        fixture_link(root, "200/fd/8", "socket:[1002]");
        fixture_link(root, "200/fd/9", "pipe:[1001]");
        fixture_write(root, "300/comm", "forked-child\n");
        mkdir(strcat(strcpy((char[1024]){0}, root), "/300/fd"), 0755);
        fixture_link(root, "300/fd/3", "socket:[1002]");
        fixture_write(root, "self/comm", "ignored\n");
        fixture_write(root, "uptime", "1234.56 4000.00\n");
        fixture_write(root, "sys/kernel/random/boot_id", "0b2f2c1e-6a53-4bde-9a0e-2f0c4b1a8d11\n");
        fixture_write(root, "stat",
                      "cpu  100 20 300 4000 50 6 7 8 0 0\n"
                      "cpu0 50 10 150 2000 25 3 3 4 0 0\n"
                      "cpu1 50 10 150 2000 25 3 4 4 0 0\n"
                      "intr 12345\nctxt 999\nbtime 1700000000\n");
        fixture_write(root, "meminfo",
                      "MemTotal:         512000 kB\nMemFree:          256000 kB\n"
                      "MemAvailable:     400000 kB\nBuffers:            1000 kB\n"
                      "Cached:            50000 kB\nSwapCached:            0 kB\n"
                      "SwapTotal:             0 kB\nSwapFree:              0 kB\n");
        fixture_write(root, "loadavg", "0.50 0.25 0.10 2/87 4242\n");
        fixture_write(root, "vmstat",
                      "nr_free_pages 64000\noom_kill_junk 9\noom_kill 7\npgfault 123\n");
        return root;
}

static inline void fixture_proc_free(char *root)
{
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", root);
        free(root);
}
