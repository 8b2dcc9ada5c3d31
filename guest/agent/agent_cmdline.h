/* Kernel command line parsing for the guest agent: the generic lookups the
 * initramfs needs (root=, rootfstype=, init=, ro/rw) and the banger.*
 * parameters `banger-agent init` and `serve` act on. Pure functions over a
 * string; nothing here touches the system. */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Calls fn(name, value, userdata) for every parameter in order, the kernel's
 * way: whitespace separated, "name=value" or a bare "name" (value NULL),
 * double quotes group spaces ("a=\"x y\""). Parsing stops at a bare "--"
 * (what follows belongs to init). Returns 0 or -ENOMEM. */
int agent_cmdline_foreach(const char *cmdline,
                          void (*fn)(const char *name, const char *value, void *userdata),
                          void *userdata);

/* The value of the last `key=` parameter copied into buf: 1 if found, 0 if
 * absent, -ENAMETOOLONG if it does not fit. */
int agent_cmdline_get(const char *cmdline, const char *key, char *buf, size_t size);

/* True if a bare `flag` (e.g. "ro") appears. */
bool agent_cmdline_has_flag(const char *cmdline, const char *flag);

#define AGENT_NAME_MAX 64 /* HOST_NAME_MAX */
#define AGENT_DNS_MAX 3   /* resolv.conf honours three nameservers */
#define AGENT_PATH_MAX 128

enum agent_channel_kind {
        AGENT_CHANNEL_NONE,
        AGENT_CHANNEL_VIRTIO_SERIAL, /* banger.agent=virtio-serial:NAME */
        AGENT_CHANNEL_VSOCK,         /* banger.agent=vsock:PORT */
};

/* What the banger.* parameters ask for. A has_* flag is set only when the
 * value was present and valid. */
struct agent_config {
        char name[AGENT_NAME_MAX + 1]; /* banger.name, a valid hostname; "" if unset */
        bool has_ip;                   /* banger.ip=A.B.C.D/PREFIX */
        struct in_addr ip;
        unsigned prefix;
        bool has_gw; /* banger.gw=A.B.C.D */
        struct in_addr gw;
        size_t n_dns; /* banger.dns=A,B,C (IPv4 or IPv6 text, validated) */
        char dns[AGENT_DNS_MAX][INET6_ADDRSTRLEN];
        bool has_mac; /* banger.mac=aa:bb:cc:dd:ee:ff */
        uint8_t mac[6];
        char work[AGENT_PATH_MAX];    /* banger.work=/dev/vdX; "" if unset */
        char modules[AGENT_PATH_MAX]; /* banger.modules=/dev/vdY; "" if unset */
        enum agent_channel_kind channel;
        bool agent_init; /* banger.init=agent: the agent is the VM's init (agent_pid1.h) */
        char channel_name[AGENT_PATH_MAX]; /* virtio-serial port name */
        uint32_t vsock_port;
};

/* Parse every banger.* parameter of cmdline into cfg (zeroed first). A bad
 * value is reported through warn(message, userdata) (may be NULL) and left
 * unset; unknown banger.* keys are reported too. Never fails on input;
 * returns the number of warnings, or -ENOMEM. */
int agent_config_parse(const char *cmdline, struct agent_config *cfg,
                       void (*warn)(const char *message, void *userdata), void *userdata);

/* Parse "virtio-serial:NAME" or "vsock:PORT". Returns 0 or -EINVAL. */
int agent_channel_parse(const char *value, enum agent_channel_kind *ret_kind, char *ret_name,
                        size_t name_size, uint32_t *ret_port);

/* True for a valid hostname label sequence (RFC 1123, <= 63 chars per label,
 * <= 64 in total, letters/digits/'-', no leading/trailing '-'). */
bool agent_hostname_valid(const char *s);
