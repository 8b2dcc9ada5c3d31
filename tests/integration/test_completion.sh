#!/usr/bin/env bash
# Shell completion: the scripts load in bash, zsh and fish without errors and
# complete commands and options through `banger __complete`; docs/cli.md is
# what `banger __docs` prints from the command table.
. "$(dirname "$0")/testlib.sh"
isolate_network "$@"
need_tools zsh fish
new_home
export PATH="$BIN:$PATH"

# The backend.
check "__complete lists top-level commands" bash -c '"$1" __complete "" | grep -qx daemon' _ "$BANGER"
check "__complete filters by prefix" bash -c '[ "$("$1" __complete da)" = daemon ]' _ "$BANGER"
check "__complete lists subcommands" bash -c '"$1" __complete daemon "" | sort | tr "\n" " " | grep -qx "start status stop "' _ "$BANGER"
check "__complete lists options" bash -c '"$1" __complete daemon start -- | grep -qx -- --timeout' _ "$BANGER"
check "__complete asks for files where a file goes" bash -c '[ "$("$1" __complete config check "")" = __files__ ]' _ "$BANGER"
check "__complete asks for files for a host-path option (--workspace)" bash -c '[ "$("$1" __complete vm create --workspace "")" = __files__ ]' _ "$BANGER"
check "  but not for --guest-path (a path in the guest)" bash -c '[ -z "$("$1" __complete vm create --guest-path "")" ]' _ "$BANGER"
check "  nor offers commands as an option's value (--vcpu)" bash -c '[ -z "$("$1" __complete vm create --vcpu "")" ]' _ "$BANGER"
check "__complete offers nothing past the last argument" bash -c '[ -z "$("$1" __complete config check a.toml "")" ]' _ "$BANGER"

# bash
out=$(bash -c 'source <(banger completion bash) && COMP_WORDS=(banger daemon st) && COMP_CWORD=2 && _banger && printf "%s\n" "${COMPREPLY[@]}"' 2>&1)
check "bash script loads and completes 'daemon st'" bash -c '[ "$(sort <<<"$1" | tr "\n" " ")" = "start status stop " ]' _ "$out"

# zsh
out=$(zsh -c 'autoload -U compinit && compinit -u && source <(banger completion zsh) && print -r -- ${+functions[_banger]}' 2>&1)
check "zsh script loads and defines _banger" [ "$out" = 1 ]

# fish
out=$(fish -c 'banger completion fish | source; complete -C "banger daem"' 2>&1)
check "fish script loads and completes 'daem'" grep -q '^daemon' <<<"$out"

check "unknown shell is a usage error" bash -c '"$1" completion tcsh 2>/dev/null; [ $? -eq 2 ]' _ "$BANGER"
check "docs/cli.md matches the command table" bash -c 'diff <("$1" __docs) "$2/docs/cli.md"' _ "$BANGER" "$BANGER_SOURCE_DIR"
finish
