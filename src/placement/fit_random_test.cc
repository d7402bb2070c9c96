// Randomized create/delete sequences on every fixture; after each step the host obeys every
// invariant (invariants.h), a refused fit changed nothing, and an accepted fit applies cleanly.
#include <gtest/gtest.h>

#include <random>

#include "placement/fit.h"
#include "placement/invariants.h"
#include "placement/placement_test_util.h"

namespace corepin {
namespace {

VmSpec RandomSpec(std::mt19937& rng, const HostState& hs, int serial) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const auto pcpus = hs.topology().AllPcpus().ToVector();
  VmSpec s;
  s.name = "vm" + std::to_string(serial);
  const int most = std::max(1, std::min(pick(4) == 0 ? 24 : 6, hs.partition().allocatable.Size() / 4));
  const int n = 1 + pick(most);
  static const char* kGroups[] = {"ctl", "mgmt", "log"};
  for (int i = 0; i < n; ++i) {
    VcpuPolicy p;
    int r = pick(10);
    if (r < 2) {
      p.kind = VcpuPolicy::Kind::kGroup;
      p.group = kGroups[pick(3)];
    } else if (r == 2) {
      p.kind = VcpuPolicy::Kind::kPinned;
      p.pcpu = pcpus[pick(static_cast<int>(pcpus.size()))];
      bool dup = false;
      for (const auto& q : s.vcpus) dup |= q.kind == VcpuPolicy::Kind::kPinned && q.pcpu == p.pcpu;
      if (dup) p = VcpuPolicy{};
    }
    s.vcpus.push_back(p);
  }
  s.smt = static_cast<SmtPolicy>(pick(3));
  int e = pick(6);
  if (e == 4) s.emulator.kind = EmulatorPolicy::Kind::kIsolate;
  if (e == 5) s.emulator = {EmulatorPolicy::Kind::kGroup, kGroups[pick(3)]};
  s.numa = pick(4) == 0 ? NumaPolicy::kSpread : NumaPolicy::kSingle;
  if (!hs.topology().nics.empty() && pick(5) == 0) s.nic = hs.topology().nics[pick(static_cast<int>(hs.topology().nics.size()))].name;
  static const uint64_t kPages[] = {4, 4, 2048, 1048576};
  s.page_kib = kPages[pick(4)];
  const uint64_t unit = std::max<uint64_t>(1, s.page_kib / 1024);
  s.memory_mib = unit * (1 + pick(s.page_kib == 1048576 ? 4 : 64 * 1024 / static_cast<int>(unit) / 8));
  return s;
}

void RunSequence(const std::string& fixture, const std::string& housekeeping, int steps, unsigned seed) {
  HostState hs = testing::FixtureHost(fixture, housekeeping);
  std::mt19937 rng(seed);
  int accepted = 0, refused = 0;
  std::string last;  // the VM placed last, shown when an invariant breaks
  for (int step = 0; step < steps; ++step) {
    if (!hs.vms().empty() && rng() % 5 < 2) {
      auto it = hs.vms().begin();
      std::advance(it, rng() % hs.vms().size());
      std::string victim = it->first;
      ASSERT_TRUE(hs.Release(victim).ok());
    } else {
      VmSpec spec = RandomSpec(rng, hs, step);
      ASSERT_TRUE(ValidateSpec(spec).ok()) << ValidateSpec(spec).error().message;
      const CpuSet free_before = hs.free();
      FitResult r = Fit(hs, spec);
      if (!r.ok()) {
        ++refused;
        ASSERT_FALSE(r.rejection.reasons.empty() && r.rejection.nodes.empty()) << "a refusal without a reason";
        ASSERT_EQ(hs.free(), free_before);
        continue;
      }
      ++accepted;
      Status applied = hs.Apply(spec, *r.assignment);
      ASSERT_TRUE(applied.ok()) << "step " << step << ": " << applied.error().message;
      last = spec.name;
    }
    Status inv = CheckInvariants(hs);
    ASSERT_TRUE(inv.ok()) << fixture << " step " << step << ": " << inv.error().message << "\nlast placed: "
                          << (hs.vms().count(last) ? VmSpecToJson(hs.vms().at(last).spec).dump() + " -> " +
                                                         AssignmentToJson(hs.vms().at(last).assignment).dump()
                                                   : "");
  }
  // The walk must exercise both outcomes, or it proves little.
  EXPECT_GT(accepted, steps / 20) << fixture;
  EXPECT_GT(refused, 0) << fixture;
  while (!hs.vms().empty()) ASSERT_TRUE(hs.Release(hs.vms().begin()->first).ok());
  EXPECT_EQ(hs.free(), hs.partition().allocatable);
  EXPECT_TRUE(hs.groups().empty());
}

TEST(FitRandom, TwoSocketSmt2) { RunSequence("2s32c-smt2", "0,64", 4000, 1); }
TEST(FitRandom, TwoSocketSmt2SplitHousekeepingCore) { RunSequence("2s32c-smt2", "0,32", 3000, 2); }
TEST(FitRandom, FourNode) { RunSequence("4node-smt2", "0,32", 4000, 3); }
TEST(FitRandom, ThisMachine) { RunSequence("1s2c-local", "0", 2000, 4); }

}  // namespace
}  // namespace corepin
