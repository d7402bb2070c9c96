# Shared by the lab tests (sourced): skip unless COREPIN_LAB=1, a work dir, a corepind of the
# test's own on a free loopback port, the lab brought up and always taken down.
#   source lib.sh BUILD_DIR;  lab_up N;  start_corepind [corepind options]
# A test may define extra_cleanup() (run first, while corepind still serves). KEEP_WORK=1 keeps
# the work dir (corepind.log, guest consoles) for a look after.
build=$(cd "${1:?usage: $(basename "$0") BUILD_DIR}" && pwd)
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ "${COREPIN_LAB:-}" != 1 ]; then echo "skipped: set COREPIN_LAB=1 to run the lab test"; exit 77; fi
lab="$top/lab/lab"
cli="$build/src/cli/corepin"
work=$(mktemp -d /tmp/corepin-lab-test.XXXXXX)
chmod 755 "$work"  # QEMU (user libvirt-qemu) reads guest kernels from here
port=$((20000 + RANDOM % 20000))
export COREPIN_URL="http://127.0.0.1:$port"
daemon=""
lab_ours=0

fail() { echo "FAIL: $*" >&2; [ -f "$work/corepind.log" ] && tail -20 "$work/corepind.log" >&2; exit 1; }
cleanup() {
  set +e
  declare -F extra_cleanup >/dev/null && extra_cleanup
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [ "$lab_ours" = 1 ] && "$lab" down >/dev/null 2>&1
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Brings up N lab hosts (refusing to touch someone else's lab); sets $status (lab status JSON).
lab_up() {
  "$lab" status --json | jq -e '.up' >/dev/null 2>&1 && fail "a lab is already up (not this test's); take it down with lab/lab down"
  lab_ours=1
  "$lab" up "$1" >/dev/null || fail "lab up $1"
  status=$("$lab" status --json)
}

start_corepind() {
  "$build/src/daemon/corepind" --db "$work/corepin.db" --listen "127.0.0.1:$port" "$@" >>"$work/corepind.log" 2>&1 &
  daemon=$!
  for _ in $(seq 100); do curl -sf "$COREPIN_URL/v1/health" >/dev/null && return 0; sleep 0.1; done
  fail "corepind did not answer on $COREPIN_URL"
}

# Stops corepind and takes the lab down, checking that nothing of it is left.
finish_lab() {
  kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=""
  "$lab" down >/dev/null || fail "lab down"
  lab_ours=0
  [ ! -e /run/netns/corepin-lab ] || fail "the lab's network namespace is left behind"
}
