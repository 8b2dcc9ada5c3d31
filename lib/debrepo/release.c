#include "release.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "deb822.h"
#include "sha256.h"
#include "util/array.h"
#include "util/fileio.h"
#include "util/fs.h"
#include "util/run.h"

#define INRELEASE_MAX (64u * 1024 * 1024)
#define GPGV_TIMEOUT_MS 60000
#define GPGV_OUTPUT_MAX (64u * 1024)

static const char BEGIN_MSG[] = "-----BEGIN PGP SIGNED MESSAGE-----";
static const char BEGIN_SIG[] = "-----BEGIN PGP SIGNATURE-----";
static const char END_SIG[] = "-----END PGP SIGNATURE-----";

struct line {
        const char *s;
        size_t l;
};

static bool next_line(const char *buf, size_t len, size_t *pos, struct line *ln)
{
        if (*pos >= len)
                return false;
        const char *s = buf + *pos;
        const char *nl = memchr(s, '\n', len - *pos);
        size_t l = nl ? (size_t)(nl - s) : len - *pos;
        *pos += l + (nl ? 1 : 0);
        while (l > 0 && (s[l - 1] == '\r' || s[l - 1] == ' ' || s[l - 1] == '\t'))
                l--;
        ln->s = s;
        ln->l = l;
        return true;
}

static bool line_is(const struct line *ln, const char *what)
{
        return ln->l == strlen(what) && memcmp(ln->s, what, ln->l) == 0;
}

int debrepo_clearsign_text(const char *buf, size_t len, char **ret_text, size_t *ret_len,
                           struct bg_error *err)
{
        size_t pos = 0;
        struct line ln;
        bool found = false;

        if (memchr(buf, '\0', len))
                return bg_error_set(err, EBADMSG, "InRelease contains NUL bytes");
        while (next_line(buf, len, &pos, &ln)) {
                if (ln.l == 0)
                        continue;
                if (!line_is(&ln, BEGIN_MSG)) {
                        if (!memmem(buf, len, BEGIN_MSG, strlen(BEGIN_MSG)))
                                break;
                        return bg_error_set(err, EBADMSG,
                                            "InRelease has text before the signed message");
                }
                found = true;
                break;
        }
        if (!found)
                return bg_error_set(err, EBADMSG, "InRelease is not a clearsigned message");
        /* Armour headers: only Hash: lines, then an empty line. */
        for (;;) {
                if (!next_line(buf, len, &pos, &ln))
                        return bg_error_set(err, EBADMSG, "InRelease ends inside its headers");
                if (ln.l == 0)
                        break;
                if (ln.l < 5 || strncmp(ln.s, "Hash:", 5) != 0)
                        return bg_error_set(err, EBADMSG,
                                            "InRelease has an unexpected armour header '%.*s'",
                                            (int)(ln.l > 60 ? 60 : ln.l), ln.s);
        }
        _cleanup_free_ char *text = malloc(len + 1);
        size_t tl = 0;
        if (!text)
                return bg_error_set(err, ENOMEM, "out of memory");
        found = false;
        while (next_line(buf, len, &pos, &ln)) {
                if (ln.l > 0 && ln.s[0] == '-') {
                        if (line_is(&ln, BEGIN_SIG)) {
                                found = true;
                                break;
                        }
                        if (ln.l < 2 || ln.s[1] != ' ')
                                return bg_error_set(
                                    err, EBADMSG,
                                    "InRelease has an unescaped '-' line in its signed text");
                        ln.s += 2;
                        ln.l -= 2;
                }
                memcpy(text + tl, ln.s, ln.l);
                tl += ln.l;
                text[tl++] = '\n';
        }
        if (!found)
                return bg_error_set(err, EBADMSG, "InRelease has no signature block");
        found = false;
        while (next_line(buf, len, &pos, &ln)) {
                if (line_is(&ln, END_SIG)) {
                        found = true;
                        break;
                }
                if (ln.l > 0 && ln.s[0] == '-')
                        return bg_error_set(err, EBADMSG,
                                            "InRelease has a malformed signature block");
        }
        if (!found)
                return bg_error_set(err, EBADMSG, "InRelease signature block is not terminated");
        while (next_line(buf, len, &pos, &ln))
                if (ln.l != 0)
                        return bg_error_set(err, EBADMSG,
                                            "InRelease has text after the signature block");
        text[tl] = '\0';
        *ret_text = TAKE_PTR(text);
        *ret_len = tl;
        return 0;
}

