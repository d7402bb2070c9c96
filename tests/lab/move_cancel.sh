#!/usr/bin/env bash
# In the lab: a healing goes before a live move. A live migration holds corepind's controller for
# its duration; when a host stops answering meanwhile, the migration is cancelled through libvirt
# (virDomainAbortJob on the source) so that the healing need not wait for it. Three lab hosts with
# BMCs and the host monitor on; a standalone VM `solo`, its migration bandwidth cut to 1 MiB/s
# (virsh migrate-setspeed) so that moving its 128 MiB would take minutes:
#   - `corepin vm move solo --to HT` starts; once libvirt's migration job runs, the third host's
#     libvirtd is frozen (SIGSTOP);
#   - the move answers within seconds that it was cancelled because that host stopped
#     answering; solo still runs on its host with the same QEMU and verified pinning, nothing is
#     left on the target, and the operation is rolled back;
#   - the frozen host is fenced through its BMC and its healing starts without waiting for the
#     migration (the events' times are printed).
# Needs root and lab/packages.txt. Exit 77 (skipped) unless COREPIN_LAB=1.
#   tests/lab/move_cancel.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
frozen=""
extra_cleanup() {
  [ -n "$frozen" ] && kill -CONT "$frozen" 2>/dev/null
  [ -n "$daemon" ] && "$cli" vm delete solo >/dev/null 2>&1
}

lab_up 3
"$top/lab/guest/build" "$work/guest" >/dev/null || fail "guest build"
start_corepind --probe-interval-ms 100 --probe-misses 5 --reconcile-interval 1
add_lab_hosts 3 --bmc
{ echo "name: solo"; echo "vcpus: 1"; echo "policy: dedicated"; echo "memory_mib: 128"; guest_image 0 solo; } >"$work/solo.yaml"
"$cli" vm create -f "$work/solo.yaml" >/dev/null || fail "vm create solo"
verified solo
hs=$(host_of solo)
ht="" hx=""
for h in h1 h2 h3; do
  [ "$h" == "$hs" ] && continue
  if [ -z "$ht" ]; then ht=$h; else hx=$h; fi
done
pid=$(qemu_pid solo "$hs")
[ -n "$pid" ] || fail "no QEMU of solo on $hs"
virsh -c "$(uri_of "$hs")" migrate-setspeed solo --bandwidth 1 >/dev/null || fail "migrate-setspeed"

# The move, in the background; its answer and exit code go to files.
t0=$(date +%s%3N)
( set +e; "$cli" vm move solo --to "$ht" >"$work/move.txt" 2>&1; echo $? >"$work/move.rc" ) &
mover=$!
job=""
for _ in $(seq 200); do
  job=$(virsh -c "$(uri_of "$hs")" domjobinfo solo 2>/dev/null | awk '/^Job type:/ {print $3}')
  [ "$job" == Unbounded ] && break
  sleep 0.05
done
[ "$job" == Unbounded ] || fail "solo's migration job never began on $hs (job type \"$job\"): $(cat "$work/move.txt" 2>/dev/null)"
frozen=$(echo "$status" | jq -r ".hosts[$(($(hidx "$hx") - 1))].pids.libvirtd")
kill -STOP "$frozen"
t_freeze=$(date +%s%3N)
echo "ok: solo migrating $hs -> $ht at 1 MiB/s after $((t_freeze - t0)) ms; $hx's libvirtd ($frozen) frozen"

for _ in $(seq 300); do [ -s "$work/move.rc" ] && break; sleep 0.1; done
[ -s "$work/move.rc" ] || fail "the move did not end within 30 s of the freeze"
wait "$mover" || true
t_answer=$(date +%s%3N)
[ "$(cat "$work/move.rc")" != 0 ] || fail "the move went through: $(cat "$work/move.txt")"
grep -q "the move was cancelled: host $hx stopped answering" "$work/move.txt" || fail "move answer: $(cat "$work/move.txt")"
[ "$(host_of solo)" == "$hs" ] || fail "solo is recorded on $(host_of solo), not $hs"
[ "$(qemu_pid solo "$hs")" == "$pid" ] || fail "solo's QEMU changed ($pid -> $(qemu_pid solo "$hs"))"
verified solo
[ "$(domains_on "$ht")" == 0 ] || fail "a copy of solo is left on $ht"
"$cli" operation list --json 2>/dev/null | jq -e '[.[] | select(.kind == "move")] | last | .step == "rolled-back"' >/dev/null ||
  fail "the move operation is not rolled back: $("$cli" operation list --json | jq -c '[.[] | select(.kind == "move")] | last')"
echo "ok: the move answered $((t_answer - t_freeze)) ms after the freeze: $(head -1 "$work/move.txt")"

# The frozen host is fenced and healed; the healing did not wait for the migration.
wait_event host.fenced "$hx" 30 >/dev/null
cancelling=$(event_ms vm.move.cancelling solo) failed=$(event_ms vm.move.failed solo) started=$(event_ms heal.started "$hx") fenced=$(event_ms host.fenced "$hx")
[ -n "$cancelling" ] && [ -n "$failed" ] && [ -n "$started" ] && [ -n "$fenced" ] ||
  fail "events missing: vm.move.cancelling=$cancelling vm.move.failed=$failed heal.started=$started host.fenced=$fenced"
[ "$cancelling" -le "$started" ] || fail "the healing started before the migration was cancelled"
frozen=""  # fenced: its processes are gone
# Times after the freeze. The healing takes the controller once the move let it go: the cancel
# is asked as soon as the monitor suspects the host; libvirt then cleans up (the target's QEMU).
echo "ok: after the freeze: migration cancelled +$((cancelling - t_freeze)) ms (the monitor's 5 x 100 ms), move rolled back +$((failed - t_freeze)) ms, healing started +$((started - t_freeze)) ms, $hx fenced +$((fenced - t_freeze)) ms"
