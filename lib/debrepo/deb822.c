#include "deb822.h"

#include <string.h>
#include <strings.h>

static bool blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static bool line_is_blank(const char *s, size_t l)
{
        for (size_t i = 0; i < l; i++)
                if (!blank(s[i]))
                        return false;
        return true;
}

static size_t line_len(const char *s, size_t avail)
{
        const char *nl = memchr(s, '\n', avail);
        return nl ? (size_t)(nl - s) : avail;
}

int deb822_next_paragraph(const char *buf, size_t len, size_t *pos, size_t *ret_start,
                          size_t *ret_end)
{
        size_t p = *pos;
        /* Skip blank lines (and comment-only lines) between paragraphs. */
        while (p < len) {
                size_t l = line_len(buf + p, len - p);
                if (!line_is_blank(buf + p, l) && buf[p] != '#')
                        break;
                p += l + (p + l < len ? 1 : 0);
        }
        if (p >= len) {
                *pos = len;
                return 0;
        }
        size_t start = p;
        while (p < len) {
                size_t l = line_len(buf + p, len - p);
                if (line_is_blank(buf + p, l))
                        break;
                p += l + (p + l < len ? 1 : 0);
        }
        *ret_start = start;
        *ret_end = p;
        *pos = p;
        return 1;
}

/* Locate the field line; returns the offset of the value's first byte and
 * sets *ret_line_end, or returns (size_t)-1 when absent. */
static size_t find_field(const char *para, size_t len, const char *name, size_t *ret_line_end)
{
        size_t nl = strlen(name), p = 0;
        while (p < len) {
                size_t l = line_len(para + p, len - p);
                const char *s = para + p;
                if (l > nl && !blank(s[0]) && s[0] != '#' && s[nl] == ':' &&
                    strncasecmp(s, name, nl) == 0) {
                        *ret_line_end = p + l;
                        return p + nl + 1;
                }
                p += l + 1;
        }
        return (size_t)-1;
}

static void trim(const char **s, size_t *l)
{
        while (*l > 0 && blank(**s))
                (*s)++, (*l)--;
        while (*l > 0 && blank((*s)[*l - 1]))
                (*l)--;
}

/* Join the value lines into out (or only measure when out is NULL). */
static size_t join_value(const char *para, size_t len, size_t v, size_t line_end, char *out)
{
        const char *s = para + v;
        size_t l = line_end - v, total;
        trim(&s, &l);
        if (out)
                memcpy(out, s, l);
        total = l;
        for (size_t p = line_end + 1; p < len;) {
                size_t ll = line_len(para + p, len - p);
                const char *c = para + p;
                size_t next = p + ll + 1;
                if (ll > 0 && c[0] == '#') {
                        p = next;
                        continue;
                }
                if (ll == 0 || !blank(c[0]))
                        break;
                trim(&c, &ll);
                if (ll == 1 && c[0] == '.')
                        ll = 0;
                if (out) {
                        out[total] = '\n';
                        memcpy(out + total + 1, c, ll);
                }
                total += 1 + ll;
                p = next;
        }
        return total;
}

int deb822_field(const char *para, size_t len, const char *name, char **ret)
{
        size_t line_end;
        size_t v = find_field(para, len, name, &line_end);
        if (v == (size_t)-1)
                return 0;
        size_t total = join_value(para, len, v, line_end, NULL);
        char *out = malloc(total + 1);
        if (!out)
                return -ENOMEM;
        join_value(para, len, v, line_end, out);
        out[total] = '\0';
        *ret = out;
        return 1;
}

bool deb822_field_equals(const char *para, size_t len, const char *name, const char *value)
{
        size_t line_end;
        size_t v = find_field(para, len, name, &line_end);
        if (v == (size_t)-1)
                return false;
        const char *s = para + v;
        size_t l = line_end - v;
        trim(&s, &l);
        return l == strlen(value) && memcmp(s, value, l) == 0;
}