struct gpgv_run {
        char status[GPGV_OUTPUT_MAX];
        size_t status_len;
        char stderr_text[GPGV_OUTPUT_MAX];
        size_t stderr_len;
        int exit_status; /* exit code, or 128 + signal */
};

/* Remove gpgv's private home directory and whatever it left there. */
static void rm_rf_tmpdir(char **p)
{
        if (!*p)
                return;
        struct bg_error ign = {0};
        rm_rf(*p, &ign);
        free(*p);
}

/* What gpgv wrote to fd, cut to fit buf (GPGV_OUTPUT_MAX). */
static void read_back(int fd, char *buf, size_t *ret_len)
{
        ssize_t n = pread(fd, buf, GPGV_OUTPUT_MAX - 1, 0);
        *ret_len = n > 0 ? (size_t)n : 0;
        buf[*ret_len] = '\0';
}

static int run_gpgv(const char *keyring, const char *file, struct gpgv_run *run,
                    struct bg_error *err)
{
        _cleanup_(rm_rf_tmpdir) char *home = strdup("/tmp/banger-gpgv-XXXXXX");
        if (!home)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (!mkdtemp(home)) {
                free(TAKE_PTR(home));
                return bg_error_errno(err, -errno, "create gpgv home directory");
        }
        /* Status lines on its stdout; both outputs kept in memory. */
        _cleanup_close_ int sfd = memfd_create("gpgv-status", MFD_CLOEXEC);
        _cleanup_close_ int efd = memfd_create("gpgv-stderr", MFD_CLOEXEC);
        if (sfd < 0 || efd < 0)
                return bg_error_errno(err, -errno, "InRelease signature check failed: buffers");
        const char *argv[] = {"gpgv",      "--homedir", home, "--status-fd", "1",
                              "--keyring", keyring,     "--", file,          NULL};
        const char *path_env = getenv("PATH");
        _cleanup_free_ char *path_var = NULL;
        if (asprintf(&path_var, "PATH=%s", path_env ? path_env : "/usr/bin:/bin") < 0) {
                path_var = NULL;
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        /* Nothing of ours but PATH reaches it; messages in English. */
        const char *envp[] = {"LC_ALL=C", path_var, NULL};
        struct bg_run_opts o = {.env = envp, .env_only = true, .timeout_ms = GPGV_TIMEOUT_MS};
        struct bg_error e = {0};
        int r = bg_run_wait(argv, BG_RUN_NULL, sfd, efd, &o, &e);
        if (r == -ETIMEDOUT)
                return bg_error_set(err, ETIMEDOUT,
                                    "InRelease signature check failed: gpgv timed out");
        if (r == -ENOENT || r == 127)
                return bg_error_set(err, ENOENT,
                                    "InRelease signature check failed: gpgv is not installed");
        if (r < 0)
                return bg_error_set(err, -r, "InRelease signature check failed: %s", e.msg);
        run->exit_status = r;
        read_back(sfd, run->status, &run->status_len);
        read_back(efd, run->stderr_text, &run->stderr_len);
        return 0;
}

/* The last non-empty line of gpgv's stderr, for the user. */
static void last_stderr_line(const struct gpgv_run *run, char *buf, size_t size)
{
        const char *s = run->stderr_text;
        const char *best = NULL;
        size_t best_len = 0;
        while (*s) {
                size_t l = strcspn(s, "\n");
                if (l > 0) {
                        best = s;
                        best_len = l;
                }
                s += l + (s[l] ? 1 : 0);
        }
        if (!best)
                snprintf(buf, size, "gpgv: exit status %d", run->exit_status);
        else
                snprintf(buf, size, "%.*s", (int)best_len, best);
}

/* Find "[GNUPG:] KEYWORD" in the status output; returns the rest of the line
 * (up to newline, length in *ret_len) or NULL. */
static const char *status_find(const struct gpgv_run *run, const char *keyword, size_t *ret_len)
{
        const char *s = run->status;
        size_t kl = strlen(keyword);
        while (*s) {
                size_t l = strcspn(s, "\n");
                if (l >= 9 + kl && strncmp(s, "[GNUPG:] ", 9) == 0 &&
                    strncmp(s + 9, keyword, kl) == 0 && (s[9 + kl] == ' ' || 9 + kl == l)) {
                        const char *rest = s + 9 + kl + (9 + kl < l ? 1 : 0);
                        *ret_len = l - (size_t)(rest - s);
                        return rest;
                }
                s += l + (s[l] ? 1 : 0);
        }
        return NULL;
}

int debrepo_inrelease_verify(const char *path, const char *keyring, char **ret_text,
                             size_t *ret_len, char *ret_fingerprint, struct bg_error *err)
{
        _cleanup_free_ char *buf = NULL, *text = NULL, *abs_keyring = NULL, *abs_file = NULL;
        _cleanup_free_ struct gpgv_run *run = calloc(1, sizeof(*run));
        size_t len = 0, tl = 0;
        int r;

        if (!run)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (!keyring)
                keyring = DEBREPO_DEFAULT_KEYRING;
        r = read_file_capped(path, INRELEASE_MAX, 0, &buf, &len, err);
        if (r < 0)
                return bg_error_prefix(err, "InRelease");
        r = debrepo_clearsign_text(buf, len, &text, &tl, err);
        if (r < 0)
                return bg_error_prefix(err, "InRelease signature check failed");
        /* gpgv reads a keyring name without a slash from its home directory;
         * pass absolute paths. */
        abs_keyring = realpath(keyring, NULL);
        if (!abs_keyring)
                return bg_error_errno(err, -errno, "InRelease signature check failed: keyring '%s'",
                                      keyring);
        abs_file = realpath(path, NULL);
        if (!abs_file)
                return bg_error_errno(err, -errno, "InRelease '%s'", path);

        r = run_gpgv(abs_keyring, abs_file, run, err);
        if (r < 0)
                return r;

        /* Most specific first: a missing key also produces ERRSIG. */
        static const char *const bad[] = {"NO_PUBKEY", "EXPKEYSIG", "REVKEYSIG",
                                          "BADSIG",    "EXPSIG",    "ERRSIG",
                                          "NODATA",    "BADARMOR",  "UNEXPECTED"};
        char detail[160];
        last_stderr_line(run, detail, sizeof(detail));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                size_t l;
                const char *rest = status_find(run, bad[i], &l);
                if (rest) {
                        size_t fl = strcspn(rest, " \n");
                        return bg_error_set(err, EBADMSG,
                                            "InRelease signature check failed: %s (%s %.*s)",
                                            detail, bad[i], (int)(fl > 40 ? 40 : fl), rest);
                }
        }
        size_t vl;
        const char *valid = status_find(run, "VALIDSIG", &vl);
        size_t gl;
        if (run->exit_status != 0 || !valid || !status_find(run, "GOODSIG", &gl))
                return bg_error_set(err, EBADMSG, "InRelease signature check failed: %s", detail);
        /* VALIDSIG <fpr> <date> <ts> <expire> <ver> <res> <pkalgo> <hashalgo>
         * <class> <primary-fpr> */
        char fields[11][64] = {{0}};
        size_t nf = 0;
        for (const char *p = valid; p < valid + vl && nf < 11;) {
                size_t l = strcspn(p, " \n");
                if (l >= sizeof(fields[0]))
                        l = sizeof(fields[0]) - 1;
                memcpy(fields[nf++], p, l);
                p += strcspn(p, " \n");
                while (*p == ' ')
                        p++;
        }
        int hash_algo = nf > 7 ? atoi(fields[7]) : 0;
        if (hash_algo == 1 || hash_algo == 2 || hash_algo == 3)
                return bg_error_set(err, EBADMSG,
                                    "InRelease signature check failed: signature uses the weak "
                                    "digest algorithm %d (MD5, SHA-1 and RIPEMD-160 are refused)",
                                    hash_algo);
        const char *fpr = nf > 9 ? fields[9] : fields[0];
        if (strlen(fpr) > 40)
                return bg_error_set(err, EBADMSG,
                                    "InRelease signature check failed: bad fingerprint in gpgv "
                                    "status");
        if (ret_fingerprint)
                snprintf(ret_fingerprint, 41, "%s", fpr);
        *ret_text = TAKE_PTR(text);
        *ret_len = tl;
        return 0;
}

