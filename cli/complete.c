/* Shell completion and the CLI reference, both made from the command table.
 *
 * The shell scripts are thin: they hand the words typed so far to
 * `banger __complete`, which walks the same table the parser uses, so
 * completion can never disagree with what banger accepts. Live names (kernels)
 * come from the running services; when banger is not running there are
 * simply no name candidates. */
#include <stdio.h>
#include <string.h>

#include "banger/v1/image.pb-c.h"
#include "banger/v1/kernel.pb-c.h"
#include "banger/v1/template.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "cli.h"
#include "cmd_kernel.h"

/* A name with characters a terminal would act on is not offered. */
static void print_matching(const char *cand, const char *partial)
{
        if (strncmp(cand, partial, strlen(partial)) == 0 && streq(cli_safe(cand), cand))
                printf("%s\n", cand);
}

static void complete_kernels(const char *partial)
{
        struct cli cli = {0};
        struct rpc_status st = {0};
        Banger__V1__ListKernelsRequest req = BANGER__V1__LIST_KERNELS_REQUEST__INIT;
        Banger__V1__ListKernelsResponse *resp = NULL;
        if (cli_call(&cli, "/banger.v1.KernelService/List", &req.base,
                     &banger__v1__list_kernels_response__descriptor, (ProtobufCMessage **)&resp,
                     1500, RPC_CALL_IDEMPOTENT, &st) == 0) {
                for (size_t i = 0; i < resp->n_kernels; i++)
                        print_matching(resp->kernels[i]->name, partial);
                banger__v1__list_kernels_response__free_unpacked(resp, NULL);
        }
}

/* What `kernel pull` can fetch: the Debian catalog as imagesvc keeps it (a
 * first read of the mirror may take longer than a shell waits: then none). */
static void complete_kernel_catalog(const char *partial)
{
        struct cli cli = {0};
        struct rpc_status st = {0};
        Banger__V1__KernelCatalogResponse *resp = NULL;
        if (cli_kernel_catalog_call(&cli, false, 5000, &resp, &st) == 0) {
                for (size_t i = 0; i < resp->n_entries; i++)
                        print_matching(resp->entries[i]->name, partial);
                banger__v1__kernel_catalog_response__free_unpacked(resp, NULL);
        }
}

static void complete_vms(const char *partial)
{
        struct cli cli = {0};
        struct rpc_status st = {0};
        Banger__V1__ListVmsRequest req = BANGER__V1__LIST_VMS_REQUEST__INIT;
        Banger__V1__ListVmsResponse *resp = NULL;
        if (cli_call(&cli, "/banger.v1.VmService/List", &req.base,
                     &banger__v1__list_vms_response__descriptor, (ProtobufCMessage **)&resp, 1500,
                     RPC_CALL_IDEMPOTENT, &st) == 0) {
                for (size_t i = 0; i < resp->n_vms; i++)
                        print_matching(resp->vms[i]->name, partial);
                banger__v1__list_vms_response__free_unpacked(resp, NULL);
        }
}

static void complete_images(const char *partial)
{
        struct cli cli = {0};
        struct rpc_status st = {0};
        Banger__V1__ListImagesRequest req = BANGER__V1__LIST_IMAGES_REQUEST__INIT;
        Banger__V1__ListImagesResponse *resp = NULL;
        if (cli_call(&cli, "/banger.v1.ImageService/List", &req.base,
                     &banger__v1__list_images_response__descriptor, (ProtobufCMessage **)&resp,
                     1500, RPC_CALL_IDEMPOTENT, &st) == 0) {
                for (size_t i = 0; i < resp->n_images; i++)
                        print_matching(resp->images[i]->name, partial);
                banger__v1__list_images_response__free_unpacked(resp, NULL);
        }
}

