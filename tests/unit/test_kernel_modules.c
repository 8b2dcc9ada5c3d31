#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel_testdata.h"
#include "modules_dep.h"
#include "test_tmpdir.h"

static char tmpdir[] = "/tmp/bg-kmod-test-XXXXXX";

static const char *tpath(const char *name)
{
        return test_path(tmpdir, name);
}

#define V "kernel/drivers/virtio/"
static const char DEP[] =
    "# comment lines are ignored\n" V "virtio_mmio.ko.xz: " V "virtio_ring.ko.xz " V
    "virtio.ko.xz\n" V "virtio_ring.ko.xz: " V "virtio.ko.xz\n" V "virtio.ko.xz:\n"
    "kernel/drivers/block/virtio_blk.ko.xz: " V "virtio_ring.ko.xz " V "virtio.ko.xz\n"
    "kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz "
    "kernel/net/core/failover.ko.xz " V "virtio_ring.ko.xz " V "virtio.ko.xz\n"
    "kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz\n"
    "kernel/net/core/failover.ko.xz:\n"
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.zst: "
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.zst "
    "kernel/net/vmw_vsock/vsock.ko.zst " V "virtio_ring.ko.xz " V "virtio.ko.xz\n"
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.zst: "
    "kernel/net/vmw_vsock/vsock.ko.zst\n"
    "kernel/net/vmw_vsock/vsock.ko.zst:\n"
    "kernel/drivers/md/dm-mod.ko.gz:\n"
    "kernel/fs/ext4/ext4.ko:\n";
static const char BUILTIN[] = "kernel/drivers/char/virtio_console.ko\n" V "virtio_pci.ko\n";

static struct modules_dep *load(void)
{
        struct modules_dep *d = NULL;
        struct bg_error err = {0};
        if (modules_dep_parse(DEP, strlen(DEP), BUILTIN, strlen(BUILTIN), &d, &err) < 0)
                fail_msg("parse: %s", err.msg);
        return d;
}

static void test_normalize(void **state)
{
        char b[64];
        assert_int_equal(modules_name_normalize("kernel/a/virtio-blk.ko.xz", b, sizeof(b)), 0);
        assert_string_equal(b, "virtio_blk");
        assert_int_equal(modules_name_normalize("dm-mod", b, sizeof(b)), 0);
        assert_string_equal(b, "dm_mod");
        assert_int_equal(modules_name_normalize("x/ext4.ko", b, sizeof(b)), 0);
        assert_string_equal(b, "ext4");
        assert_int_equal(modules_name_normalize("a.ko.zst", b, sizeof(b)), 0);
        assert_string_equal(b, "a");
        assert_int_equal(modules_name_normalize("", b, sizeof(b)), -EINVAL);
        assert_int_equal(modules_name_normalize("averyveryverylongname", b, 8), -ENAMETOOLONG);
}

static size_t index_of(const struct modules_resolution *r, const char *path)
{
        for (size_t i = 0; i < r->n_files; i++)
                if (strcmp(r->files[i], path) == 0)
                        return i;
        fail_msg("%s not in the closure", path);
        return 0;
}

static void test_resolve_virtio_set(void **state)
{
        struct modules_dep *d = load();
        struct bg_error err = {0};
        struct modules_resolution r;
        const char *const wanted[] = {"virtio_mmio",    "virtio-blk", "virtio_net",
                                      "virtio_console", "vsock",      "vmw_vsock_virtio_transport",
                                      "no_such_module", "virtio_blk", "dm_mod",
                                      "virtio_pci"};
        assert_int_equal(modules_dep_resolve(d, wanted, 10, &r, &err), 0);
        static const char *const expect[] = {
            V "virtio.ko.xz",
            V "virtio_ring.ko.xz",
            V "virtio_mmio.ko.xz",
            "kernel/drivers/block/virtio_blk.ko.xz",
            "kernel/net/core/failover.ko.xz",
            "kernel/drivers/net/net_failover.ko.xz",
            "kernel/drivers/net/virtio_net.ko.xz",
            "kernel/net/vmw_vsock/vsock.ko.zst",
            "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.zst",
            "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.zst",
            "kernel/drivers/md/dm-mod.ko.gz",
        };
        assert_int_equal(r.n_files, sizeof(expect) / sizeof(expect[0]));
        for (size_t i = 0; i < r.n_files; i++)
                assert_string_equal(r.files[i], expect[i]);
        /* Every dependency precedes its dependents. */
        assert_true(index_of(&r, "kernel/net/core/failover.ko.xz") <
                    index_of(&r, "kernel/drivers/net/net_failover.ko.xz"));
        assert_int_equal(r.n_builtin, 2);
        assert_string_equal(r.builtin[0], "virtio_console");
        assert_string_equal(r.builtin[1], "virtio_pci");
        assert_int_equal(r.n_missing, 1);
        assert_string_equal(r.missing[0], "no_such_module");

        /* Deterministic: the same input gives the same list. */
        struct modules_resolution r2;
        assert_int_equal(modules_dep_resolve(d, wanted, 10, &r2, &err), 0);
        assert_int_equal(r2.n_files, r.n_files);
        for (size_t i = 0; i < r.n_files; i++)
                assert_string_equal(r2.files[i], r.files[i]);
        modules_resolution_done(&r2);
        modules_resolution_done(&r);

        /* A single module with deep dependencies on its own. */
        const char *const one[] = {"vmw-vsock-virtio-transport"};
        assert_int_equal(modules_dep_resolve(d, one, 1, &r, &err), 0);
        assert_int_equal(r.n_files, 5);
        assert_string_equal(r.files[0], V "virtio.ko.xz");
        assert_string_equal(r.files[4], "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.zst");
        assert_true(index_of(&r, "kernel/net/vmw_vsock/vsock.ko.zst") <
                    index_of(&r, "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.zst"));
        modules_resolution_done(&r);

        const char *const bad[] = {""};
        assert_int_equal(modules_dep_resolve(d, bad, 1, &r, &err), -EINVAL);
        modules_dep_free(d);
}

