// Runs every scenario file in tests/scenarios/*.json: hosts from topology fixtures with labels,
// existing groups, a request, and the expected outcome. Format:
//
//   { "title": "...", "k": 1, "seed": 1,
//     "hosts": [{"name": "h1", "fixture": "2s32c-smt2", "housekeeping": "0,64", "labels": {"rack": "r1"},
//                "schedulable": true}],
//     "existing": [group request, ...],              // each must be placed
//     "request": group request,                      // optional
//     "expect": {"outcome": "placed" | "refused",
//                "error_contains": ["..."],           // refused: substrings of the error
//                "rejected": {"pCPUs": 2},            // counts in the first search of the explanation
//                "hosts": {"vm": "h1"},               // placed: each member's host
//                "numa_nodes": {"vm": [1]},           // placed: NUMA nodes of each member's vCPUs
//                "distinct": ["rack"],                // placed: members on distinct values of these labels
//                "heals": {"vm": "h3"},               // placed: the member's healing target host (k = 1)
//                "reserve_pcpus": {"h3": 8}},         // after: reserve size per host
//     "set_k": {"k": 3, "outcome": "refused", "error_contains": ["..."]},   // optional, after the request
//     "whatif": {"failed": ["h1"], "within_guarantee": true, "moves": {"vm": "h3"}, "lost": ["vm"]} }
//
// After every step the cluster passes Check() and the brute-force k-failure check.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "placement/cluster.h"
#include "placement/cluster_test_util.h"
#include "placement/whatif.h"

