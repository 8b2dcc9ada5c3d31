#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bzimage.h"
#include "kernel_testdata.h"
#include "test_tmpdir.h"
#include "skip.h"

static char tmpdir[] = "/tmp/bg-kernel-test-XXXXXX";

static const char *tpath(const char *name)
{
        return test_path(tmpdir, name);
}

static bool exists(const char *p)
{
        return access(p, F_OK) == 0;
}

static void test_enum_strings(void **state)
{
        for (int c = 0; c < _KERNEL_COMPRESSION_MAX; c++)
                assert_int_equal(kernel_compression_from_string(kernel_compression_to_string(c)),
                                 c);
        for (int f = 0; f < _KERNEL_FORMAT_MAX; f++)
                assert_int_equal(kernel_format_from_string(kernel_format_to_string(f)), f);
        assert_int_equal(kernel_compression_from_string("lzo"), -EINVAL);
        assert_int_equal(kernel_format_from_string("pe"), -EINVAL);
        assert_null(kernel_compression_to_string(_KERNEL_COMPRESSION_MAX));
}

/* Build bzImage(c) around an ELF, write it, return the ELF (caller frees). */
static uint8_t *write_bzimage(const char *path, enum kernel_compression c, size_t elf_size,
                              const struct ktd_bzimage_opts *o, uint16_t machine,
                              size_t *ret_elf_len, uint8_t **ret_bz, size_t *ret_bz_len,
                              size_t *ret_poff, size_t *ret_plen)
{
        uint8_t *elf = ktd_make_elf(machine, ET_EXEC, elf_size, 4096);
        uint8_t *z = NULL, *bz;
        size_t zl = 0, bl = 0, poff = 0;
        assert_non_null(elf);
        assert_int_equal(ktd_compress(c, elf, elf_size, c != KERNEL_COMPRESSION_GZIP, &z, &zl), 0);
        bz = ktd_make_bzimage(z, zl, o, &bl, &poff);
        assert_non_null(bz);
        assert_int_equal(ktd_write_file(path, bz, bl), 0);
        free(z);
        *ret_elf_len = elf_size;
        if (ret_bz) {
                *ret_bz = bz;
                *ret_bz_len = bl;
        } else {
                free(bz);
        }
        if (ret_poff)
                *ret_poff = poff;
        if (ret_plen)
                *ret_plen = zl;
        return elf;
}

