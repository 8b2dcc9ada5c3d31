/* lib/doctor: the system-install rows against a faked install (units as
 * install renders them, sockets, the manifest), unit rendering, the
 * install.toml round trip, and helpers. The other rows: test_doctor.c. */
#include "test_doctor_fixture.h"

static const struct units_params params = {.libexecdir = "/usr/local/libexec/banger",
                                           .owner = "alice",
                                           .group = "alice",
                                           .owner_uid = 1000};

static void fill_manifest(struct ctx *c)
{
        struct install_manifest *m = &c->m;
        snprintf(m->version, sizeof(m->version), "0.1.0");
        snprintf(m->owner, sizeof(m->owner), "alice");
        snprintf(m->group, sizeof(m->group), "alice");
        m->owner_uid = 1000;
        m->owner_gid = 1000;
        snprintf(m->prefix, sizeof(m->prefix), "/usr/local");
        snprintf(m->libexecdir, sizeof(m->libexecdir), "/usr/local/libexec/banger");
        c->in.manifest = m;
        c->in.system_mode = true;
}

static char rendered[8][8192];
static char unit_paths[8][128];

/* The fake host holds /run/banger with the owner's four good sockets,
 * /run/banger-netsvc with netsvc's (root's, group alice, 0660) and every
 * unit as install rendered it. */
static void fake_install(struct ctx *c)
{
        size_t k = 0;
        c->f.files[k++] = (struct fake_file){"/run/banger", NULL, S_IFDIR | 0770, 1000, 1000};
        c->f.files[k++] = (struct fake_file){"/run/banger-netsvc", NULL, S_IFDIR | 0755, 0, 0};
        c->f.files[k++] =
            (struct fake_file){"/run/banger-netsvc/netsvc.sock", NULL, S_IFSOCK | 0660, 0, 1000};
        static const char *socks[] = {"/run/banger/gateway.sock", "/run/banger/imagesvc.sock",
                                      "/run/banger/vmsvc.sock", "/run/banger/workspacesvc.sock"};
        for (size_t i = 0; i < 4; i++)
                c->f.files[k++] = (struct fake_file){socks[i], NULL, S_IFSOCK | 0600, 1000, 1000};
        assert_true(units_n_embedded <= 8);
        for (size_t i = 0; i < units_n_embedded; i++) {
                char *text = NULL, rel[128];
                struct bg_error err = {0};
                assert_int_equal(units_render(units_embedded[i].text, &params, &text, &err), 0);
                snprintf(rendered[i], sizeof(rendered[i]), "%s", text);
                free(text);
                assert_int_equal(units_install_path(units_embedded[i].name, rel, sizeof(rel)), 0);
                snprintf(unit_paths[i], sizeof(unit_paths[i]), "/%s", rel);
                c->f.files[k++] =
                    (struct fake_file){unit_paths[i], rendered[i], S_IFREG | 0644, 0, 0};
        }
        c->f.n_files = k;
}

static int unit_idx(const char *name)
{
        for (size_t i = 0; i < units_n_embedded; i++)
                if (strcmp(units_embedded[i].name, name) == 0)
                        return (int)i;
        fail_msg("no template %s", name);
        return -1;
}

static struct fake_file *file_of(struct ctx *c, const char *path)
{
        for (size_t i = 0; i < c->f.n_files; i++)
                if (strcmp(c->f.files[i].path, path) == 0)
                        return &c->f.files[i];
        fail_msg("no fake file %s", path);
        return NULL;
}

