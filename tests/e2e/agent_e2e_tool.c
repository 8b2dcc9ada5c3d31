/* Host side of the agent e2e test.
 *   agent_e2e_tool mkcpio DIR OUT     newc cpio of DIR (plus /dev/console)
 *   agent_e2e_tool check SOCK [HOSTNAME WORK_DISK_BYTES]
 *                                     wait for Health over the virtio-serial
 *                                     socket, check Ports and Stats (and what
 *                                     `banger-agent init` set up), send Shutdown
 *   agent_e2e_tool ready SOCK         wait for Health the way banger-vmsvc does
 *                                     (1 s connect, 3 s call, every 200 ms),
 *                                     then send Shutdown (bench/boot's baseline) */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent_client.h"
#include "util/timeutil.h"

static int mkcpio(const char *dir, const char *out)
{
        struct archive *a = archive_write_new();
        archive_write_set_format_cpio_newc(a);
        if (archive_write_open_filename(a, out) != ARCHIVE_OK) {
                fprintf(stderr, "open %s: %s\n", out, archive_error_string(a));
                return 1;
        }
        struct archive *disk = archive_read_disk_new();
        archive_read_disk_set_standard_lookup(disk);
        if (archive_read_disk_open(disk, dir) != ARCHIVE_OK) {
                fprintf(stderr, "read %s: %s\n", dir, archive_error_string(disk));
                return 1;
        }
        size_t dirlen = strlen(dir);
        for (;;) {
                struct archive_entry *e = archive_entry_new();
                int r = archive_read_next_header2(disk, e);
                if (r == ARCHIVE_EOF) {
                        archive_entry_free(e);
                        break;
                }
                if (r != ARCHIVE_OK) {
                        fprintf(stderr, "walk %s: %s\n", dir, archive_error_string(disk));
                        return 1;
                }
                archive_read_disk_descend(disk);
                const char *src = archive_entry_sourcepath(e);
                const char *rel = src + dirlen;
                while (*rel == '/')
                        rel++;
                if (!*rel) {
                        archive_entry_free(e);
                        continue;
                }
                archive_entry_set_pathname(e, rel);
                archive_entry_set_uid(e, 0);
                archive_entry_set_gid(e, 0);
                if (archive_write_header(a, e) != ARCHIVE_OK) {
                        fprintf(stderr, "write %s: %s\n", rel, archive_error_string(a));
                        return 1;
                }
                if (archive_entry_filetype(e) == AE_IFREG) {
                        int fd = open(src, O_RDONLY | O_CLOEXEC);
                        char buf[65536];
                        ssize_t n;
                        while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
                                archive_write_data(a, buf, (size_t)n);
                        if (fd >= 0)
                                close(fd);
                }
                archive_entry_free(e);
        }
        archive_read_free(disk);

        /* The kernel opens /dev/console from the initramfs for /init. */
        struct archive_entry *c = archive_entry_new();
        archive_entry_set_pathname(c, "dev/console");
        archive_entry_set_filetype(c, AE_IFCHR);
        archive_entry_set_perm(c, 0600);
        archive_entry_set_rdev(c, makedev(5, 1));
        archive_write_header(a, c);
        archive_entry_free(c);

        if (archive_write_close(a) != ARCHIVE_OK) {
                fprintf(stderr, "close %s: %s\n", out, archive_error_string(a));
                return 1;
        }
        archive_write_free(a);
        return 0;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int check(const char *sock, const char *want_hostname, uint64_t want_root_bytes)
{
        struct bg_error err = {0};
        _cleanup_(agent_conn_freep) struct agent_conn *c = NULL;
        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *h = NULL;
        uint64_t deadline = now_ms() + 120000;

        /* The guest opens its port some seconds after QEMU starts: retry. */
        for (;;) {
                bg_error_clear(&err);
                c = agent_conn_free(c);
                int r = agent_conn_open_unix(sock, 10000, &c, &err);
                if (r >= 0)
                        r = agent_health(c, 2000, &h, &err);
                if (r >= 0)
                        break;
                if (now_ms() > deadline) {
                        fprintf(stderr, "FAIL: no Health answer: %s\n", err.msg);
                        return 1;
                }
                sleep_msec(200);
        }
        printf("health: uptime_ms=%" PRIu64 " boot_id=%s version=%s hostname=%s kernel=%s\n",
               h->health->uptime_ms, h->health->boot_id, h->health->agent_version,
               h->health->hostname, h->health->kernel_release);
        if (strlen(h->health->boot_id) != 36 || !strstr(h->health->agent_version, ".")) {
                fprintf(stderr, "FAIL: Health fields look wrong\n");
                return 1;
        }
        if (want_hostname && !streq(h->health->hostname, want_hostname)) {
                fprintf(stderr, "FAIL: hostname is '%s', banger.name asked for '%s'\n",
                        h->health->hostname, want_hostname);
                return 1;
        }

        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *p = NULL;
        if (agent_ports(c, 10000, &p, &err) < 0) {
                fprintf(stderr, "FAIL: Ports: %s\n", err.msg);
                return 1;
        }
        bool tcp = false, udp = false;
        for (size_t i = 0; i < p->ports->n_ports; i++) {
                Banger__V1__AgentPort *x = p->ports->ports[i];
                const char *pname = x->n_processes ? x->processes[0]->name : "-";
                printf("port: %s%s %s:%u %s\n",
                       x->transport == BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_TCP ? "tcp"
                                                                                        : "udp",
                       x->ipv6 ? "6" : "", x->address, x->port, pname);
                if (x->transport == BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_TCP &&
                    x->port == 7777 && !x->ipv6 && streq(pname, "e2e-listener"))
                        tcp = true;
                if (x->transport == BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_UDP &&
                    x->port == 7778 && x->ipv6 && streq(pname, "e2e-listener"))
                        udp = true;
        }
        if (!tcp || !udp) {
                fprintf(stderr, "FAIL: Ports lacks tcp 7777 / udp6 7778 of e2e-listener\n");
                return 1;
        }

        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *s = NULL;
        if (agent_stats(c, 10000, &s, &err) < 0) {
                fprintf(stderr, "FAIL: Stats: %s\n", err.msg);
                return 1;
        }
        printf("stats: cpus=%u mem_total=%" PRIu64 " load1=%.2f disks=%zu\n", s->stats->cpu->count,
               s->stats->memory->total_bytes, s->stats->load->load1, s->stats->n_disks);
        if (s->stats->memory->total_bytes == 0 || s->stats->n_disks == 0) {
                fprintf(stderr, "FAIL: Stats fields look wrong\n");
                return 1;
        }
        for (size_t i = 0; i < s->stats->n_disks; i++) {
                Banger__V1__AgentDiskUsage *d = s->stats->disks[i];
                printf("disk: %s total=%" PRIu64 "\n", d->path, d->total_bytes);
                /* /root is the work disk (mounted by `init`): its size tells. */
                if (want_root_bytes && streq(d->path, "/root") &&
                    (d->total_bytes > want_root_bytes || d->total_bytes < want_root_bytes / 2)) {
                        fprintf(stderr, "FAIL: /root is not the work disk\n");
                        return 1;
                }
        }

        if (agent_shutdown(c, 10000, &err) < 0) {
                fprintf(stderr, "FAIL: Shutdown: %s\n", err.msg);
                return 1;
        }
        printf("shutdown: acknowledged\n");
        return 0;
}

static int ready(const char *sock)
{
        struct bg_error err = {0};
        uint64_t deadline = now_ms() + 180000;
        for (;;) {
                struct agent_conn *c = NULL;
                Banger__V1__AgentResponse *h = NULL;
                bg_error_clear(&err);
                if (agent_conn_open_unix(sock, 1000, &c, &err) >= 0 &&
                    agent_health(c, 3000, &h, &err) >= 0) {
                        agent_response_free(h);
                        int r = agent_shutdown(c, 10000, &err);
                        agent_conn_free(c);
                        if (r < 0)
                                fprintf(stderr, "shutdown: %s\n", err.msg);
                        return 0;
                }
                agent_conn_free(c);
                if (now_ms() > deadline) {
                        fprintf(stderr, "no Health answer: %s\n", err.msg);
                        return 1;
                }
                sleep_msec(200);
        }
}

int main(int argc, char **argv)
{
        if (argc == 3 && streq(argv[1], "ready"))
                return ready(argv[2]);
        if (argc == 4 && streq(argv[1], "mkcpio"))
                return mkcpio(argv[2], argv[3]);
        if (argc == 3 && streq(argv[1], "check"))
                return check(argv[2], NULL, 0);
        if (argc == 5 && streq(argv[1], "check"))
                return check(argv[2], argv[3], strtoull(argv[4], NULL, 10));
        fprintf(stderr,
                "usage: agent_e2e_tool mkcpio DIR OUT | check SOCK [HOSTNAME WORK_DISK_BYTES] | "
                "ready SOCK\n");
        return 2;
}