int debrepo_parse_date(const char *s, time_t *ret)
{
        static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        struct tm tm = {0};
        char mon[4] = {0}, zone[16] = {0};
        int day, year, h, m, sec, consumed = 0;
        const char *comma = strchr(s, ',');
        if (comma)
                s = comma + 1;
        if (sscanf(s, " %d %3s %d %d:%d:%d %15s%n", &day, mon, &year, &h, &m, &sec, zone,
                   &consumed) != 7)
                return -EINVAL;
        if (s[consumed] != '\0')
                return -EINVAL;
        int mi = -1;
        for (int i = 0; i < 12; i++)
                if (strcasecmp(mon, months[i]) == 0)
                        mi = i;
        if (mi < 0 || day < 1 || day > 31 || year < 1970 || year > 9999 || h < 0 || h > 23 ||
            m < 0 || m > 59 || sec < 0 || sec > 60)
                return -EINVAL;
        long off = 0;
        if (streq(zone, "UTC") || streq(zone, "GMT") || streq(zone, "Z")) {
                off = 0;
        } else if ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 5 &&
                   strspn(zone + 1, "0123456789") == 4) {
                off = ((zone[1] - '0') * 10 + (zone[2] - '0')) * 3600L +
                      ((zone[3] - '0') * 10 + (zone[4] - '0')) * 60L;
                if (zone[0] == '-')
                        off = -off;
        } else {
                return -EINVAL;
        }
        tm.tm_mday = day;
        tm.tm_mon = mi;
        tm.tm_year = year - 1900;
        tm.tm_hour = h;
        tm.tm_min = m;
        tm.tm_sec = sec;
        time_t t = timegm(&tm);
        if (t == (time_t)-1)
                return -EINVAL;
        *ret = t - off;
        return 0;
}