static void test_system(void **state)
{
        struct ctx *c = *state;
        /* User mode: no system rows at all. */
        assert_int_equal(doctor_check_system(&c->env, &c->in, &c->rep), 0);
        assert_int_equal(c->rep.n, 0);

        c->in.system_mode = true;
        c->in.manifest_error = "No such file or directory";
        assert_row(c, doctor_check_system, "system.install", DOCTOR_FAIL, "No such file");

        fill_manifest(c);
        fake_install(c);
        assert_row(c, doctor_check_system, "system.install", DOCTOR_PASS, "for alice (uid 1000)");
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_PASS,
                   "4 sockets in /run/banger, each owned by alice with mode 0600; netsvc's in "
                   "/run/banger-netsvc, root's, mode 0660 for group alice");
        assert_row(c, doctor_check_system, "system.units", DOCTOR_PASS, "match");
        snprintf(c->m.version, sizeof(c->m.version), "0.0.1");
        assert_row(c, doctor_check_system, "system.install", DOCTOR_WARN, "installed banger 0.0.1");

        /* Sockets: one missing (WARN), one with a wrong mode or owner (FAIL). */
        file_of(c, "/run/banger/vmsvc.sock")->path = "/run/banger/gone";
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_WARN, "vmsvc.sock missing");
        file_of(c, "/run/banger/imagesvc.sock")->uid = 0;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "imagesvc.sock belongs to uid 0, not alice");
        file_of(c, "/run/banger/imagesvc.sock")->uid = 1000;
        file_of(c, "/run/banger/imagesvc.sock")->mode = S_IFSOCK | 0660;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "imagesvc.sock has mode 0660, not 0600");
        file_of(c, "/run/banger/imagesvc.sock")->mode = S_IFSOCK | 0600;
        file_of(c, "/run/banger/gone")->path = "/run/banger/vmsvc.sock";
        file_of(c, "/run/banger")->mode = S_IFDIR | 0777;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL, "mode 0777");
        file_of(c, "/run/banger")->mode = S_IFDIR | 0770;
        /* netsvc's socket is root's, in the owner's group, 0660; its
         * directory root's alone. The old layout (the owner's socket in the
         * owner's directory) FAILs. */
        struct fake_file *ns = file_of(c, "/run/banger-netsvc/netsvc.sock");
        ns->uid = 1000;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "netsvc.sock belongs to uid 1000, not root (uid 0)");
        ns->uid = 0;
        ns->gid = 0;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "netsvc.sock is in group 0, not the owner's alice (gid 1000)");
        ns->gid = 1000;
        ns->mode = S_IFSOCK | 0666;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "netsvc.sock has mode 0666, not 0660");
        ns->mode = S_IFSOCK | 0660;
        file_of(c, "/run/banger-netsvc")->uid = 1000;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "/run/banger-netsvc is a directory of uid 1000 mode 0755 (want root's");
        file_of(c, "/run/banger-netsvc")->uid = 0;
        file_of(c, "/run/banger-netsvc")->mode = S_IFDIR | 0775;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL, "mode 0775");
        file_of(c, "/run/banger-netsvc")->mode = S_IFDIR | 0755;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_PASS, "4 sockets");

        /* Units: hardening removed (FAIL), something added (WARN), a drop-in
         * (WARN), a file missing (FAIL). */
        int ni = unit_idx("banger-netsvc.service"), gi = unit_idx("banger-gateway.service");
        static char edited[8300];
        snprintf(edited, sizeof(edited), "%s", rendered[ni]);
        char *p = strstr(edited, "ProtectSystem=strict\n");
        assert_non_null(p);
        memcpy(p, "ProtectSystem=full  \n", 21);
        file_of(c, unit_paths[ni])->text = edited;
        assert_row(c, doctor_check_system, "system.units", DOCTOR_FAIL,
                   "banger-netsvc.service lacks 'ProtectSystem=strict'");
        file_of(c, unit_paths[ni])->text = rendered[ni];
        snprintf(edited, sizeof(edited), "%sEnvironment=FOO=1\n", rendered[gi]);
        file_of(c, unit_paths[gi])->text = edited;
        assert_row(c, doctor_check_system, "system.units", DOCTOR_WARN,
                   "banger-gateway.service adds 'Environment=FOO=1'");
        file_of(c, unit_paths[gi])->text = rendered[gi];
        assert_row(c, doctor_check_system, "system.units", DOCTOR_PASS, "match");
        c->f.files[c->f.n_files++] = (struct fake_file){
            "/etc/systemd/system/banger-vmsvc.service.d", NULL, S_IFDIR | 0755, 0, 0};
        assert_row(c, doctor_check_system, "system.units", DOCTOR_WARN, "drop-in directory");
        c->f.n_files--;
        file_of(c, "/etc/tmpfiles.d/banger.conf")->text = NULL;
        assert_row(c, doctor_check_system, "system.units", DOCTOR_FAIL,
                   "/etc/tmpfiles.d/banger.conf is missing");
}

/* ---- units, manifest, helpers ----------------------------------------- */

static void test_units_render(void **state)
{
        char *out = NULL;
        struct bg_error err = {0};
        assert_int_equal(units_render("A=@OWNER@:@GROUP@ @OWNER_UID@\nX=@LIBEXECDIR@/b\n"
                                      "SystemCallFilter=@system-service\nmail a@b.c @\n",
                                      &params, &out, &err),
                         0);
        assert_string_equal(out, "A=alice:alice 1000\nX=/usr/local/libexec/banger/b\n"
                                 "SystemCallFilter=@system-service\nmail a@b.c @\n");
        free(out);
        assert_int_equal(units_render("X=@NOPE@\n", &params, &out, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "@NOPE@"));

        struct units_params bad = params;
        bad.owner = "alice\nExecStartPre=/bin/sh";
        assert_int_equal(units_render("U=@OWNER@", &bad, &out, &err), -EINVAL);
        bad = params;
        bad.libexecdir = "/opt/my dir";
        assert_int_equal(units_render("U=@LIBEXECDIR@", &bad, &out, &err), -EINVAL);
        bad.libexecdir = "relative/dir";
        assert_int_equal(units_render("U=@LIBEXECDIR@", &bad, &out, &err), -EINVAL);
        bad.libexecdir = "/opt/%h";
        assert_int_equal(units_render("U=@LIBEXECDIR@", &bad, &out, &err), -EINVAL);

        /* Every embedded template renders, and only services are units. */
        assert_int_equal(units_n_embedded, 6);
        for (size_t i = 0; i < units_n_embedded; i++) {
                assert_int_equal(units_render(units_embedded[i].text, &params, &out, &err), 0);
                assert_null(strstr(out, "@OWNER"));
                assert_null(strstr(out, "@LIBEXECDIR@"));
                free(out);
        }
        assert_non_null(units_find("banger-netsvc.service"));
        assert_true(units_is_service("banger-vmsvc.service"));
        assert_false(units_is_service("banger.tmpfiles"));
        assert_true(strstr(units_find("banger-vmsvc.service")->text, "KillMode=process") != NULL);
}

