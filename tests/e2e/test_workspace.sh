#!/usr/bin/env bash
# e2e of the main job's workspace side on a real VM, through the CLI and
# every service, in a fresh network namespace:
#   vm run PATH (offline injection into the new work disk, no network copy)
#   → vm exec (libssh, streaming, exit codes, cwd = the workspace, HEAD warning,
#   --auto-prepare) → workspace export → git apply on a clean host clone
#   reproduces the guest tree, the guest's index untouched → file_sync (mode,
#   nested symlink skipped, missing host path warned) and the git identity →
#   prepare → stop → start → intact → vm exec refused on a stopped VM →
#   WorkspaceService/Exec from a client with no banger code (nngcat) →
#   `ssh NAME.vm` after ssh-config --install.
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap ssh jq ip git curl nngcat protoc fish zsh

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
RUN="$BANGER_HOME/run"
T_PASSES=${T_PASSES:-0}

# The owner's home: git identity and "~/" file_sync paths come from here.
export HOME="$BANGER_HOME/home"
mkdir -p "$HOME/.config/tool/nested" "$HOME/.ssh"
git config --global user.name "Ada Host"
git config --global user.email "ada@host.example"
echo "token=abc" > "$HOME/.config/tool/credentials"
chmod 0640 "$HOME/.config/tool/credentials"
echo "deep" > "$HOME/.config/tool/nested/deep.txt"
ln -s /etc/passwd "$HOME/.config/tool/nested/link"
echo "netrc-data" > "$HOME/netrc-src"
e2e_config <<TOML
[[file_sync]]
host = "~/netrc-src"
guest = "~/.netrc"

[[file_sync]]
host = "~/.config/tool/credentials"
guest = "/root/.config/tool/credentials"
mode = "0640"

[[file_sync]]
host = "$HOME/.config/tool"
guest = "~/.config/tooldir"

[[file_sync]]
host = "~/does-not-exist"
guest = "~/missing"
TOML

check "daemon start" "$B" daemon start --timeout 30

# A repository with what git tracks, an ignored file, an untracked one, an
# executable, a symlink, a subdirectory and a binary file.
repo="$BANGER_HOME/repo"
git init -q -b main "$repo"
echo "hello from the host" > "$repo/tracked.txt"
printf 'secret.txt\nbuild/\n' > "$repo/.gitignore"
echo "ignored" > "$repo/secret.txt"
mkdir -p "$repo/src" "$repo/build"
echo "int main(void) { return 0; }" > "$repo/src/main.c"
printf '#!/bin/sh\necho run\n' > "$repo/run.sh"; chmod 0755 "$repo/run.sh"
ln -s src/main.c "$repo/main-link"
head -c 3000 /dev/urandom > "$repo/blob.bin"
echo "build output" > "$repo/build/out.o"
echo "to delete" > "$repo/gone.txt"
git -C "$repo" add -A
git -C "$repo" commit -qm init
echo "not yet added" > "$repo/untracked.txt"
head0=$(git -C "$repo" rev-parse HEAD)

t0=$(date +%s%N)
rc=0; out=$("$B" vm run --name ws "$repo" -- sh -c 'pwd; cat tracked.txt' 2>"$BANGER_HOME/run.err") || rc=$?
echo "  vm run with workspace: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "vm run PATH -- CMD exits 0 and runs in /root/repo" bash -c '[ "$2" -eq 0 ] && [ "$(head -1 <<<"$1")" = /root/repo ]' _ "$out" "$rc"
check "  with the host's file content" grep -qx "hello from the host" <<<"$out"
ws=$("$B" vm workspace list ws --json) || ws='[]'
check "the workspace was written offline, at the host's HEAD" bash -c 'jq -e ".[0].offline and .[0].head == \"$2\" and .[0].guest_path == \"/root/repo\"" <<<"$1" >/dev/null' _ "$ws" "$head0"
check "vmsvc did not copy over the network (workspacesvc wrote the work disk)" grep -q "written into the work disk of ws" "$BANGER_HOME"/state/logs/workspacesvc*.log