void debrepo_release_done(struct debrepo_release *rel)
{
        if (!rel)
                return;
        free(rel->origin);
        free(rel->label);
        free(rel->suite);
        free(rel->codename);
        free(rel->architectures);
        free(rel->components);
        free(rel->date_str);
        free(rel->valid_until_str);
        for (size_t i = 0; i < rel->n_entries; i++)
                free(rel->entries[i].path);
        free(rel->entries);
        *rel = (struct debrepo_release){0};
}

static int parse_sha256_list(struct debrepo_release *rel, const char *v, struct bg_error *err)
{
        size_t cap = 0;
        unsigned lineno = 0;
        while (*v) {
                size_t l = strcspn(v, "\n");
                char line[1200];
                lineno++;
                if (l == 0) {
                        v += 1;
                        continue;
                }
                if (l >= sizeof(line))
                        return bg_error_set(err, EBADMSG, "Release SHA256 line %u is too long",
                                            lineno);
                memcpy(line, v, l);
                line[l] = '\0';
                v += l + (v[l] ? 1 : 0);
                char hash[80], path[1100];
                uint64_t size;
                int consumed = 0;
                if (sscanf(line, "%79s %" SCNu64 " %1099s%n", hash, &size, path, &consumed) != 3 ||
                    line[consumed] != '\0' || !sha256_hex_valid(hash) || path[0] == '/')
                        return bg_error_set(err, EBADMSG,
                                            "Release SHA256 line %u is malformed: '%.80s'", lineno,
                                            line);
                if (ARRAY_RESERVE(rel->entries, cap, rel->n_entries + 1) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                struct debrepo_index_entry *e = &rel->entries[rel->n_entries];
                e->path = strdup(path);
                if (!e->path)
                        return bg_error_set(err, ENOMEM, "out of memory");
                e->size = size;
                for (int i = 0; i < 64; i++)
                        e->sha256[i] = (char)tolower((unsigned char)hash[i]);
                e->sha256[64] = '\0';
                rel->n_entries++;
        }
        return 0;
}

int debrepo_release_parse(const char *text, size_t len, struct debrepo_release *ret,
                          struct bg_error *err)
{
        _cleanup_(debrepo_release_done) struct debrepo_release rel = {0};
        _cleanup_free_ char *sha = NULL, *by_hash = NULL;
        size_t pos = 0, start, end;

        if (deb822_next_paragraph(text, len, &pos, &start, &end) <= 0)
                return bg_error_set(err, EBADMSG, "Release is empty");
        const char *p = text + start;
        size_t pl = end - start;
        struct {
                const char *name;
                char **dst;
        } fields[] = {
            {"Origin", &rel.origin},
            {"Label", &rel.label},
            {"Suite", &rel.suite},
            {"Codename", &rel.codename},
            {"Architectures", &rel.architectures},
            {"Components", &rel.components},
            {"Date", &rel.date_str},
            {"Valid-Until", &rel.valid_until_str},
            {"SHA256", &sha},
            {"Acquire-By-Hash", &by_hash},
        };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (deb822_field(p, pl, fields[i].name, fields[i].dst) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
        if (!rel.date_str)
                return bg_error_set(err, EBADMSG, "Release has no Date field");
        if (debrepo_parse_date(rel.date_str, &rel.date) < 0)
                return bg_error_set(err, EBADMSG, "Release Date '%s' is malformed", rel.date_str);
        if (rel.valid_until_str) {
                if (debrepo_parse_date(rel.valid_until_str, &rel.valid_until) < 0)
                        return bg_error_set(err, EBADMSG, "Release Valid-Until '%s' is malformed",
                                            rel.valid_until_str);
                rel.has_valid_until = true;
        }
        rel.acquire_by_hash = by_hash && strcasecmp(by_hash, "yes") == 0;
        if (!sha)
                return bg_error_set(err, EBADMSG,
                                    "Release has no SHA256 checksums (MD5Sum/SHA1 alone are not "
                                    "accepted)");
        int r = parse_sha256_list(&rel, sha, err);
        if (r < 0)
                return r;
        if (rel.n_entries == 0)
                return bg_error_set(err, EBADMSG, "Release SHA256 list is empty");
        *ret = rel;
        rel = (struct debrepo_release){0};
        return 0;
}

static void fmt_time(time_t t, char *buf, size_t size)
{
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                snprintf(buf, size, "@%lld", (long long)t);
}

int debrepo_release_check(const struct debrepo_release *rel, const char *expected_suite, time_t now,
                          struct bg_error *err)
{
        char a[64], b[64];
        if (rel->has_valid_until && now > rel->valid_until) {
                fmt_time(rel->valid_until, a, sizeof(a));
                fmt_time(now, b, sizeof(b));
                return bg_error_set(err, EKEYEXPIRED,
                                    "Release expired on %s (Valid-Until: %s), now is %s", a,
                                    rel->valid_until_str, b);
        }
        if (rel->date > now + DEBREPO_DATE_SKEW_SEC) {
                fmt_time(rel->date, a, sizeof(a));
                fmt_time(now, b, sizeof(b));
                return bg_error_set(err, EBADMSG,
                                    "Release is not valid yet: its Date is %s, now is %s "
                                    "(check the clock)",
                                    a, b);
        }
        if (expected_suite && !(rel->suite && streq(rel->suite, expected_suite)) &&
            !(rel->codename && streq(rel->codename, expected_suite)))
                return bg_error_set(err, EBADMSG,
                                    "Release is for suite '%s' (codename '%s'), expected '%s'",
                                    rel->suite ? rel->suite : "",
                                    rel->codename ? rel->codename : "", expected_suite);
        return 0;
}

const struct debrepo_index_entry *debrepo_release_find(const struct debrepo_release *rel,
                                                       const char *index_path)
{
        for (size_t i = 0; i < rel->n_entries; i++)
                if (streq(rel->entries[i].path, index_path))
                        return &rel->entries[i];
        return NULL;
}

int debrepo_release_verify_index(const struct debrepo_release *rel, const char *index_path,
                                 const char *file, struct bg_error *err)
{
        const struct debrepo_index_entry *e = debrepo_release_find(rel, index_path);
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size = 0;
        if (!e)
                return bg_error_set(err, ENOENT, "Release lists no index '%s'", index_path);
        int r = sha256_file_hex(file, hex, &size, err);
        if (r < 0)
                return bg_error_prefix(err, "index %s", index_path);
        if (size != e->size)
                return bg_error_set(err, EBADMSG,
                                    "index %s size mismatch: Release says %" PRIu64
                                    " bytes, got %" PRIu64,
                                    index_path, e->size, size);
        if (!streq(hex, e->sha256))
                return bg_error_set(err, EBADMSG,
                                    "index %s sha256 mismatch: Release says %s, got %s", index_path,
                                    e->sha256, hex);
        return 0;
}