static void test_manifest_roundtrip(void **state)
{
        struct install_manifest m = {0}, n = {0};
        struct bg_error err = {0};
        snprintf(m.version, sizeof(m.version), "0.1.0");
        snprintf(m.commit, sizeof(m.commit), "abc\"def");
        m.installed_unix = 1700000000;
        snprintf(m.owner, sizeof(m.owner), "alice");
        m.owner_uid = 1000;
        snprintf(m.group, sizeof(m.group), "alice");
        m.owner_gid = 1001;
        snprintf(m.prefix, sizeof(m.prefix), "/usr/local");
        snprintf(m.bindir, sizeof(m.bindir), "/usr/local/bin");
        snprintf(m.libexecdir, sizeof(m.libexecdir), "/usr/local/libexec/banger");
        assert_int_equal(manifest_add_file(&m, "/usr/local/bin/banger"), 0);
        assert_int_equal(manifest_add_file(&m, "/etc/banger/install.toml"), 0);
        assert_int_equal(manifest_add_dir(&m, "/var/lib/banger"), 0);
        char *text = NULL;
        assert_int_equal(manifest_format(&m, &text, &err), 0);
        assert_int_equal(manifest_parse("install.toml", text, strlen(text), &n, &err), 0);
        assert_string_equal(n.commit, "abc\"def");
        assert_int_equal(n.owner_gid, 1001);
        assert_int_equal(n.installed_unix, 1700000000);
        assert_int_equal(n.n_files, 2);
        assert_string_equal(n.files[1], "/etc/banger/install.toml");
        assert_int_equal(n.n_dirs, 1);
        manifest_free(&n);
        free(text);
        manifest_free(&m);

        const char *bad[] = {
            "version=\"1\"\ncommit=\"c\"\ninstalled_unix=1\nowner=\"a\"\nowner_uid=1\n"
            "group=\"a\"\nowner_gid=1\nprefix=\"/p\"\nbindir=\"/p/bin\"\n"
            "libexecdir=\"/p/l\"\nfiles=[\"relative\"]\ndirs=[]\n",
            "version=\"1\"\ncommit=\"c\"\ninstalled_unix=1\nowner=\"a\"\nowner_uid=1\n"
            "group=\"a\"\nowner_gid=1\nprefix=\"/p\"\nbindir=\"/p/bin\"\n"
            "libexecdir=\"/p/l\"\nfiles=[\"/etc/../etc/shadow\"]\ndirs=[]\n",
            "version=\"1\"\ncommit=\"c\"\ninstalled_unix=1\nowner=\"a\"\nowner_uid=1\n"
            "group=\"a\"\nowner_gid=1\nprefix=\"/p\"\nbindir=\"/p/bin\"\n"
            "libexecdir=\"/p/l\"\nfiles=[]\ndirs=[\"/\"]\n",
            "version=1\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                bg_error_clear(&err);
                assert_int_equal(manifest_parse("t.toml", bad[i], strlen(bad[i]), &n, &err),
                                 -EINVAL);
                assert_non_null(strstr(err.msg, "t.toml"));
        }
}

static void test_version_code_and_os(void **state)
{
        struct ctx *c = *state;
        assert_int_equal(doctor_version_code("v1.16.1"), 1016001);
        assert_int_equal(doctor_version_code("7.2.5 (Debian)"), 7002005);
        assert_int_equal(doctor_version_code("6"), 6000000);
        assert_int_equal(doctor_version_code("x1"), -1);
        char os[32];
        c->f.os = "Ubuntu";
        doctor_os_id(&c->env, os, sizeof(os));
        assert_string_equal(os, "ubuntu");
        c->f.os = NULL;
        doctor_os_id(&c->env, os, sizeof(os));
        assert_string_equal(os, "");
        assert_string_equal(doctor_status_to_string(DOCTOR_WARN), "WARN");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_system, setup, teardown),
            cmocka_unit_test_setup_teardown(test_units_render, setup, teardown),
            cmocka_unit_test_setup_teardown(test_manifest_roundtrip, setup, teardown),
            cmocka_unit_test_setup_teardown(test_version_code_and_os, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
