#include "agent_sysinfo.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "util/macro.h"

static FILE *open_proc(const char *proc_root, const char *name)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", proc_root, name);
        return fopen(path, "re");
}

int agent_health_collect(const char *proc_root, const char *version, Banger__V1__AgentHealth *out)
{
        _cleanup_fclose_ FILE *up = open_proc(proc_root, "uptime");
        if (!up)
                return -errno;
        double secs;
        if (fscanf(up, "%lf", &secs) != 1 || secs < 0)
                return -EBADMSG;
        out->uptime_ms = (uint64_t)(secs * 1000.0);

        char boot_id[64] = "";
        _cleanup_fclose_ FILE *b = open_proc(proc_root, "sys/kernel/random/boot_id");
        if (b && fgets(boot_id, sizeof(boot_id), b))
                boot_id[strcspn(boot_id, "\n")] = '\0';

        struct utsname u;
        if (uname(&u) < 0)
                return -errno;
        out->boot_id = strdup(boot_id);
        out->agent_version = strdup(version);
        out->hostname = strdup(u.nodename);
        out->kernel_release = strdup(u.release);
        if (!out->boot_id || !out->agent_version || !out->hostname || !out->kernel_release) {
                agent_health_clear(out);
                return -ENOMEM;
        }
        return 0;
}

void agent_health_clear(Banger__V1__AgentHealth *out)
{
        /* protobuf-c's default for strings is a shared "" constant: only free
         * what we allocated, i.e. anything that is not that default. */
        char **fields[] = {&out->boot_id, &out->agent_version, &out->hostname,
                           &out->kernel_release};
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                if (*fields[i] != (char *)protobuf_c_empty_string)
                        free(*fields[i]);
                *fields[i] = (char *)protobuf_c_empty_string;
        }
}

static uint64_t ticks_to_ms(unsigned long long ticks, long clk_tck)
{
        return (uint64_t)(ticks * 1000ull / (unsigned long long)clk_tck);
}

int agent_parse_proc_stat(FILE *f, long clk_tck, Banger__V1__AgentCpu *out)
{
        if (clk_tck <= 0)
                return -EINVAL;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        bool have_total = false;
        uint32_t count = 0;
        while (getline(&line, &cap, f) >= 0) {
                if (strncmp(line, "cpu ", 4) == 0) {
                        unsigned long long v[8] = {0};
                        int n = sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                                       &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
                        if (n < 4)
                                return -EBADMSG;
                        out->user_ms = ticks_to_ms(v[0], clk_tck);
                        out->nice_ms = ticks_to_ms(v[1], clk_tck);
                        out->system_ms = ticks_to_ms(v[2], clk_tck);
                        out->idle_ms = ticks_to_ms(v[3], clk_tck);
                        out->iowait_ms = ticks_to_ms(v[4], clk_tck);
                        out->irq_ms = ticks_to_ms(v[5], clk_tck);
                        out->softirq_ms = ticks_to_ms(v[6], clk_tck);
                        out->steal_ms = ticks_to_ms(v[7], clk_tck);
                        have_total = true;
                } else if (strncmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9') {
                        count++;
                }
        }
        if (!have_total)
                return -EBADMSG;
        out->count = count;
        return 0;
}

int agent_parse_meminfo(FILE *f, Banger__V1__AgentMemory *out)
{
        static const struct {
                const char *key;
                size_t offset;
        } keys[] = {
            {"MemTotal", offsetof(Banger__V1__AgentMemory, total_bytes)},
            {"MemFree", offsetof(Banger__V1__AgentMemory, free_bytes)},
            {"MemAvailable", offsetof(Banger__V1__AgentMemory, available_bytes)},
            {"Buffers", offsetof(Banger__V1__AgentMemory, buffers_bytes)},
            {"Cached", offsetof(Banger__V1__AgentMemory, cached_bytes)},
            {"SwapTotal", offsetof(Banger__V1__AgentMemory, swap_total_bytes)},
            {"SwapFree", offsetof(Banger__V1__AgentMemory, swap_free_bytes)},
        };
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        bool have_total = false;
        while (getline(&line, &cap, f) >= 0) {
                char key[64];
                unsigned long long kb;
                if (sscanf(line, "%63[^:]: %llu", key, &kb) != 2)
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        if (!streq(key, keys[i].key))
                                continue;
                        *(uint64_t *)((char *)out + keys[i].offset) = (uint64_t)kb * 1024u;
                        if (i == 0)
                                have_total = true;
                }
        }
        return have_total ? 0 : -EBADMSG;
}