out=$("$B" vm exec ws -- sh -c 'ls -a; cat secret.txt 2>&1; test -x run.sh && echo exec-ok; readlink main-link; git status --porcelain | wc -l; git log --oneline | wc -l' 2>&1) || true
check "vm exec: untracked (not ignored) file is there" grep -qx "untracked.txt" <<<"$out"
check "vm exec: ignored files are not copied" bash -c '! grep -qx "build" <<<"$1" && grep -q "No such file" <<<"$1"' _ "$out"
check "vm exec: modes and symlinks kept" bash -c 'grep -qx exec-ok <<<"$1" && grep -qx src/main.c <<<"$1"' _ "$out"
check "vm exec: git sees the same state (one untracked file), history came along" bash -c 'grep -qx 1 <<<"$1"' _ "$out"
rc=0; "$B" vm exec ws -- sh -c 'echo out; echo err >&2; exit 7' >"$BANGER_HOME/o" 2>"$BANGER_HOME/e" || rc=$?
check "vm exec forwards the exit code (7) and both streams" bash -c '[ $1 -eq 7 ] && grep -qx out "$2" && grep -qx err "$3"' _ "$rc" "$BANGER_HOME/o" "$BANGER_HOME/e"
out=$(echo piped | "$B" vm exec ws -- cat 2>/dev/null) || true
check "vm exec passes stdin through" [ "$out" = piped ]

# file_sync and git identity (written by workspacesvc before boot)
out=$("$B" vm exec ws -- sh -c 'cat /root/.netrc; stat -c %a /root/.netrc; stat -c %a /root/.config/tool/credentials; cat /root/.config/tooldir/nested/deep.txt; test -e /root/.config/tooldir/nested/link || echo nolink; test -e /root/missing || echo nomissing; git config --global user.name; git config --global user.email' 2>&1) || true
echo "$out" | sed 's/^/    /'
check "file_sync: a file, default mode 0600" bash -c 'grep -qx netrc-data <<<"$1" && sed -n 2p <<<"$1" | grep -qx 600' _ "$out"
check "file_sync: mode = 0640 kept" bash -c 'sed -n 3p <<<"$1" | grep -qx 640' _ "$out"
check "file_sync: a directory, recursively" grep -qx deep <<<"$out"
check "file_sync: a nested symlink is skipped" grep -qx nolink <<<"$out"
check "file_sync: a missing host path is skipped" grep -qx nomissing <<<"$out"
check "  with a warning in vmsvc's log" grep -q "does-not-exist does not exist on the host" "$BANGER_HOME"/state/logs/vmsvc*.log
check "  and the symlink warned about" grep -q "is a symlink inside a synced directory" "$BANGER_HOME"/state/logs/vmsvc*.log
check "git identity: user.name and user.email from the host" bash -c 'grep -qx "Ada Host" <<<"$1" && grep -qx "ada@host.example" <<<"$1"' _ "$out"

# The host moves on: exec warns; --auto-prepare syncs first.
echo "second" > "$repo/second.txt"
git -C "$repo" add second.txt
git -C "$repo" commit -qm second
head1=$(git -C "$repo" rev-parse HEAD)
"$B" vm exec ws -- true 2>"$BANGER_HOME/e" || true
check "vm exec warns when the host's HEAD moved" grep -q "warning: .* is at ${head1:0:12} now" "$BANGER_HOME/e"
out=$("$B" vm exec ws --auto-prepare -- sh -c 'cat second.txt; git rev-parse HEAD' 2>"$BANGER_HOME/e") || true
check "vm exec --auto-prepare re-syncs (new commit and file there)" bash -c 'grep -qx second <<<"$1" && grep -qx "$2" <<<"$1"' _ "$out" "$head1"
check "  without the warning" bash -c '! grep -q warning "$1"' _ "$BANGER_HOME/e"

