// A simulated host for shapes this machine cannot have (a 2-socket 128-pCPU host, a 4-node
// host): its topology comes from a host fixture (tests/fixtures/hosts, topology/fixtures.h);
// its domains are records, not QEMU processes. It builds the same domain XML a real host
// would get (so a bad assignment fails the same way) and reports the pinning it was given.
//
// URIs: "fixture:NAME" (a fixture of the source tree) or "fixture:///abs/path.xml", with an
// optional "#ID" suffix so several hosts can share one shape ("fixture:2s32c-smt2#h7").
// Domains are kept in a JSON file per URI under $COREPIN_FIXTURE_STATE_DIR (corepind sets it,
// unless set, to "fixture-hosts" next to its state file; /var/lib/corepin/fixture-hosts
// otherwise), so they outlive a corepind restart like a real host's and a fresh state file
// starts with empty fixture hosts.
//
// Used for scheduling at scale (issue 4); never for checking enforcement, which needs real
// libvirtd and QEMU.
#pragma once

#include <memory>
#include <string>

#include "driver/hypervisor.h"

namespace corepin {

bool IsFixtureUri(const std::string& uri);
Result<std::unique_ptr<Hypervisor>> ConnectFixtureHypervisor(const std::string& uri);

}  // namespace corepin