int agent_parse_vmstat_oom(FILE *f, uint64_t *ret)
{
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) >= 0) {
                unsigned long long v;
                char end;
                if (sscanf(line, "oom_kill %llu%c", &v, &end) == 2 && end == '\n') {
                        *ret = (uint64_t)v;
                        return 0;
                }
        }
        return -ENOENT;
}

int agent_parse_loadavg(FILE *f, Banger__V1__AgentLoad *out)
{
        double l1, l5, l15;
        unsigned running, total;
        if (fscanf(f, "%lf %lf %lf %u/%u", &l1, &l5, &l15, &running, &total) != 5)
                return -EBADMSG;
        out->load1 = l1;
        out->load5 = l5;
        out->load15 = l15;
        out->running = running;
        out->total = total;
        return 0;
}

void agent_stats_clear(Banger__V1__AgentStats *out)
{
        free(out->cpu);
        free(out->memory);
        free(out->load);
        out->cpu = NULL;
        out->memory = NULL;
        out->load = NULL;
        for (size_t i = 0; i < out->n_disks; i++) {
                if (out->disks[i])
                        free(out->disks[i]->path);
                free(out->disks[i]);
        }
        free(out->disks);
        out->disks = NULL;
        out->n_disks = 0;
}

static int collect_disks(const char *const *paths, size_t n, Banger__V1__AgentStats *out)
{
        if (n == 0)
                return 0;
        out->disks = calloc(n, sizeof(*out->disks));
        if (!out->disks)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct statvfs sv;
                if (statvfs(paths[i], &sv) < 0)
                        continue;
                Banger__V1__AgentDiskUsage *d = calloc(1, sizeof(*d));
                if (!d)
                        return -ENOMEM;
                banger__v1__agent_disk_usage__init(d);
                out->disks[out->n_disks++] = d;
                d->path = strdup(paths[i]);
                if (!d->path)
                        return -ENOMEM;
                d->total_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
                d->free_bytes = (uint64_t)sv.f_bfree * sv.f_frsize;
                d->available_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
                d->files_total = sv.f_files;
                d->files_free = sv.f_ffree;
        }
        return 0;
}

int agent_stats_collect(const char *proc_root, const char *const *disk_paths, size_t n_disk_paths,
                        Banger__V1__AgentStats *out)
{
        int r;
        out->cpu = calloc(1, sizeof(*out->cpu));
        out->memory = calloc(1, sizeof(*out->memory));
        out->load = calloc(1, sizeof(*out->load));
        if (!out->cpu || !out->memory || !out->load) {
                r = -ENOMEM;
                goto fail;
        }
        banger__v1__agent_cpu__init(out->cpu);
        banger__v1__agent_memory__init(out->memory);
        banger__v1__agent_load__init(out->load);

        static const char *const files[] = {"stat", "meminfo", "loadavg"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_fclose_ FILE *f = open_proc(proc_root, files[i]);
                if (!f) {
                        r = -errno;
                        goto fail;
                }
                if (i == 0)
                        r = agent_parse_proc_stat(f, sysconf(_SC_CLK_TCK), out->cpu);
                else if (i == 1)
                        r = agent_parse_meminfo(f, out->memory);
                else
                        r = agent_parse_loadavg(f, out->load);
                if (r < 0)
                        goto fail;
        }
        /* Optional: a kernel before 4.13 has no oom_kill line (0 then). */
        FILE *vm = open_proc(proc_root, "vmstat"); /* no cleanup variable: the gotos skip it */
        if (vm) {
                (void)agent_parse_vmstat_oom(vm, &out->memory->oom_kills);
                fclose(vm);
        }
        r = collect_disks(disk_paths, n_disk_paths, out);
        if (r < 0)
                goto fail;
        return 0;
fail:
        agent_stats_clear(out);
        return r;
}