# Export: edit, add, delete, a binary change; the guest's staged state stays.
"$B" vm exec ws -- sh -c 'echo "changed in the guest" >> tracked.txt; echo new > new.txt; mkdir -p d/e; echo deep > d/e/f.txt; rm gone.txt; head -c 2000 /dev/urandom > blob.bin; chmod +x src/main.c; git add tracked.txt' >/dev/null 2>&1
before=$("$B" vm exec ws -- git diff --cached --name-only 2>/dev/null) || true
rc=0; "$B" vm workspace export ws -o "$BANGER_HOME/ws.patch" 2>"$BANGER_HOME/e" || rc=$?
check "vm workspace export writes a patch" bash -c '[ $1 -eq 0 ] && [ -s "$2" ]' _ "$rc" "$BANGER_HOME/ws.patch"
after=$("$B" vm exec ws -- git diff --cached --name-only 2>/dev/null) || true
check "the guest's index is untouched by export" [ "$before" = "$after" ]
clone="$BANGER_HOME/clone"
git clone -q "$repo" "$clone"
git -C "$clone" checkout -q "$head1"
check "git apply on a clean host clone" git -C "$clone" apply "$BANGER_HOME/ws.patch"
"$B" vm exec ws -- tar -cf - --exclude=./.git . > "$BANGER_HOME/guest.tar" 2>/dev/null
mkdir -p "$BANGER_HOME/guest-tree" && tar -xf "$BANGER_HOME/guest.tar" -C "$BANGER_HOME/guest-tree"
check "  reproduces the guest's tree (content, deletions, modes)" bash -c 'diff -r --no-dereference -x .git "$1" "$2" && [ "$(stat -c %a "$1/src/main.c")" = "$(stat -c %a "$2/src/main.c")" ]' _ "$clone" "$BANGER_HOME/guest-tree"

# Prepare into a running VM, stop, start: the workspace is intact.
other="$BANGER_HOME/other"
git init -q "$other" && echo other > "$other/o.txt"
for i in $(seq 600); do echo "$i" > "$other/f$i"; done # enough loose objects to travel as one pack
git -C "$other" add -A && git -C "$other" commit -qm o
out=$("$B" vm workspace prepare ws "$other" --guest-path /root/other --json 2>/dev/null) || out='{}'
check "vm workspace prepare into the running VM" bash -c 'jq -e ".guest_path == \"/root/other\" and (.offline | not) and .files >= 600" <<<"$1" >/dev/null' _ "$out"
out=$("$B" vm exec ws -- sh -c 'git fsck --no-progress && git status --porcelain | wc -l; ls .git/objects/pack/*.pack | wc -l; find .git/objects -path "*/objects/??/*" -type f | wc -l' 2>&1) || true
check "  its loose objects came as one pack: git fsck clean, status clean, no loose objects" bash -c '[ "$(printf "%s\n" "$1" | tail -3 | tr "\n" " ")" = "0 1 0 " ]' _ "$out"
check "  the tar went over TCP to the agent (recv-tar), not through sshd" \
        grep -q "VM ws: [0-9]* stream(s) over tcp to the agent, 0 over ssh" "$BANGER_HOME"/state/logs/workspacesvc*.log
# An image whose agent predates recv-tar: prepare falls back to the tar over
# ssh, says so, and the copy is the same.
cat > "$BANGER_HOME/old-agent" <<'STUB'
#!/bin/sh
case "$1" in recv-tar) echo "usage: banger-agent init|serve|version" >&2; exit 2 ;; esac
exec /usr/sbin/banger-agent.real "$@"
STUB
"$B" vm exec ws -- sh -c 'mv /usr/sbin/banger-agent /usr/sbin/banger-agent.real && cat > /usr/sbin/banger-agent && chmod 0755 /usr/sbin/banger-agent' < "$BANGER_HOME/old-agent" >/dev/null 2>&1
echo changed > "$other/o.txt" && git -C "$other" commit -qam o2
out=$("$B" vm workspace prepare ws "$other" --guest-path /root/other --json 2>/dev/null) || out='{}'
check "prepare with an agent without recv-tar still works (over ssh)" bash -c '[ "$("$1" vm exec ws -- cat /root/other/o.txt 2>/dev/null)" = changed ]' _ "$B"
check "  and the log says it fell back, and why" grep -q "VM ws: copying over ssh (slower): the agent has no recv-tar" "$BANGER_HOME"/state/logs/workspacesvc*.log
"$B" vm exec ws -- sh -c 'mv /usr/sbin/banger-agent.real /usr/sbin/banger-agent' >/dev/null 2>&1
check "vm stop" "$B" vm stop ws
rc=0; "$B" vm exec ws -- true >/dev/null 2>"$BANGER_HOME/e" || rc=$?
check "vm exec on a stopped VM is refused (125) saying so" bash -c '[ $1 -eq 125 ] && grep -q "is stopped" "$2"' _ "$rc" "$BANGER_HOME/e"
echo "token=rotated" > "$HOME/.config/tool/credentials"
check "vm start" "$B" vm start ws
out=$("$B" vm exec ws -- sh -c 'cat /root/other/o.txt; cat /root/repo/new.txt; cat /root/.config/tool/credentials' 2>/dev/null) || true
check "prepare → stop → start: both workspaces intact" bash -c 'grep -qx changed <<<"$1" && grep -qx new <<<"$1"' _ "$out"
check "file_sync runs again at start (rotated credential)" grep -qx "token=rotated" <<<"$out"
check "  on a clean work disk: vm stop froze it, no journal replay needed" bash -c '! grep -q "replayed the journal" "$1"/state/logs/workspacesvc*.log' _ "$BANGER_HOME"
check "vm kill (no clean shutdown)" "$B" vm kill ws
echo "token=after-kill" > "$HOME/.config/tool/credentials"
check "vm start after a kill" "$B" vm start ws
out=$("$B" vm exec ws -- cat /root/.config/tool/credentials /root/repo/new.txt 2>/dev/null) || true
check "file_sync after a kill: the journal was replayed first, then written" bash -c 'grep -qx token=after-kill <<<"$1" && grep -qx new <<<"$1" && grep -q "replayed the journal" "$2"/state/logs/workspacesvc*.log' _ "$out" "$BANGER_HOME"

