#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deb822.h"
#include "deb_extract.h"
#include "kernel_testdata.h"
#include "packages.h"
#include "release.h"
#include "sha256.h"
#include "sources.h"
#include "test_tmpdir.h"

#define REL "6.1.0-99-cloud-amd64"
#define DEB_FILENAME "pool/main/l/linux-signed-amd64/linux-image-" REL "_6.1.99-1_amd64.deb"
#define VMLINUZ_DATA "pretend this is a bzImage"

static char tmpdir[] = "/tmp/bgdr-XXXXXX";
static char fingerprint[41];

static char *tpath(const char *name)
{
        static char buf[8][512];
        static int k;
        char *p = buf[k++ % 8];
        snprintf(p, 512, "%s/%s", tmpdir, name);
        return p;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
        char cmd[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        int r = system(cmd);
        return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static char *slurp(const char *path, size_t *len)
{
        uint8_t *b = ktd_read_file(path, len);
        if (b)
                b[*len] = '\0';
        return (char *)b;
}

/* --- .deb construction with libarchive -------------------------------- */

struct tar_entry {
        const char *name;
        char type;        /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink */
        const char *data; /* file content, or link target */
};

static void *make_tar(const struct tar_entry *e, size_t n, bool xz, size_t *ret_len)
{
        size_t cap = 1024 * 1024, used = 0;
        void *buf = malloc(cap);
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (xz)
                archive_write_add_filter_xz(a);
        assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *ae = archive_entry_new();
                archive_entry_set_pathname(ae, e[i].name);
                archive_entry_set_mtime(ae, 1700000000, 0);
                switch (e[i].type) {
                case 'd':
                        archive_entry_set_filetype(ae, AE_IFDIR);
                        archive_entry_set_perm(ae, 0755);
                        break;
                case 'l':
                        archive_entry_set_filetype(ae, AE_IFLNK);
                        archive_entry_set_perm(ae, 0777);
                        archive_entry_set_symlink(ae, e[i].data);
                        break;
                case 'h':
                        archive_entry_set_filetype(ae, AE_IFREG);
                        archive_entry_set_perm(ae, 0644);
                        archive_entry_set_hardlink(ae, e[i].data);
                        break;
                default:
                        archive_entry_set_filetype(ae, AE_IFREG);
                        archive_entry_set_perm(ae, 04755); /* setuid must be dropped */
                        archive_entry_set_size(ae, (la_int64_t)strlen(e[i].data));
                        break;
                }
                assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
                if (e[i].type == 'f')
                        archive_write_data(a, e[i].data, strlen(e[i].data));
                archive_entry_free(ae);
        }
        archive_write_close(a);
        archive_write_free(a);
        *ret_len = used;
        return buf;
}

static void ar_member(struct archive *a, const char *name, const void *data, size_t len)
{
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, name);
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, (la_int64_t)len);
        archive_entry_set_mtime(ae, 1700000000, 0);
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
        archive_entry_free(ae);
}

static void make_deb(const char *path, const struct tar_entry *e, size_t n)
{
        static const struct tar_entry control[] = {
            {"./control", 'f', "Package: linux-image-" REL "\nVersion: 6.1.99-1\n"},
        };
        size_t cl, dl;
        void *ctl = make_tar(control, 1, true, &cl);
        void *data = make_tar(e, n, true, &dl);
        struct archive *a = archive_write_new();
        archive_write_set_format_ar_svr4(a);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        ar_member(a, "debian-binary", "2.0\n", 4);
        ar_member(a, "control.tar.xz", ctl, cl);
        ar_member(a, "data.tar.xz", data, dl);
        archive_write_close(a);
        archive_write_free(a);
        free(ctl);
        free(data);
}

static const struct tar_entry good_entries[] = {
    {"./", 'd', NULL},
    {"./boot/", 'd', NULL},
    {"./boot/vmlinuz-" REL, 'f', VMLINUZ_DATA},
    {"./boot/System.map-" REL, 'f', "ffffffff81000000 T _text\n"},
    {"./lib/modules/" REL "/", 'd', NULL},
    {"./lib/modules/" REL "/kernel/drivers/virtio/virtio.ko", 'f',
     "\x7f"
     "ELFmodule"},
    {"./lib/modules/" REL "/modules.order", 'f', "kernel/drivers/virtio/virtio.ko\n"},
    {"./lib/modules/" REL "/kernel/alias.ko", 'l', "drivers/virtio/virtio.ko"},
    {"./lib/modules/" REL "/kernel/hard.ko", 'h',
     "./lib/modules/" REL "/kernel/drivers/virtio/virtio.ko"},
    {"./usr/share/doc/linux-image-" REL "/changelog", 'f', "not extracted\n"},
};

