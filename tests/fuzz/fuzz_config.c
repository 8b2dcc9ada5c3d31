/* Fuzz target "config": banger's config loader (bg_config_load_string: the
 * TOML reader, then every key through the schema: ranges, sizes, CIDRs,
 * endpoints, enums, [[file_sync]] paths). A failure names the file
 * ("config.toml:...") and leaves cfg untouched; a success yields values
 * inside the documented bounds. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "config/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bg_config cfg, before;
        memset(&cfg, 0xa5, sizeof(cfg)); /* the loader fills the defaults itself */
        before = cfg;
        struct bg_error err = {0};
        int r = bg_config_load_string("config.toml", (const char *)data, size, &cfg, &err);
        if (r < 0) {
                CHECK(r == -EINVAL || r == -ENOMEM);
                CHECK(strncmp(err.msg, "config.toml:", 12) == 0);
                CHECK(memcmp(&before, &cfg, sizeof(cfg)) == 0); /* written only on success */
                return 0;
        }
        CHECK(cfg.vm.vcpu >= 1 && cfg.vm.vcpu <= 32);
        CHECK(cfg.vm.memory_mib >= 128 && cfg.vm.memory_mib <= 262144);
        CHECK(cfg.vm.work_disk_size >= 64ull << 20);
        CHECK(cfg.network.subnet.prefix >= 8 && cfg.network.subnet.prefix <= 30);
        CHECK(cfg.network.dns_listen.port >= 1);
        CHECK(cfg.network.tap_pool_size <= 256);
        CHECK(cfg.image.pull_concurrency >= 1 && cfg.image.pull_concurrency <= 32);
        CHECK(cfg.image.max_unpacked_size >= 64ull << 20);
        CHECK(cfg.vm.default_image && cfg.vm.default_kernel && cfg.network.bridge);
        for (size_t i = 0; i < cfg.file_sync.n; i++) {
                const struct bg_file_sync *fs = &cfg.file_sync.items[i];
                CHECK(fs->host && fs->guest && fs->mode <= 07777);
                size_t gl = strlen(fs->guest);
                CHECK(strstr(fs->guest, "/../") == NULL && strstr(fs->guest, "//") == NULL);
                CHECK(gl < 3 || strcmp(fs->guest + gl - 3, "/..") != 0);
                CHECK(strncmp(fs->guest, "~/", 2) == 0 || strncmp(fs->guest, "/root/", 6) == 0);
        }
        bg_config_free(&cfg);
        return 0;
}