static void check_extract(enum kernel_compression c, const struct ktd_bzimage_opts *o,
                          size_t elf_size, bool expect_scan)
{
        const char *bzp = tpath("bzImage"), *out = tpath("vmlinux");
        struct bg_error err = {0};
        size_t elf_len, bl, poff, vl = 0;
        uint8_t *bz;
        uint8_t *elf =
            write_bzimage(bzp, c, elf_size, o, EM_X86_64, &elf_len, &bz, &bl, &poff, NULL);

        struct kernel_image_info info;
        assert_int_equal(kernel_image_inspect(bzp, &info, &err), 0);
        assert_int_equal(info.format, KERNEL_FORMAT_BZIMAGE);
        assert_int_equal(info.size, bl);
        char hex[65];
        sha256_buf_hex(bz, bl, hex);
        assert_string_equal(info.sha256, hex);
        /* Without payload fields, inspect has only the header string. */
        assert_string_equal(info.version, o->version || o->payload_fields ? KTD_RELEASE : "");
        if (o->payload_fields)
                assert_int_equal(info.compression, c);

        struct kernel_extract_info xi;
        int r = kernel_extract_vmlinux(bzp, out, &xi, &err);
        if (r < 0)
                fail_msg("extract %s: %s", kernel_compression_to_string(c), err.msg);
        assert_int_equal(xi.compression, c);
        assert_int_equal(xi.payload_offset, poff);
        assert_int_equal(xi.found_by_scan, expect_scan);
        assert_int_equal(xi.vmlinux_size, elf_len);
        assert_string_equal(xi.version, KTD_RELEASE);
        uint8_t *v = ktd_read_file(out, &vl);
        assert_non_null(v);
        assert_int_equal(vl, elf_len);
        assert_memory_equal(v, elf, elf_len);

        /* The extracted file is an ELF vmlinux to inspect. */
        assert_int_equal(kernel_image_inspect(out, &info, &err), 0);
        assert_int_equal(info.format, KERNEL_FORMAT_ELF);
        assert_string_equal(info.version, KTD_RELEASE);
        assert_string_equal(info.banner, KTD_BANNER);
        struct stat st;
        assert_int_equal(stat(out, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);
        unlink(out);
        free(v);
        free(elf);
        free(bz);
}

static const enum kernel_compression all_comps[] = {
    KERNEL_COMPRESSION_GZIP, KERNEL_COMPRESSION_BZIP2, KERNEL_COMPRESSION_LZMA,
    KERNEL_COMPRESSION_XZ,   KERNEL_COMPRESSION_LZ4,   KERNEL_COMPRESSION_ZSTD,
};

static void test_extract_each_compression(void **state)
{
        struct ktd_bzimage_opts o = {.version = KTD_RELEASE " (builder@test) #1 SMP",
                                     .payload_fields = true};
        for (size_t i = 0; i < sizeof(all_comps) / sizeof(all_comps[0]); i++)
                check_extract(all_comps[i], &o, 300 * 1024, false);
}

static void test_extract_by_scan(void **state)
{
        /* Old boot protocol (no payload fields), false magics before the
         * payload, no header version string. */
        struct ktd_bzimage_opts o = {.version = NULL, .payload_fields = false, .fake_magic = true};
        for (size_t i = 0; i < sizeof(all_comps) / sizeof(all_comps[0]); i++)
                check_extract(all_comps[i], &o, 200 * 1024, true);
}

static void test_lz4_multiblock(void **state)
{
        /* More than one 8 MiB legacy block, and an exact multiple. */
        struct ktd_bzimage_opts o = {.version = KTD_RELEASE, .payload_fields = true};
        check_extract(KERNEL_COMPRESSION_LZ4, &o, 9 * 1024 * 1024 + 4321, false);
        check_extract(KERNEL_COMPRESSION_LZ4, &o, 16 * 1024 * 1024, false);
}

static void test_corrupt_payload_refused(void **state)
{
        const char *bzp = tpath("bzImage"), *out = tpath("vmlinux");
        struct ktd_bzimage_opts o = {.version = KTD_RELEASE, .payload_fields = true};
        for (size_t i = 0; i < sizeof(all_comps) / sizeof(all_comps[0]); i++) {
                enum kernel_compression c = all_comps[i];
                struct bg_error err = {0};
                size_t el, bl, poff, plen;
                uint8_t *bz;
                uint8_t *elf =
                    write_bzimage(bzp, c, 200 * 1024, &o, EM_X86_64, &el, &bz, &bl, &poff, &plen);
                /* Truncate the payload: cut the file in its middle. */
                assert_int_equal(truncate(bzp, (off_t)(poff + plen / 2)), 0);
                assert_true(kernel_extract_vmlinux(bzp, out, NULL, &err) < 0);
                assert_non_null(strstr(err.msg, "cannot extract vmlinux"));
                assert_false(exists(out));
                /* Flip bytes in the middle of the payload (checksummed formats
                 * catch it; lz4 legacy has no checksum but its size trailer
                 * or block structure must not match). */
                if (c != KERNEL_COMPRESSION_LZ4) {
                        for (size_t k = 0; k < 16; k++)
                                bz[poff + plen / 2 + k] ^= 0x5a;
                } else {
                        bz[poff + plen - 2] ^= 0x01; /* the size trailer */
                }
                assert_int_equal(ktd_write_file(bzp, bz, bl), 0);
                err = (struct bg_error){0};
                assert_true(kernel_extract_vmlinux(bzp, out, NULL, &err) < 0);
                assert_false(exists(out));
                free(elf);
                free(bz);
        }
        /* Nothing left behind in the directory but the input. */
        glob_t g;
        char pat[600];
        snprintf(pat, sizeof(pat), "%s/vmlinux*", tmpdir);
        assert_int_equal(glob(pat, 0, NULL, &g), GLOB_NOMATCH);
}

/* An lzma or xz header may ask for a dictionary of up to 4 GiB, which the
 * decoder would allocate: refused with EFBIG before (found by fuzz_bzimage,
 * tests/fuzz/regress/bzimage/lzma-dict-4gib). */
static void test_decoder_memlimit(void **state)
{
        const char *p = tpath("big-dict.lzma");
        /* lzma_alone header: properties 0x5d, dictionary 0xffff0000 (a
         * multiple of 64 KiB, as detection wants), unknown size */
        uint8_t lz[64] = {0x5d, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
                          0xff, 0xff, 0xff, 0xff, 0xff};
        assert_int_equal(ktd_write_file(p, lz, sizeof(lz)), 0);
        uint8_t *buf = NULL;
        size_t len = 0;
        enum kernel_compression c;
        struct bg_error err = {0};
        int r = kernel_decompress_file_to_memory(p, 1u << 20, &buf, &len, &c, &err);
        assert_int_equal(r, -EFBIG);
        assert_null(buf);
        assert_non_null(strstr(err.msg, "needs more than 256 MiB"));
}

static void test_non_x86_refused(void **state)
{
        const char *elfp = tpath("arm64.elf"), *bzp = tpath("bzImage"), *out = tpath("vmlinux");
        struct bg_error err = {0};
        struct kernel_image_info info;
        uint8_t *elf = ktd_make_elf(EM_AARCH64, ET_EXEC, 8192, 100);
        assert_int_equal(ktd_write_file(elfp, elf, 8192), 0);
        assert_int_equal(kernel_image_inspect(elfp, &info, &err), -ENOEXEC);
        assert_non_null(strstr(err.msg, "not x86-64"));
        free(elf);

        struct ktd_bzimage_opts o = {.version = KTD_RELEASE, .payload_fields = true};
        size_t el;
        elf = write_bzimage(bzp, KERNEL_COMPRESSION_XZ, 64 * 1024, &o, EM_AARCH64, &el, NULL, NULL,
                            NULL, NULL);
        err = (struct bg_error){0};
        assert_true(kernel_extract_vmlinux(bzp, out, NULL, &err) < 0);
        assert_non_null(strstr(err.msg, "not x86-64"));
        assert_false(exists(out));
        free(elf);

        /* An ET_REL object (a module) is no kernel either. */
        elf = ktd_make_elf(EM_X86_64, ET_REL, 8192, 100);
        assert_int_equal(ktd_write_file(elfp, elf, 8192), 0);
        err = (struct bg_error){0};
        assert_int_equal(kernel_image_inspect(elfp, &info, &err), -ENOEXEC);
        free(elf);
}

static void test_inspect_elf_and_others(void **state)
{
        const char *p = tpath("vmlinux.elf"), *junk = tpath("junk");
        struct bg_error err = {0};
        struct kernel_image_info info;
        /* Banner straddling the 256 KiB read boundary. */
        size_t size = 600 * 1024;
        uint8_t *elf = ktd_make_elf(EM_X86_64, ET_EXEC, size, 256 * 1024 - 20);
        assert_int_equal(ktd_write_file(p, elf, size), 0);
        assert_int_equal(kernel_image_inspect(p, &info, &err), 0);
        assert_int_equal(info.format, KERNEL_FORMAT_ELF);
        assert_int_equal(info.compression, KERNEL_COMPRESSION_NONE);
        assert_int_equal(info.size, size);
        assert_string_equal(info.version, KTD_RELEASE);
        char hex[65];
        sha256_buf_hex(elf, size, hex);
        assert_string_equal(info.sha256, hex);

        /* Extracting from an ELF is refused with a clear message. */
        assert_int_equal(kernel_extract_vmlinux(p, tpath("vmlinux"), NULL, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "already an ELF"));
        free(elf);

        /* Neither format. */
        assert_int_equal(ktd_write_file(junk, "hello world, not a kernel", 25), 0);
        err = (struct bg_error){0};
        assert_int_equal(kernel_image_inspect(junk, &info, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "neither an ELF vmlinux nor a bzImage"));
        err = (struct bg_error){0};
        assert_int_equal(kernel_image_inspect(tpath("absent"), &info, &err), -ENOENT);
}

static void test_host_kernel(void **state)
{
        glob_t g;
        if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0)
                test_skip("no-host-kernel", "no /boot/vmlinuz-* on this host");
        const char *src = g.gl_pathv[g.gl_pathc - 1];
        struct bg_error err = {0};
        struct kernel_image_info info;
        if (access(src, R_OK) != 0 && geteuid() != 0) {
                globfree(&g);
                test_skip("not-root", "the host kernel in /boot is readable by root only");
        }
        assert_int_equal(kernel_image_inspect(src, &info, &err), 0);
        assert_int_equal(info.format, KERNEL_FORMAT_BZIMAGE);
        const char *name_release = strrchr(src, '/') + strlen("/vmlinuz-");
        assert_string_equal(info.version, name_release);
        struct kernel_extract_info xi;
        const char *out = tpath("host-vmlinux");
        if (kernel_extract_vmlinux(src, out, &xi, &err) < 0)
                fail_msg("extract %s: %s", src, err.msg);
        assert_string_equal(xi.version, name_release);
        struct kernel_image_info vi;
        assert_int_equal(kernel_image_inspect(out, &vi, &err), 0);
        assert_int_equal(vi.format, KERNEL_FORMAT_ELF);
        assert_string_equal(vi.version, name_release);
        unlink(out);
        globfree(&g);
}

int main(void)
{
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_enum_strings),
            cmocka_unit_test(test_extract_each_compression),
            cmocka_unit_test(test_extract_by_scan),
            cmocka_unit_test(test_lz4_multiblock),
            cmocka_unit_test(test_corrupt_payload_refused),
            cmocka_unit_test(test_decoder_memlimit),
            cmocka_unit_test(test_non_x86_refused),
            cmocka_unit_test(test_inspect_elf_and_others),
            cmocka_unit_test(test_host_kernel),
        };
        int r = test_status(cmocka_run_group_tests(tests, NULL, NULL));
        if (test_tmpdir_remove(tmpdir) < 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
        return r;
}
