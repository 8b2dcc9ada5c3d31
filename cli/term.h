/* Text from the services made safe for a terminal. Whatever a service sends
 * may come from a guest (hostnames, process names, console output), an
 * image or a registry: printed raw, an escape sequence in it could retitle
 * the terminal, clear the screen, move the cursor to rewrite what was
 * printed, or worse on some terminals. The CLI prints every such string in
 * tables and plain output through these; --json output is exact (jansson
 * escapes control characters itself) and never goes through them.
 *
 * Shown escaped: C0 control characters and DEL (\n, \r, \t, else \xNN),
 * bytes that are not UTF-8 (\xNN), and the code points a terminal or a
 * reader may act on: C1 controls U+0080..U+009F, the bidirectional
 * overrides and isolates (U+200E, U+200F, U+202A..U+202E, U+2066..U+2069)
 * and the line and paragraph separators U+2028, U+2029 (\uNNNN). All other
 * text, any script, passes unchanged. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* One line (a table cell, a field, a message): every control character
 * escaped, newlines too. Returns s itself when nothing needs escaping, else
 * a copy that stays valid for the next 15 calls on this thread. NULL -> "". */
const char *cli_safe(const char *s);

/* The same for free text that may span lines: \n and \t stay, and a
 * "\r\n" line end becomes "\n". */
const char *cli_safe_text(const char *s);

/* For --json: s when it is valid UTF-8 (control characters and all: jansson
 * escapes them), else a copy with each invalid byte replaced by U+FFFD,
 * since a JSON string cannot carry it (jansson would refuse the whole
 * value). Same lifetime rules as cli_safe. */
const char *cli_utf8(const char *s);

/* Streams len bytes to f escaped like cli_safe_text; a UTF-8 sequence cut
 * at the end of one call is completed by the next (kept in *st). */
struct cli_safe_stream {
        unsigned char pend[4];
        size_t n;
};
void cli_safe_write(FILE *f, struct cli_safe_stream *st, const void *buf, size_t len);
/* Ends the stream: a sequence still cut there is shown escaped. */
void cli_safe_flush(FILE *f, struct cli_safe_stream *st);
