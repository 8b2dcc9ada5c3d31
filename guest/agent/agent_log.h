/* The agent's log: one line per message on stderr, prefixed "banger-agent: ".
 * Under systemd stderr goes to the journal; in the initramfs it is
 * /dev/console. Only the mode drivers (main, setup, initramfs, serve loops)
 * log; the parsing and collecting code returns errors. */
#pragma once

#include "util/macro.h"

void agent_log(const char *fmt, ...) _printf_(1, 2);
