/* The banger initramfs builder: archive read back with libarchive (names,
 * types, modes, order, contents), module closure order, built-in and missing
 * modules, zstd, and refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "initramfs.h"
#include "kernel_testdata.h"
#include "kernel_util.h"
#include "paths/paths.h"

#define REL "6.1.0-99-test"

struct fixture {
        char dir[PATH_MAX];
        char agent[PATH_MAX];
        char mods[PATH_MAX];
        char out[PATH_MAX];
};

static const char dep_text[] =
    "kernel/drivers/virtio/virtio_mmio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz "
    "kernel/drivers/virtio/virtio.ko.xz\n"
    "kernel/drivers/virtio/virtio_ring.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n"
    "kernel/drivers/virtio/virtio.ko.xz:\n"
    "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz "
    "kernel/drivers/virtio/virtio.ko.xz\n"
    "kernel/drivers/net/virtio_net.ko: kernel/net/core/failover.ko "
    "kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz\n"
    "kernel/net/core/failover.ko:\n"
    "kernel/net/vmw_vsock/vsock.ko.xz:\n"
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz: "
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz "
    "kernel/net/vmw_vsock/vsock.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz "
    "kernel/drivers/virtio/virtio.ko.xz\n"
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz: "
    "kernel/net/vmw_vsock/vsock.ko.xz\n"
    "kernel/drivers/char/unrelated.ko.xz:\n";

static void write_module(const char *mods, const char *rel)
{
        char p[PATH_MAX], d[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", mods, rel);
        snprintf(d, sizeof(d), "%s", p);
        *strrchr(d, '/') = '\0';
        assert_int_equal(mkdir_p(d, 0755), 0);
        size_t n = 4096;
        uint8_t *elf = ktd_make_elf(62, 1, n, SIZE_MAX);
        assert_non_null(elf);
        size_t len = strlen(rel);
        if (len > 3 && strcmp(rel + len - 3, ".xz") == 0) {
                uint8_t *c = NULL;
                size_t clen = 0;
                assert_int_equal(ktd_compress(KERNEL_COMPRESSION_XZ, elf, n, false, &c, &clen), 0);
                assert_int_equal(ktd_write_file(p, c, clen), 0);
                free(c);
        } else {
                assert_int_equal(ktd_write_file(p, elf, n), 0);
        }
        free(elf);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/bg-initramfs-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->agent, sizeof(f->agent), "%s/banger-agent", f->dir);
        static const char agent[] = "\x7f"
                                    "ELF fake agent binary";
        ktd_write_file(f->agent, agent, sizeof(agent) - 1);
        snprintf(f->mods, sizeof(f->mods), "%s/lib/modules/" REL, f->dir);
        mkdir_p(f->mods, 0755);
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/modules.dep", f->mods);
        ktd_write_file(p, dep_text, strlen(dep_text));
        snprintf(p, sizeof(p), "%s/modules.builtin", f->mods);
        static const char builtin[] = "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n";
        ktd_write_file(p, builtin, strlen(builtin));
        snprintf(f->out, sizeof(f->out), "%s/initramfs.cpio.gz", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        rm_rf(f->dir, NULL);
        free(f);
        return 0;
}

static void setup_modules(struct fixture *f)
{
        static const char *const files[] = {
            "kernel/drivers/virtio/virtio_mmio.ko.xz",
            "kernel/drivers/virtio/virtio_ring.ko.xz",
            "kernel/drivers/virtio/virtio.ko.xz",
            "kernel/drivers/block/virtio_blk.ko.xz",
            "kernel/drivers/net/virtio_net.ko",
            "kernel/net/core/failover.ko",
            "kernel/net/vmw_vsock/vsock.ko.xz",
            "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz",
            "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz",
            "kernel/drivers/char/unrelated.ko.xz",
        };
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
                write_module(f->mods, files[i]);
}

struct entry {
        char name[256];
        mode_t mode;
        int64_t uid, gid, mtime;
        dev_t rdev;
        uint8_t *data;
        size_t len;
};

static size_t read_archive(const char *path, struct entry *v, size_t cap)
{
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_cpio(a);
        assert_int_equal(archive_read_open_filename(a, path, 4096), ARCHIVE_OK);
        struct archive_entry *e;
        size_t n = 0;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                assert_true(n < cap);
                assert_int_equal(archive_format(a), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
                struct entry *x = &v[n++];
                snprintf(x->name, sizeof(x->name), "%s", archive_entry_pathname(e));
                x->mode = archive_entry_mode(e);
                x->uid = archive_entry_uid(e);
                x->gid = archive_entry_gid(e);
                x->mtime = archive_entry_mtime(e);
                x->rdev = archive_entry_rdev(e);
                x->len = (size_t)archive_entry_size(e);
                x->data = malloc(x->len + 1);
                assert_int_equal(archive_read_data(a, x->data, x->len), (la_ssize_t)x->len);
                x->data[x->len] = '\0';
        }
        archive_read_free(a);
        return n;
}

static void free_entries(struct entry *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].data);
}

static ssize_t find(struct entry *v, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].name, name) == 0)
                        return (ssize_t)i;
        return -1;
}

static ssize_t order_pos(const char *order, const char *line)
{
        char needle[300];
        snprintf(needle, sizeof(needle), "%s\n", line);
        const char *p = strstr(order, needle);
        return p ? p - order : -1;
}

static void test_layout_and_order(void **state)
{
        struct fixture *f = *state;
        setup_modules(f);
        struct initramfs_spec spec = {.agent_path = f->agent,
                                      .release = REL,
                                      .modules_dir = f->mods,
                                      .compression = INITRAMFS_GZIP};
        struct initramfs_result res = {0};
        struct bg_error err = {0};
        int r = initramfs_build(&spec, f->out, &res, &err);
        if (r < 0)
                fail_msg("initramfs_build: %s", err.msg);
        struct stat st;
        assert_int_equal(stat(f->out, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(res.size, (uint64_t)st.st_size);

        /* ext4 is built in; virtio_console is nowhere. */
        assert_int_equal(res.n_builtin, 1);
        assert_string_equal(res.builtin[0], "ext4");
        assert_int_equal(res.n_missing, 1);
        assert_string_equal(res.missing[0], "virtio_console");
        assert_int_equal(res.n_modules, 9);

        struct entry v[64];
        size_t n = read_archive(f->out, v, 64);
        /* Every entry root-owned with mtime 0. */
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(v[i].uid, 0);
                assert_int_equal(v[i].gid, 0);
                assert_int_equal(v[i].mtime, 0);
                /* Each parent directory comes before its children. */
                char parent[256];
                snprintf(parent, sizeof(parent), "%s", v[i].name);
                char *slash = strrchr(parent, '/');
                if (slash) {
                        *slash = '\0';
                        ssize_t pi = find(v, n, parent);
                        assert_true(pi >= 0 && (size_t)pi < i);
                        assert_true(S_ISDIR(v[pi].mode));
                }
        }
        static const char *const dirs[] = {
            "dev", "proc", "sys", "newroot", "lib", "lib/banger", "lib/modules/" REL};
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                ssize_t k = find(v, n, dirs[i]);
                assert_true(k >= 0);
                assert_int_equal(v[k].mode, S_IFDIR | 0755);
        }
        ssize_t k = find(v, n, "dev/console");
        assert_true(k >= 0);
        assert_true(S_ISCHR(v[k].mode));
        assert_int_equal(major(v[k].rdev), 5);
        assert_int_equal(minor(v[k].rdev), 1);

        k = find(v, n, "init");
        assert_true(k >= 0);
        assert_int_equal(v[k].mode, S_IFREG | 0755);
        assert_memory_equal(v[k].data,
                            "\x7f"
                            "ELF fake agent binary",
                            v[k].len);

        k = find(v, n, "lib/banger/modules.order");
        assert_true(k >= 0);
        assert_int_equal(v[k].mode, S_IFREG | 0644);
        const char *order = (const char *)v[k].data;
        /* Shipped decompressed, listed as .ko, dependencies first. */
        ssize_t virtio = order_pos(order, "kernel/drivers/virtio/virtio.ko");
        ssize_t ring = order_pos(order, "kernel/drivers/virtio/virtio_ring.ko");
        ssize_t mmio = order_pos(order, "kernel/drivers/virtio/virtio_mmio.ko");
        ssize_t failover = order_pos(order, "kernel/net/core/failover.ko");
        ssize_t net = order_pos(order, "kernel/drivers/net/virtio_net.ko");
        ssize_t vsock = order_pos(order, "kernel/net/vmw_vsock/vsock.ko");
        ssize_t common =
            order_pos(order, "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko");
        ssize_t transport = order_pos(order, "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko");
        assert_true(virtio >= 0 && ring > virtio && mmio > ring);
        assert_true(failover >= 0 && net > failover && net > ring);
        assert_true(vsock >= 0 && common > vsock && transport > common);
        assert_true(order_pos(order, "kernel/drivers/block/virtio_blk.ko") > ring);
        assert_null(strstr(order, "unrelated"));
        assert_null(strstr(order, ".xz"));

        /* Each listed module is in the archive under /lib/modules/<rel>, as an ELF. */
        size_t listed = 0;
        for (const char *p = order; *p;) {
                const char *e = strchr(p, '\n');
                assert_non_null(e);
                char path[300];
                snprintf(path, sizeof(path), "lib/modules/" REL "/%.*s", (int)(e - p), p);
                ssize_t m = find(v, n, path);
                assert_true(m >= 0);
                assert_int_equal(v[m].mode, S_IFREG | 0644);
                assert_int_equal(v[m].len, 4096);
                assert_memory_equal(v[m].data,
                                    "\x7f"
                                    "ELF",
                                    4);
                listed++;
                p = e + 1;
        }
        assert_int_equal(listed, res.n_modules);
        /* The result lists what modules.order lists, in the same order. */
        for (size_t i = 0; i + 1 < res.n_modules; i++)
                assert_true(order_pos(order, res.modules[i]) <
                            order_pos(order, res.modules[i + 1]));
        free_entries(v, n);
        initramfs_result_done(&res);

        /* Same inputs, same bytes. */
        char again[PATH_MAX];
        snprintf(again, sizeof(again), "%s/again.cpio.gz", f->dir);
        assert_int_equal(initramfs_build(&spec, again, NULL, &err), 0);
        size_t la = 0, lb = 0;
        uint8_t *a = ktd_read_file(f->out, &la), *b = ktd_read_file(again, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        free(a);
        free(b);
}

