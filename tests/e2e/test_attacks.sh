#!/usr/bin/env bash
# Issue 19's guest attacks, played by a hostile guest on real VMs (two: the
# attacker "atk" and a bystander "ok"), through the CLI and every service, in
# a fresh network namespace. Each check fails on a banger without the limit:
#   5: the guest SIGSTOPs its agent, 12 concurrent `vm ports` on it: vm list
#      and the other VM's vm health stay fast, the 12 end with an error soon;
#   6: the guest floods its serial console: console.log + console.log.1 stay
#      near vm.console_log_max, vm logs shows the newest part;
#   7: the guest's git diff never ends: vm workspace export stops at
#      workspace.export_max; a killed (SIGKILL, SIGTERM) CLI stops it too; no
#      spool, no FILE and (catchable signals) no temporary file are left;
#   3: the guest truncates /root/.gitconfig to 4 GiB, vm stop, vm start:
#      workspacesvc's peak memory stays small and its log names the file.
#   6/down: the guest floods its console while vmsvc is SIGKILLed: the
#      console pump keeps the cap with no service; vmsvc comes back, the VM
#      runs, vm logs reads the flood's end;
#   stop: both guests ignore the agent's shutdown (agent SIGSTOPped) and
#      ACPI (logind SIGSTOPped): two vm stops in flight, vm list stays fast,
#      each stop kills after vm.stop_timeout + 3 s, no console pump is left.
# (In the order 5, 7, 3, 6, 6/down, stop.)
. "$(dirname "$0")/../integration/testlib.sh"
need_root "netsvc, network namespace"
need_tools qemu-system-x86_64 mmdebstrap ssh jq ip git

B="$BANGER"
. "$(dirname "$0")/e2e_lib.sh"
e2e_setup "$@"
RUN="$BANGER_HOME/run"
T_PASSES=${T_PASSES:-0}
ms() { echo $(( $(date +%s%N) / 1000000 )); }

export HOME="$BANGER_HOME/home"
mkdir -p "$HOME"
git config --global user.name "Ada Host"
git config --global user.email "ada@host.example"
e2e_config <<TOML
[vm]
boot_timeout = "10m"
console_log_max = "64K"
agent_probe_timeout = "2s"
stop_timeout = "5s"

[workspace]
export_max = "4M"
TOML
check "daemon start" "$B" daemon start --timeout 30

# One after the other, with a long boot_timeout: guests under TCG on a busy
# host boot slowly, and this test is not about boot times.
for vm in ok atk; do
        t0=$(date +%s)
        "$B" vm create --name $vm --vcpu 1 --mem 1024 >/dev/null 2>"$BANGER_HOME/create.$vm" ||
                fail_stop "vm create $vm: $(cat "$BANGER_HOME/create.$vm")"
        echo "  $vm up in $(( $(date +%s) - t0 )) s"
done
id=$("$B" vm show atk --json | jq -r .id)
VMDIR="$BANGER_HOME/state/vms/$id"
[ -d "$VMDIR" ] || fail_stop "no VM directory $VMDIR"
gx() { "$B" vm exec --ssh atk -- "$@"; } # as the guest's root, over ssh (the agent is what it stops)

# ---- 5: a stalled agent and twelve concurrent probes ----
gx sh -c 'pkill -STOP -x banger-agent; ps -o stat= -C banger-agent' >"$BANGER_HOME/stat" 2>&1 || true
check "5: the guest stopped its agent" grep -q '^ *T' "$BANGER_HOME/stat"
t0=$(ms)
for i in $(seq 12); do
        ( rc=0; "$B" vm ports atk >/dev/null 2>"$BANGER_HOME/ports.$i" || rc=$?
          echo "$rc $(( $(ms) - t0 ))" >"$BANGER_HOME/ports.$i.rc" ) &
done
sleep 0.5
worst=0
for _ in $(seq 10); do
        t=$(ms)
        "$B" vm list >/dev/null 2>&1 || worst=99999
        d=$(( $(ms) - t ))
        [ $d -gt $worst ] && worst=$d
        sleep 0.2