static void complete_templates(const char *partial)
{
        struct cli cli = {0};
        struct rpc_status st = {0};
        Banger__V1__ListTemplatesRequest req = BANGER__V1__LIST_TEMPLATES_REQUEST__INIT;
        Banger__V1__ListTemplatesResponse *resp = NULL;
        if (cli_call(&cli, "/banger.v1.TemplateService/List", &req.base,
                     &banger__v1__list_templates_response__descriptor, (ProtobufCMessage **)&resp,
                     1500, RPC_CALL_IDEMPOTENT, &st) == 0) {
                for (size_t i = 0; i < resp->n_templates; i++)
                        print_matching(resp->templates[i]->name, partial);
                banger__v1__list_templates_response__free_unpacked(resp, NULL);
        }
}

int cli_complete_main(int argc, char **argv)
{
        /* argv: the words after "banger", the last one being completed. */
        const struct cli_cmd *cmd = cli_root();
        const char *partial = argc > 0 ? argv[argc - 1] : "";
        bool after_dashdash = false;
        int n_pos = 0;

        for (int i = 0; i < argc - 1; i++) {
                const char *w = argv[i];
                if (after_dashdash) {
                        n_pos++;
                        continue;
                }
                if (strcmp(w, "--") == 0) {
                        after_dashdash = true;
                        continue;
                }
                if (w[0] == '-') {
                        /* skip a flag's value when it takes one */
                        for (size_t k = 0; k < cmd->n_flags; k++)
                                if (cmd->flags[k].arg && w[1] == '-' &&
                                    strcmp(w + 2, cmd->flags[k].name) == 0)
                                        i++;
                        continue;
                }
                const struct cli_cmd *next = NULL;
                for (size_t k = 0; k < cmd->n_subs; k++)
                        if (strcmp(cmd->subs[k].name, w) == 0)
                                next = &cmd->subs[k];
                if (next)
                        cmd = next;
                else
                        n_pos++;
        }
        /* the value of an option: by its metavar */
        const char *prev = argc > 1 ? argv[argc - 2] : "";
        if (!after_dashdash && prev[0] == '-' && prev[1] == '-') {
                for (size_t k = 0; k < cmd->n_flags; k++) {
                        const struct cli_flag *f = &cmd->flags[k];
                        if (!f->arg || strcmp(prev + 2, f->name) != 0)
                                continue;
                        if (streq(f->arg, "IMAGE"))
                                complete_images(partial);
                        else if (streq(f->arg, "KERNEL"))
                                complete_kernels(partial);
                        else if (streq(f->arg, "VM"))
                                complete_vms(partial);
                        else if (streq(f->arg, "TEMPLATE"))
                                complete_templates(partial);
                        else if (streq(f->arg, "FILE") || streq(f->arg, "DIR") ||
                                 (streq(f->arg, "PATH") && !streq(f->name, "guest-path")))
                                printf("__files__\n"); /* host paths; not --guest-path */
                        return 0;
                }
        }
        if (partial[0] == '-' && !after_dashdash) {
                for (size_t k = 0; k < cmd->n_flags; k++) {
                        char f[80];
                        snprintf(f, sizeof(f), "--%s", cmd->flags[k].name);
                        print_matching(f, partial);
                }
                print_matching("--help", partial);
                return 0;
        }
        if (cmd->n_subs) {
                for (size_t k = 0; k < cmd->n_subs; k++)
                        print_matching(cmd->subs[k].name, partial);
                return 0;
        }
        if (cmd->max_args >= 0 && n_pos >= cmd->max_args)
                return 0;
        switch (cmd->complete) {
        case CLI_COMPLETE_FILE:
                printf("__files__\n");
                break;
        case CLI_COMPLETE_KERNEL:
                complete_kernels(partial);
                break;
        case CLI_COMPLETE_KERNEL_CATALOG:
                complete_kernel_catalog(partial);
                break;
        case CLI_COMPLETE_VM:
                complete_vms(partial);
                break;
        case CLI_COMPLETE_IMAGE:
                complete_images(partial);
                break;
        case CLI_COMPLETE_TEMPLATE:
                complete_templates(partial);
                break;
        case CLI_COMPLETE_NONE:
                break;
        }
        return 0;
}