static void test_zstd_and_no_modules(void **state)
{
        struct fixture *f = *state;
        struct initramfs_spec spec = {
            .agent_path = f->agent, .release = REL, .compression = INITRAMFS_ZSTD};
        struct initramfs_result res = {0};
        assert_int_equal(initramfs_build(&spec, f->out, &res, NULL), 0);
        size_t len = 0;
        uint8_t *raw = ktd_read_file(f->out, &len);
        assert_true(len > 4);
        assert_memory_equal(raw, "\x28\xb5\x2f\xfd", 4); /* zstd frame magic */
        free(raw);
        struct entry v[16];
        size_t n = read_archive(f->out, v, 16);
        assert_true(find(v, n, "init") >= 0);
        ssize_t k = find(v, n, "lib/banger/modules.order");
        assert_true(k >= 0);
        assert_int_equal(v[k].len, 0);
        assert_int_equal(res.n_modules, 0);
        free_entries(v, n);
        initramfs_result_done(&res);
}

static void test_refusals(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {0};
        /* No agent. */
        struct initramfs_spec spec = {.agent_path = "/nonexistent/banger-agent", .release = REL};
        assert_int_equal(initramfs_build(&spec, f->out, NULL, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "BANGER_AGENT_BINARY"));
        assert_int_equal(access(f->out, F_OK), -1);

        /* A modules.dep that climbs out of the tree. */
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/evil.dep", f->dir);
        static const char evil[] = "../../../etc/virtio_blk.ko:\n";
        ktd_write_file(p, evil, strlen(evil));
        struct initramfs_spec s2 = {
            .agent_path = f->agent, .release = REL, .modules_dir = f->mods, .dep_path = p};
        bg_error_clear(&err);
        assert_int_equal(initramfs_build(&s2, f->out, NULL, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "outside"));

        /* A module listed but absent on disk. */
        struct initramfs_spec s3 = {.agent_path = f->agent, .release = REL, .modules_dir = f->mods};
        bg_error_clear(&err);
        assert_true(initramfs_build(&s3, f->out, NULL, &err) < 0);
        assert_non_null(strstr(err.msg, "virtio"));
        assert_int_equal(access(f->out, F_OK), -1);

        /* A bad release. */
        struct initramfs_spec s4 = {.agent_path = f->agent, .release = "../x"};
        assert_int_equal(initramfs_build(&s4, f->out, NULL, &err), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_layout_and_order, setup, teardown),
            cmocka_unit_test_setup_teardown(test_zstd_and_no_modules, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
