#!/usr/bin/env bash
# bench-workspace: a generated repository of 10 000 files / 100 MB (plus its
# .git) copied into a VM three ways, in one run, into the same VM:
#   offline injection: `vm create --workspace` writes it into the new work
#     disk before boot (the copy time workspacesvc records);
#   prepare: `vm workspace prepare` into the running VM (tar over TCP to the
#     guest agent, set up over ssh; the CLI's wall time);
#   baseline: `rsync -a` over ssh from the host into a fresh directory of the
#     same VM (wall time).
# Targets: prepare <= 0.5x rsync, offline injection <= 0.2x rsync. The three
# copies must come out identical, or prepare counts as a miss. Not root: a
# BANGER-SKIP line, exit 0; a failure to run: exit 1 (bench/bench_lib.sh).
set -uo pipefail
: "${BANGER_BUILD_DIR:?run through cmake --build build --target bench-workspace}"
: "${BANGER_SOURCE_DIR:?}"
BIN="$BANGER_BUILD_DIR/bin"
B="$BIN/banger"
say() { echo "bench-workspace: $*"; }
. "$BANGER_SOURCE_DIR/bench/bench_lib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap jq ip git rsync ssh
ms() { echo $(( $(date +%s%N) / 1000000 )); }

bench_vm_setup bgws

# The repository: 100 directories of 100 files of 10 KiB (random, so that
# neither side gains from compression), one commit.
repo="$BANGER_HOME/repo"
mkdir -p "$repo"
head -c $((10000 * 10240)) /dev/urandom | split -b 10240 -a 5 -d - "$repo/f"
( cd "$repo" && for d in $(seq -w 0 99); do mkdir "d$d" && mv f0${d}?? "d$d"/ 2>/dev/null; done )
n=$(find "$repo" -type f | wc -l)
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=b -c user.email=b@b commit -qm bench
size=$(du -sm "$repo" | cut -f1)
say "repository: $n files, $size MiB with .git"

# Cold boots are what this measures: no snapshot templates.
mkdir -p "$BANGER_HOME/config" && printf '[vm]\ntemplate = "off"\n' >"$BANGER_HOME/config/config.toml"
"$B" daemon start --timeout 30 >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "daemon start: $(tail -1 "$BANGER_HOME/err")"
"$B" vm create --name wsb --vcpu 2 --mem 2048 --disk 4G --workspace "$repo" >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "vm create --workspace: $(tail -1 "$BANGER_HOME/err")"
offline=$("$B" vm workspace list wsb --json | jq -r '.[0].copy_ms')
json=$("$B" vm show wsb --json)
ip=$(jq -r .ip <<<"$json")
echo "$ip $(jq -r .host_key <<<"$json" | cut -d' ' -f1-2)" > "$BANGER_HOME/known_hosts"
sshcmd="ssh -i $BANGER_HOME/config/ssh/id_ed25519 -o UserKnownHostsFile=$BANGER_HOME/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR"
for _ in $(seq 60); do $sshcmd "root@$ip" true 2>/dev/null && break; sleep 1; done
$sshcmd "root@$ip" 'command -v rsync' >/dev/null 2>&1 ||
        bench_cannot_run "the default image has no rsync (rebuild it)"

t0=$(ms)
rsync -a -e "$sshcmd" "$repo/" "root@$ip:/root/rsync-copy/" 2>"$BANGER_HOME/err" ||
        bench_cannot_run "rsync: $(tail -1 "$BANGER_HOME/err")"
rsync_ms=$(( $(ms) - t0 ))
$sshcmd "root@$ip" 'sync' 2>/dev/null
t0=$(ms)
"$B" vm workspace prepare wsb "$repo" --guest-path /root/prepared >/dev/null 2>"$BANGER_HOME/err" ||
        bench_cannot_run "prepare: $(tail -1 "$BANGER_HOME/err")"
prepare_ms=$(( $(ms) - t0 ))
cnt=$($sshcmd "root@$ip" 'find /root/prepared /root/repo /root/rsync-copy -type f | wc -l' 2>/dev/null)
say "files in the guest (3 copies): $cnt"
# A fast copy that is wrong is no result: the three work trees must match
# file for file, and git must see the prepared one as clean.
sums=$($sshcmd "root@$ip" 'for d in /root/prepared /root/repo /root/rsync-copy; do
        (cd "$d" && find . -path ./.git -prune -o \( -type f -o -type l \) -print0 | sort -z |
                xargs -0 sha256sum | sha256sum | cut -c1-16); done
        git -C /root/prepared status --porcelain | wc -l' 2>/dev/null)
wrong=0
if [ "$(sed -n 1p <<<"$sums")" = "$(sed -n 2p <<<"$sums")" ] &&
        [ "$(sed -n 1p <<<"$sums")" = "$(sed -n 3p <<<"$sums")" ] && [ "$(sed -n 4p <<<"$sums")" = 0 ]; then
        say "the three copies' work trees are identical; git status clean"
else
        say "WRONG: the copies differ or git status is not clean: $(tr '\n' ' ' <<<"$sums")"
        wrong=1
fi
say "rsync -a over ssh: $rsync_ms ms"
say "vm workspace prepare (tar over tcp to the agent): $prepare_ms ms"
say "offline injection into the new work disk: $offline ms"
[[ $offline =~ ^[0-9]+$ ]] || bench_cannot_run "no copy time for the offline injection (got '$offline')"
awk -v p="$prepare_ms" -v o="$offline" -v r="$rsync_ms" -v wrong="$wrong" 'BEGIN {
        prat = p / r; orat = o / r
        pv = prat <= 0.5 && !wrong ? "PASS" : "MISS"; ov = orat <= 0.2 ? "PASS" : "MISS"
        printf "bench-workspace: prepare/rsync %.3f (target <= 0.5): %s\n", prat, pv
        printf "bench-workspace: offline/rsync %.3f (target <= 0.2): %s\n", orat, ov
        printf "BENCH workspace.prepare_ms ours=%d base=%d ratio=%.3f goal=ratio<=0.5 %s\n", p, r, prat, pv
        printf "BENCH workspace.offline_injection_ms ours=%d base=%d ratio=%.3f goal=ratio<=0.2 %s\n", o, r, orat, ov
}'
"$B" vm delete --force wsb >/dev/null 2>&1
"$B" daemon stop --timeout 10 >/dev/null 2>&1
exit 0