/* --- repository construction ------------------------------------------ */

static void fmt_date(time_t t, char *buf, size_t size)
{
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%a, %d %b %Y %H:%M:%S UTC", &tm);
}

static char *packages_text(const char *deb_sha, uint64_t deb_size)
{
        char *s = NULL;
        int r = asprintf(
            &s,
            "Package: linux-image-cloud-amd64\n"
            "Source: linux-signed-amd64 (6.1.99+1)\n"
            "Version: 6.1.99-1\n"
            "Architecture: amd64\n"
            "Depends: linux-image-" REL " (= 6.1.99-1)\n"
            "Filename: pool/main/l/linux-signed-amd64/linux-image-cloud-amd64_6.1.99-1_amd64.deb\n"
            "Size: 1500\n"
            "SHA256: %064d\n"
            "Description: Linux for cloud platforms (meta-package)\n"
            " This package depends on the latest Linux kernel.\n"
            " .\n"
            " Second paragraph.\n"
            "\n"
            "Package: linux-image-" REL "\n"
            "Version: 6.1.98-1\n"
            "Architecture: amd64\n"
            "Filename: pool/main/l/linux-signed-amd64/old.deb\n"
            "Size: 10\n"
            "SHA256: %064d\n"
            "\n"
            "Package: linux-image-" REL "\n"
            "Version: 6.1.99-1\n"
            "Architecture: amd64\n"
            "Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | "
            "linux-initramfs-tool\n"
            "Filename: " DEB_FILENAME "\n"
            "Size: %llu\n"
            "SHA256: %s\n"
            "\n"
            "Package: linux-image-" REL "\n"
            "Version: 6.1.100-1\n"
            "Architecture: amd64\n"
            "Filename: pool/main/l/linux-signed-amd64/newer.deb\n"
            "Size: 11\n"
            "SHA256: %064d\n"
            "\n"
            "Package: linux-image-broken-amd64\n"
            "Version: 1\n"
            "Depends: linux-image-0.0.0-missing-amd64\n"
            "Filename: pool/x.deb\n"
            "Size: 1\n"
            "SHA256: %064d\n",
            1, 2, (unsigned long long)deb_size, deb_sha, 3, 4);
        assert_true(r > 0);
        return s;
}

static void write_release(const char *path, time_t date, const char *valid_until)
{
        char d[64], hp[65], hx[65];
        uint64_t sp, sx;
        struct bg_error err = {0};
        fmt_date(date, d, sizeof(d));
        assert_int_equal(sha256_file_hex(tpath("Packages"), hp, &sp, &err), 0);
        assert_int_equal(sha256_file_hex(tpath("Packages.xz"), hx, &sx, &err), 0);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fprintf(f,
                "Origin: Debian\nLabel: Debian\nSuite: stable\nVersion: 12.99\n"
                "Codename: bookworm\nDate: %s\n",
                d);
        if (valid_until)
                fprintf(f, "Valid-Until: %s\n", valid_until);
        fprintf(f,
                "Acquire-By-Hash: yes\nArchitectures: amd64 arm64\nComponents: main contrib\n"
                "Description: Debian 12.99\nMD5Sum:\n %032d %8llu main/binary-amd64/Packages\n"
                "SHA256:\n %s %8llu main/binary-amd64/Packages\n %s %8llu "
                "main/binary-amd64/Packages.xz\n",
                0, (unsigned long long)sp, hp, (unsigned long long)sp, hx, (unsigned long long)sx);
        fclose(f);
}

static int sign(const char *home, const char *in, const char *out)
{
        return run("gpg --homedir %s/%s --batch --yes --quiet --pinentry-mode loopback "
                   "--passphrase '' --clearsign -o %s %s 2>/dev/null",
                   tmpdir, home, out, in);
}

