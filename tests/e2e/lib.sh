# Shared by the e2e scripts (sourced): a work dir, a corepind of the test's own on a free
# loopback port over a fresh SQLite file, VMs deleted and corepind stopped at exit, and the
# affinity the kernel enforces on a VM's QEMU threads. Needs root and libvirtd on qemu:///system.
#   source lib.sh BUILD_DIR;  start_daemon [corepind options];  created+=(VM)
build=$(cd "${1:?usage: $(basename "$0") BUILD_DIR}" && pwd)
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cli="$build/src/cli/corepin"
daemon_bin="$build/src/daemon/corepind"
work=$(mktemp -d /tmp/corepin-cli-e2e.XXXXXX)
port=$((20000 + RANDOM % 20000))
export COREPIN_URL="http://127.0.0.1:$port"
daemon=""
created=()

fail() { echo "FAIL: $*" >&2; exit 1; }
start_daemon() {
  "$daemon_bin" --db "$work/corepin.db" --listen "127.0.0.1:$port" "$@" >>"$work/corepind.log" 2>&1 &
  daemon=$!
  for _ in $(seq 100); do curl -sf "$COREPIN_URL/v1/health" >/dev/null && return 0; sleep 0.1; done
  cat "$work/corepind.log" >&2
  fail "corepind did not answer on $COREPIN_URL"
}
stop_daemon() {  # SIGNAL
  kill -"${1:-TERM}" "$daemon"; wait "$daemon" 2>/dev/null || true
  daemon=""
}
cleanup() {
  for vm in "${created[@]}"; do "$cli" vm delete "$vm" >/dev/null 2>&1 || true; done
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

qemu_pid() { cat "/run/libvirt/qemu/$1.pid" || fail "no QEMU pid file for $1"; }

# The affinity the kernel enforces on a QEMU's threads: "vcpu N LIST" per vCPU thread, and
# "emulator LIST" for each of QEMU's other threads (kernel workers, PF_USER_WORKER, skipped).
affinity() {
  local pid
  pid=$(qemu_pid "$1")
  for task in /proc/"$pid"/task/*; do
    local comm allowed flags
    comm=$(cat "$task/comm")
    allowed=$(awk '/^Cpus_allowed_list:/ {print $2}' "$task/status")
    flags=$(sed 's/.*) //' "$task/stat" | awk '{print $7}')
    if (( flags & 0x4000 )); then continue; fi
    if [[ "$comm" =~ ^CPU\ ([0-9]+)/(KVM|TCG)$ ]]; then echo "vcpu ${BASH_REMATCH[1]} $allowed"
    else echo "emulator $allowed"; fi
  done | sort -u
}

expect_affinity() {  # VM, expected lines (sorted, unique)
  local got
  got=$(affinity "$1")
  [ "$got" == "$2" ] || fail "$1: /proc says
$got
expected
$2"
  echo "ok: /proc agrees for $1: $(echo "$got" | tr '\n' ';')"
}
