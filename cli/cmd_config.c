/* `banger config check|keys`: validate the config file; list every key. The
 * key list comes from the schema table in lib/config, which is also what the
 * services load with, and docs/configuration.md is generated from it. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ssh/ssh_key.h"
#include "config/config.h"

int cmd_config_check(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        char path[512];
        struct bg_config cfg;
        struct bg_error err = {0};
        int r;
        if (argc > 0) {
                snprintf(path, sizeof(path), "%s", argv[0]);
        } else {
                r = cli_paths(cli);
                if (r)
                        return r;
                bg_paths_config_file(&cli->paths, path, sizeof(path));
        }
        r = bg_config_load_file(path, &cfg, &err);
        if (r < 0)
                return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        /* A key of one's own is checked as vmsvc will (exists, private, 0600,
         * no passphrase): the mistake shows here, not as a failed start. */
        if (cfg.ssh.key_path[0] && cli_paths(cli) == 0) {
                char key[4096];
                if (bg_ssh_key_path(cfg.ssh.key_path, cli->paths.config_dir, key, sizeof(key),
                                    &err) < 0 ||
                    bg_ssh_key_check(key, NULL, &err) < 0) {
                        bg_config_free(&cfg);
                        return cli_fail(RPC_INVALID_ARGUMENT, "%s: %s", path, err.msg);
                }
        }
        printf("%s: ok (%zu file_sync entries)\n", path, cfg.file_sync.n);
        bg_config_free(&cfg);
        return 0;
}

int cmd_config_keys(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        size_t n;
        const struct bg_config_key *keys = bg_config_keys(&n);
        if (cli_flag(cli, "json")) {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "key",
                                                             keys[i].name, "type", keys[i].type,
                                                             "default", keys[i].default_text,
                                                             "description", keys[i].description));
                cli_print_json(arr);
                return 0;
        }
        if (cli_flag(cli, "markdown")) {
                printf("| key | type | default | description |\n|---|---|---|---|\n");
                for (size_t i = 0; i < n; i++)
                        printf("| `%s` | %s | `%s` | %s |\n", keys[i].name, keys[i].type,
                               keys[i].default_text, keys[i].description);
                return 0;
        }
        for (size_t i = 0; i < n; i++)
                printf("%-30s %-10s %-22s %s\n", keys[i].name, keys[i].type, keys[i].default_text,
                       keys[i].description);
        return 0;
}
