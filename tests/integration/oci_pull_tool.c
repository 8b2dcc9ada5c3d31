/* Test and benchmark driver for lib/oci: pull a reference into a blob cache
 * and flatten it into an ext4 file, printing what happened as key=value
 * lines on stdout (errors on stderr, exit 1).
 *
 *   oci_pull_tool [--cache DIR] [--platform P] [--docker-config FILE]
 *                 [--insecure HOST]... [--parallel N] [--size BYTES]
 *                 [--cancel-after BYTES] [--no-flatten] REF [OUT.ext4] */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ext4.h"
#include "oci_flatten.h"
#include "oci_registry.h"
#include "oci_rootfs.h"

struct prog {
        atomic_bool cancel;
        uint64_t cancel_after;
        uint64_t total;
};

static void on_progress(void *ud, size_t layer, const char *digest, uint64_t done, uint64_t total)
{
        struct prog *p = ud;
        p->total += done; /* cumulative calls; enough to trip the cancel */
        if (p->cancel_after && p->total >= p->cancel_after)
                atomic_store(&p->cancel, true);
}

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"cache", required_argument, NULL, 'c'},
            {"platform", required_argument, NULL, 'p'},
            {"docker-config", required_argument, NULL, 'd'},
            {"insecure", required_argument, NULL, 'i'},
            {"parallel", required_argument, NULL, 'j'},
            {"size", required_argument, NULL, 's'},
            {"cancel-after", required_argument, NULL, 'x'},
            {"no-flatten", no_argument, NULL, 'n'},
            {0},
        };
        struct oci_pull_opts po = {.cache_dir = "oci-cache"};
        struct oci_flatten_opts fo = {0};
        const char *insecure[16] = {0};
        size_t n_insecure = 0;
        bool flatten = true;
        struct prog prog = {0};
        int c;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        po.cache_dir = optarg;
                        break;
                case 'p':
                        po.platform = optarg;
                        break;
                case 'd':
                        po.docker_config = optarg;
                        break;
                case 'i':
                        if (n_insecure < 15)
                                insecure[n_insecure++] = optarg;
                        break;
                case 'j':
                        po.parallel = (unsigned)atoi(optarg);
                        break;
                case 's':
                        fo.size_bytes = strtoull(optarg, NULL, 10);
                        break;
                case 'x':
                        prog.cancel_after = strtoull(optarg, NULL, 10);
                        break;
                case 'n':
                        flatten = false;
                        break;
                default:
                        return 2;
                }
        }
        if (optind >= argc || (flatten && optind + 2 != argc)) {
                fprintf(stderr, "usage: oci_pull_tool [options] REF OUT.ext4\n");
                return 2;
        }
        po.insecure_registries = insecure;
        po.progress = on_progress;
        po.userdata = &prog;
        po.cancel = &prog.cancel;

        struct bg_error err = {0};
        struct oci_ref ref;
        if (oci_ref_parse(argv[optind], &ref, &err) < 0) {
                fprintf(stderr, "error: %s\n", err.msg);
                return 1;
        }
        double t0 = now_ms();
        struct oci_image *img = NULL;
        struct oci_pull_stats ps = {0};
        int r = oci_pull(&ref, &po, &img, &ps, &err);
        double t1 = now_ms();
        printf("requests=%llu downloaded=%llu cached=%llu bytes=%llu\n",
               (unsigned long long)ps.http_requests, (unsigned long long)ps.blobs_downloaded,
               (unsigned long long)ps.blobs_cached, (unsigned long long)ps.bytes_downloaded);
        printf("pull_ms=%.0f\n", t1 - t0);
        oci_ref_done(&ref);
        if (r < 0) {
                fprintf(stderr, "error: %s\n", err.msg);
                return 1;
        }
        printf("reference=%s\nmanifest=%s\nconfig=%s\nlayers=%zu\nplatform=%s/%s\n", img->reference,
               img->manifest_digest, img->config_digest, img->n_layers,
               img->config.os ? img->config.os : "?", img->config.arch ? img->config.arch : "?");
        for (size_t i = 0; img->config.cmd && img->config.cmd[i]; i++)
                printf("cmd=%s\n", img->config.cmd[i]);
        for (size_t i = 0; i < img->config.n_labels; i++)
                printf("label=%s=%s\n", img->config.labels[i].key, img->config.labels[i].value);
        if (flatten) {
                struct oci_flatten_stats fs = {0};
                fo.cancel = &prog.cancel;
                r = oci_flatten_image(img, argv[optind + 1], &fo, &fs, &err);
                double t2 = now_ms();
                if (r < 0) {
                        fprintf(stderr, "error: %s\n", err.msg);
                        oci_image_free(img);
                        return 1;
                }
                printf("flatten_ms=%.0f entries=%llu whiteouts=%llu xattrs=%llu image_bytes=%llu\n",
                       t2 - t1, (unsigned long long)fs.entries, (unsigned long long)fs.whiteouts,
                       (unsigned long long)fs.xattrs, (unsigned long long)fs.image_bytes);
                struct ext4_fs *e = NULL;
                struct oci_rootfs_info info;
                if (ext4_open(argv[optind + 1], &e, &err) < 0 ||
                    oci_rootfs_inspect(e, &info, &err) < 0) {
                        fprintf(stderr, "error: %s\n", err.msg);
                        ext4_free(e);
                        oci_image_free(img);
                        return 1;
                }
                ext4_free(e);
                printf("has_init=%d init=%s has_sshd=%d\n", info.has_init, info.init_path,
                       info.has_sshd);
        }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("peak_rss_kib=%ld\n", ru.ru_maxrss);
        oci_image_free(img);
        return 0;
}