done
t=$(ms)
hrc=0; "$B" vm health ok >/dev/null 2>"$BANGER_HOME/health.ok" || hrc=$?
hms=$(( $(ms) - t ))
wait
echo "  vm list slowest of 10: $worst ms; vm health ok: $hms ms"
check "5: vm list stays fast while 12 probes hit the stalled guest (slowest $worst ms < 2000)" [ "$worst" -lt 2000 ]
check "5: another VM's vm health answers, fast ($hms ms < 2000)" bash -c '[ $1 -eq 0 ] && [ $2 -lt 2000 ]' _ "$hrc" "$hms"
slow=0 ok_err=0
for i in $(seq 12); do
        read -r rc el <"$BANGER_HOME/ports.$i.rc"
        [ "$el" -gt $slow ] && slow=$el
        [ "$rc" -ne 0 ] && grep -qE "busy|did not answer within 2000 ms" "$BANGER_HOME/ports.$i" && ok_err=$((ok_err + 1))
done
echo "  the 12 vm ports ended within $slow ms"
check "5: each of the 12 vm ports fails naming busy or the probe timeout ($ok_err of 12)" [ "$ok_err" -eq 12 ]
check "5: and all of them are done within 10 s ($slow ms)" [ "$slow" -lt 10000 ]
gx pkill -CONT -x banger-agent >/dev/null 2>&1 || true
check "5: the agent answers again once the guest resumes it" wait_for 10 "$B" vm health atk

# ---- 7: a git diff without end ----
EXP="$BANGER_HOME/state/exports"
cat >"$BANGER_HOME/fakegit" <<'SH'
#!/bin/sh
case " $* " in
*" diff "*)
        if [ -f /root/slow ]; then while :; do echo "+flood, slowly"; sleep 0.05; done; fi
        exec yes "+a line of a patch that never ends .............................................." ;;
esac
exec /usr/bin/git "$@"
SH
"$B" vm exec atk -- sh -c 'cat > /usr/local/bin/git && chmod 755 /usr/local/bin/git &&
        mkdir -p /root/w && cd /root/w && /usr/bin/git init -q && echo a > a &&
        /usr/bin/git add a && /usr/bin/git -c user.name=g -c user.email=g@g commit -qm a' \
        <"$BANGER_HOME/fakegit" >/dev/null 2>&1 || fail "7: set up the guest's git"
t=$(ms)
rc=0; "$B" vm workspace export atk --guest-path /root/w -o "$BANGER_HOME/p1.patch" 2>"$BANGER_HOME/e1" >/dev/null || rc=$?
echo "  export stopped after $(( $(ms) - t )) ms: $(tail -1 "$BANGER_HOME/e1")"
check "7: the export fails naming workspace.export_max" bash -c '[ $1 -ne 0 ] && grep -q "workspace.export_max" "$2"' _ "$rc" "$BANGER_HOME/e1"
# (the service drops its spool once the guest's git is gone, just after it
# answers)
nothing_left() {
        [ ! -e "$BANGER_HOME/p1.patch" ] && ! compgen -G "$BANGER_HOME/.p1.patch*" >/dev/null &&
                [ -z "$(ls -A "$EXP" 2>/dev/null)" ]
}
wait_for 10 nothing_left ||
        { ls -lA "$BANGER_HOME"/p1.patch "$BANGER_HOME"/.p1.patch* "$EXP" 2>/dev/null | sed 's/^/    left: /'; } || true
