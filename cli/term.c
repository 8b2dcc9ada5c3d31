#include "term.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RING 16

/* Length of the UTF-8 sequence at p (n bytes there) with its code point in
 * *cp; 0 when it is not valid UTF-8 (overlong, surrogate, beyond U+10FFFF,
 * a stray continuation byte); -1 when it is valid so far but cut at n. */
static int utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
        unsigned char c = p[0];
        int len;
        uint32_t v, min;
        if (c < 0x80) {
                *cp = c;
                return 1;
        }
        if ((c & 0xe0) == 0xc0) {
                len = 2, v = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
                len = 3, v = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
                len = 4, v = c & 0x07, min = 0x10000;
        } else {
                return 0;
        }
        for (int i = 1; i < len; i++) {
                if ((size_t)i >= n)
                        return -1;
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                v = v << 6 | (p[i] & 0x3f);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return 0;
        *cp = v;
        return len;
}

static bool unsafe(uint32_t cp, bool keep_lines)
{
        if (cp < 0x20)
                return !(keep_lines && (cp == '\n' || cp == '\t'));
        return cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
               (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 ||
               cp == 0x2029;
}

/* Escapes p[0..n) into out (room for 4n+1 bytes: no escape is longer than
 * four bytes per input byte). A UTF-8 sequence cut at the end is left
 * unconsumed unless final. With keep_lines a "\r\n" line end (serial
 * consoles write them) is a plain newline; a lone \r is shown. Returns the
 * bytes consumed; *ret_len is the length written (out is NUL-terminated). */
static size_t escape(const unsigned char *p, size_t n, bool keep_lines, bool final, char *out,
                     size_t *ret_len)
{
        static const char hex[] = "0123456789abcdef";
        size_t i = 0, o = 0;
        while (i < n) {
                uint32_t cp = 0;
                int len = utf8_seq(p + i, n - i, &cp);
                if (len < 0 && !final)
                        break;
                if (keep_lines && p[i] == '\r') {
                        if (i + 1 == n && !final)
                                break; /* the next chunk says whether "\n" follows */
                        if (i + 1 < n && p[i + 1] == '\n') {
                                i++;
                                continue;
                        }
                }
                if (len <= 0) {
                        out[o++] = '\\', out[o++] = 'x';
                        out[o++] = hex[p[i] >> 4], out[o++] = hex[p[i] & 15];
                        i++;
                        continue;
                }
                if (!unsafe(cp, keep_lines)) {
                        memcpy(out + o, p + i, (size_t)len);
                        o += (size_t)len;
                } else if (cp == '\n' || cp == '\r' || cp == '\t') {
                        out[o++] = '\\';
                        out[o++] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
                } else if (cp < 0x80) {
                        out[o++] = '\\', out[o++] = 'x';
                        out[o++] = hex[cp >> 4], out[o++] = hex[cp & 15];
                } else {
                        out[o++] = '\\', out[o++] = 'u';
                        for (int sh = 12; sh >= 0; sh -= 4)
                                out[o++] = hex[(cp >> sh) & 15];
                }
                i += (size_t)len;
        }
        out[o] = '\0';
        *ret_len = o;
        return i;
}

static __thread char *ring[RING];
static __thread unsigned next;

/* Keeps out in the ring of results (freeing the oldest). */
static const char *ring_keep(char *out)
{
        free(ring[next]);
        ring[next] = out;
        next = (next + 1) % RING;
        return out;
}

const char *cli_utf8(const char *s)
{
        if (!s)
                return "";
        const unsigned char *p = (const unsigned char *)s;
        size_t n = strlen(s), bad = 0;
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                int len = utf8_seq(p + i, n - i, &cp);
                bad += len <= 0;
                i += len > 0 ? (size_t)len : 1;
        }
        if (!bad)
                return s;
        char *out = malloc(n + 2 * bad + 1); /* each bad byte: 3 bytes of U+FFFD */
        if (!out)
                return "";
        size_t o = 0;
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                int len = utf8_seq(p + i, n - i, &cp);
                if (len <= 0) {
                        memcpy(out + o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i++;
                } else {
                        memcpy(out + o, p + i, (size_t)len);
                        o += (size_t)len;
                        i += (size_t)len;
                }
        }
        out[o] = '\0';
        return ring_keep(out);
}

static const char *safe(const char *s, bool keep_lines)
{
        if (!s)
                return "";
        const unsigned char *p = (const unsigned char *)s;
        size_t n = 0;
        bool plain = true;
        for (; p[n]; n++)
                if (p[n] < 0x20 || p[n] >= 0x7f)
                        plain = plain && keep_lines && (p[n] == '\n' || p[n] == '\t');
        if (plain)
                return s;
        char *out = malloc(4 * n + 1);
        if (!out)
                return "(out of memory)";
        size_t len;
        escape(p, n, keep_lines, true, out, &len);
        return ring_keep(out);
}

const char *cli_safe(const char *s)
{
        return safe(s, false);
}

const char *cli_safe_text(const char *s)
{
        return safe(s, true);
}

void cli_safe_write(FILE *f, struct cli_safe_stream *st, const void *buf, size_t len)
{
        size_t total = st->n + len;
        unsigned char *in = malloc(total ? total : 1);
        char *out = malloc(4 * total + 1);
        if (!in || !out) {
                free(in);
                free(out);
                return;
        }
        memcpy(in, st->pend, st->n);
        memcpy(in + st->n, buf, len);
        size_t olen;
        size_t used = escape(in, total, true, false, out, &olen);
        fwrite(out, 1, olen, f);
        st->n = total - used; /* at most 3: a cut sequence */
        memcpy(st->pend, in + used, st->n);
        free(in);
        free(out);
}

void cli_safe_flush(FILE *f, struct cli_safe_stream *st)
{
        char out[4 * sizeof(st->pend) + 1];
        size_t olen;
        escape(st->pend, st->n, true, true, out, &olen);
        fwrite(out, 1, olen, f);
        st->n = 0;
}
