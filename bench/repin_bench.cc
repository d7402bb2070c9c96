// A live re-pin of a 2-vCPU VM against the real local libvirtd and QEMU (qemu:///system).
// Before each run the VM's threads are moved elsewhere behind corepin's back (libvirt's API,
// not timed), so every re-pin really moves two vCPU threads and the emulator threads. Prints
// median, p99, min and max over N runs of:
//   controller   Controller::RepinVm {"auto": true}: fit, Cluster, two SQLite commits (fsync),
//                the libvirt calls, and the read-back from libvirt and /proc
//   hypervisor   Hypervisor::Repin alone, same threads moved back: it writes only what differs,
//                here the live pins (virDomainPinVcpuFlags x2, virDomainPinEmulator, LIVE)
//   full write   Hypervisor::Repin between two layouts with new metadata each run: every pin and
//                the metadata written live and persistent (LIVE|CONFIG), as a re-pin to new
//                pCPUs does (this machine has one allocatable pCPU, so the "other" layout puts
//                the vCPUs on the housekeeping pCPU; corepin's placement would refuse it)
//
//   build/bench/repin_bench [N]     (default 200; needs root and libvirtd; pCPU 0 housekeeping)
#include <libvirt/libvirt.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "controller/controller.h"
#include "store/sqlite_store.h"

namespace corepin {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kUri[] = "qemu:///system";
constexpr char kVm[] = "rp-bench";

// vCPUs 0 and 1 to pCPU 0 and the emulator threads to pCPU 1, live: the opposite of corepin's.
bool MoveBehindTheBack(virConnectPtr conn) {
  virDomainPtr dom = virDomainLookupByName(conn, kVm);
  if (!dom) return false;
  unsigned char to0 = 1, to1 = 2;
  bool ok = virDomainPinVcpuFlags(dom, 0, &to0, 1, VIR_DOMAIN_AFFECT_LIVE) == 0 &&
            virDomainPinVcpuFlags(dom, 1, &to0, 1, VIR_DOMAIN_AFFECT_LIVE) == 0 &&
            virDomainPinEmulator(dom, &to1, 1, VIR_DOMAIN_AFFECT_LIVE) == 0;
  virDomainFree(dom);
  return ok;
}

void Print(const char* what, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))]; };
  std::printf("%-11s n=%zu  median %.2f ms  p99 %.2f ms  min %.2f ms  max %.2f ms\n", what, ms.size(), at(0.5), at(0.99), ms.front(),
              ms.back());
}

int Main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200;
  if (n < 1) {
    std::fprintf(stderr, "usage: repin_bench [N]  (N > 0 runs)\n");
    return 2;
  }
  if (!ConnectHypervisor(kUri)) {
    std::printf("skipped: libvirtd unreachable at %s\n", kUri);
    return 0;
  }
  char tmpl[] = "/tmp/corepin-repin-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto store = std::move(*OpenSqliteStore(dir + "/state.db"));
  int rc = 1;
  {
    Controller c(store.get(), ConnectHypervisor);
    NoFit no_fit;
    auto host = c.Start().ok() ? c.AddHost(json{{"name", "local"}, {"uri", kUri}, {"housekeeping", "0"}}) : Result<json>(Internal("start failed"));
    auto vm = host ? c.CreateVm(json{{"name", kVm}, {"vcpus", 2}, {"policy", "group:g"}, {"memory_mib", 64}}, &no_fit) : Result<json>(host.error());
    auto direct = ConnectHypervisor(kUri);
    virConnectPtr conn = virConnectOpen(kUri);
    if (!vm) {
      std::fprintf(stderr, "repin_bench: cannot create %s: %s\n", kVm, vm.error().message.c_str());
    } else {
      std::vector<double> controller_ms, hypervisor_ms, full_ms;
      const std::string metadata = json{{"vm", kVm}, {"host", "local"}, {"spec", (*vm)["spec"]}, {"assignment", (*vm)["assignment"]}}.dump();
      rc = 0;
      for (int i = 0; i < n && rc == 0; ++i) {
        if (!MoveBehindTheBack(conn)) rc = 1;
        auto t0 = Clock::now();
        auto r = c.RepinVm(kVm, json{{"auto", true}}, &no_fit);
        controller_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!r || (*r)["pinning_verified"] != true) {
          std::fprintf(stderr, "repin_bench: re-pin %d failed: %s\n", i, r ? r->dump().c_str() : r.error().message.c_str());
          rc = 1;
        }
        if (!MoveBehindTheBack(conn)) rc = 1;
        t0 = Clock::now();
        auto s = (*direct)->Repin(kVm, {CpuSet{1}, CpuSet{1}}, CpuSet{0}, metadata);
        hypervisor_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!s) rc = 1;
      }
      for (int i = 0; i < n && rc == 0; ++i) {
        const bool there = i % 2 == 0;
        const json meta = json{{"vm", kVm}, {"run", i}};
        auto t0 = Clock::now();
        auto s = (*direct)->Repin(kVm, {CpuSet{there ? 0 : 1}, CpuSet{there ? 0 : 1}}, CpuSet{there ? 1 : 0}, meta.dump());
        full_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!s) rc = 1;
      }
      // Back to corepin's pinning and metadata.
      if (auto s = (*direct)->Repin(kVm, {CpuSet{1}, CpuSet{1}}, CpuSet{0}, metadata); !s) rc = 1;
      if (rc == 0) {
        std::printf("live re-pin of a 2-vCPU VM (%s), threads moved each run\n", kUri);
        Print("controller", controller_ms);
        Print("hypervisor", hypervisor_ms);
        Print("full write", full_ms);
      }
    }
    if (conn) virConnectClose(conn);
    (void)c.DeleteVm(kVm);
  }
  store.reset();
  std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace corepin

int main(int argc, char** argv) { return corepin::Main(argc, argv); }