check "7: no FILE, no temporary file, no spool left" nothing_left
gx touch /root/slow >/dev/null 2>&1 || true
for sig in KILL TERM; do
        "$B" vm workspace export atk --guest-path /root/w -o "$BANGER_HOME/p-$sig.patch" >/dev/null 2>&1 &
        cli=$!
        wait_for 20 bash -c '[ -n "$(ls -A "$1" 2>/dev/null)" ]' _ "$EXP" || true
        spool=$(ls "$EXP" 2>/dev/null | head -1)
        check "7/$sig: the spool grows while the CLI waits" [ -n "$spool" ]
        kill -"$sig" "$cli"
        wait "$cli" 2>/dev/null || true
        check "7/$sig: once the CLI is gone the export stops and its spool goes (10 s)" \
                wait_for 10 bash -c '[ -z "$(ls -A "$1" 2>/dev/null)" ]' _ "$EXP"
        check "7/$sig: no FILE" [ ! -e "$BANGER_HOME/p-$sig.patch" ]
done
check "7/TERM: and no temporary file" bash -c '[ -z "$(ls -A "$1"/.p-TERM.patch* 2>/dev/null)" ]' _ "$BANGER_HOME"
gx sh -c 'rm -f /usr/local/bin/git /root/slow' >/dev/null 2>&1 || true

# ---- 3: a 4 GiB .gitconfig on the work disk ----
gx truncate -s 4G /root/.gitconfig >/dev/null 2>&1 || fail "3: truncate in the guest"
check "3: vm stop" "$B" vm stop atk
wpid=$(svc_pid workspacesvc)
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$wpid/status"; }
before=$(hwm)
check "3: vm start" "$B" vm start atk
after=$(hwm)
echo "  workspacesvc peak RSS: $before kB before vm start, $after kB after"
check "3: workspacesvc's peak memory grew by less than 32 MiB ($before -> $after kB)" [ $((after - before)) -lt 32768 ]
check "3: its log names the file it skipped" grep -q "/root/.gitconfig on the work disk is over 64 KiB" "$BANGER_HOME"/state/logs/workspacesvc*.log
check "3: the VM runs" bash -c '"$1" vm show atk --json | jq -e ".state == \"running\"" >/dev/null' _ "$B"

# ---- 6: a console flood ----
# Last: under TCG every console byte is a trap into QEMU, and a flood can
# leave a loaded host's guest too slow for anything else for a while.
gx sh -c 'yes "flood: the guest writes its console without end ........................................" | head -c 300000 > /dev/ttyS0; echo FLOOD-END-MARKER > /dev/ttyS0' >/dev/null 2>&1 || true
sleep 1 # one look of the log watch
sz=$(( $(stat -c %s "$VMDIR/console.log") + $(stat -c %s "$VMDIR/console.log.1" 2>/dev/null || echo 0) ))
stream=$(( $(cat "$VMDIR/console.log.base" 2>/dev/null || echo 0) + $(stat -c %s "$VMDIR/console.log") ))
echo "  console: $stream bytes written, $sz bytes kept on disk"
check "6: the guest wrote more than four times the cap ($stream bytes)" [ "$stream" -gt $((256 * 1024)) ]
check "6: console.log and console.log.1 stay near vm.console_log_max ($sz <= 64K + 32K)" [ "$sz" -le $((96 * 1024)) ]
"$B" vm logs atk >"$BANGER_HOME/logs" 2>&1 || true
check "6: vm logs shows the newest part (the end marker)" grep -q FLOOD-END-MARKER "$BANGER_HOME/logs"
check "6: and not the boot that was rotated away" bash -c '! grep -q "Linux version" "$1"' _ "$BANGER_HOME/logs"

# ---- 6/down: a console flood while vmsvc is dead ----
# Without a service nobody but the VM's console pump stands between the
# guest and the disk.
pump_pid() { cut -d' ' -f1 "$1/console-pump.pid" 2>/dev/null; }
check "6/down: the VM's console pump runs" bash -c 'kill -0 "$1"' _ "$(pump_pid "$VMDIR")"
stream_now() { echo $(( $(cat "$VMDIR/console.log.base" 2>/dev/null || echo 0) + $(stat -c %s "$VMDIR/console.log") )); }
gx sh -c 'setsid sh -c "timeout 30 sh -c \"yes flood while vmsvc is down .................................................. > /dev/ttyS0\"; echo FLOOD2-END-MARKER > /dev/ttyS0" </dev/null >/dev/null 2>&1 &' >/dev/null 2>&1 || true
sleep 2
s0=$(stream_now)
vpid=$(svc_pid vmsvc)
kill -9 "$vpid"
check "6/down: vmsvc is gone" wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$vpid"
worst=0
for _ in $(seq 20); do
        sleep 1
        sz=$(( $(stat -c %s "$VMDIR/console.log") + $(stat -c %s "$VMDIR/console.log.1" 2>/dev/null || echo 0) ))
        [ "$sz" -gt "$worst" ] && worst=$sz