static const char bash_script[] =
    "# bash completion for banger; load with: source <(banger completion bash)\n"
    "_banger() {\n"
    "        local cur=${COMP_WORDS[COMP_CWORD]}\n"
    "        local IFS=$'\\n'\n"
    "        local out\n"
    "        out=$(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" "
    "2>/dev/null)\n"
    "        if [ \"$out\" = \"__files__\" ]; then\n"
    "                COMPREPLY=($(compgen -f -- \"$cur\"))\n"
    "        else\n"
    "                COMPREPLY=($(compgen -W \"$out\" -- \"$cur\"))\n"
    "        fi\n"
    "}\n"
    "complete -F _banger banger\n";

static const char zsh_script[] =
    "#compdef banger\n"
    "# zsh completion for banger; load with: source <(banger completion zsh)\n"
    "_banger() {\n"
    "        local -a cands\n"
    "        cands=(\"${(@f)$(${words[1]} __complete \"${(@)words[2,CURRENT]}\" "
    "2>/dev/null)}\")\n"
    "        if [[ \"${cands[1]}\" == \"__files__\" ]]; then\n"
    "                _files\n"
    "                return\n"
    "        fi\n"
    "        compadd -- ${cands:#}\n"
    "}\n"
    "if (( $+functions[compdef] )); then\n"
    "        compdef _banger banger\n"
    "fi\n";

static const char fish_script[] =
    "# fish completion for banger; load with: banger completion fish | source\n"
    "function __banger_complete\n"
    "    set -l tokens (commandline -opc) (commandline -ct)\n"
    "    set -e tokens[1]\n"
    "    set -l out (banger __complete $tokens 2>/dev/null)\n"
    "    if test \"$out\" = __files__\n"
    "        __fish_complete_path (commandline -ct)\n"
    "    else\n"
    "        printf '%s\\n' $out\n"
    "    end\n"
    "end\n"
    "complete -c banger -f -a '(__banger_complete)'\n";

int cmd_completion(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        const char *shell = argv[0];
        if (strcmp(shell, "bash") == 0)
                fputs(bash_script, stdout);
        else if (strcmp(shell, "zsh") == 0)
                fputs(zsh_script, stdout);
        else if (strcmp(shell, "fish") == 0)
                fputs(fish_script, stdout);
        else
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "unknown shell '%s': choose bash, zsh or fish", shell);
        return 0;
}

static void docs_cmd(const struct cli_cmd *cmd, const char *words)
{
        if (cmd->run) {
                printf("## `%s`\n\n%s.\n\n```\n%s", words, cmd->summary, words);
                if (cmd->n_flags)
                        printf(" [OPTIONS]");
                if (cmd->args)
                        printf(" %s", cmd->args);
                printf("\n```\n\n");
                if (cmd->description)
                        printf("%s\n\n", cmd->description);
                if (cmd->n_flags) {
                        printf("| option | |\n|---|---|\n");
                        for (size_t i = 0; i < cmd->n_flags; i++) {
                                const struct cli_flag *f = &cmd->flags[i];
                                printf("| `--%s%s%s` | %s |\n", f->name, f->arg ? " " : "",
                                       f->arg ? f->arg : "", f->help);
                        }
                        printf("\n");
                }
        }
        for (size_t i = 0; i < cmd->n_subs; i++) {
                char sub[256];
                snprintf(sub, sizeof(sub), "%s %s", words, cmd->subs[i].name);
                docs_cmd(&cmd->subs[i], sub);
        }
}

int cli_docs_main(void)
{
        const struct cli_cmd *root = cli_root();
        printf("# CLI reference\n\nGenerated by `banger __docs` from the same tables as "
               "`--help`; a test keeps it in step.\n\n%s\n\n",
               root->description);
        docs_cmd(root, "banger");
        return 0;
}