# WorkspaceService/Exec from a client with no banger code.
out=$(RPC_TEXT_TIMEOUT=60 rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecCall banger.test.ExecReply \
        'method: "/banger.v1.WorkspaceService/Exec" deadline_ms: 60000 body { vm: "ws" argv: "sh" argv: "-c" argv: "pwd; echo to-err >&2; exit 3" max_output_bytes: 4 }')
echo "$out" | sed 's/^/    /'
# cwd is the newest workspace, /root/other: "/roo" kept, "t/other\n" (8) dropped
check "Exec API: exit code, cwd = the newest workspace, bounded output" bash -c 'grep -q "exit_code: 3" <<<"$1" && grep -q "stdout: \"/roo\"" <<<"$1" && grep -q "stdout_dropped: 8" <<<"$1" && grep -q "stderr: \"to-e\"" <<<"$1"' _ "$out"
out=$(RPC_TEXT_TIMEOUT=60 rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecCall banger.test.ExecReply \
        'method: "/banger.v1.WorkspaceService/Exec" body { vm: "ws" argv: "cat" stdin: "fed" }')
check "Exec API: stdin" grep -q 'stdout: "fed"' <<<"$out"
out=$(rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecCall banger.test.ExecReply \
        'method: "/banger.v1.WorkspaceService/Exec" body { vm: "ws" }')
check "Exec API: no argv is INVALID_ARGUMENT" grep -q STATUS_INVALID_ARGUMENT <<<"$out"
# StartExec: an operation whose output is read while it runs.
out=$(rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecCall banger.test.OperationReply \
        'method: "/banger.v1.WorkspaceService/StartExec" body { vm: "ws" argv: "sh" argv: "-c" argv: "echo one; sleep 3; echo two; exit 4" }')
opid=$(sed -n 's/^ *id: "\([0-9a-f]*\)"$/\1/p' <<<"$out" | head -1)
first=$(RPC_TEXT_TIMEOUT=20 rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecOutputCall banger.test.ExecOutputReply \
        "method: \"/banger.v1.WorkspaceService/ExecOutput\" body { operation_id: \"$opid\" wait_ms: 15000 }")
check "StartExec: the first output arrives while the command still runs" bash -c 'grep -q "stdout: \"one\\\\n\"" <<<"$1" && ! grep -q "done: true" <<<"$1"' _ "$first"
rest=""
for _ in $(seq 10); do
        rest=$(RPC_TEXT_TIMEOUT=20 rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecOutputCall banger.test.ExecOutputReply \
                "method: \"/banger.v1.WorkspaceService/ExecOutput\" body { operation_id: \"$opid\" stdout_offset: 4 wait_ms: 15000 }")
        grep -q "done: true" <<<"$rest" && break
done
echo "$rest" | sed 's/^/    /'
check "StartExec: the rest from offset 4, then done with the exit code" bash -c 'grep -q "stdout: \"two\\\\n\"" <<<"$1" && grep -q "done: true" <<<"$1" && grep -q "exit_code: 4" <<<"$1"' _ "$rest"

