/* Listening sockets from /proc/net/{tcp,tcp6,udp,udp6} and the processes that
 * hold them (socket inodes matched through /proc/<pid>/fd). The proc root is a
 * parameter so tests can point it at fixtures. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "banger/v1/agent.pb-c.h"

struct agent_socket {
        Banger__V1__AgentTransport transport;
        bool ipv6;
        char address[46]; /* INET6_ADDRSTRLEN */
        uint16_t port;
        uint32_t uid;
        uint64_t inode;
};

struct agent_socket_list {
        struct agent_socket *items;
        size_t n, cap;
};

void agent_socket_list_clear(struct agent_socket_list *l);

/* Parse one /proc/net/{tcp,tcp6,udp,udp6} table and append its listening TCP
 * sockets (state 0A) or bound, unconnected UDP sockets (state 07, remote port
 * 0) to l. Malformed lines are skipped. Returns the number appended, -EBADMSG
 * if the header line is missing, -ENOMEM. */
int agent_procnet_parse(FILE *f, Banger__V1__AgentTransport transport, bool ipv6,
                        struct agent_socket_list *l);

struct agent_inode_owner {
        uint64_t inode;
        int32_t pid;
        char name[16]; /* comm */
};

struct agent_inode_map {
        struct agent_inode_owner *items; /* sorted by inode, then pid */
        size_t n, cap;
};

void agent_inode_map_clear(struct agent_inode_map *m);

/* Walk <proc_root>/<pid>/fd/ for every pid and record "socket:[inode]" links.
 * Processes that vanish or cannot be read are skipped. Returns 0 or -errno
 * when proc_root cannot be listed. */
int agent_inode_map_build(const char *proc_root, struct agent_inode_map *m);

/* Build a Ports reply from <proc_root>/net/ and the inode map. Fills *out
 * (initialised by the caller with BANGER__V1__AGENT_PORTS__INIT); free it with
 * agent_ports_reply_clear. Returns 0 or -errno. */
int agent_ports_collect(const char *proc_root, Banger__V1__AgentPorts *out);
void agent_ports_reply_clear(Banger__V1__AgentPorts *out);
