# Shared start of the e2e scripts: sourced after testlib.sh; e2e_setup "$@"
# puts the default kernel and image into a new BANGER_HOME (golden_seed.sh:
# built once per build on the host network, then copied), then runs the
# calling script again inside a fresh network namespace (BANGER_E2E_IN_NS=1),
# where netsvc's bridge, taps and nft rules and the VMs never touch the host.
# In the namespace it returns; outside it exits with the inner run's status.
#
# BANGER_E2E_VMM=qemu|firecracker|auto runs the suite on that VMM (config
# `vmm`); firecracker needs the binary and a usable /dev/kvm, else the test
# skips (no-firecracker, no-kvm). Scripts write config.toml through
# e2e_config so the choice stays in force.

# e2e_config < TOML: config.toml = the VMM line (when chosen) + stdin, with
# vm.template = "off" (cold boots, which these scripts test) unless the
# script sets E2E_TEMPLATE to another value ("auto" in test_template.sh), and
# vm.boot_timeout = "300s" (a guest under emulation on a busy CI host may
# need more than the default 120 s to boot; these tests are not timings).
e2e_config() {
        mkdir -p "$BANGER_HOME/config"
        local in bt='boot_timeout = "300s"'
        in=$(cat)
        # a script that sets its own boot_timeout keeps it
        grep -Eq '^[[:space:]]*boot_timeout[[:space:]]*=' <<<"$in" && bt=""
        {
                [ -n "${BANGER_E2E_VMM:-}" ] && printf 'vmm = "%s"\n\n' "$BANGER_E2E_VMM"
                awk -v tpl="${E2E_TEMPLATE:-off}" -v bt="$bt" '
                        /^\[vm\][ \t]*$/ { print; print "template = \"" tpl "\""; if (bt != "") print bt; seen = 1; next }
                        { print }
                        END { if (!seen) { printf "\n[vm]\ntemplate = \"%s\"\n", tpl; if (bt != "") print bt } }' <<<"$in"
        } > "$BANGER_HOME/config/config.toml"
}

. "$(dirname "${BASH_SOURCE[0]}")/golden_seed.sh"

e2e_setup() {
        if [ -n "${BANGER_E2E_IN_NS:-}" ]; then
                e2e_config </dev/null
                return 0
        fi
        case "${BANGER_E2E_VMM:-}" in
        "" | qemu | auto) ;;
        firecracker)
                command -v firecracker >/dev/null ||
                        skip no-firecracker "BANGER_E2E_VMM=firecracker, but firecracker is not installed"
                [ -r /dev/kvm ] && [ -w /dev/kvm ] ||
                        skip no-kvm "BANGER_E2E_VMM=firecracker, but /dev/kvm is not usable"
                ;;
        *) echo "BANGER_E2E_VMM must be qemu, firecracker or auto (got $BANGER_E2E_VMM)"; exit 1 ;;
        esac
        local mirror=http://deb.debian.org/debian t0 img rc NS
        need_mirror "$mirror"
        new_home
        trap - EXIT
        t0=$(date +%s)
        # kernel and golden image: built once per build, then copied
        # (tests/e2e/golden_seed.sh)
        if golden_seed "$B" "$BIN"; then
                pass "kernel debian-cloud-amd64 and image golden ($GOLDEN_SEED)"
        else
                fail "kernel pull / image build golden: $(tail -3 "$BANGER_HOME/err")"
        fi
        echo "  kernel + image ($GOLDEN_SEED): $(( $(date +%s) - t0 )) s"
        [ "$T_FAILS" -eq 0 ] || { cleanup_home; finish; exit 1; }
        NS=bge2e$$
        ip netns add "$NS" || { cleanup_home; setup_fail "ip netns add $NS failed"; }
        reap_netns "$NS"
        ip -n "$NS" link set lo up
        rc=0
        BANGER_E2E_IN_NS=1 T_PASSES=$T_PASSES ip netns exec "$NS" bash "$0" "$@" || rc=$?
        ip netns del "$NS" 2>/dev/null || true
        cleanup_home
        exit $rc
}