done
s1=$(stream_now)
echo "  vmsvc down 20 s: the guest wrote $((s1 - s0)) bytes, at most $worst bytes on disk"
check "6/down: the guest wrote more than four times the cap while vmsvc was down ($((s1 - s0)) bytes)" [ $((s1 - s0)) -gt $((256 * 1024)) ]
check "6/down: console.log and console.log.1 stayed within the cap + 4K ($worst bytes)" [ "$worst" -le $((68 * 1024)) ]
check "6/down: daemon start brings vmsvc back" "$B" daemon start --timeout 30
check "6/down: the VM still runs" bash -c '"$1" vm show atk --json | jq -e ".state == \"running\"" >/dev/null' _ "$B"
check "6/down: vm logs reads the flood's end" wait_for 60 bash -c '"$1" vm logs atk 2>/dev/null | grep -q FLOOD2-END-MARKER' _ "$B"

# ---- stop: guests that ignore both the agent's shutdown and ACPI ----
for vm in ok atk; do
        "$B" vm exec --ssh $vm -- sh -c 'pkill -STOP -x systemd-logind; pkill -STOP -x banger-agent' >/dev/null 2>&1 || true
done
okdir="$BANGER_HOME/state/vms/$("$B" vm show ok --json | jq -r .id)"
t0=$(ms)
for vm in ok atk; do
        ( rc=0; "$B" vm stop $vm >/dev/null 2>"$BANGER_HOME/stop.$vm" || rc=$?
          echo "$rc $(( $(ms) - t0 ))" >"$BANGER_HOME/stop.$vm.rc" ) &
done
sleep 1
worst=0
for _ in $(seq 10); do
        t=$(ms)
        "$B" vm list >/dev/null 2>&1 || worst=99999
        d=$(( $(ms) - t ))
        [ $d -gt $worst ] && worst=$d
        sleep 0.2
done
wait
echo "  vm list slowest of 10 while two stalled guests stop: $worst ms"
check "stop: vm list stays fast while stalled guests are stopped (slowest $worst ms < 2000)" [ "$worst" -lt 2000 ]
for vm in ok atk; do
        read -r rc el <"$BANGER_HOME/stop.$vm.rc"
        echo "  vm stop $vm: exit $rc after $el ms"
        check "stop: vm stop $vm succeeds within vm.stop_timeout + 3 s (+ 4 s slack): $el ms" \
                bash -c '[ "$1" -eq 0 ] && [ "$2" -lt 12000 ]' _ "$rc" "$el"
        check "stop: $vm is stopped" bash -c '"$1" vm show "$2" --json | jq -e ".state == \"stopped\"" >/dev/null' _ "$B" $vm
done
check "stop: the guests were killed after the timeout (vmsvc's log says so)" \
        bash -c '[ "$(cat "$1"/state/logs/vmsvc*.log | grep -cE "VM (ok|atk) did not stop in time; killing it")" -ge 2 ]' _ "$BANGER_HOME"
check "stop: no console pump and no pidfile left" \
        bash -c '! pgrep -f -- "--console-pump $1" >/dev/null && ! pgrep -f -- "--console-pump $2" >/dev/null &&
                 [ ! -e "$1/console-pump.pid" ] && [ ! -e "$2/console-pump.pid" ]' _ "$VMDIR" "$okdir"

"$B" daemon stop --timeout 30 >/dev/null 2>&1 || true
finish
