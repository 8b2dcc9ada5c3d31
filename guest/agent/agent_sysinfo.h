/* Health and Stats readers over /proc (the proc root is a parameter so tests
 * can use fixtures) and statvfs. Each fills a protobuf-c message the caller
 * initialised; strings are malloc()ed and released by the *_clear functions. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "banger/v1/agent.pb-c.h"

/* uptime, boot id, hostname and kernel release; version is copied as is. */
int agent_health_collect(const char *proc_root, const char *version, Banger__V1__AgentHealth *out);
void agent_health_clear(Banger__V1__AgentHealth *out);

/* Parsers of single files, exposed for tests. */
int agent_parse_proc_stat(FILE *f, long clk_tck, Banger__V1__AgentCpu *out);
int agent_parse_meminfo(FILE *f, Banger__V1__AgentMemory *out);
int agent_parse_loadavg(FILE *f, Banger__V1__AgentLoad *out);
/* /proc/vmstat's oom_kill counter; -ENOENT when the file has none. */
int agent_parse_vmstat_oom(FILE *f, uint64_t *ret);

/* CPU, memory, load from proc_root, and disk use of each path (a path whose
 * statvfs fails is left out). out->cpu/memory/load must be NULL on entry. */
int agent_stats_collect(const char *proc_root, const char *const *disk_paths, size_t n_disk_paths,
                        Banger__V1__AgentStats *out);
void agent_stats_clear(Banger__V1__AgentStats *out);
