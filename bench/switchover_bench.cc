// The switch step of a switchover, against a real ovsdb-server (a private one on a fresh
// database, as in switch_test): one Apply that moves the service VLAN from the ACT's port to
// the SBY's, i.e. one read (select) and one transaction (comment, wait guards, update,
// mutate). Roles alternate each iteration. Prints median and p99.
//
//   BM_Switchover/N           Apply returns (committed), N other ports on the bridges
//   BM_SwitchoverSeen/N       until a monitoring client (as ovs-vswitchd is one) has the change
//
// No ovs-vswitchd runs, so this is the database step only; packets are the lab's to measure.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "driver/switch/switch_driver.h"
#include "driver/switch/testing/ovsdb_server.h"

namespace corepin {
namespace {

using Clock = std::chrono::steady_clock;

struct Lab {
  std::unique_ptr<testing::TestOvsdbServer> server;
  std::unique_ptr<SwitchDriver> driver;
};

// Two hosts' bridges with the group's two ports, plus `others` ports of other VMs.
Lab Setup(benchmark::State& state, int others) {
  Lab lab;
  auto s = testing::TestOvsdbServer::Start();
  if (!s.ok()) {
    state.SkipWithError(s.error().message.c_str());
    return lab;
  }
  lab.server = std::move(*s);
  std::vector<std::string> args = {"add-br", "br-h1", "--", "add-br", "br-h2", "--", "add-port", "br-h1", "fw1-a",
                                   "--", "add-port", "br-h2", "fw1-b"};
  for (int i = 0; i < others; ++i) {
    for (const char* a : {"--", "add-port", i % 2 ? "br-h1" : "br-h2"}) args.push_back(a);
    args.push_back("vm" + std::to_string(i));
    args.push_back("tag=" + std::to_string(200 + i));
  }
  if (auto r = lab.server->Vsctl(args); !r.ok()) state.SkipWithError(r.error().message.c_str());
  lab.driver = std::move(*OpenSwitchDriver(lab.server->unix_uri()));
  return lab;
}

std::vector<PortState> Group(bool a_is_act) {
  return GroupServicePorts(100, kDefaultParkingVlan, {{{"br-h1", "fw1-a"}, a_is_act}, {{"br-h2", "fw1-b"}, !a_is_act}});
}

void Report(benchmark::State& state, std::vector<double> ms, const char* what) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  double median = ms[ms.size() / 2];
  double p99 = ms[std::min(ms.size() - 1, static_cast<size_t>(ms.size() * 0.99))];
  state.counters["median_ms"] = median;
  state.counters["p99_ms"] = p99;
  state.counters["max_ms"] = ms.back();
  std::printf("%s, %d other ports: n=%zu median %.3f ms, p99 %.3f ms, max %.3f ms\n", what,
              static_cast<int>(state.range(0)), ms.size(), median, p99, ms.back());
}

void BM_Switchover(benchmark::State& state) {
  Lab lab = Setup(state, static_cast<int>(state.range(0)));
  if (!lab.driver) return;
  bool a_is_act = true;
  if (!lab.driver->Apply(Group(a_is_act), "place fw1").ok()) return state.SkipWithError("place failed");
  std::vector<double> ms;
  for (auto _ : state) {
    a_is_act = !a_is_act;
    auto t0 = Clock::now();
    auto r = lab.driver->Apply(Group(a_is_act), "switchover fw1");
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!r.ok() || r->changed.size() != 2) return state.SkipWithError("switchover failed");
    state.SetIterationTime(dt);
    ms.push_back(dt * 1e3);
  }
  Report(state, ms, "switchover (Apply committed)");
}

void BM_SwitchoverSeen(benchmark::State& state) {
  Lab lab = Setup(state, static_cast<int>(state.range(0)));
  if (!lab.driver) return;
  bool a_is_act = true;
  if (!lab.driver->Apply(Group(a_is_act), "place fw1").ok()) return state.SkipWithError("place failed");
  std::mutex mu;
  std::condition_variable cv;
  std::optional<int> b_tag;  // fw1-b's tag, as the monitor last saw it
  auto watch = lab.driver->Watch([&](const WatchUpdate& u) {
    std::lock_guard l(mu);
    for (const auto& e : u.ports)
      if (e.port.state.port == "fw1-b") b_tag = e.port.state.tag;
    cv.notify_all();
  });
  std::vector<double> ms;
  for (auto _ : state) {
    a_is_act = !a_is_act;
    const int want = a_is_act ? kDefaultParkingVlan : 100;
    auto t0 = Clock::now();
    auto r = lab.driver->Apply(Group(a_is_act), "switchover fw1");
    std::unique_lock l(mu);
    bool seen = cv.wait_for(l, std::chrono::seconds(5), [&] { return b_tag == want; });
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!r.ok() || !seen) return state.SkipWithError("switchover failed or not seen");
    state.SetIterationTime(dt);
    ms.push_back(dt * 1e3);
  }
  Report(state, ms, "switchover seen by a monitor");
}

BENCHMARK(BM_Switchover)->Arg(0)->Arg(200)->Iterations(200)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SwitchoverSeen)->Arg(0)->Arg(200)->Iterations(200)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace corepin

BENCHMARK_MAIN();
