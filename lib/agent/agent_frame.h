/* Length-prefixed framing for the guest agent protocol: a 4-byte big-endian
 * length, then that many bytes of protobuf. Shared by the host client
 * (lib/agent) and the guest agent (guest/agent), which compiles this file into
 * its static binary. Plain -errno returns, no bg_error: callers add context. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Largest frame either side accepts. */
#define AGENT_FRAME_MAX (64u * 1024u)

/* The id of the AgentResponse (an AgentError, code ECONNRESET) the agent
 * writes, unasked, when it opens a virtio-serial port: a host still waiting
 * there for a command's end learns that the agent that ran it is gone (a
 * virtio-serial port, unlike a vsock connection, never hangs up on the host
 * when the guest's side closes). No request ever has this id. */
#define AGENT_ANNOUNCE_ID UINT64_MAX

/* Absolute CLOCK_MONOTONIC deadline in microseconds, `ms` from now. */
uint64_t agent_deadline_after_ms(uint64_t ms);

/* Write one frame. deadline_usec is absolute (CLOCK_MONOTONIC, 0 = none).
 * Works on blocking and non-blocking fds, sockets (no SIGPIPE) and character
 * devices. Returns 0, -EMSGSIZE if len > AGENT_FRAME_MAX, -ETIMEDOUT, -EPIPE or
 * another -errno. */
int agent_frame_write(int fd, const void *buf, size_t len, uint64_t deadline_usec);

/* Write len bytes as they are (no header), as agent_frame_write does each
 * part. Returns 0, -ETIMEDOUT, -EPIPE or another -errno. */
int agent_frame_write_raw(int fd, const void *buf, size_t len, uint64_t deadline_usec);

/* Read one frame. Waits for the first byte until deadline_usec (absolute,
 * 0 = forever); once a frame has started, the rest must arrive within
 * stall_ms (0 = only the deadline applies).
 *
 * Returns 1 and hands a malloc()ed buffer (caller frees; non-NULL even for a
 * zero-length frame) and its length out; 0 on end of stream before the first
 * byte of a frame; -EMSGSIZE when the announced length exceeds max (the header
 * has been consumed, the stream is out of sync); -EPROTO when the stream ends
 * inside a frame; -ETIMEDOUT; or another -errno. */
int agent_frame_read(int fd, size_t max, uint64_t deadline_usec, uint64_t stall_ms,
                     uint8_t **ret_buf, size_t *ret_len);