# The Exec API goes through the guest agent, on the VM's exec ports (QEMU):
# with sshd stopped it still works, signals from ExecInput arrive, more
# commands than ports run (a command waits for a free port), and the agent
# channel stays free for vmsvc (vm stats) while they run.
"$B" vm exec ws -- sh -c 'systemctl stop ssh.socket ssh.service sshd.service 2>/dev/null; pkill -x sshd; true' >/dev/null 2>&1
check "sshd is stopped in the guest" bash -c '! "$1" vm exec --ssh ws -- true' _ "$B"
out=$(RPC_TEXT_TIMEOUT=60 rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecCall banger.test.ExecReply \
        'method: "/banger.v1.WorkspaceService/Exec" deadline_ms: 60000 body { vm: "ws" argv: "sh" argv: "-c" argv: "cat; pwd; exit 5" stdin: "no-sshd " }')
echo "$out" | sed 's/^/    /'
check "Exec API without sshd: through the agent (stdin, cwd, exit code)" bash -c 'grep -q "exit_code: 5" <<<"$1" && grep -q "stdout: \"no-sshd /root/other\\\\n\"" <<<"$1"' _ "$out"
out=$(rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecCall banger.test.OperationReply \
        'method: "/banger.v1.WorkspaceService/StartExec" body { vm: "ws" argv: "sh" argv: "-c" argv: "trap \"echo got-usr1; exit 9\" USR1; echo ready; while :; do sleep 0.2; done" }')
sigop=$(sed -n 's/^ *id: "\([0-9a-f]*\)"$/\1/p' <<<"$out" | head -1)
for _ in $(seq 20); do
        first=$(RPC_TEXT_TIMEOUT=20 rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecOutputCall banger.test.ExecOutputReply \
                "method: \"/banger.v1.WorkspaceService/ExecOutput\" body { operation_id: \"$sigop\" wait_ms: 5000 }")
        grep -q ready <<<"$first" && break
done
t0=$(date +%s%N)
# Meanwhile: twelve commands at once on eight ports; vmsvc still reaches the agent.
ops=()
for i in $(seq 12); do
        out=$(rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecCall banger.test.OperationReply \
                "method: \"/banger.v1.WorkspaceService/StartExec\" body { vm: \"ws\" argv: \"sh\" argv: \"-c\" argv: \"sleep 2; echo par-$i\" }")
        ops+=("$(sed -n 's/^ *id: "\([0-9a-f]*\)"$/\1/p' <<<"$out" | head -1)")
done
check "vm stats answers while exec ports are busy (the agent channel is free)" "$B" vm stats ws
out=$(rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecInputCall banger.test.ExecInputReply \
        "method: \"/banger.v1.WorkspaceService/ExecInput\" body { operation_id: \"$sigop\" signal: 10 }")
check "ExecInput signal: accepted" bash -c '! grep -q "code: STATUS_" <<<"$1" || grep -q "code: STATUS_OK" <<<"$1"' _ "$out"
rest=""
for _ in $(seq 10); do
        rest=$(RPC_TEXT_TIMEOUT=20 rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecOutputCall banger.test.ExecOutputReply \
                "method: \"/banger.v1.WorkspaceService/ExecOutput\" body { operation_id: \"$sigop\" stdout_offset: 6 wait_ms: 15000 }")
        grep -q "done: true" <<<"$rest" && break
done
echo "$rest" | sed 's/^/    /'
check "  the trap ran (SIGUSR1 reached the command), exit code 9" bash -c 'grep -q "got-usr1" <<<"$1" && grep -q "exit_code: 9" <<<"$1"' _ "$rest"
good=0
for i in $(seq 12); do
        for _ in $(seq 10); do
                r=$(RPC_TEXT_TIMEOUT=20 rpc_text "ipc://$RUN/gateway.sock" banger.test.ExecOutputCall banger.test.ExecOutputReply \
                        "method: \"/banger.v1.WorkspaceService/ExecOutput\" body { operation_id: \"${ops[$((i - 1))]}\" wait_ms: 15000 }")
                grep -q "done: true" <<<"$r" && break
        done
        if grep -q "par-$i" <<<"$r" && grep -q "done: true" <<<"$r" && ! grep -q "exit_code: [1-9]" <<<"$r"; then
                good=$((good + 1))
        else
                echo "  command $i did not end well:"; sed 's/^/      /' <<<"$r" | head -20
        fi