namespace corepin {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(std::string(COREPIN_SOURCE_DIR) + "/tests/scenarios"))
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A field of a scenario, or null (which iterates as empty); a reference, so range-for is safe.
const json& Field(const json& j, const char* key) {
  static const json kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

void ExpectContains(const std::string& text, const json& parts) {
  for (const auto& p : parts) EXPECT_NE(text.find(p.get<std::string>()), std::string::npos) << "missing \"" << p << "\" in: " << text;
}

void CheckCluster(const Cluster& c, const std::string& when) {
  Status s = c.Check();
  ASSERT_TRUE(s.ok()) << when << ": " << s.error().message;
  EXPECT_EQ(testing::BruteForceGuarantee(c), "") << when;
}

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, Runs) {
  std::ifstream in(GetParam());
  const json sc = json::parse(in);
  SCOPED_TRACE(sc.value("title", GetParam()));
  ClusterOptions opt;
  opt.failures_tolerated = sc.value("k", 1);
  opt.seed = sc.value("seed", 1);
  if (sc.contains("weights")) opt.weights = {sc["weights"].value("nic", 1.0), sc["weights"].value("pack", 1.0), sc["weights"].value("spread", 0.5)};
  Cluster c(opt);
  for (const auto& h : sc.at("hosts")) {
    Labels labels = h.value("labels", json::object()).get<Labels>();
    HostState hs = testing::CachedFixtureHost(h.at("fixture"), h.value("housekeeping", "0"), h.at("name"));
    ASSERT_TRUE(c.AddHost(std::move(hs), labels).ok()) << h.dump();
    if (!h.value("schedulable", true)) {
      ASSERT_TRUE(c.SetSchedulable(h.at("name"), false).ok());
    }
  }
  for (const auto& g : Field(sc, "existing")) {
    auto req = GroupRequestFromJson(g);
    ASSERT_TRUE(req.ok()) << req.error().message;
    GroupOutcome o = c.PlaceGroup(*req);
    ASSERT_TRUE(o.ok()) << "existing " << req->name << ": " << o.status.error().message;
  }
  CheckCluster(c, "after existing groups");

  if (sc.contains("request")) {
    const json& ex = sc.at("expect");
    auto req = GroupRequestFromJson(sc["request"]);
    if (!req.ok()) {  // bad input is refused at parse time
      EXPECT_EQ(ex.at("outcome"), "refused") << req.error().message;
      ExpectContains(req.error().message, Field(ex, "error_contains"));
      return;
    }
    const size_t groups_before = c.groups().size();
    GroupOutcome o = c.PlaceGroup(*req);
    for (const auto& s : o.explanation.searches) std::printf("  %s\n", s.Summary().c_str());
    if (ex.at("outcome") == "refused") {
      ASSERT_FALSE(o.ok()) << "placed, expected a refusal";
      std::printf("  refused: %s\n", o.status.error().message.c_str());
      ExpectContains(o.status.error().message, Field(ex, "error_contains"));
      EXPECT_EQ(c.groups().size(), groups_before);
      for (const auto& m : req->members) EXPECT_EQ(c.FindVm(m.name), nullptr) << m.name << " half-placed";
    } else {
      ASSERT_TRUE(o.ok()) << o.status.error().message;
      std::map<std::string, const MemberPlacement*> by_vm;
      for (const auto& p : o.placed) by_vm[p.vm] = &p;
      for (const auto& [vm, host] : Field(ex, "hosts").items()) {
        ASSERT_TRUE(by_vm.count(vm)) << vm;
        EXPECT_EQ(by_vm[vm]->assignment.host, host.get<std::string>()) << vm;
      }
      for (const auto& [vm, nodes] : Field(ex, "numa_nodes").items()) {
        std::set<int> got;
        const HostState& hs = c.FindHost(by_vm.at(vm)->assignment.host)->state;
        for (int p : by_vm.at(vm)->assignment.vcpu_pcpus) got.insert(hs.topology().FindPcpu(p)->node);
        EXPECT_EQ(got, nodes.get<std::set<int>>()) << vm;
      }
      for (const auto& key : Field(ex, "distinct")) {
        std::set<std::string> values;
        for (const auto& p : o.placed) values.insert(c.FindHost(p.assignment.host)->labels.at(key));
        EXPECT_EQ(values.size(), o.placed.size()) << "members share " << key;
      }
      for (const auto& [vm, host] : Field(ex, "heals").items()) {
        bool found = false;
        for (const auto& h : o.heals) {
          if (h.target.vm != vm) continue;
          found = true;
          EXPECT_EQ(h.target.host, host.get<std::string>()) << vm;
        }
        EXPECT_TRUE(found) << "no healing target for " << vm;
      }
    }
    if (ex.contains("rejected")) {
      ASSERT_FALSE(o.explanation.searches.empty());
      for (const auto& [why, n] : ex["rejected"].items()) {
        auto& rej = o.explanation.searches[0].rejected;
        EXPECT_EQ(rej.count(why) ? rej.at(why) : 0, n.get<int>()) << why << " in " << o.explanation.searches[0].Summary();
      }
    }
    for (const auto& [host, n] : Field(ex, "reserve_pcpus").items())
      EXPECT_EQ(c.FindHost(host)->state.reserve().pcpus.Size(), n.get<int>()) << "reserve on " << host;
    CheckCluster(c, "after the request");
  }

  if (sc.contains("set_k")) {
    const json& sk = sc["set_k"];
    Status s = c.SetFailuresTolerated(sk.at("k"));
    if (sk.value("outcome", "ok") == "refused") {
      ASSERT_FALSE(s.ok());
      std::printf("  k refused: %s\n", s.error().message.c_str());
      ExpectContains(s.error().message, Field(sk, "error_contains"));
      EXPECT_EQ(c.failures_tolerated(), opt.failures_tolerated);
    } else {
      ASSERT_TRUE(s.ok()) << s.error().message;
    }
    CheckCluster(c, "after set_k");
  }

  if (sc.contains("whatif")) {
    const json& w = sc["whatif"];
    auto r = WhatIf(c, w.at("failed").get<std::vector<std::string>>());
    ASSERT_TRUE(r.ok()) << r.error().message;
    std::printf("  what-if %s\n", WhatIfToJson(*r).dump().substr(0, 600).c_str());
    if (w.contains("within_guarantee")) {
      EXPECT_EQ(r->within_guarantee, w["within_guarantee"].get<bool>());
    }
    for (const auto& [vm, host] : Field(w, "moves").items()) {
      auto it = std::find_if(r->moves.begin(), r->moves.end(), [&](const WhatIfMove& m) { return m.vm == vm; });
      ASSERT_NE(it, r->moves.end()) << "no move for " << vm;
      EXPECT_EQ(it->to, host.get<std::string>()) << vm;
    }
    std::set<std::string> lost;
    for (const auto& l : r->lost) lost.insert(l.vm);
    std::set<std::string> want;
    for (const auto& vm : Field(w, "lost")) want.insert(vm.get<std::string>());
    EXPECT_EQ(lost, want);
  }
}

INSTANTIATE_TEST_SUITE_P(Files, ScenarioTest, ::testing::ValuesIn(ScenarioFiles()), [](const auto& info) {
  std::string n = fs::path(info.param).stem().string();
  for (char& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
});

}  // namespace
}  // namespace corepin