static void test_malformed(void **state)
{
        struct modules_dep *d = NULL;
        struct bg_error err = {0};
        struct modules_resolution r;
        const char cycle[] = "a.ko: b.ko\nb.ko: a.ko\n";
        assert_int_equal(modules_dep_parse(cycle, strlen(cycle), NULL, 0, &d, &err), 0);
        const char *const w[] = {"a"};
        assert_int_equal(modules_dep_resolve(d, w, 1, &r, &err), -ELOOP);
        assert_non_null(strstr(err.msg, "cycle"));
        modules_dep_free(d);

        const char nocolon[] = "a.ko b.ko\n";
        assert_int_equal(modules_dep_parse(nocolon, strlen(nocolon), NULL, 0, &d, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "line 1"));
        const char dangling[] = "a.ko: b.ko\n";
        assert_int_equal(modules_dep_parse(dangling, strlen(dangling), NULL, 0, &d, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "b.ko"));
        const char dup[] = "a.ko:\na.ko:\n";
        assert_int_equal(modules_dep_parse(dup, strlen(dup), NULL, 0, &d, &err), -EINVAL);
}

static void test_load_files(void **state)
{
        struct modules_dep *d = NULL;
        struct bg_error err = {0};
        struct modules_resolution r;
        assert_int_equal(ktd_write_file(tpath("modules.dep"), DEP, strlen(DEP)), 0);
        /* modules.builtin absent: allowed, and virtio_console is then missing. */
        assert_int_equal(modules_dep_load(tpath("modules.dep"), tpath("modules.builtin"), &d, &err),
                         0);
        const char *const w[] = {"virtio_console", "ext4"};
        assert_int_equal(modules_dep_resolve(d, w, 2, &r, &err), 0);
        assert_int_equal(r.n_missing, 1);
        assert_int_equal(r.n_builtin, 0);
        assert_int_equal(r.n_files, 1);
        assert_string_equal(r.files[0], "kernel/fs/ext4/ext4.ko");
        modules_resolution_done(&r);
        modules_dep_free(d);
        assert_int_equal(modules_dep_load(tpath("nope.dep"), NULL, &d, &err), -ENOENT);
}

static void test_module_decompress(void **state)
{
        const size_t size = 70000;
        uint8_t *ko = ktd_make_elf(EM_X86_64, ET_REL, size, SIZE_MAX);
        struct bg_error err = {0};
        static const struct {
                enum kernel_compression c;
                const char *name;
        } cases[] = {
            {KERNEL_COMPRESSION_NONE, "m.ko"},
            {KERNEL_COMPRESSION_XZ, "m.ko.xz"},
            {KERNEL_COMPRESSION_ZSTD, "m.ko.zst"},
            {KERNEL_COMPRESSION_GZIP, "m.ko.gz"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint8_t *z, *buf;
                size_t zl, len;
                assert_int_equal(ktd_compress(cases[i].c, ko, size, false, &z, &zl), 0);
                assert_int_equal(ktd_write_file(tpath(cases[i].name), z, zl), 0);
                free(z);
                assert_int_equal(module_file_read(tpath(cases[i].name), &buf, &len, &err), 0);
                assert_int_equal(len, size);
                assert_memory_equal(buf, ko, size);
                free(buf);
                assert_int_equal(
                    module_file_decompress(tpath(cases[i].name), tpath("out.ko"), &err), 0);
                buf = ktd_read_file(tpath("out.ko"), &len);
                assert_non_null(buf);
                assert_int_equal(len, size);
                assert_memory_equal(buf, ko, size);
                free(buf);
        }
        /* A compressed file that is not a module, and a corrupt one. */
        uint8_t *z;
        size_t zl;
        assert_int_equal(
            ktd_compress(KERNEL_COMPRESSION_XZ, (const uint8_t *)"not an elf", 10, false, &z, &zl),
            0);
        assert_int_equal(ktd_write_file(tpath("bad.ko.xz"), z, zl), 0);
        uint8_t *buf;
        size_t len;
        assert_int_equal(module_file_read(tpath("bad.ko.xz"), &buf, &len, &err), -ENOEXEC);
        assert_int_equal(module_file_decompress(tpath("bad.ko.xz"), tpath("bad.ko"), &err),
                         -ENOEXEC);
        assert_int_not_equal(access(tpath("bad.ko"), F_OK), 0);
        free(z);
        assert_int_equal(ktd_compress(KERNEL_COMPRESSION_ZSTD, ko, size, false, &z, &zl), 0);
        assert_int_equal(ktd_write_file(tpath("trunc.ko.zst"), z, zl / 2), 0);
        assert_int_equal(module_file_read(tpath("trunc.ko.zst"), &buf, &len, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "truncated"));
        free(z);
        free(ko);
}

int main(void)
{
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_normalize),         cmocka_unit_test(test_resolve_virtio_set),
            cmocka_unit_test(test_malformed),         cmocka_unit_test(test_load_files),
            cmocka_unit_test(test_module_decompress),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        if (test_tmpdir_remove(tmpdir) < 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
        return r;
}