done
echo "  12 parallel commands (8 exec ports): $good ended well in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "  all twelve ran to their end through the agent (no sshd)" test "$good" = 12
"$B" vm exec ws -- sh -c 'systemctl start ssh.socket 2>/dev/null; systemctl start ssh.service 2>/dev/null || systemctl start sshd.service; true' >/dev/null 2>&1
check "sshd is back" wait_for 60 "$B" vm exec --ssh ws -- true

# mise: vm exec runs commands through `mise exec --` when the guest has it,
# and prepare runs `mise trust` (a stand-in mise that logs its calls).
"$B" vm exec ws -- sh -c 'printf "#!/bin/sh\necho \"\$*\" >> /root/mise.log\n[ \"\$1\" = exec ] && shift && [ \"\$1\" = -- ] && shift && exec \"\$@\"\nexit 0\n" > /usr/local/bin/mise; chmod 0755 /usr/local/bin/mise' >/dev/null 2>&1
out=$("$B" vm exec ws -- echo via-mise 2>/dev/null) || true
"$B" vm workspace prepare ws "$repo" >/dev/null 2>&1
log=$("$B" vm exec ws -- cat /root/mise.log 2>/dev/null) || true
echo "$log" | sed 's/^/    /'
check "vm exec wraps the command in mise exec -- when mise exists" bash -c '[ "$1" = via-mise ] && grep -qx "exec -- echo via-mise" <<<"$2"' _ "$out" "$log"
check "prepare runs mise trust in the workspace" grep -q "^trust" <<<"$log"

# Completion of live names from the running services, in all three shells.
bdir=$(dirname "$B")
out=$(PATH="$bdir:$PATH" bash -c 'source <(banger completion bash) && COMP_WORDS=(banger vm exec w) && COMP_CWORD=3 && _banger && printf "%s\n" "${COMPREPLY[@]}"' 2>&1)
check "bash completes the running VM's name (vm exec w → ws)" grep -qx ws <<<"$out"
out=$(PATH="$bdir:$PATH" bash -c 'source <(banger completion bash) && COMP_WORDS=(banger image show g) && COMP_CWORD=3 && _banger && printf "%s\n" "${COMPREPLY[@]}"' 2>&1)
check "  and an image name (image show g → golden)" grep -qx golden <<<"$out"
out=$(PATH="$bdir:$PATH" bash -c 'source <(banger completion bash) && COMP_WORDS=(banger vm create --image g) && COMP_CWORD=4 && _banger && printf "%s\n" "${COMPREPLY[@]}"' 2>&1)
check "  and an option's value (vm create --image g → golden)" grep -qx golden <<<"$out"
out=$(PATH="$bdir:$PATH" fish -c 'banger completion fish | source; complete -C "banger vm stop w"' 2>&1)
check "fish completes the VM name" grep -q '^ws' <<<"$out"
out=$(PATH="$bdir:$PATH" "$B" __complete vm stop "" 2>&1)
check "the helper every shell calls lists it (zsh uses it too)" grep -qx ws <<<"$out"

# Plain ssh NAME.vm after ssh-config --install (into this test's HOME).
check "ssh-config --install" "$B" ssh-config --install
check "ssh NAME.vm true through ~/.ssh/config's Include" bash -c 'ssh -F "$HOME/.ssh/config" -o BatchMode=yes ws.vm true </dev/null'

rc=0; "$B" vm workspace prepare ws "$BANGER_HOME/config" >/dev/null 2>"$BANGER_HOME/e" || rc=$?
check "prepare of a directory that is not a git work tree fails clearly" bash -c '[ $1 -ne 0 ] && grep -q "not inside a git work tree" "$2"' _ "$rc" "$BANGER_HOME/e"
check "vm delete --force" "$B" vm delete --force ws
check "its workspaces are forgotten" bash -c 'set -o pipefail; [ "$("$1" vm workspace list --json | jq length)" = 0 ]' _ "$B"
"$B" daemon stop >/dev/null 2>&1
finish