static int setup_repo(void **state)
{
        for (int i = 0; i < 2; i++) {
                const char *home = i == 0 ? "g1" : "g2";
                if (run("mkdir -m 700 %s/%s && gpg --homedir %s/%s --batch --quiet "
                        "--pinentry-mode loopback --passphrase '' --quick-gen-key "
                        "'Banger Test %d <test%d@banger.invalid>' ed25519 sign never 2>/dev/null "
                        "&& gpg --homedir %s/%s --export > %s/%s.gpg",
                        tmpdir, home, tmpdir, home, i, i, tmpdir, home, tmpdir,
                        i == 0 ? "good" : "wrong") != 0)
                        return -1;
        }
        make_deb(tpath("kernel.deb"), good_entries, sizeof(good_entries) / sizeof(good_entries[0]));
        char sha[65];
        uint64_t size;
        struct bg_error err = {0};
        assert_int_equal(sha256_file_hex(tpath("kernel.deb"), sha, &size, &err), 0);
        char *pk = packages_text(sha, size);
        assert_int_equal(ktd_write_file(tpath("Packages"), pk, strlen(pk)), 0);
        uint8_t *z;
        size_t zl;
        assert_int_equal(
            ktd_compress(KERNEL_COMPRESSION_XZ, (uint8_t *)pk, strlen(pk), false, &z, &zl), 0);
        assert_int_equal(ktd_write_file(tpath("Packages.xz"), z, zl), 0);
        free(z);
        free(pk);
        char vu[64];
        fmt_date(time(NULL) + 7 * 86400, vu, sizeof(vu));
        write_release(tpath("Release"), time(NULL) - 3600, vu);
        if (sign("g1", tpath("Release"), tpath("InRelease")) != 0)
                return -1;
        return 0;
}

static int teardown_repo(void **state)
{
        run("gpgconf --homedir %s/g1 --kill gpg-agent 2>/dev/null; "
            "gpgconf --homedir %s/g2 --kill gpg-agent 2>/dev/null",
            tmpdir, tmpdir);
        return 0;
}

/* --- tests ------------------------------------------------------------- */

