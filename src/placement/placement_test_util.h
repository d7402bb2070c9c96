// Helpers shared by placement tests and benchmarks: hosts from fixtures, specs from JSON text.
#pragma once

#include <stdexcept>
#include <string>

#include "placement/host_state.h"
#include "placement/placement_json.h"
#include "topology/fixtures.h"

namespace corepin::testing {

inline HostState FixtureHost(const std::string& fixture, const std::string& housekeeping, const std::string& name = "h1") {
  auto topo = LoadHostFixture(HostFixturePath(fixture));
  if (!topo) throw std::runtime_error(topo.error().message);
  CpuPartition p;
  p.housekeeping = *CpuSet::Parse(housekeeping);
  if (fixture == "2s32c-smt2") p.physnets["data"] = {"ens1f0", "ens1f1"};
  auto w = ResolvePartition(*topo, &p);
  if (!w) throw std::runtime_error(w.error().message);
  return HostState(name, *topo, p);
}

inline VmSpec Spec(const std::string& json_text) {
  auto s = VmSpecFromJson(nlohmann::json::parse(json_text));
  if (!s) throw std::runtime_error(s.error().message);
  return *s;
}

}  // namespace corepin::testing