static void test_good_chain(void **state)
{
        struct bg_error err = {0};
        char *text = NULL;
        size_t tl = 0;
        if (debrepo_inrelease_verify(tpath("InRelease"), tpath("good.gpg"), &text, &tl, fingerprint,
                                     &err) < 0)
                fail_msg("verify: %s", err.msg);
        assert_int_equal(strlen(fingerprint), 40);
        size_t rl;
        char *release = slurp(tpath("Release"), &rl);
        assert_int_equal(tl, rl);
        assert_string_equal(text, release);
        free(release);

        struct debrepo_release rel;
        assert_int_equal(debrepo_release_parse(text, tl, &rel, &err), 0);
        free(text);
        assert_string_equal(rel.suite, "stable");
        assert_string_equal(rel.codename, "bookworm");
        assert_string_equal(rel.components, "main contrib");
        assert_true(rel.has_valid_until);
        assert_true(rel.acquire_by_hash);
        assert_int_equal(rel.n_entries, 2);
        assert_int_equal(debrepo_release_check(&rel, "bookworm", time(NULL), &err), 0);
        assert_int_equal(debrepo_release_check(&rel, "stable", time(NULL), &err), 0);
        assert_int_equal(debrepo_release_check(&rel, "trixie", time(NULL), &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "expected 'trixie'"));
        assert_int_equal(debrepo_release_verify_index(&rel, "main/binary-amd64/Packages.xz",
                                                      tpath("Packages.xz"), &err),
                         0);
        assert_int_equal(debrepo_release_verify_index(&rel, "main/binary-amd64/Packages",
                                                      tpath("Packages"), &err),
                         0);
        assert_int_equal(debrepo_release_verify_index(&rel, "main/binary-arm64/Packages.xz",
                                                      tpath("Packages.xz"), &err),
                         -ENOENT);

        struct debrepo_packages *pk = NULL;
        assert_int_equal(debrepo_packages_load(tpath("Packages.xz"), &pk, &err), 0);
        struct debrepo_kernel k;
        if (debrepo_kernel_resolve(pk, "linux-image-cloud-amd64", &k, &err) < 0)
                fail_msg("resolve: %s", err.msg);
        assert_string_equal(k.release, REL);
        assert_string_equal(k.meta.version, "6.1.99-1");
        assert_string_equal(k.image.package, "linux-image-" REL);
        assert_string_equal(k.image.version, "6.1.99-1"); /* pinned, not the newer 6.1.100-1 */
        assert_string_equal(k.image.filename, DEB_FILENAME);
        if (debrepo_deb_verify(&k.image, tpath("kernel.deb"), &err) < 0)
                fail_msg("deb verify: %s", err.msg);

        struct debrepo_package newest;
        assert_int_equal(debrepo_packages_find(pk, "linux-image-" REL, NULL, &newest, &err), 0);
        assert_string_equal(newest.version, "6.1.100-1");
        debrepo_package_done(&newest);

        struct deb_kernel_files f;
        if (deb_extract_kernel(tpath("kernel.deb"), tpath("out"), &f, &err) < 0)
                fail_msg("extract: %s", err.msg);
        assert_string_equal(f.version, REL);
        assert_string_equal(f.vmlinuz, tpath("out/boot/vmlinuz-" REL));
        assert_string_equal(f.modules_dir, tpath("out/lib/modules/" REL));
        size_t vl;
        char *v = slurp(f.vmlinuz, &vl);
        assert_string_equal(v, VMLINUZ_DATA);
        free(v);
        struct stat st;
        assert_int_equal(stat(f.vmlinuz, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(
            stat(tpath("out/lib/modules/" REL "/kernel/drivers/virtio/virtio.ko"), &st), 0);
        assert_int_equal(st.st_nlink, 2); /* and hard.ko */
        char target[256] = {0};
        assert_true(readlink(tpath("out/lib/modules/" REL "/kernel/alias.ko"), target,
                             sizeof(target) - 1) > 0);
        assert_string_equal(target, "drivers/virtio/virtio.ko");
        assert_int_not_equal(access(tpath("out/usr"), F_OK), 0);
        assert_int_not_equal(access(tpath("out/boot/System.map-" REL), F_OK), 0);
        deb_kernel_files_done(&f);

        debrepo_kernel_done(&k);
        debrepo_packages_free(pk);
        debrepo_release_done(&rel);
}

static void expect_verify_fail(const char *inrelease, const char *keyring, const char *needle)
{
        struct bg_error err = {0};
        char *text = NULL;
        size_t tl;
        int r = debrepo_inrelease_verify(inrelease, keyring, &text, &tl, NULL, &err);
        if (r >= 0)
                fail_msg("verification of %s unexpectedly succeeded", inrelease);
        assert_null(text);
        assert_non_null(strstr(err.msg, "InRelease signature check failed"));
        if (needle && !strstr(err.msg, needle))
                fail_msg("'%s' not in '%s'", needle, err.msg);
}

static void test_signature_failures(void **state)
{
        size_t len;
        char *in = slurp(tpath("InRelease"), &len);

        /* Wrong key. */
        expect_verify_fail(tpath("InRelease"), tpath("wrong.gpg"), "NO_PUBKEY");

        /* Release tampered with after signing. */
        char *t = strdup(in);
        char *c = strstr(t, "Codename: bookworm");
        memcpy(c, "Codename: bookwarm", 18);
        ktd_write_file(tpath("tampered"), t, len);
        expect_verify_fail(tpath("tampered"), tpath("good.gpg"), "BADSIG");
        free(t);

        /* Signature bytes damaged. */
        t = strdup(in);
        c = strstr(t, "-----END PGP SIGNATURE-----");
        c -= 12; /* inside the base64 signature, before the checksum line */
        while (*c == '\n' || *c == '=')
                c--;
        *c = *c == 'A' ? 'B' : 'A';
        ktd_write_file(tpath("badsig"), t, len);
        expect_verify_fail(tpath("badsig"), tpath("good.gpg"), NULL);
        free(t);

        /* Text smuggled in outside the signed part. */
        char *s = NULL;
        assert_true(asprintf(&s, "%sSuite: evil\n", in) > 0);
        ktd_write_file(tpath("after"), s, strlen(s));
        expect_verify_fail(tpath("after"), tpath("good.gpg"), "after the signature");
        free(s);
        assert_true(asprintf(&s, "Suite: evil\n%s", in) > 0);
        ktd_write_file(tpath("before"), s, strlen(s));
        expect_verify_fail(tpath("before"), tpath("good.gpg"), "before the signed message");
        free(s);

        /* Not signed at all, and a missing keyring. */
        expect_verify_fail(tpath("Release"), tpath("good.gpg"), "not a clearsigned message");
        expect_verify_fail(tpath("InRelease"), tpath("no-such-keyring.gpg"), "keyring");
        free(in);
}

static void test_release_validity(void **state)
{
        struct bg_error err = {0};
        struct debrepo_release rel;
        char *text;
        size_t len;

        /* Expired (and still correctly signed). */
        write_release(tpath("Release.old"), time(NULL) - 30 * 86400,
                      "Sat, 01 Jan 2022 00:00:00 UTC");
        assert_int_equal(sign("g1", tpath("Release.old"), tpath("InRelease.old")), 0);
        assert_int_equal(debrepo_inrelease_verify(tpath("InRelease.old"), tpath("good.gpg"), &text,
                                                  &len, NULL, &err),
                         0);
        assert_int_equal(debrepo_release_parse(text, len, &rel, &err), 0);
        free(text);
        assert_int_equal(debrepo_release_check(&rel, NULL, time(NULL), &err), -EKEYEXPIRED);
        assert_non_null(strstr(err.msg, "Release expired on 2022-01-01 00:00:00 UTC"));
        debrepo_release_done(&rel);

        /* Date in the future. */
        write_release(tpath("Release.future"), time(NULL) + 86400, NULL);
        text = slurp(tpath("Release.future"), &len);
        assert_int_equal(debrepo_release_parse(text, len, &rel, &err), 0);
        free(text);
        assert_int_equal(debrepo_release_check(&rel, NULL, time(NULL), &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "not valid yet"));
        debrepo_release_done(&rel);

        /* No SHA256 list, malformed entries, no Date. */
        const char *no_sha = "Suite: x\nDate: Sat, 10 Feb 2024 09:51:25 UTC\nMD5Sum:\n "
                             "00000000000000000000000000000000 1 a\n";
        assert_int_equal(debrepo_release_parse(no_sha, strlen(no_sha), &rel, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "no SHA256"));
        const char *bad = "Date: Sat, 10 Feb 2024 09:51:25 UTC\nSHA256:\n abc 12 main/x\n";
        assert_int_equal(debrepo_release_parse(bad, strlen(bad), &rel, &err), -EBADMSG);
        const char *nodate = "Suite: x\nSHA256:\n";
        assert_int_equal(debrepo_release_parse(nodate, strlen(nodate), &rel, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "Date"));

        time_t t;
        assert_int_equal(debrepo_parse_date("Sat, 10 Feb 2024 09:51:25 UTC", &t), 0);
        assert_int_equal(t, 1707558685);
        assert_int_equal(debrepo_parse_date("Sat, 10 Feb 2024 10:51:25 +0100", &t), 0);
        assert_int_equal(t, 1707558685);
        assert_int_equal(debrepo_parse_date("10 Foo 2024 09:51:25 UTC", &t), -EINVAL);
        assert_int_equal(debrepo_parse_date("Sat, 10 Feb 2024 09:51:25 CET", &t), -EINVAL);
}

static void test_index_and_deb_mismatch(void **state)
{
        struct bg_error err = {0};
        struct debrepo_release rel;
        size_t len;
        char *text = slurp(tpath("Release"), &len);
        assert_int_equal(debrepo_release_parse(text, len, &rel, &err), 0);
        free(text);

        /* Same size, one byte changed. */
        uint8_t *xz = ktd_read_file(tpath("Packages.xz"), &len);
        xz[len / 2] ^= 0xff;
        ktd_write_file(tpath("Packages.bad.xz"), xz, len);
        assert_int_equal(debrepo_release_verify_index(&rel, "main/binary-amd64/Packages.xz",
                                                      tpath("Packages.bad.xz"), &err),
                         -EBADMSG);
        assert_non_null(strstr(err.msg, "index main/binary-amd64/Packages.xz sha256 mismatch: "
                                        "Release says "));
        /* One byte more. */
        ktd_write_file(tpath("Packages.long.xz"), xz, len - 1);
        assert_int_equal(debrepo_release_verify_index(&rel, "main/binary-amd64/Packages.xz",
                                                      tpath("Packages.long.xz"), &err),
                         -EBADMSG);
        assert_non_null(strstr(err.msg, "size mismatch"));
        free(xz);
        debrepo_release_done(&rel);

        /* .deb altered. */
        struct debrepo_packages *pk = NULL;
        struct debrepo_kernel k;
        assert_int_equal(debrepo_packages_load(tpath("Packages"), &pk, &err), 0);
        assert_int_equal(debrepo_kernel_resolve(pk, "linux-image-cloud-amd64", &k, &err), 0);
        uint8_t *deb = ktd_read_file(tpath("kernel.deb"), &len);
        deb[len - 3] ^= 0x01;
        ktd_write_file(tpath("altered.deb"), deb, len);
        assert_int_equal(debrepo_deb_verify(&k.image, tpath("altered.deb"), &err), -EBADMSG);
        assert_non_null(strstr(err.msg, ".deb sha256 mismatch for linux-image-" REL));
        ktd_write_file(tpath("altered.deb"), deb, len - 1);
        assert_int_equal(debrepo_deb_verify(&k.image, tpath("altered.deb"), &err), -EBADMSG);
        assert_non_null(strstr(err.msg, ".deb size mismatch"));
        free(deb);
        debrepo_kernel_done(&k);

        /* Missing packages. */
        struct debrepo_package p;
        assert_int_equal(debrepo_packages_find(pk, "linux-image-nope", NULL, &p, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "'linux-image-nope' is not in the Packages index"));
        assert_int_equal(debrepo_packages_find(pk, "linux-image-" REL, "9.9-9", &p, &err), -ENOENT);
        assert_int_equal(debrepo_kernel_resolve(pk, "linux-image-broken-amd64", &k, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "linux-image-0.0.0-missing-amd64"));
        assert_int_equal(debrepo_kernel_resolve(pk, "linux-image-absent", &k, &err), -ENOENT);
        debrepo_packages_free(pk);

        /* Unsafe Filename. */
        const char *evil = "Package: x\nVersion: 1\nFilename: ../../etc/passwd\nSize: 1\nSHA256: "
                           "0000000000000000000000000000000000000000000000000000000000000000\n";
        assert_int_equal(debrepo_packages_from_text(evil, strlen(evil), &pk, &err), 0);
        assert_int_equal(debrepo_packages_find(pk, "x", NULL, &p, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "not a safe relative path"));
        debrepo_packages_free(pk);
}

static void expect_extract_fail(const char *name, const struct tar_entry *e, size_t n,
                                const char *needle)
{
        struct bg_error err = {0};
        struct deb_kernel_files f;
        char deb[600], out[600];
        snprintf(deb, sizeof(deb), "%s/%s.deb", tmpdir, name);
        snprintf(out, sizeof(out), "%s/x/%s", tmpdir, name);
        make_deb(deb, e, n);
        int r = deb_extract_kernel(deb, out, &f, &err);
        if (r >= 0)
                fail_msg("%s: extraction unexpectedly succeeded", name);
        if (!strstr(err.msg, needle))
                fail_msg("%s: '%s' not in '%s'", name, needle, err.msg);
}

static void test_deb_traversal(void **state)
{
        assert_int_equal(mkdir(tpath("x"), 0755), 0);
        const struct tar_entry dotdot[] = {
            {"./boot/vmlinuz-" REL, 'f', "k"},
            {"./lib/modules/" REL "/../../../../escape", 'f', "x"},
        };
        expect_extract_fail("dotdot", dotdot, 2, "path traversal");
        const struct tar_entry dotdot2[] = {{"../escape2", 'f', "x"},
                                            {"./boot/vmlinuz-" REL, 'f', "k"}};
        expect_extract_fail("dotdot2", dotdot2, 2, "path traversal");
        const struct tar_entry absolute[] = {{"/etc/evil", 'f', "x"},
                                             {"./boot/vmlinuz-" REL, 'f', "k"}};
        expect_extract_fail("absolute", absolute, 2, "absolute path");
        const struct tar_entry abslink[] = {
            {"./boot/vmlinuz-" REL, 'f', "k"},
            {"./lib/modules/" REL "/build", 'l', "/usr/src/linux-headers-" REL},
        };
        expect_extract_fail("abslink", abslink, 2, "points outside the target");
        const struct tar_entry uplink[] = {
            {"./boot/vmlinuz-" REL, 'f', "k"},
            {"./lib/modules/" REL "/up", 'l', "../../../../etc"},
        };
        expect_extract_fail("uplink", uplink, 2, "points outside the target");
        /* A symlink used as a directory to write through. */
        const struct tar_entry through[] = {
            {"./boot/vmlinuz-" REL, 'f', "k"},
            {"./lib/modules/" REL "/dir", 'l', "../.."},
            {"./lib/modules/" REL "/dir/evil", 'f', "x"},
        };
        expect_extract_fail("through", through, 3, "not a directory");
        const struct tar_entry hardout[] = {
            {"./boot/vmlinuz-" REL, 'f', "k"},
            {"./lib/modules/" REL "/h", 'h', "../../etc/passwd"},
        };
        expect_extract_fail("hardout", hardout, 2, "path traversal");
        const struct tar_entry nokernel[] = {{"./lib/modules/" REL "/a.ko", 'f', "x"}};
        expect_extract_fail("nokernel", nokernel, 1, "no /boot/vmlinuz-");
        const struct tar_entry mismatch[] = {{"./boot/vmlinuz-" REL, 'f', "k"},
                                             {"./usr/lib/modules/6.2.0-1-amd64/a.ko", 'f', "x"}};
        expect_extract_fail("mismatch", mismatch, 2, "modules are for");
        assert_int_not_equal(access(tpath("escape"), F_OK), 0);
        assert_int_not_equal(access(tpath("x/escape"), F_OK), 0);
        assert_int_not_equal(access(tpath("escape2"), F_OK), 0);
        assert_int_not_equal(access(tpath("x/evil"), F_OK), 0);
        assert_int_not_equal(access(tpath("evil"), F_OK), 0);

        /* merged-/usr layout lands under lib/modules. */
        const struct tar_entry usr[] = {{"./boot/vmlinuz-" REL, 'f', "k"},
                                        {"./usr/lib/modules/" REL "/kernel/a.ko", 'f', "x"}};
        make_deb(tpath("usr.deb"), usr, 2);
        struct deb_kernel_files f;
        struct bg_error err = {0};
        assert_int_equal(deb_extract_kernel(tpath("usr.deb"), tpath("usrout"), &f, &err), 0);
        assert_int_equal(access(tpath("usrout/lib/modules/" REL "/kernel/a.ko"), F_OK), 0);
        deb_kernel_files_done(&f);

        /* Not a .deb at all. */
        ktd_write_file(tpath("junk.deb"), "!<arch>\nnonsense", 16);
        assert_true(deb_extract_kernel(tpath("junk.deb"), tpath("junkout"), &f, &err) < 0);
        ktd_write_file(tpath("junk2.deb"), "hello", 5);
        assert_true(deb_extract_kernel(tpath("junk2.deb"), tpath("junkout"), &f, &err) < 0);
        assert_non_null(strstr(err.msg, "not a Debian package"));
}

static void test_versions(void **state)
{
        static const struct {
                const char *a, *b;
                int sign;
        } t[] = {
            {"1.0", "1.0", 0},
            {"1.0", "1.1", -1},
            {"6.1.99-1", "6.1.100-1", -1},
            {"1.0~rc1", "1.0", -1},
            {"1:0.1", "2.0", 1},
            {"1.0-1", "1.0-2", -1},
            {"1.0a", "1.0", 1},
            {"1.0+b1", "1.0", 1},
            {"4.3~", "4.3", -1},
            {"0.120+deb8u2", "0.120", 1},
            {"1.00", "1.0", 0},
            {"2.0-1~bpo12+1", "2.0-1", -1},
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                int c = debrepo_version_compare(t[i].a, t[i].b);
                int s = c < 0 ? -1 : c > 0;
                if (s != t[i].sign)
                        fail_msg("compare(%s, %s) = %d, want %d", t[i].a, t[i].b, s, t[i].sign);
                c = debrepo_version_compare(t[i].b, t[i].a);
                assert_int_equal(c < 0 ? -1 : c > 0, -t[i].sign);
        }
}

static void test_deb822(void **state)
{
        const char *doc = "# comment\n\nA: one\nMulti: first\n second line\n .\n third\nB:two  \n"
                          "\n\n\nA: other\n";
        size_t pos = 0, s, e;
        char *v = NULL;
        assert_int_equal(deb822_next_paragraph(doc, strlen(doc), &pos, &s, &e), 1);
        assert_int_equal(deb822_field(doc + s, e - s, "multi", &v), 1);
        assert_string_equal(v, "first\nsecond line\n\nthird");
        free(v);
        assert_int_equal(deb822_field(doc + s, e - s, "b", &v), 1);
        assert_string_equal(v, "two");
        free(v);
        assert_true(deb822_field_equals(doc + s, e - s, "A", "one"));
        assert_false(deb822_field_equals(doc + s, e - s, "A", "on"));
        assert_int_equal(deb822_field(doc + s, e - s, "Missing", &v), 0);
        assert_int_equal(deb822_next_paragraph(doc, strlen(doc), &pos, &s, &e), 1);
        assert_true(deb822_field_equals(doc + s, e - s, "A", "other"));
        assert_int_equal(deb822_next_paragraph(doc, strlen(doc), &pos, &s, &e), 0);
}

static void test_sources(void **state)
{
        struct bg_error err = {0};
        const char *root = tpath("root");
        assert_int_equal(run("mkdir -p %s/etc/apt/sources.list.d", root), 0);
        const char *list =
            "# main archive, after the security line\n"
            "deb-src http://deb.debian.org/debian bookworm main\n"
            "deb http://security.debian.org/debian-security bookworm-security main\n"
            "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
            "http://ftp.de.debian.org/debian/ bookworm main contrib # trailing comment\n";
        char p[700];
        snprintf(p, sizeof(p), "%s/etc/apt/sources.list", root);
        ktd_write_file(p, list, strlen(list));
        const char *d822 = "Types: deb\n"
                           "# a comment inside\n"
                           "URIs: http://deb.debian.org/debian\n"
                           "Suites: bookworm bookworm-updates\n"
                           "Components: main\n non-free-firmware\n"
                           "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                           "\n"
                           "Types: deb\n"
                           "URIs: http://disabled.example/debian\n"
                           "Suites: sid\n"
                           "Components: main\n"
                           "Enabled: no\n";
        snprintf(p, sizeof(p), "%s/etc/apt/sources.list.d/debian.sources", root);
        ktd_write_file(p, d822, strlen(d822));
        snprintf(p, sizeof(p), "%s/etc/apt/sources.list.d/other.list.disabled", root);
        ktd_write_file(p, "garbage garbage\n", 16);

        struct debrepo_source *v = NULL;
        size_t n = 0;
        assert_int_equal(debrepo_sources_list(root, &v, &n, &err), 0);
        assert_int_equal(n, 4);
        assert_string_equal(v[0].uri, "http://security.debian.org/debian-security");
        assert_string_equal(v[1].uri, "http://ftp.de.debian.org/debian");
        assert_string_equal(v[1].suite, "bookworm");
        assert_string_equal(v[1].components, "main contrib");
        assert_string_equal(v[1].signed_by, "/usr/share/keyrings/debian-archive-keyring.gpg");
        assert_string_equal(v[2].uri, "http://deb.debian.org/debian");
        assert_string_equal(v[2].suite, "bookworm");
        assert_string_equal(v[2].components, "main non-free-firmware");
        assert_string_equal(v[3].suite, "bookworm-updates");
        debrepo_sources_free(v, n);

        struct debrepo_source s;
        assert_int_equal(debrepo_sources_find_debian(root, &s, &err), 0);
        assert_string_equal(s.uri, "http://ftp.de.debian.org/debian");
        assert_string_equal(s.suite, "bookworm");
        debrepo_source_done(&s);

        /* Only deb822 when sources.list is gone. */
        snprintf(p, sizeof(p), "%s/etc/apt/sources.list", root);
        unlink(p);
        assert_int_equal(debrepo_sources_find_debian(root, &s, &err), 0);
        assert_string_equal(s.uri, "http://deb.debian.org/debian");
        assert_string_equal(s.components, "main non-free-firmware");
        assert_string_equal(s.file, tpath("root/etc/apt/sources.list.d/debian.sources"));
        debrepo_source_done(&s);

        /* Nothing usable; then a malformed line. */
        snprintf(p, sizeof(p), "%s/etc/apt/sources.list.d/debian.sources", root);
        unlink(p);
        ktd_write_file(tpath("root/etc/apt/sources.list"),
                       "deb https://packages.cloud.google.com/apt cloud-sdk main\n", 56);
        assert_int_equal(debrepo_sources_find_debian(root, &s, &err), -ENOENT);
        ktd_write_file(tpath("root/etc/apt/sources.list"), "deb http://x/debian\n", 20);
        assert_int_equal(debrepo_sources_find_debian(root, &s, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "line 1"));
        assert_int_equal(debrepo_sources_find_debian(tpath("empty-root"), &s, &err), -ENOENT);
}

int main(void)
{
        if (run("command -v gpg >/dev/null && command -v gpgv >/dev/null && "
                "command -v gpgconf >/dev/null") != 0) {
                printf("FAIL: set-up: gpg, gpgv or gpgconf is not installed (packages gnupg, "
                       "gpgv; scripts/install-deps.sh installs them)\n");
                return 1;
        }
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good_chain),       cmocka_unit_test(test_signature_failures),
            cmocka_unit_test(test_release_validity), cmocka_unit_test(test_index_and_deb_mismatch),
            cmocka_unit_test(test_deb_traversal),    cmocka_unit_test(test_versions),
            cmocka_unit_test(test_deb822),           cmocka_unit_test(test_sources),
        };
        int r = cmocka_run_group_tests(tests, setup_repo, teardown_repo);
        test_tmpdir_remove(tmpdir);
        return r;
}
